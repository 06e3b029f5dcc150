"""One BLAS thread against all of them, product by product: where more threads pay.

    python benchmarks/blas_threads.py [--rounds 15]

For matrix products of the sizes chainrule's MLPs run (m x k times k x n, float32),
times NumPy's BLAS with 1 thread and with its default count, alternating inside
each round, and prints the median time of each and their ratio; also the cost of
changing the thread count (the C call ``chainrule._blas`` makes). Prints the CPU
and the BLAS kernel first. Run it idle and with a competing process to see why
chainrule uses one thread below ``chainrule._blas.SMALL_WORK`` multiply-adds and
on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from machine import cpu_model, reexec_without_blas_pins  # benchmarks/ is on sys.path

reexec_without_blas_pins()  # before NumPy loads OpenBLAS

import numpy as np  # noqa: E402

SHAPES = [(32, 64, 256), (32, 256, 128), (32, 256, 256), (32, 784, 256), (128, 256, 256),
          (128, 784, 256), (256, 256, 256), (512, 256, 256), (1024, 256, 256),
          (1024, 784, 256)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args(argv)
    from threadpoolctl import ThreadpoolController

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from chainrule import _blas

    libs = ThreadpoolController().select(user_api="blas").lib_controllers
    numpy_libs = [lib for lib in libs if "numpy" in str(lib.filepath)] or libs
    lib = numpy_libs[0]
    many = lib.num_threads
    print(f"CPU: {cpu_model()}; load average {os.getloadavg()}")
    print(f"BLAS: {lib.internal_api} {lib.version} kernel={lib.architecture} "
          f"num_threads={many} ({lib.filepath})")
    setter, _ = _blas._find_blas()
    t0 = time.perf_counter()
    for i in range(10_000):
        setter(1 + (i & 1) * (many - 1))
    print(f"changing the thread count: {(time.perf_counter() - t0) / 10_000 * 1e6:.2f} us "
          f"per call")
    rng = np.random.default_rng(0)
    print(f"{'m x k x n':>16} {'m*k*n':>8} {'1 thread us':>12} {f'{many} threads us':>13} "
          f"{'ratio':>6}")
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        reps = max(3, int(2e7 / (m * k * n)))
        res = {1: [], many: []}
        for r in range(args.rounds):
            for th in ((1, many) if r % 2 else (many, 1)):
                setter(th)
                np.matmul(a, b, out=c)
                t = time.perf_counter()
                for _ in range(reps):
                    np.matmul(a, b, out=c)
                res[th].append((time.perf_counter() - t) / reps * 1e6)
        one, all_ = statistics.median(res[1]), statistics.median(res[many])
        print(f"{f'{m}x{k}x{n}':>16} {m * k * n / 1e6:7.2f}M {one:12.1f} {all_:13.1f} "
              f"{all_ / one:6.2f}")
    setter(many)
    return 0


if __name__ == "__main__":
    sys.exit(main())
