"""Data-parallel scaling on MPI: 1 process x 2 BLAS threads against 2 ranks x 1 thread.

    python benchmarks/mpi_scaling.py [--rounds 3] [--epochs 4] [--batches 256,1024]

MLP 784-256-256-10, SGD with momentum, 12,000 random float32 samples through the
sharded DataLoader, global batch 256 and 1024. Configurations, each in fresh
processes, alternated round by round (the machine is shared):

- ``1x2``: one process, OPENBLAS_NUM_THREADS=2 (``1x1``: one thread, for reference);
- ``2x1``: ``mpiexec -n 2``, one BLAS thread per rank, one flat Allreduce per step;
- ``2x1 bucketed``: two ranks, the gradients in two buckets (last layers first), each
  sent with a non-blocking ``Iallreduce`` as soon as backward has produced all its
  gradients, and progressed (``Test``) at every later gradient, as PyTorch DDP does.
  This is a prototype inside this script (it wraps the engine's leaf accumulation);
  the library keeps the flat Allreduce unless this pays;
- ``2x1 no-comm``: the same two ranks without the Allreduce (the ranks then train
  different models: only a bound on what hiding the communication entirely could
  give).

A rank's epoch is timed between barriers (the slowest rank decides); a run reports
its fastest epoch. The table gives medians over rounds and the median of the
within-round ratios. Then an Allreduce microbenchmark (2 ranks, 4 B to 16 MB) gives
the latency and bandwidth used by the README's model of larger clusters, and the
single-thread step time at per-rank batches 32..1024 (the model's compute term).

Writes benchmarks/results/mpi_scaling.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARK = "@@RESULT@@"
N, D, H, K = 12000, 784, 256, 10


# ---------------------------------------------------------------------- workers
def _model():
    import chainrule as cr

    cr.manual_seed(0)
    return cr.nn.Sequential(cr.nn.Linear(D, H), cr.nn.ReLU(), cr.nn.Linear(H, H), cr.nn.ReLU(),
                            cr.nn.Linear(H, K))


def train_worker(args):
    import numpy as np

    import chainrule as cr
    import chainrule.functional as F
    from chainrule import distributed as dist
    from chainrule.data import ArrayDataset, DataLoader

    dist.init()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D)).astype(np.float32)
    y = rng.integers(0, K, size=N)
    model = _model()
    dist.broadcast_parameters(model)
    opt = cr.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = DataLoader(ArrayDataset(X, y), batch_size=args.batch, seed=0,
                        num_replicas=dist.world_size(), rank=dist.rank())
    reducer = dist.GradientAllreduce(model.parameters(), n_extras=2)
    comm = args.mode == "flat"
    bucketed = _Buckets(model, reducer) if args.mode == "bucketed" else None
    best = None
    for epoch in range(args.epochs + 1):  # epoch 0 warms up
        dist.barrier()
        reducer.seconds = waited = 0.0
        start = time.perf_counter()
        steps = 0
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            if bucketed is not None:
                bucketed.start(len(yb.data))
            loss.backward()
            if comm:
                # the barrier separates waiting for the slower rank from the Allreduce itself
                t = time.perf_counter()
                dist.barrier()
                waited += time.perf_counter() - t
                reducer.reduce(len(yb.data), [loss.item() * len(yb.data), 0.0])
            elif bucketed is not None:
                bucketed.finish()
            opt.step()
            steps += 1
        dist.barrier()
        seconds = time.perf_counter() - start
        if epoch and (best is None or seconds < best[0]):
            best = (seconds, reducer.seconds, waited, steps)
    seconds, comm_seconds, waited, steps = best
    comm_seconds = dist.all_reduce(comm_seconds, op="max")
    waited = dist.all_reduce(waited, op="max")
    if dist.is_main():
        print(MARK + json.dumps({"samples_per_s": N / seconds, "step_ms": 1e3 * seconds / steps,
                                 "allreduce_ms": 1e3 * comm_seconds / steps,
                                 "wait_ms": 1e3 * waited / steps,
                                 "bytes_per_step": reducer.bytes_per_step,
                                 "weights_abs_sum": float(sum(np.abs(p.data).sum(dtype=np.float64)
                                                              for p in model.parameters()))}),
              flush=True)


class _Buckets:
    """Prototype: per-bucket Iallreduce started from the engine's leaf accumulation."""

    def __init__(self, model, reducer, cap=300_000):
        import numpy as np

        import chainrule.autograd as ag
        from chainrule import distributed as dist

        self.comm, self.MPI = dist.comm(), __import__("mpi4py.MPI").MPI
        self.reducer = reducer
        params = list(model.parameters())[::-1]  # backward produces the last layers first
        self.buckets, cur, size = [], [], 0
        for p in params:
            cur.append(p)
            size += p.data.nbytes
            if size >= cap:
                self.buckets.append(cur)
                cur, size = [], 0
        if cur:
            self.buckets.append(cur)
        self.where = {id(p): k for k, b in enumerate(self.buckets) for p in b}
        self.buffers = [np.empty(sum(p.data.size for p in b) + (1 if k == 0 else 0),
                                 dtype=np.float32) for k, b in enumerate(self.buckets)]
        self.requests = []
        original = ag._accumulate_leaf

        def accumulate(node, g, owned):
            original(node, g, owned)
            k = self.where.get(id(node))
            if k is not None:
                self.ready[k] += 1
                if self.ready[k] == len(self.buckets[k]):
                    self._send(k)
            for r in self.requests:
                r.Test()

        ag._accumulate_leaf = accumulate

    def start(self, weight):
        self.weight = weight
        self.ready = [0] * len(self.buckets)
        self.requests = []

    def _send(self, k):
        buf, off = self.buffers[k], 0
        for p in self.buckets[k]:
            n = p.data.size
            buf[off:off + n] = p.grad.reshape(-1) * self.weight
            off += n
        if k == 0:
            buf[-1] = self.weight
        self.requests.append(self.comm.Iallreduce(self.MPI.IN_PLACE, buf))

    def finish(self):
        start = time.perf_counter()
        self.MPI.Request.Waitall(self.requests)
        self.reducer.seconds += time.perf_counter() - start
        scale = 1.0 / float(self.buffers[0][-1])
        for k, b in enumerate(self.buckets):
            buf, off = self.buffers[k], 0
            for p in b:
                n = p.data.size
                p.grad = (buf[off:off + n] * scale).reshape(p.data.shape)
                off += n


