"""chainrule's benchmark suite: chainrule against PyTorch, JAX, scikit-learn and NumPy.

    python benchmarks/run.py [--quick] [--cases mlp,tiny] [--repeats 9]
                             [--baseline REF] [--compete N]

A run is made of rounds. In each round every (case, framework) runs once, in its
own fresh process (benchmarks/workers/worker.py), the frameworks in an order
rotated from one round to the next, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
removed from that process's environment. Ratios are taken inside a round and the
table gives their median and interquartile range over the rounds (a shared
machine's load changes between rounds more than within one), with the targets
and PASS/MISS. ``--baseline REF`` adds chainrule at a git revision as a peer
(before/after ratios from the same rounds); ``--compete N`` keeps N CPU-bound
processes running during the whole run. Results go to
benchmarks/results/latest.{json,md,png}.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import BLAS_PINS, extract_baseline, machine_info
from report import LABEL, atomic_write, evaluate, markdown, plot, tables, text_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "workers" / "worker.py"
RESULTS = HERE / "results"
MARK = "@@RESULT@@"

#: the engines every training case compares (compiled: chainrule through cr.compile)
FW = ["chainrule", "torch", "jax", "numpy", "compiled"]

#: case -> [(worker case, frameworks)]; the first framework is the case's base: the one
#: whose time is divided by each peer's. A new case is one entry here and one function
#: in workers/worker.py (CASES there).
CASES = {
    "mlp": [("mlp", FW)],
    "tiny": [("tiny", FW)],
    "adam": [("adam", FW)],
    "residual": [("residual", FW)],
    "inference": [("inference", FW[:-1])],
    "gemm": [("gemm", ["numpy", "torch", "jax"])],
    "import": [("import", ["chainrule", "torch", "jax", "numpy"])],
    "cli": [("cli", ["chainrule"])],
    "memory": [("memory", ["chainrule", "torch", "numpy"]), ("rss_growth", ["chainrule"])],
    "sklearn": [("sklearn", ["chainrule", "sklearn", "chainrule_sklearn"])],
    "cnn": [("cnn", ["chainrule", "torch", "numpy"])],
}
#: cases left out unless named in --cases (slow, or measured elsewhere)
OPTIONAL = ("sklearn",)

#: The targets of issues 6 and 17. ratio = time (or memory) of chainrule / that of the
#: peer; peer None means an absolute bound on chainrule's own value. Never loosen these.
TARGETS = [
    # case, metric, peer, operator, bound
    ("mlp", "train b32", "torch", "<=", 0.70),
    ("mlp", "train b32", "numpy", "<=", 1.10),
    ("mlp", "train b128", "torch", "<=", 0.80),
    ("mlp", "train b128", "numpy", "<=", 1.05),
    ("mlp", "train b1024", "torch", "<=", 1.00),
    ("mlp", "train b1024", "numpy", "<=", 1.05),
    ("tiny", "step b32", "torch", "<=", 0.30),
    ("tiny", "step b32", "numpy", "<=", 1.5),
    ("import", "import", None, "<=", 0.15),
    ("memory", "peak RSS increase, 1 epoch b128", "numpy", "<=", 1.2),
    ("memory", "RSS growth, 20,000 tiny steps", None, "<", 5.0),
    # issue 13: at or under PyTorch's time
    ("cnn", "lenet b128", "torch", "<=", 1.0),
    ("cnn", "digits b64", "torch", "<=", 1.0),
]

IMPORT_SNIPPET = ("import time; t0 = time.perf_counter(); import {mod}; "
                  "print(time.perf_counter() - t0)")
IMPORT_MODULE = {"chainrule": "chainrule", "baseline": "chainrule", "torch": "torch",
                 "jax": "jax", "numpy": "numpy"}
#: the default ``chainrule train`` (digits, MLP 256-128, Adam, early stopping), timed whole
CLI_ARGS = ["-m", "chainrule", "train", "--quiet", "--out"]

# ---------------------------------------------------------------------- environment
def clean_env():
    """This process's environment without the BLAS pins, with the repository importable."""
    env = dict(os.environ)
    for k in BLAS_PINS:
        env.pop(k, None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


# ---------------------------------------------------------------------- quiet gate
def _cpu_busy(window=0.25):
    """Fraction of all CPUs busy over ``window`` seconds (from /proc/stat), niced work
    not counted."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4] + v[1]  # niced processes yield the CPU (as in chainrule/_blas.py)
        return sum(v), idle

    t0, i0 = read()
    time.sleep(window)
    t1, i1 = read()
    total = t1 - t0
    return 1.0 - (i1 - i0) / total if total else 0.0


def wait_until_quiet(max_wait, threshold=0.3):
    """Wait (up to ``max_wait`` s) until other processes leave the CPUs mostly idle.

    Other work on this 2-core machine (a test run) preempts a worker's BLAS
    threads and multiplies its times; starting a worker on an idle machine
    keeps most repeats clean, and the median drops the rest.
    """
    t0 = time.perf_counter()
    busy = _cpu_busy()
    while busy > threshold and time.perf_counter() - t0 < max_wait:
        busy = _cpu_busy(0.5)
    return time.perf_counter() - t0, busy


# ---------------------------------------------------------------------- running
def _parse(p):
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
    return {"ok": False, "error": f"worker exited {p.returncode}: {' | '.join(tail)}"}


def run_worker(case, framework, quick, env, timeout):
    cmd = [sys.executable, str(WORKER), "--case", case, "--framework", framework]
    if quick:
        cmd.append("--quick")
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout} s"}
    return _parse(p)


def _one_metric(name, value, unit):
    return {"ok": True, "metrics": {name: {"value": value, "unit": unit, "samples": [value],
                                           "higher_is_better": False}},
            "info": {}, "details": {}}


def run_import(framework, env, timeout):
    snippet = IMPORT_SNIPPET.format(mod=IMPORT_MODULE[framework])
    try:
        p = subprocess.run([sys.executable, "-c", snippet], env=env, capture_output=True,
                           text=True, timeout=timeout, cwd="/")
        secs = float(p.stdout.strip().splitlines()[-1])
    except Exception as e:
        err = getattr(locals().get("p"), "stderr", "") or str(e)
        return {"ok": False, "error": f"import {IMPORT_MODULE[framework]} failed: "
                                      f"{err.strip().splitlines()[-1] if err.strip() else e}"}
    return _one_metric("import", secs, "s")


def run_cli(framework, env, timeout):
    """Wall time of the default ``chainrule train`` in a fresh process (output discarded)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        try:
            p = subprocess.run([sys.executable, *CLI_ARGS, str(Path(tmp) / "run")], env=env,
                               capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"timed out after {timeout} s"}
        secs = time.perf_counter() - t0
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:]
        return {"ok": False, "error": f"chainrule train exited {p.returncode}: {tail}"}
    return _one_metric("default chainrule train", secs, "s")


