"""Naive against stable softmax on large logits: the overflow, then the fix.

p_i = e^{a_i} / sum_k e^{a_k}. Computed as written, e^{a_i} overflows once a_i passes
about 88.7 in float32 (709.8 in float64): the numerator and the denominator both become
inf and inf / inf is nan. Multiplying numerator and denominator by C = e^{-max(a)} changes
nothing mathematically, p_i = e^{a_i - max(a)} / sum_k e^{a_k - max(a)}, but every exponent
is now <= 0, so nothing overflows. F.softmax computes it that way.

Run: python examples/lecture/stable_softmax.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from lecture_common import cli, fast_mode, plt, save

import chainrule as cr
import chainrule.functional as F


def naive_softmax(a):
    """e^a / sum e^a exactly as written (NumPy, float32): overflows for large logits."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(a)
        return e / e.sum(-1, keepdims=True)


def main(fast: bool | None = None, out=None) -> dict:
    fast = fast_mode(fast)
    base = np.array([0.0, 1.0, 2.0], dtype=np.float32)
    shifts = np.linspace(0.0, 150.0, 61 if fast else 301, dtype=np.float32)
    logits = base + shifts[:, None]                       # same differences, larger values
    naive = naive_softmax(logits)
    stable = F.softmax(cr.tensor(logits), axis=-1).numpy()
    first_nan = float(shifts[np.isnan(naive).any(1)][0])

    big = np.array([1000.0, 1001.0, 1002.0], dtype=np.float32)
    naive_big = naive_softmax(big)
    stable_big = F.softmax(cr.tensor(big)).numpy()
    small = F.softmax(cr.tensor(big - big.max())).numpy()
    limit = float(np.log(np.finfo(np.float32).max))      # e^a overflows float32 past this
    print(f"logits {big}: naive e^a / sum e^a = {naive_big}  (e^a is inf in float32 "
          f"for a > {limit:.2f})")
    print(f"             stable F.softmax    = {stable_big}, sum = {stable_big.sum():.6f}")
    print(f"the same differences at 0, 1, 2 give {small}: shift-invariant")
    print(f"naive softmax of [s, s+1, s+2] is nan from s = {first_nan:.1f} on (the largest "
          f"logit past {limit:.2f}); the stable one is finite for every s, "
          f"max |sum - 1| = {np.abs(stable.sum(1) - 1).max():.1e}")

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.0))
    for i, c in enumerate(("C0", "C1", "C2")):
        a.plot(shifts, stable[:, i], color=c, lw=3, alpha=0.4, label=f"stable $p_{i}$")
        a.plot(shifts, naive[:, i], "--", color=c, label=f"naive $p_{i}$")
    a.axvline(first_nan, color="k", lw=0.8)
    a.text(first_nan + 2, 0.5, "naive: nan\n(e^a overflows)", fontsize=9)
    a.set_xlabel("s, logits a = [s, s + 1, s + 2] (float32)")
    a.set_ylabel("probability")
    a.set_title(f"naive softmax breaks once max a > {limit:.1f}; stable does not")
    a.legend(fontsize=8, loc="center left")
    x = np.arange(3)
    b.bar(x - 0.2, np.nan_to_num(naive_big, nan=0.0), 0.4, color="C3",
          label="naive (nan, drawn as 0)")
    b.bar(x + 0.2, stable_big, 0.4, color="C0", label="stable: exp(a - max a)")
    b.set_xticks(x, [f"a = {v:.0f}" for v in big])
    b.set_ylabel("p")
    b.set_title("logits [1000, 1001, 1002]")
    b.legend()
    return {"naive_big": naive_big, "stable_big": stable_big, "shifted": small,
            "first_nan_shift": first_nan, "overflow_limit": limit,
            "stable_all_finite": bool(np.isfinite(stable).all()),
            "stable_sum_error": float(np.abs(stable.sum(1) - 1).max()),
            "png": save(fig, "stable_softmax", out)}


if __name__ == "__main__":
    cli(main, __doc__)
