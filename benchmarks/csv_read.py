"""CSV read speed: ``pyarrow.csv`` against the ``csv``-module fallback (issue 11).

    python benchmarks/csv_read.py                 # 1,000,000 rows x 20 columns, 3 rounds
    python benchmarks/csv_read.py --rows 100000 --rounds 5

Writes a CSV file in a temporary directory (17 float columns, 2 integer columns, one
string column with 5 categories; 1% of the cells of two columns are ``NA``), then reads it
with ``chainrule.data.read_frame(path, engine=...)`` in a fresh process per read, the two
engines alternating and in a rotated order from one round to the next. Prints the CPU
model, the per-round times, the median time of each engine, the median of the
within-round ratios, and whether both engines gave the same frame. Times are wall-clock
seconds and CPU seconds of the reading process (all its threads: pyarrow parses on
several); on a shared machine the CPU seconds are the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

import numpy as np
from machine import cpu_model  # benchmarks/ is on sys.path when run as a script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READ = ("import json, resource, sys, time; from chainrule.data import read_frame; "
        "t = time.perf_counter(); c = time.process_time(); "
        "f = read_frame(sys.argv[1], engine=sys.argv[2]); "
        "dt = time.perf_counter() - t; dc = time.process_time() - c; "
        "print(json.dumps({'seconds': dt, 'cpu_seconds': dc, 'rows': f.n_rows, "
        "'columns': len(f.names), "
        "'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
COMPARE = ("import sys, numpy as np; from chainrule.data import read_frame; "
           "a = read_frame(sys.argv[1], engine='pyarrow'); "
           "b = read_frame(sys.argv[1], engine='python'); "
           "ok = a.names == b.names and all(a[n].kind == b[n].kind and "
           "np.array_equal(a[n].missing, b[n].missing) and "
           "(a[n].values.tolist() == b[n].values.tolist() if a[n].values.dtype == object "
           "else np.array_equal(a[n].values, b[n].values, equal_nan=True)) for n in a.names); "
           "print(ok)")


def write_file(path, rows, seed=0):
    rng = np.random.default_rng(seed)
    cols = {f"f{j}": rng.standard_normal(rows).round(6) for j in range(17)}
    cols["count"] = rng.integers(0, 1000, rows)
    cols["year"] = rng.integers(1990, 2025, rows)
    cols["colour"] = np.array(["red", "green", "blue", "cyan", "grey"])[rng.integers(0, 5, rows)]
    text = {k: v.astype(str).astype(object) for k, v in cols.items()}
    for k in ("f3", "colour"):
        text[k][rng.random(rows) < 0.01] = "NA"
    with open(path, "w", newline="") as f:
        f.write(",".join(text) + "\n")
        step = 100_000
        for s in range(0, rows, step):
            block = zip(*(v[s:s + step] for v in text.values()), strict=True)
            f.write("\n".join(",".join(r) for r in block) + "\n")


def child_env():
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(k, None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def read_once(path, engine):
    out = subprocess.run([sys.executable, "-c", READ, path, engine], capture_output=True,
                         text=True, env=child_env(), check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    import pyarrow

    print(f"CPU: {cpu_model()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"pyarrow {pyarrow.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.csv")
        write_file(path, a.rows)
        size = os.path.getsize(path) / 2**20
        print(f"file: {a.rows:,} rows x 20 columns, {size:.0f} MiB")
        engines = ["pyarrow", "python"]
        times = {e: [] for e in engines}
        cpu = {e: [] for e in engines}
        ratios, cpu_ratios = [], []
        for r in range(a.rounds):
            order = engines if r % 2 == 0 else engines[::-1]
            got = {e: read_once(path, e) for e in order}
            for e in engines:
                times[e].append(got[e]["seconds"])
                cpu[e].append(got[e]["cpu_seconds"])
            ratios.append(got["python"]["seconds"] / got["pyarrow"]["seconds"])
            cpu_ratios.append(got["python"]["cpu_seconds"] / got["pyarrow"]["cpu_seconds"])
            print(f"round {r + 1}: " + ", ".join(
                f"{e} {got[e]['seconds']:.2f} s wall, {got[e]['cpu_seconds']:.2f} s CPU "
                f"(peak RSS {got[e]['peak_rss_mb']:.0f} MB)" for e in engines), flush=True)
        same = subprocess.run([sys.executable, "-c", COMPARE, path], capture_output=True,
                              text=True, env=child_env(), check=True).stdout.strip()
    for e in engines:
        w, c = statistics.median(times[e]), statistics.median(cpu[e])
        print(f"{e:>8}: median {w:.2f} s wall ({a.rows / w / 1e6:.2f} M rows/s), "
              f"{c:.2f} s CPU")
    print(f"csv module / pyarrow: median within-round ratio {statistics.median(ratios):.1f}x "
          f"wall, {statistics.median(cpu_ratios):.1f}x CPU")
    print(f"identical frames: {same}")


if __name__ == "__main__":
    main()