def available(framework):
    """(True, '') or (False, why) without importing the framework here."""
    dist = {"torch": "torch", "jax": "jax", "sklearn": "sklearn",
            "chainrule_sklearn": "sklearn"}
    mod = dist.get(framework)
    if mod and importlib.util.find_spec(mod) is None:
        return False, f"{mod} is not installed"
    return True, ""


def rotated(frameworks, r):
    k = r % len(frameworks)
    return frameworks[k:] + frameworks[:k]


def start_competitors(n):
    """``n`` CPU-bound Python processes (a busy loop each), to measure under load."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def run_suite(cases, repeats, quick, envs, log, gate=True, progress=None):
    """Run every case for ``repeats`` rounds; ``envs`` maps a framework to its environment.

    ``progress(results, meta, bases, notes, jobs, pools)`` is called after every round,
    so that an interrupted run still leaves the rounds it finished.
    """
    results = {}     # case -> metric -> framework -> {round: value}
    meta = {}        # case -> metric -> {"unit", "higher_is_better"}
    bases = {}       # case -> the framework whose time the ratios divide
    notes, jobs, pools = [], [], {}
    max_wait = 5 if quick else 30
    wait_budget = (60 if quick else 240) if gate else 0.0  # seconds of waiting, in all
    for case in cases:
        t_case = time.perf_counter()
        for wcase, frameworks in CASES[case]:
            bases.setdefault(case, frameworks[0])
            active = []
            for fw in frameworks:
                ok, why = available(fw)
                if ok:
                    active.append(fw)
                    if fw == "chainrule" and "baseline" in envs:
                        active.append("baseline")
                else:
                    notes.append(f"{case}: {LABEL[fw]} skipped ({why})")
            if wcase == "import":  # warm the file cache once, untimed
                for fw in active:
                    run_import(fw, envs[fw], 120)
            dead = set()
            for r in range(repeats):
                for fw in rotated(active, r):
                    if fw in dead:
                        continue
                    waited, busy = wait_until_quiet(min(max_wait, wait_budget))
                    wait_budget = max(0.0, wait_budget - waited)
                    t0 = time.perf_counter()
                    if wcase == "import":
                        res = run_import(fw, envs[fw], 120)
                    elif wcase == "cli":
                        res = run_cli(fw, envs[fw], 600)
                    else:
                        res = run_worker(wcase, fw, quick, envs[fw], 600)
                    wall = time.perf_counter() - t0
                    job = {"case": wcase, "framework": fw, "round": r, "wall_s": round(wall, 2),
                           "waited_s": round(waited, 2), "cpu_busy_before": round(busy, 2),
                           "ok": res.get("ok", False)}
                    if not res.get("ok"):
                        job["error"] = res.get("error")
                        dead.add(fw)  # the same failure would repeat: skip the other rounds
                        notes.append(f"{case}: {LABEL[fw]} skipped ({res.get('error')})")
                    else:
                        info = res.get("info", {})
                        job["involuntary_context_switches"] = info.get(
                            "involuntary_context_switches")
                        job["minor_page_faults"] = info.get("minor_page_faults")
                        job["details"] = res.get("details")
                        if info.get("threadpools"):
                            pools.setdefault(fw, info["threadpools"])
                            if fw == "torch":
                                pools.setdefault("torch_info", {k: v for k, v in info.items()
                                                                if k.startswith("torch")})
                        for metric, m in res["metrics"].items():
                            results.setdefault(case, {}).setdefault(metric, {}) \
                                .setdefault(fw, {})[r] = m["value"]
                            meta.setdefault(case, {})[metric] = {
                                "unit": m["unit"], "higher_is_better": m["higher_is_better"]}
                    jobs.append(job)
                log(f"  {case:9s} {wcase:10s} round {r + 1}/{repeats} done "
                    f"({time.perf_counter() - t_case:5.1f} s into the case)")
                if progress is not None:
                    progress(results, meta, bases, notes, jobs, pools)
    return results, meta, bases, notes, jobs, pools


# ---------------------------------------------------------------------- main
def summary(machine, args, argv, cases, repeats, t0, results, meta, bases, notes, jobs, pools,
            final):
    """Evaluate and write latest.{json,md,png}; print the tables when ``final``."""
    notes = list(notes)
    machine["loadavg_end"] = os.getloadavg()
    machine["worker_threadpools"] = {k: v for k, v in pools.items() if k != "torch_info"}
    if "torch_info" in pools:
        machine["torch_info"] = pools["torch_info"]
    archs = {p.get("architecture") for fw, ps in machine["worker_threadpools"].items()
             for p in ps if p.get("user_api") == "blas"}
    if len(archs) > 1:
        notes.append(f"workers reported different BLAS kernels: {sorted(map(str, archs))}")
    noisy = [j for j in jobs if (j.get("involuntary_context_switches") or 0) > 200]
    if noisy:
        notes.append(f"{len(noisy)} of {len(jobs)} worker processes were preempted more than "
                     "200 times (other load on the machine); within-round ratios absorb some "
                     "of it, see jobs in latest.json")

    rows, checks = evaluate(results, meta, bases, TARGETS)
    tabs = tables(rows)
    elapsed = time.perf_counter() - t0
    settings = {"argv": argv, "cases": cases, "repeats": repeats, "quick": args.quick,
                "baseline": args.baseline, "compete": args.compete, "elapsed_s": elapsed}

    settings["rounds_done"] = max((j["round"] + 1 for j in jobs), default=0)
    if not final:
        args.out.mkdir(parents=True, exist_ok=True)
        payload = {"machine": machine, "settings": settings, "rows": rows, "targets": checks,
                   "notes": notes, "jobs": jobs}
        atomic_write(args.out / "latest.json", json.dumps(payload, indent=1, default=str)
                     + "\n")
        atomic_write(args.out / "latest.md",
                     markdown(machine, settings, tabs, checks, notes) + "\n")
        return
    for title, head, body in tabs:
        print()
        print(title)
        print(text_table(head, body))
    print()
    missed = [c for c in checks if c["status"] == "MISS"]
    print(f"targets: {sum(c['status'] == 'PASS' for c in checks)} PASS, {len(missed)} MISS, "
          f"{sum(c['status'] == 'n/a' for c in checks)} n/a")
    for c in missed:
        print(f"  MISS {c['case']} / {c['metric']}: {c['measured']:.3g} (target {c['label']})")
    for n in notes:
        print(f"note: {n}")

    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine, "settings": settings, "rows": rows, "targets": checks,
               "notes": notes, "jobs": jobs}
    atomic_write(args.out / "latest.json", json.dumps(payload, indent=1, default=str) + "\n")
    atomic_write(args.out / "latest.md", markdown(machine, settings, tabs, checks, notes) + "\n")
    why = plot(rows, checks, args.out / "latest.png")
    if why:
        print(f"note: {why}")
    print(f"wrote {args.out / 'latest.json'}, latest.md, latest.png in {elapsed:.0f} s")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description="chainrule benchmark suite")
    p.add_argument("--quick", action="store_true",
                   help="fewer timed epochs/steps per worker and 3 rounds by default")
    p.add_argument("--cases", default=",".join(c for c in CASES if c not in OPTIONAL),
                   help=f"comma-separated subset of: {','.join(CASES)} (default: all but "
                        f"{','.join(OPTIONAL)})")
    p.add_argument("--repeats", "--rounds", type=int, default=None,
                   help="rounds (one process per case and framework each); default 9, "
                        "3 with --quick")
    p.add_argument("--baseline", metavar="REF",
                   help="also run chainrule at this git revision (or from this folder), as a "
                        "peer")
    p.add_argument("--compete", type=int, default=0, metavar="N",
                   help="keep N CPU-bound processes running during the run (and do not wait "
                        "for a quiet machine)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = p.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    repeats = args.repeats or (3 if args.quick else 9)
    if repeats < 1:
        p.error("--repeats must be at least 1")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    env = clean_env()
    envs = {fw: env for fw in LABEL if fw != "baseline"}
    machine = machine_info(env)
    with tempfile.TemporaryDirectory(prefix="chainrule-baseline-") as base_dir:
        if args.baseline:
            machine["baseline"] = extract_baseline(args.baseline, base_dir)
            tree = machine["baseline"] if os.path.isdir(machine["baseline"]) else base_dir
            envs["baseline"] = {**env, "PYTHONPATH": os.pathsep.join(
                [tree] + [q for q in env["PYTHONPATH"].split(os.pathsep)
                              if Path(q).resolve() != ROOT])}
        print(f"CPU: {machine['cpu_model']} (family {machine['cpu_family']} model "
              f"{machine['cpu_model_number']}), {machine['cores']} cores; NumPy "
              f"{machine['numpy']}; PyTorch {machine['torch']}; JAX {machine['jax']}")
        print(f"BLAS kernel (workers, {', '.join(BLAS_PINS)} unset): {machine['blas_line']}")
        if machine["removed_env"]:
            print(f"  removed {machine['removed_env']}; with them the kernel would be: "
                  f"{machine['blas_with_machine_env']}")
        print(f"cases: {', '.join(cases)}; {repeats} rounds; each framework in its own process"
              + (f"; baseline chainrule at {machine['baseline']}" if args.baseline else "")
              + (f"; {args.compete} competing CPU-bound processes" if args.compete else ""),
              flush=True)
        machine["compete"] = args.compete
        competitors = start_competitors(args.compete)
        def progress(*state):
            summary(machine, args, argv, cases, repeats, t0, *state, final=False)

        try:
            results, meta, bases, notes, jobs, pools = run_suite(
                cases, repeats, args.quick, envs, log, gate=not args.compete,
                progress=progress)
        finally:
            for c in competitors:
                c.kill()
                c.wait()
    summary(machine, args, argv, cases, repeats, t0, results, meta, bases, notes, jobs,
            pools, final=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
