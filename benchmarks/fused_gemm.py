"""Issue 17's bolder options, measured as prototypes on the hand-written NumPy step.

    python benchmarks/fused_gemm.py [--rounds 9] [--threads 1]

Three variants of one SGD training step of the MLP 784-256-256-10 (softmax
cross-entropy, the benchmark's data and init), each the hand-written NumPy step of
``workers/fw_numpy.py`` (every buffer preallocated, every op ``out=``):

- ``plain``: the weight gradient by GEMM into a buffer, then ``W -= lr * gW``, and the
  bias added after the forward GEMM (what chainrule's captured step does);
- ``sgd-in-gemm``: the SGD update fused into the weight-gradient GEMM, ``W <- W -
  lr * a^T g`` in one BLAS call (``?gemm`` with ``alpha=-lr, beta=1`` through
  ``scipy.linalg.blas``), so the weight gradient is never stored;
- ``+bias-beta``: the same, and the bias put in the output first and accumulated by the
  forward GEMM (``beta=1``) instead of a separate ``h += b``.

The variants run alternately in one process, in rounds; each round times ``--steps``
steps per variant at each batch size and the script prints the median µs per step
and the median of the within-round time ratios to ``plain``. BLAS threads are pinned
with threadpoolctl for NumPy's and SciPy's BLAS alike (``--threads``). Prints the CPU
and the BLAS libraries. The variants' weights agree to float32 round-off (checked).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "workers"))

import common as C  # noqa: E402
import fw_numpy  # noqa: E402
from machine import cpu_model  # noqa: E402


class FusedMLP(fw_numpy.MLP):
    """fw_numpy.MLP with the SGD update inside the weight-gradient GEMM (and optionally
    the bias inside the forward GEMM)."""

    def __init__(self, sizes, lr, bias_beta):
        super().__init__(sizes, "sgd", lr)
        from scipy.linalg import blas

        self.gemm = blas.get_blas_funcs("gemm", dtype=np.float32)
        self.lr, self.bias_beta = lr, bias_beta

    def forward(self, x, h):
        if not self.bias_beta:
            return super().forward(x, h)
        a, last, gemm = x, len(self.W) - 1, self.gemm
        for i, (w, b) in enumerate(zip(self.W, self.b)):
            np.copyto(h[i], b)  # h^T <- w^T a^T + h^T, all three Fortran-ordered views
            gemm(1.0, w.T, a.T, 1.0, h[i].T, overwrite_c=1)
            if i < last:
                np.maximum(h[i], 0, out=h[i])
            a = h[i]
        return a

    def step(self, x, y):
        h, d, masks, rows = self._buffers(x.shape[0])
        self.forward(x, h)
        loss = fw_numpy._softmax_ce_grad(h[-1], y, rows)
        g, lr, gemm = h[-1], self.lr, self.gemm
        for i in range(len(self.W) - 1, -1, -1):
            a_prev = x if i == 0 else h[i - 1]
            np.sum(g, axis=0, out=self.gb[i])
            if i > 0:
                np.matmul(g, self.W[i].T, out=d[i - 1])
            # W^T <- W^T - lr g^T a: the update written by the GEMM into the weight
            gemm(-lr, g.T, a_prev.T, 1.0, self.W[i].T, trans_b=1, overwrite_c=1)
            self.gb[i] *= lr
            self.b[i] -= self.gb[i]
            if i > 0:
                np.greater(h[i - 1], 0, out=masks[i - 1])
                np.multiply(d[i - 1], masks[i - 1], out=d[i - 1])
                g = d[i - 1]
        return loss


def _models(lr):
    return {"plain": fw_numpy.MLP(C.MLP_SIZES, "sgd", lr),
            "sgd-in-gemm": FusedMLP(C.MLP_SIZES, lr, bias_beta=False),
            "+bias-beta": FusedMLP(C.MLP_SIZES, lr, bias_beta=True)}


def _check_same_training(x, y, lr):
    models = _models(lr)
    for s in range(0, 10 * 64, 64):
        for m in models.values():
            m.step(x[s:s + 64], y[s:s + 64])
    ref = models["plain"]
    for name, m in models.items():
        for w, v in zip(ref.W + ref.b, m.W + m.b):
            np.testing.assert_allclose(v, w, rtol=1e-4, atol=1e-5, err_msg=name)


def _time(model, x, y, batch, steps):
    n = len(x) - batch
    t0 = time.perf_counter()
    for k in range(steps):
        s = (k * batch) % n
        model.step(x[s:s + batch], y[s:s + batch])
    return (time.perf_counter() - t0) / steps * 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_info, threadpool_limits

    x, y = C.mlp_data()
    lr = C.SGD_LR
    _check_same_training(x, y, lr)
    with threadpool_limits(args.threads):
        blas = [f"{i['internal_api']} {i['version']} {i.get('architecture')} "
                f"threads={i['num_threads']} ({Path(i['filepath']).name})"
                for i in threadpool_info() if i["user_api"] == "blas"]
        print(f"CPU: {cpu_model()}; NumPy {np.__version__}")
        print("BLAS:", "; ".join(blas))
        for batch in (32, 128, 1024):
            models = _models(lr)
            for m in models.values():
                _time(m, x, y, batch, 10)  # warm-up: buffers, caches
            times = {k: [] for k in models}
            ratios = {k: [] for k in models}
            names = list(models)
            for r in range(args.rounds):
                order = names[r % len(names):] + names[:r % len(names)]
                got = {k: _time(models[k], x, y, batch, args.steps) for k in order}
                for k in names:
                    times[k].append(got[k])
                    ratios[k].append(got[k] / got["plain"])
            cells = [f"{k} {statistics.median(times[k]):.0f} us "
                     f"(x{statistics.median(ratios[k]):.3f})" for k in names]
            print(f"batch {batch:5d}: " + "   ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
