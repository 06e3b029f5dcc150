"""chainrule's benchmark suite (issue 6): chainrule against PyTorch, scikit-learn and NumPy.

    python benchmarks/run.py [--quick] [--cases mlp,tiny] [--repeats 5]

Each (case, framework, repeat) runs in its own fresh process
(benchmarks/workers/worker.py), frameworks alternating in order across
repeats, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from that
process's environment. The table gives the median over repeats, the time
ratio chainrule/peer (lower is better) and the targets of issue 6 with
PASS/MISS. Results go to benchmarks/results/latest.{json,md,png}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "workers" / "worker.py"
RESULTS = HERE / "results"
MARK = "@@RESULT@@"

#: Variables the machine sets for old OpenBLAS builds; they pin slower kernels for current NumPy.
BLAS_PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

PEERS = ("torch", "numpy", "sklearn", "chainrule_sklearn")
LABEL = {"chainrule": "chainrule", "torch": "PyTorch", "numpy": "NumPy (hand)",
         "sklearn": "sklearn MLP", "chainrule_sklearn": "cr.sklearn"}
SHORT = {"torch": "torch", "numpy": "numpy", "sklearn": "sklearn", "chainrule_sklearn": "cr.skl"}

#: case -> [(worker case, frameworks)]
CASES = {
    "mlp": [("mlp", ["chainrule", "torch", "numpy"])],
    "tiny": [("tiny", ["chainrule", "torch", "numpy"])],
    "residual": [("residual", ["chainrule", "torch", "numpy"])],
    "inference": [("inference", ["chainrule", "torch", "numpy"])],
    "import": [("import", ["chainrule", "torch", "numpy"])],
    "memory": [("memory", ["chainrule", "torch", "numpy"]), ("rss_growth", ["chainrule"])],
    "adam": [("adam", ["chainrule", "torch", "numpy"])],
    "sklearn": [("sklearn", ["chainrule", "sklearn", "chainrule_sklearn"])],
    "cnn": [("cnn", ["chainrule", "torch", "numpy"])],
}

#: The targets of issue 6. ratio = time (or memory) of chainrule / that of the peer;
#: peer None means an absolute bound on chainrule's own value. Never loosen these.
TARGETS = [
    # case, metric, peer, operator, bound
    ("mlp", "train b32", "torch", "<=", 0.80),
    ("mlp", "train b128", "torch", "<=", 0.72),
    ("mlp", "train b128", "numpy", "<=", 1.15),
    ("mlp", "train b1024", "torch", "<=", 0.62),
    ("mlp", "train b1024", "numpy", "<=", 1.15),
    ("tiny", "step b32", "torch", "<=", 0.35),
    ("tiny", "step b32", "numpy", "<=", 1.6),
    ("import", "import", None, "<=", 0.2),
    ("memory", "peak RSS increase, 1 epoch b128", "numpy", "<=", 1.2),
    ("memory", "RSS growth, 20,000 tiny steps", None, "<", 5.0),
    # issue 13: at or under PyTorch's time
    ("cnn", "lenet b128", "torch", "<=", 1.0),
    ("cnn", "digits b64", "torch", "<=", 1.0),
]

IMPORT_SNIPPET = ("import time; t0 = time.perf_counter(); import {mod}; "
                  "print(time.perf_counter() - t0)")
IMPORT_MODULE = {"chainrule": "chainrule", "torch": "torch", "numpy": "numpy"}

BLAS_PROBE = ("import json, numpy; from threadpoolctl import threadpool_info; "
              "print(json.dumps([p for p in threadpool_info() if p.get('user_api') == 'blas']))")


# ---------------------------------------------------------------------- environment
def clean_env():
    """This process's environment without the BLAS pins, with the repository importable."""
    env = dict(os.environ)
    for k in BLAS_PINS:
        env.pop(k, None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def blas_line(pools):
    if not pools:
        return "no BLAS found by threadpoolctl"
    parts = []
    for p in pools:
        parts.append(f"{p.get('internal_api')} {p.get('version')} kernel={p.get('architecture')} "
                     f"num_threads={p.get('num_threads')} ({p.get('prefix')})")
    return "; ".join(parts)


def probe_blas(env):
    try:
        out = subprocess.run([sys.executable, "-c", BLAS_PROBE], env=env, capture_output=True,
                             text=True, timeout=60)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as e:  # threadpoolctl missing, or numpy broken
        return [{"internal_api": f"probe failed: {type(e).__name__}: {e}"}]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "chainrule"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" (chainrule/ has uncommitted changes)" if dirty else "")
    except Exception:
        return None


