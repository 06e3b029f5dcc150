"""Batch size against gradient noise: the minibatch gradient's variance falls as 1/|B|.

A minibatch gradient g_B = 1/|B| sum_{i in B} grad L_i(theta) is an unbiased estimate of the
full gradient g = 1/n sum_i grad L_i(theta). With i.i.d. draws its variance
E|g_B - g|^2 is sigma^2 / |B|, where sigma^2 is the variance of one sample's gradient:
four times the batch, half the noise (in standard deviation). This script measures it:
at a fixed theta it draws many minibatches of each size (DataLoader(replacement=True)),
backpropagates each and compares with the full-batch gradient.

Run: python examples/lecture/batch_noise.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from lecture_common import cli, fast_mode, plt, save

import chainrule as cr
from chainrule import nn
from chainrule.data import ArrayDataset, DataLoader

SIZES = (1, 2, 4, 8, 16, 32, 64)


def gradient(model, loss_fn, xb, tb):
    """The gradient of the mean loss over (xb, tb), all parameters flattened into one vector."""
    model.zero_grad()
    loss_fn(model(xb), tb).backward()
    return np.concatenate([p.grad.ravel() for p in model.parameters()])


def main(fast: bool | None = None, out=None) -> dict:
    fast = fast_mode(fast)
    draws = 400 if fast else 2000
    rng = np.random.default_rng(0)
    n, d = 1000, 4
    X = rng.normal(size=(n, d))
    t = X @ rng.normal(size=(d, 1)) + rng.normal(0.0, 1.0, size=(n, 1))
    cr.manual_seed(0)
    model = nn.Linear(d, 1, dtype="float64")           # any fixed theta away from the optimum
    loss_fn = nn.MSELoss(half=True)
    full = gradient(model, loss_fn, cr.tensor(X), cr.tensor(t))          # g, over all n
    per_sample = np.stack([gradient(model, loss_fn, cr.tensor(X[i:i + 1]),
                                    cr.tensor(t[i:i + 1])) for i in range(n)])
    sigma2 = ((per_sample - full) ** 2).sum(1).mean()   # variance of one sample's gradient
    variance = {}
    for b in SIZES:
        loader = DataLoader(ArrayDataset(X, t), batch_size=b, replacement=True, seed=b,
                            prefetch=False)
        sq = []
        while len(sq) < draws:
            for xb, tb in loader:
                sq.append(((gradient(model, loss_fn, xb, tb) - full) ** 2).sum())
                if len(sq) == draws:
                    break
        variance[b] = float(np.mean(sq))
    sizes = np.array(SIZES, dtype=float)
    var = np.array([variance[b] for b in SIZES])
    slope = float(np.polyfit(np.log(sizes), np.log(var), 1)[0])

    print(f"|g| = {np.linalg.norm(full):.3f}; one sample's gradient variance sigma^2 = "
          f"{sigma2:.3f}; {draws} minibatches per size")
    print("  |B|   E|g_B - g|^2   sigma^2/|B|   ratio")
    for b, v in zip(SIZES, var):
        print(f"{b:5d}   {v:12.4f}   {sigma2 / b:11.4f}   {v * b / sigma2:5.2f}")
    print(f"log-log slope of variance against |B|: {slope:.3f} (1/|B| is -1)")

    fig, ax = plt.subplots(figsize=(6.0, 4.4))
    ax.loglog(sizes, var, "o-", label=r"measured $E\,|g_B - g|^2$")
    ax.loglog(sizes, sigma2 / sizes, "k--", lw=1, label=r"$\sigma^2 / |B|$")
    ax.set_xlabel("batch size |B|")
    ax.set_ylabel("variance of the minibatch gradient")
    ax.set_title(f"gradient noise falls as 1/|B| (slope {slope:.2f})")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    return {"sizes": SIZES, "variance": variance, "sigma2": float(sigma2), "slope": slope,
            "png": save(fig, "batch_noise", out)}


if __name__ == "__main__":
    cli(main, __doc__)