def allreduce_worker(args):
    import numpy as np

    from chainrule import distributed as dist

    dist.init()
    c = dist.comm()
    from mpi4py import MPI

    out = []
    for nbytes in [4 * 4**k for k in range(12)]:  # 4 B .. 16 MB
        buf = np.ones(nbytes // 4, dtype=np.float32)
        reps = 400 if nbytes < 65536 else 40
        for _ in range(5):
            c.Allreduce(MPI.IN_PLACE, buf)
        times = []
        for _ in range(reps):
            c.Barrier()
            t = time.perf_counter()
            c.Allreduce(MPI.IN_PLACE, buf)
            times.append(time.perf_counter() - t)
        out.append((nbytes, min(times), statistics.median(times)))
    if dist.is_main():
        print(MARK + json.dumps(out), flush=True)


# ---------------------------------------------------------------------- driver
def _env(threads):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
           and not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    return env


def _mpiexec():
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else "mpiexec"


def _launch(ranks, threads, worker_args):
    cmd = [sys.executable, str(Path(__file__).resolve()), *worker_args]
    if ranks > 1:
        cmd = [_mpiexec(), "-n", str(ranks), *cmd]
    p = subprocess.run(cmd, env=_env(threads), capture_output=True, text=True, timeout=600)
    for line in p.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")


def _machine():
    sys.path.insert(0, str(HERE))
    from machine import cpu_model, probe_blas  # noqa: E402

    pools = probe_blas(_env(1))
    blas = ", ".join(f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')})"
                     for p in pools) or "unknown"
    try:
        from mpi4py import MPI
        mpi = MPI.Get_library_version().splitlines()[0].strip()
    except Exception as e:  # pragma: no cover - reported, not fatal
        mpi = f"unavailable ({e})"
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True).stdout.strip()
    return {"cpu_model": cpu_model(), "cores": os.cpu_count(), "blas": blas, "mpi": mpi,
            "commit": rev, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_avg_at_start": os.getloadavg()[0]}


CONFIGS = [("1x2", 1, 2, "flat"), ("1x1", 1, 1, "flat"), ("2x1", 2, 1, "flat"),
           ("2x1 bucketed", 2, 1, "bucketed"), ("2x1 no-comm", 2, 1, "none")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batches", default="256,1024")
    ap.add_argument("--worker", choices=["train", "allreduce"])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--mode", default="flat")
    args = ap.parse_args()
    if args.worker == "train":
        return train_worker(args)
    if args.worker == "allreduce":
        return allreduce_worker(args)

    machine = _machine()
    print(f"CPU: {machine['cpu_model']} ({machine['cores']} cores; shared with other "
          f"work: load average {machine['load_avg_at_start']:.2f} at start)\nBLAS: "
          f"{machine['blas']}\nMPI: {machine['mpi']}\ncommit {machine['commit']}",
          file=sys.stderr)
    batches = [int(b) for b in args.batches.split(",")]
    runs = {}
    for b in batches:
        for r in range(args.rounds):
            order = CONFIGS[r % len(CONFIGS):] + CONFIGS[:r % len(CONFIGS)]
            for name, ranks, threads, mode in order:
                res = _launch(ranks, threads, ["--worker", "train", "--batch", str(b),
                                               "--epochs", str(args.epochs), "--mode", mode])
                runs.setdefault((b, name), []).append(res)
                print(f"batch {b} round {r + 1} {name}: {res['samples_per_s']:.0f} samples/s, "
                      f"wait {res['wait_ms']:.3f} + allreduce {res['allreduce_ms']:.3f} ms of "
                      f"{res['step_ms']:.2f} ms/step",
                      file=sys.stderr)
    allreduce = _launch(2, 1, ["--worker", "allreduce"])
    compute = {}
    for b in (32, 64, 128, 256, 512, 1024):
        compute[b] = min(
            _launch(1, 1, ["--worker", "train", "--batch", str(b), "--epochs", "2",
                           "--mode", "none"])["step_ms"] for _ in range(args.rounds))
    report = _report(machine, batches, runs, allreduce, compute, args)
    (HERE / "results").mkdir(exist_ok=True)
    for name, text in (("mpi_scaling.md", report), ("mpi_scaling.json", json.dumps(
            {"machine": machine, "runs": {f"{b} {n}": v for (b, n), v in runs.items()},
             "allreduce": allreduce, "compute_step_ms_1thread": compute}, indent=1))):
        tmp = HERE / "results" / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, HERE / "results" / name)
    print(report)


def _fit(allreduce):
    """t = alpha + bytes / beta from the fastest repeats: alpha at 4 B, beta over >= 1 MiB."""
    alpha = allreduce[0][1]
    big = [(n, t) for n, t, _ in allreduce if n >= 2**20]
    beta = sum(n for n, _ in big) / sum(t - alpha for _, t in big)
    return alpha, beta


#: Networks for the model of larger clusters: ASSUMED figures, not measured here.
NETWORKS = {"InfiniBand HDR (assumed 2 µs, 20 GB/s)": (2e-6, 20e9),
            "10 Gb Ethernet (assumed 30 µs, 1.1 GB/s)": (30e-6, 1.1e9)}


def _line(compute):
    """Least-squares ``ms = fixed + per_sample * batch`` through the measured step times
    (a shared machine makes single points jump; the line is what the model uses)."""
    bs, ts = list(compute), list(compute.values())
    mb, mt = sum(bs) / len(bs), sum(ts) / len(ts)
    slope = sum((b - mb) * (t - mt) for b, t in zip(bs, ts)) / sum((b - mb) ** 2 for b in bs)
    return max(mt - slope * mb, 0.0), slope


def _cluster_model(nbytes, compute, alpha_beta, batch=1024):
    """Step time on p ranks: compute at batch/p (fitted line, 1 thread) + ring Allreduce.

    A ring Allreduce of S bytes on p ranks sends 2(p-1)/p * S bytes per rank in
    2(p-1) messages: t = 2(p-1) alpha + 2(p-1)/p * S / beta.
    """
    alpha, beta = alpha_beta
    fixed, per_sample = _line(compute)
    rows = []
    for p in (1, 2, 4, 8, 16, 32):
        b = batch // p
        comm = 0.0 if p == 1 else 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes / beta
        rows.append((p, b, fixed + per_sample * b, comm * 1e3))
    return rows


def _report(machine, batches, runs, allreduce, compute, args):
    lines = ["# MPI data-parallel scaling (`python benchmarks/mpi_scaling.py`)", "",
             f"Machine: {machine['cpu_model']}, {machine['cores']} cores, shared with other "
             f"jobs (load average {machine['load_avg_at_start']:.2f} at the start); BLAS "
             f"{machine['blas']}; {machine['mpi']}; commit {machine['commit']}; "
             f"{machine['date']}. MLP 784-256-256-10, SGD momentum, 12,000 samples, "
             f"{args.rounds} rounds, fastest of {args.epochs} epochs per run.", "",
             "Per step, *wait* is the time a rank waited for the slower one (a barrier "
             "before the Allreduce, flat mode only), *Allreduce* the Allreduce itself "
             "(bucketed: the wait for the outstanding Iallreduce after backward); both the "
             "larger of the two ranks'.", "",
             "| global batch | config | samples/s (median) | ms/step | wait ms/step | "
             "Allreduce ms/step | vs 1x2 (median ratio) |", "|---|---|---|---|---|---|---|"]
    for b in batches:
        base = runs[(b, "1x2")]
        for name, *_ in CONFIGS:
            rs = runs[(b, name)]
            ratio = statistics.median(r["samples_per_s"] / q["samples_per_s"]
                                      for r, q in zip(rs, base))
            rate = statistics.median(r["samples_per_s"] for r in rs)
            lines.append(f"| {b} | {name} | {rate:,.0f}"
                         f" | {statistics.median(r['step_ms'] for r in rs):.2f} | "
                         f"{statistics.median(r.get('wait_ms', 0.0) for r in rs):.3f} | "
                         f"{statistics.median(r['allreduce_ms'] for r in rs):.3f} | "
                         f"{ratio:.2f}x |")
    nbytes = runs[(batches[0], "2x1")][0]["bytes_per_step"]
    alpha, beta = _fit(allreduce)
    lines += ["", f"Gradient message: {nbytes:,} bytes per step (one flat float32 buffer).",
              "", "Allreduce between 2 local ranks (a barrier, then one timed Allreduce; "
              "fastest and median of the repeats):", "",
              "| bytes | fastest (µs) | median (µs) | GB/s (fastest) |", "|---|---|---|---|"]
    for n, t, med in allreduce:
        lines.append(f"| {n:,} | {t * 1e6:.1f} | {med * 1e6:.1f} | {n / t / 1e9:.2f} |")
    lines += ["", f"Fit to the fastest repeats: latency {alpha * 1e6:.1f} µs, bandwidth "
              f"{beta / 1e9:.2f} GB/s (measured, 2 ranks on this machine).", "",
              "Single-thread step time (one process, no communication; fastest run):", "",
              "| per-rank batch | ms/step |", "|---|---|"]
    for b, t in compute.items():
        lines.append(f"| {b} | {t:.3f} |")
    fixed, per_sample = _line(compute)
    lines += ["", f"Least-squares line through them: {fixed:.2f} ms + {per_sample * 1e3:.1f} µs "
              f"per sample.", "",
              "Model of larger clusters at global batch 1024: step time = compute at the "
              "per-rank batch (the line above, one thread) + ring Allreduce of the "
              f"{nbytes:,}-byte gradient, 2(p-1)·α + 2(p-1)/p·S/β, with the network figures "
              "**assumed** as named (one rank per node or per core; the node's own BLAS "
              "speed is this machine's).", "",
              "| network | ranks | per-rank batch | compute ms | Allreduce ms | step ms | "
              "speed-up vs 1 rank |", "|---|---|---|---|---|---|---|"]
    for name, ab in {f"measured here (α {alpha * 1e6:.0f} µs, β {beta / 1e9:.2f} GB/s)":
                     (alpha, beta), **NETWORKS}.items():
        rows = _cluster_model(nbytes, compute, ab)
        base = rows[0][2] + rows[0][3]
        for p, b, comp, comm in rows:
            lines.append(f"| {name} | {p} | {b} | {comp:.2f} | {comm:.3f} | {comp + comm:.2f} "
                         f"| {base / (comp + comm):.1f}x |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
