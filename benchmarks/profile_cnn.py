"""Where a CNN training step's time goes: chainrule's step under cProfile, grouped by op.

    python benchmarks/profile_cnn.py [--net lenet|digits] [--steps 40] [--threads 1]

Runs the ``cnn`` benchmark case's networks (benchmarks/workers/cnn.py) on its data:
first the CPU time per step of chainrule, the hand-written NumPy im2col step and
PyTorch (if installed) in this one process, one after the other, with ``--threads``
BLAS/torch threads (CPU time, so other load on the machine inflates it less than wall
time); then chainrule's step under cProfile, its time summed by op (forward and
backward of each op in ``chainrule/ops``) and the engine's own share. The process
re-executes itself without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, as the workers do.
"""

from __future__ import annotations

import os
import sys

from machine import reexec_without_blas_pins  # benchmarks/ is on sys.path

reexec_without_blas_pins()  # before NumPy loads OpenBLAS

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "workers"))


def _steps(make, net, x, y, steps):
    from cnn import NETS

    batch = NETS[net][1]
    step = make(net, x, y)
    bounds = [(s, s + batch) for s in range(0, len(x) - batch + 1, batch)]
    for i in range(5):
        step(*bounds[i % len(bounds)])
    return step, [bounds[i % len(bounds)] for i in range(steps)]


def cpu_ms_per_step(make, net, x, y, steps):
    step, bounds = _steps(make, net, x, y, steps)
    t0 = time.process_time()
    for s, e in bounds:
        step(s, e)
    return (time.process_time() - t0) / steps * 1e3


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", choices=("lenet", "digits"), default="lenet")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import cnn

    x, y = cnn.data(a.net)
    print(f"{a.net}, batch {cnn.NETS[a.net][1]}, {a.threads} thread(s); CPU ms per step "
          f"(median of 3):")
    makers = {"chainrule": cnn.chainrule_step, "numpy (hand)": cnn.numpy_step}
    try:
        import torch

        torch.set_num_threads(a.threads)
        makers["torch"] = cnn.torch_step
    except ImportError:
        pass
    for name, make in makers.items():
        runs = sorted(cpu_ms_per_step(make, a.net, x, y, a.steps) for _ in range(3))
        print(f"  {name:13s} {runs[1]:8.2f}")

    step, bounds = _steps(cnn.chainrule_step, a.net, x, y, a.steps)
    prof = cProfile.Profile(time.process_time)  # CPU time: less disturbed by other load
    prof.enable()
    for s, e in bounds:
        step(s, e)
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = sum(v[2] for v in stats.values())  # tottime summed over every function
    groups = defaultdict(float)
    for (path, line, func), (_, _, _, cum, callers) in stats.items():
        top = [c for c in callers if "/chainrule/" not in c[0] or "/ops/" not in c[0]]
        if func.startswith("<"):  # comprehensions: inside their function's time already
            continue
        if "/chainrule/ops/" in path and top:  # an op (or its backward) called by the engine
            groups[f"ops/{Path(path).stem}: {_enclosing(path, line, func)}"] += cum
        elif "/chainrule/optim/" in path and not any("/chainrule/optim/" in c[0]
                                                        for c in callers):
            groups["optimizer step"] += cum
    accounted = sum(groups.values())
    groups["engine, layers and the rest (Python)"] = total - accounted
    print(f"\nchainrule step under cProfile: {total / a.steps * 1e3:.2f} ms per step (profiling "
          f"adds overhead); time inside each op's forward and backward:")
    for key, t in sorted(groups.items(), key=lambda kv: -kv[1])[:18]:
        print(f"  {t / total:6.1%}  {t / a.steps * 1e3:7.2f} ms  {key}")


def _enclosing(path, line, func):
    """'name' of a top-level op, 'name backward' for the closure defined inside it."""
    if func != "backward":
        return func
    try:
        with open(path) as f:
            lines = f.readlines()[:line]
    except OSError:
        return func
    for text in reversed(lines):
        if text.startswith("def "):
            return text[4:text.index("(")] + " backward"
    return func

if __name__ == "__main__":
    main()