def machine_info(env):
    pools = probe_blas(env)
    info = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_gb": _mem_total_gb(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "scikit-learn": _version("scikit-learn"),
        "threadpoolctl": _version("threadpoolctl"),
        "chainrule_git": _git(),
        "blas": pools,
        "blas_line": blas_line(pools),
        "removed_env": {k: os.environ[k] for k in BLAS_PINS if k in os.environ},
        "loadavg_start": os.getloadavg(),
    }
    if info["removed_env"]:
        pinned = probe_blas(dict(os.environ))
        info["blas_with_machine_env"] = blas_line(pinned)
    return info


# ---------------------------------------------------------------------- quiet gate
def _cpu_busy(window=0.25):
    """Fraction of all CPUs busy over ``window`` seconds (from /proc/stat)."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4]
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
def run_worker(case, framework, quick, env, timeout):
    cmd = [sys.executable, str(WORKER), "--case", case, "--framework", framework]
    if quick:
        cmd.append("--quick")
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout} s"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
    return {"ok": False, "error": f"worker exited {p.returncode}: {' | '.join(tail)}"}


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
    return {"ok": True, "metrics": {"import": {"value": secs, "unit": "s", "samples": [secs],
                                               "higher_is_better": False}},
            "info": {}, "details": {}}


def available(framework):
    """(True, '') or (False, why) without importing the framework here."""
    dist = {"torch": "torch", "sklearn": "sklearn", "chainrule_sklearn": "sklearn"}
    mod = dist.get(framework)
    if mod and importlib.util.find_spec(mod) is None:
        return False, f"{mod} is not installed"
    return True, ""


def rotated(frameworks, r):
    k = r % len(frameworks)
    return frameworks[k:] + frameworks[:k]


def run_suite(cases, repeats, quick, env, log):
    results = {}     # case -> metric -> framework -> list of per-repeat values
    meta = {}        # case -> metric -> {"unit", "higher_is_better"}
    notes, jobs, pools = [], [], {}
    max_wait = 5 if quick else 30
    wait_budget = 60 if quick else 240  # seconds of waiting for quiet, over the whole run
    for case in cases:
        t_case = time.perf_counter()
        for wcase, frameworks in CASES[case]:
            active = []
            for fw in frameworks:
                ok, why = available(fw)
                if ok:
                    active.append(fw)
                else:
                    notes.append(f"{case}: {LABEL[fw]} skipped ({why})")
            if wcase == "import":  # warm the file cache once, untimed
                for fw in active:
                    run_import(fw, env, 120)
            dead = set()
            for r in range(repeats):
                for fw in rotated(active, r):
                    if fw in dead:
                        continue
                    waited, busy = wait_until_quiet(min(max_wait, wait_budget))
                    wait_budget = max(0.0, wait_budget - waited)
                    t0 = time.perf_counter()
                    if wcase == "import":
                        res = run_import(fw, env, 120)
                    else:
                        res = run_worker(wcase, fw, quick, env, 600)
                    wall = time.perf_counter() - t0
                    job = {"case": wcase, "framework": fw, "repeat": r, "wall_s": round(wall, 2),
                           "waited_s": round(waited, 2), "cpu_busy_before": round(busy, 2),
                           "ok": res.get("ok", False)}
                    if not res.get("ok"):
                        job["error"] = res.get("error")
                        dead.add(fw)  # the same failure would repeat: skip the other repeats
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
                                .setdefault(fw, []).append(m["value"])
                            meta.setdefault(case, {})[metric] = {
                                "unit": m["unit"], "higher_is_better": m["higher_is_better"]}
                    jobs.append(job)
                log(f"  {case:9s} {wcase:10s} repeat {r + 1}/{repeats} done "
                    f"({time.perf_counter() - t_case:5.1f} s into the case)")
    return results, meta, notes, jobs, pools


# ---------------------------------------------------------------------- analysis
def time_ratio(cr, peer, higher_is_better):
    """chainrule's time (or memory) over the peer's: < 1 means chainrule is faster/smaller."""
    if cr is None or peer is None or cr == 0 or peer == 0:
        return None
    return peer / cr if higher_is_better else cr / peer


def evaluate(results, meta):
    rows, checks = [], []
    for case, metrics in results.items():
        for metric, per_fw in metrics.items():
            m = meta[case][metric]
            med = {fw: statistics.median(v) for fw, v in per_fw.items()}
            cr = med.get("chainrule")
            ratios = {p: time_ratio(cr, med.get(p), m["higher_is_better"])
                      for p in PEERS if p in med}
            row = {"case": case, "metric": metric, "unit": m["unit"],
                   "higher_is_better": m["higher_is_better"], "median": med,
                   "values": per_fw, "ratio": ratios, "targets": []}
            for tcase, tmetric, peer, op, bound in TARGETS:
                if (tcase, tmetric) != (case, metric):
                    continue
                measured = cr if peer is None else ratios.get(peer)
                if measured is None:
                    status = "n/a"
                elif op == "<=":
                    status = "PASS" if measured <= bound else "MISS"
                else:
                    status = "PASS" if measured < bound else "MISS"
                what = f"{m['unit']}" if peer is None else f"x {SHORT[peer]}"
                check = {"case": case, "metric": metric, "peer": peer, "op": op, "bound": bound,
                         "measured": measured, "status": status,
                         "label": f"{op} {bound:g} {what}".strip()}
                row["targets"].append(check)
                checks.append(check)
            rows.append(row)
    return rows, checks


# ---------------------------------------------------------------------- formatting
def fmt_value(v, unit):
    if v is None:
        return "-"
    if unit == "samples/s":
        return f"{v / 1e3:.1f}k" if v < 1e6 else f"{v / 1e6:.2f}M"
    if unit == "us/step":
        return f"{v:.1f}"
    if unit == "s":
        return f"{v:.3f}"
    if unit == "MB":
        return f"{v:.2f}"
    return f"{v:.4g}"


def table(rows):
    peers = [p for p in PEERS if any(p in r["median"] for r in rows)]
    head = (["case", "metric", "unit", "chainrule"] + [SHORT[p] for p in peers]
            + [f"cr/{SHORT[p]}" for p in peers] + ["target", "result"])
    body = []
    for r in rows:
        u = r["unit"]
        cells = [r["case"], r["metric"], u, fmt_value(r["median"].get("chainrule"), u)]
        cells += [fmt_value(r["median"].get(p), u) for p in peers]
        cells += ["-" if r["ratio"].get(p) is None else f"{r['ratio'][p]:.2f}" for p in peers]
        cells.append("; ".join(t["label"] for t in r["targets"]) or "-")
        cells.append(" ".join(t["status"] for t in r["targets"]) or "-")
        body.append(cells)
    return head, body


def text_table(head, body):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths))
    sep = "  ".join("-" * w for w in widths)
    rows = ["  ".join(str(c).ljust(w) for c, w in zip(cells, widths)) for cells in body]
    return "\n".join([line, sep, *rows])


def md_table(head, body):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in cells) + " |" for cells in body]
    return "\n".join(out)


def atomic_write(path, data, mode="w"):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, mode) as f:
        f.write(data)
    os.replace(tmp, path)


def plot(rows, checks, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no chart"
    bars = []  # (label, ratio, bound or None)
    for r in rows:
        for p, v in r["ratio"].items():
            if v is None:
                continue
            bound = next((t["bound"] for t in r["targets"] if t["peer"] == p), None)
            bars.append((f"{r['case']}: {r['metric']} vs {LABEL[p]}", v, bound))
    absolute = [t for t in checks if t["peer"] is None and t["measured"] is not None]
    n = len(bars) + len(absolute)
    if not n:
        return "nothing to plot"
    fig, axes = plt.subplots(2, 1, figsize=(12, 0.32 * n + 2.5),
                             gridspec_kw={"height_ratios": [max(len(bars), 1),
                                                            max(len(absolute), 1)]})
    ax = axes[0]
    ys = range(len(bars))[::-1]
    colors = ["#2a9d8f" if b is None or v <= b else "#e76f51" for _, v, b in bars]
    colors = [c if b is not None else "#8d99ae" for c, (_, _, b) in zip(colors, bars)]
    ax.barh(list(ys), [v for _, v, _ in bars], color=colors)
    for y, (_, v, b) in zip(ys, bars):
        ax.text(v, y, f" {v:.2f}", va="center", fontsize=7)
        if b is not None:
            ax.plot([b, b], [y - 0.4, y + 0.4], color="black", lw=2)
    ax.axvline(1.0, color="grey", ls=":", lw=1)
    ax.set_yticks(list(ys), [lbl for lbl, _, _ in bars], fontsize=7)
    ax.set_xlabel("time ratio chainrule / peer (lower is better; black tick = target; "
                  "grey bar = no target)", fontsize=8)
    ax.set_title("chainrule vs peers (medians of one run)", fontsize=10)
    ax = axes[1]
    ys = range(len(absolute))[::-1]
    vals = [t["measured"] / t["bound"] for t in absolute]
    ax.barh(list(ys), vals, color=["#2a9d8f" if t["status"] == "PASS" else "#e76f51"
                                   for t in absolute])
    for y, t, v in zip(ys, absolute, vals):
        ax.text(v, y, f" {t['measured']:.3g} ({t['label']})", va="center", fontsize=7)
    ax.axvline(1.0, color="black", lw=2)
    ax.set_yticks(list(ys), [f"{t['case']}: {t['metric']}" for t in absolute], fontsize=7)
    ax.set_xlabel("chainrule's value / its absolute bound (target: below 1)", fontsize=8)
    fig.tight_layout()
    fig.subplots_adjust(left=0.33, right=0.9)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return None


def markdown(machine, settings, head, body, checks, notes):
    lines = ["# chainrule benchmarks: latest run", "",
             f"{machine['date']} · `python benchmarks/run.py "
             f"{' '.join(settings['argv'])}`".rstrip() + " · "
             f"{settings['repeats']} repeats · {settings['elapsed_s']:.0f} s", "",
             "## Machine", "",
             f"- CPU: {machine['cpu_model']}, {machine['cores']} cores, "
             f"{machine['mem_total_gb']} GB",
             f"- Python {machine['python']}, NumPy {machine['numpy']}, PyTorch {machine['torch']}, "
             f"scikit-learn {machine['scikit-learn']}, chainrule at {machine['chainrule_git']}",
             f"- BLAS (workers): {machine['blas_line']}",
             f"- Removed from the workers' environment: {machine['removed_env'] or 'none set'}"]
    if machine.get("blas_with_machine_env"):
        lines.append(f"- BLAS with the machine's environment: {machine['blas_with_machine_env']}")
    if machine.get("torch_info"):
        lines.append(f"- PyTorch: {machine['torch_info']}")
    lines += [f"- Load average at start / end: {machine['loadavg_start']} / "
              f"{machine.get('loadavg_end')}", "",
              "## Results (medians; ratio = chainrule's time / peer's time, lower is better)", "",
              md_table(head, body), ""]
    missed = [c for c in checks if c["status"] == "MISS"]
    lines.append(f"Targets: {sum(c['status'] == 'PASS' for c in checks)} PASS, "
                 f"{len(missed)} MISS, {sum(c['status'] == 'n/a' for c in checks)} n/a.")
    for c in missed:
        lines.append(f"- MISS {c['case']} / {c['metric']}: {c['measured']:.3g} (target "
                     f"{c['label']})")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines += ["", "![ratios vs targets](latest.png)", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------- main
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description="chainrule benchmark suite (issue 6)")
    p.add_argument("--quick", action="store_true",
                   help="fewer timed epochs/steps per worker and 3 repeats by default")
    p.add_argument("--cases", default=",".join(CASES),
                   help=f"comma-separated subset of: {','.join(CASES)}")
    p.add_argument("--repeats", type=int, default=None,
                   help="processes per (case, framework); default 5, or 3 with --quick")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = p.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    repeats = args.repeats or (3 if args.quick else 5)
    if repeats < 1:
        p.error("--repeats must be at least 1")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    env = clean_env()
    machine = machine_info(env)
    print(f"CPU: {machine['cpu_model']}, {machine['cores']} cores; NumPy {machine['numpy']}; "
          f"PyTorch {machine['torch']}; scikit-learn {machine['scikit-learn']}")
    print(f"BLAS kernel (workers, {', '.join(BLAS_PINS)} unset): {machine['blas_line']}")
    if machine["removed_env"]:
        print(f"  removed {machine['removed_env']}; with them the kernel would be: "
              f"{machine['blas_with_machine_env']}")
    print(f"cases: {', '.join(cases)}; {repeats} repeats; each framework in its own process",
          flush=True)

    results, meta, notes, jobs, pools = run_suite(cases, repeats, args.quick, env, log)
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
                     "200 times (other load on the machine); medians over repeats absorb some "
                     "of it, see jobs in latest.json")

    rows, checks = evaluate(results, meta)
    head, body = table(rows)
    elapsed = time.perf_counter() - t0
    settings = {"argv": argv, "cases": cases, "repeats": repeats, "quick": args.quick,
                "elapsed_s": elapsed}

    print()
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
    atomic_write(args.out / "latest.md",
                 markdown(machine, settings, head, body, checks, notes) + "\n")
    why = plot(rows, checks, args.out / "latest.png")
    if why:
        print(f"note: {why}")
    print(f"wrote {args.out / 'latest.json'}, latest.md, latest.png in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
