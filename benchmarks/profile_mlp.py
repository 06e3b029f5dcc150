"""Where chainrule's own time goes in one MLP training step (784-256-256-10, SGD, float32).

    python benchmarks/profile_mlp.py [--batches 32,1024] [--steps 300] [--top 25]

For each batch size: the phases of a step (forward, loss, zero_grad, backward,
optimizer step) timed apart, against the same phases of the hand-written NumPy
step, then the step under cProfile with the top functions by tottime. The
process re-executes itself without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, as
the benchmark workers do.
"""

from __future__ import annotations

import sys

from machine import reexec_without_blas_pins  # benchmarks/ is on sys.path

reexec_without_blas_pins()  # before NumPy loads OpenBLAS

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "workers"))

import common as C  # noqa: E402
import fw_numpy  # noqa: E402
import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.functional as F  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.optim as optim  # noqa: E402


def blas_line():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(f"{p.get('internal_api')} {p.get('version')} kernel={p.get('architecture')} "
                     f"num_threads={p.get('num_threads')}"
                     for p in threadpool_info() if p.get("user_api") == "blas")


NETS = {"mlp": (C.MLP_SIZES, C.mlp_data), "tiny": (C.TINY_SIZES, C.tiny_data)}


def build(sizes):
    cr.manual_seed(C.SEED)
    model = C.mlp(nn, sizes)
    return model, optim.SGD(model.parameters(), lr=C.SGD_LR)


def phases(model, opt, xt, yt, bounds, steps):
    """Median microseconds of each phase of the chainrule step."""
    clock = time.perf_counter_ns
    out = {k: [] for k in ("zero_grad", "forward", "loss", "backward", "opt.step", "total")}
    for i in range(steps):
        s, e = bounds[i % len(bounds)]
        t0 = clock()
        opt.zero_grad()
        t1 = clock()
        logits = model(xt[s:e])
        t2 = clock()
        loss = F.cross_entropy(logits, yt[s:e])
        t3 = clock()
        loss.backward()
        t4 = clock()
        opt.step()
        t5 = clock()
        for k, a, b in (("zero_grad", t0, t1), ("forward", t1, t2), ("loss", t2, t3),
                        ("backward", t3, t4), ("opt.step", t4, t5), ("total", t0, t5)):
            out[k].append((b - a) / 1e3)
    return {k: float(np.median(v)) for k, v in out.items()}


def numpy_phases(sizes, x, y, batch, bounds, steps):
    """Median microseconds of the hand-written step's forward, loss+backward and update."""
    net = fw_numpy.MLP(sizes, "sgd", C.SGD_LR)
    clock = time.perf_counter_ns
    out = {k: [] for k in ("forward", "loss+backward", "update", "total")}
    for i in range(steps + 20):
        s, e = bounds[i % len(bounds)]
        xb, yb = x[s:e], y[s:e]
        h = net._buffers(e - s)[0]
        t0 = clock()
        net.forward(xb, h)
        t1 = clock()
        net.backward(xb, yb)
        t2 = clock()
        net.opt.step()
        t3 = clock()
        if i >= 20:
            for k, a, b in (("forward", t0, t1), ("loss+backward", t1, t2), ("update", t2, t3),
                            ("total", t0, t3)):
                out[k].append((b - a) / 1e3)
    return {k: float(np.median(v)) for k, v in out.items()}


def profile(net, batch, steps, top):
    sizes, data = NETS[net]
    x, y = data()
    bounds = [b for b in C.batch_bounds(len(x), batch) if b[1] - b[0] == batch]
    model, opt = build(sizes)
    xt, yt = cr.as_tensor(x), cr.as_tensor(y)
    step = C.train_step(model, opt, F.cross_entropy, xt, yt)
    for i in range(20):  # warm-up
        step(*bounds[i % len(bounds)])
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    ph = phases(model, opt, xt, yt, bounds, steps)
    f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    ref = numpy_phases(sizes, x, y, batch, bounds, steps)
    f2 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    print(f"\n=== {net} {sizes}, batch {batch}: median us per phase over {steps} steps ===")
    print("chainrule   " + "  ".join(f"{k} {v:8.1f}" for k, v in ph.items()))
    print("NumPy hand  " + "  ".join(f"{k} {v:8.1f}" for k, v in ref.items()))
    print(f"chainrule / hand-written: {ph['total'] / ref['total']:.2f}x per step "
          f"({batch / ph['total'] * 1e6 / 1e3:.1f}k vs {batch / ref['total'] * 1e6 / 1e3:.1f}k "
          "samples/s)")
    print(f"minor page faults per step (fresh memory from the OS): chainrule "
          f"{(f1 - f0) / steps:.0f}, hand-written {(f2 - f1) / (steps + 20):.0f}")

    prof = cProfile.Profile()
    prof.enable()
    for i in range(steps):
        step(*bounds[i % len(bounds)])
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime")
    stats.print_stats(top)
    total = stats.total_tt
    print(f"--- cProfile, batch {batch}, {steps} steps, {total / steps * 1e6:.0f} us/step "
          f"under the profiler, {stats.total_calls / steps:.0f} Python-level calls per step; "
          f"top {top} by tottime ---")
    lines = buf.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    print("\n".join(lines[start:]).rstrip())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", choices=sorted(NETS), default="mlp",
                   help="mlp: 784-256-256-10; tiny: 16-32-32-2")
    p.add_argument("--batches", default="32,1024")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    print(f"chainrule {cr.__version__}, NumPy {np.__version__}; BLAS: {blas_line()}")
    for b in (int(v) for v in args.batches.split(",")):
        profile(args.net, b, args.steps, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
