"""Inference speed: an exported chainrule MLP in onnxruntime against chainrule itself.

    python benchmarks/onnx_inference.py [--batches 1,4096] [--rounds 7] [--threads 1]

The network is the CLI's default MLP for digits (64-256-128-10, ReLU) with seeded
random weights. The parent exports it once with ``cr.onnx.export``; then, for each round
and each batch size, one fresh process per framework times ``model(x)`` (chainrule,
evaluation mode, no graph) or ``session.run`` (onnxruntime), in alternating order. Each
worker warms up, then reports the median per-call time of several timed blocks. The
table gives per-framework medians over rounds and the median of the within-round ratios
onnxruntime / chainrule (lower: onnxruntime faster), which is steadier than a ratio of
medians on a machine whose load changes between rounds.

Both run with the same number of threads (``--threads``, 1 by default: BLAS threads for
chainrule, intra-op threads for onnxruntime). OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are
removed from the workers' environment (they slow NumPy's BLAS on some machines).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from machine import cpu_model  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SIZES = (64, 256, 128, 10)


def _timed(fn, seconds):
    """Median seconds per call of ``fn`` over 7 blocks of about ``seconds / 7`` each."""
    for _ in range(20):  # warm-up
        fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(seconds / 7 / once))
    blocks = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        blocks.append((time.perf_counter() - t0) / reps)
    return statistics.median(blocks)


def worker(framework, batch, model_path, seconds):
    import numpy as np

    x = np.random.default_rng(1).normal(size=(batch, SIZES[0])).astype(np.float32)
    if framework == "onnxruntime":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(os.environ["BENCH_THREADS"])
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
        feed = {"input": x}
        per_call = _timed(lambda: sess.run(None, feed), seconds)
    else:
        import chainrule as cr

        model = _model(cr)
        model.eval()

        def call():
            with cr.no_grad():
                return model(x)

        per_call = _timed(call, seconds)
    print(json.dumps({"per_call_s": per_call}))


def _model(cr):
    cr.manual_seed(0)
    return cr.nn.MLP(SIZES[0], list(SIZES[1:-1]), SIZES[-1])


def _blas():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    import numpy  # noqa: F401

    return ", ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
                     for i in threadpool_info() if i.get("user_api") == "blas") or "none"


def _commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", default="1,4096")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=0.7, help="timed seconds per worker")
    p.add_argument("--worker", choices=("chainrule", "onnxruntime"), help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.worker, a.batch, a.model, a.seconds)

    sys.path.insert(0, ROOT)
    import numpy as np
    import onnxruntime

    import chainrule as cr

    batches = [int(b) for b in a.batches.split(",")]
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    threads = str(a.threads)
    env.update(OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
               BENCH_THREADS=threads, PYTHONPATH=ROOT)
    print(f"CPU: {cpu_model()}")
    print(f"BLAS: {_blas()}; numpy {np.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"chainrule commit {_commit()}; {a.threads} thread(s) each; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"load average at start: {os.getloadavg()[0]:.1f} "
          f"(a shared machine: other processes run alongside)")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mlp.onnx")
        cr.onnx.export(_model(cr), path, np.zeros((1, SIZES[0]), np.float32))
        results = {b: {"chainrule": [], "onnxruntime": [], "ratio": []} for b in batches}
        for r in range(a.rounds):
            for b in batches:
                order = ["chainrule", "onnxruntime"][:: 1 if r % 2 == 0 else -1]
                got = {}
                for fw in order:
                    out = subprocess.run(
                        [sys.executable, __file__, "--worker", fw, "--batch", str(b),
                         "--model", path, "--seconds", str(a.seconds)],
                        capture_output=True, text=True, env=env, check=True)
                    got[fw] = json.loads(out.stdout.strip().splitlines()[-1])["per_call_s"]
                    results[b][fw].append(got[fw])
                results[b]["ratio"].append(got["onnxruntime"] / got["chainrule"])
            print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    print(f"\nMLP {'-'.join(map(str, SIZES))}, float32, medians of {a.rounds} rounds\n")
    print("| batch | chainrule | onnxruntime | onnxruntime / chainrule (median of ratios) |")
    print("|---|---|---|---|")
    for b in batches:
        res = results[b]
        cells = []
        for fw in ("chainrule", "onnxruntime"):
            t = statistics.median(res[fw])
            per = f"{t * 1e6:.1f} µs" if t < 1e-2 else f"{t * 1e3:.1f} ms"
            cells.append(f"{per}/call ({b / t / 1e3:.1f}k samples/s)")
        ratios = res["ratio"]
        print(f"| {b} | {cells[0]} | {cells[1]} | {statistics.median(ratios):.2f} "
              f"(range {min(ratios):.2f}-{max(ratios):.2f}) |")


if __name__ == "__main__":
    main()
