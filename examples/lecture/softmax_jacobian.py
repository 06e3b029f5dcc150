"""The softmax Jacobian diag(p) - p p^T, against what backpropagation computes.

dp_i/da_j = p_i (1 - p_j) if i = j and -p_i p_j otherwise: the matrix diag(p) - p p^T.
Backpropagation never forms it; it computes vector-Jacobian products g^T J. Feeding the
unit vectors e_i as g (p.backward(e_i)) recovers the Jacobian row by row. With the
cross-entropy L = -sum y_i log p_i on top, the product collapses to dL/da = p - y.

Run: python examples/lecture/softmax_jacobian.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from lecture_common import cli, fast_mode, plt, save

import chainrule as cr
import chainrule.functional as F


def autodiff_jacobian(a0):
    """J[i, j] = dp_i / da_j, one backward pass per row (float64)."""
    a = cr.tensor(a0, requires_grad=True)
    p = F.softmax(a)
    rows = []
    for i in range(len(a0)):
        a.grad = None
        p.backward(np.eye(len(a0))[i], retain_graph=True)   # e_i^T J
        rows.append(a.grad.copy())
    return np.array(rows), p.numpy()


def main(fast: bool | None = None, out=None) -> dict:
    fast = fast_mode(fast)
    a0 = np.random.default_rng(0).normal(0.0, 1.5, size=6)
    J_auto, p = autodiff_jacobian(a0)
    J_formula = np.diag(p) - np.outer(p, p)
    jac_error = float(np.abs(J_auto - J_formula).max())

    y = np.zeros(6)
    y[2] = 1.0                                           # one-hot target, class 2
    a = cr.tensor(a0, requires_grad=True)
    F.cross_entropy(a[None, :], cr.tensor(y[None, :])).backward()
    ce_error = float(np.abs(a.grad - (p - y)).max())
    print(f"p = softmax(a) = {np.round(p, 4)}")
    print(f"Jacobian: max |backprop - (diag(p) - p p^T)| = {jac_error:.1e}; "
          f"rows sum to {np.abs(J_auto.sum(1)).max():.1e} (a + c has the same softmax)")
    print(f"softmax + cross-entropy, target class 2: dL/da = {np.round(a.grad, 4)}; "
          f"max |dL/da - (p - y)| = {ce_error:.1e}")

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    lim = np.abs(J_formula).max()
    for ax, m, title in ((axes[0], J_formula, r"formula: diag(p) $-$ p p$^T$"),
                         (axes[1], J_auto, "backprop: rows from p.backward(e_i)")):
        im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(title)
        ax.set_xlabel("j (logit $a_j$)")
        ax.set_ylabel("i (probability $p_i$)")
        fig.colorbar(im, ax=ax, fraction=0.046)
    diff = np.abs(J_auto - J_formula)
    im = axes[2].imshow(np.log10(diff + 1e-20), cmap="viridis")
    axes[2].set_title(f"log10 |difference| (max {jac_error:.0e})")
    fig.colorbar(im, ax=axes[2], fraction=0.046)
    return {"p": p, "jacobian_error": jac_error, "row_sum": float(np.abs(J_auto.sum(1)).max()),
            "cross_entropy_error": ce_error, "png": save(fig, "softmax_jacobian", out)}


if __name__ == "__main__":
    cli(main, __doc__)
