"""Gradient descent, stochastic gradient descent and minibatch SGD on a 2-D loss surface.

The model is y = w x + b and the loss the average of E = 1/2 (y - t)^2 over the dataset,
a bowl over the plane (w, b). Each method starts from the same point and takes the same
number of updates theta <- theta - rho * g with the same rate rho; only the gradient g
differs: the full average (GD, DataLoader(batch_size=None)), one random sample (SGD,
batch_size=1) or a random minibatch B (batch_size=16). GD walks straight down to the
closed-form minimum; SGD jitters around it; the minibatch averages part of the noise out.

Run: python examples/lecture/gd_paths.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from lecture_common import cli, fast_mode, plt, save

from chainrule import nn, optim
from chainrule.data import ArrayDataset, DataLoader

START = (-1.5, 3.0)  # (w, b) where every path begins
RATE = 0.25


def make_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 1.0, size=(n, 1))
    t = 2.0 * x - 1.0 + rng.normal(0.0, 0.5, size=(n, 1))
    return x, t


def descend(x, t, batch_size, steps, seed=0):
    """The (w, b) visited by ``steps`` SGD updates on minibatches of ``batch_size``."""
    model = nn.Linear(1, 1, dtype="float64")
    model.weight.data[...] = START[0]
    model.bias.data[...] = START[1]
    opt = optim.SGD(model.parameters(), lr=RATE)
    loss_fn = nn.MSELoss(half=True)                       # E = 1/2 (y - t)^2, averaged
    loader = DataLoader(ArrayDataset(x, t), batch_size=batch_size, seed=seed, prefetch=False)
    path = [START]
    while len(path) <= steps:
        for xb, tb in loader:                             # one pass = one epoch
            opt.zero_grad()
            loss_fn(model(xb), tb).backward()
            opt.step()                                    # theta <- theta - rho * g
            path.append((model.weight.item(), model.bias.item()))
            if len(path) > steps:
                break
    return np.array(path)


def main(fast: bool | None = None, out=None) -> dict:
    fast = fast_mode(fast)
    steps = 100
    x, t = make_data()
    design = np.hstack([x, np.ones_like(x)])
    best = np.linalg.lstsq(design, t[:, 0], rcond=None)[0]          # closed form (w*, b*)
    paths = {"GD (all n)": descend(x, t, None, steps),
             "SGD (B = 1)": descend(x, t, 1, steps),
             "minibatch (B = 16)": descend(x, t, 16, steps)}

    # The loss surface L(w, b) = 1/n sum 1/2 (w x_i + b - t_i)^2 on a grid, for the contours.
    g = 60 if fast else 160
    W, B = np.meshgrid(np.linspace(-2.5, 3.5, g), np.linspace(-3.0, 4.0, g))
    resid = W[..., None] * x[:, 0] + B[..., None] - t[:, 0]
    L = 0.5 * (resid ** 2).mean(-1)

    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    ax.contour(W, B, L, levels=np.geomspace(L.min() + 1e-3, L.max(), 18), cmap="viridis",
               linewidths=0.8, alpha=0.6)
    colours = {"GD (all n)": "C0", "SGD (B = 1)": "C3", "minibatch (B = 16)": "C2"}
    result = {"closed_form": best, "steps": steps}
    print(f"closed form (lstsq): w* = {best[0]:.4f}, b* = {best[1]:.4f}")
    for name, p in paths.items():
        ax.plot(p[:, 0], p[:, 1], ".-", ms=2.5, lw=0.9, color=colours[name], label=name)
        final = np.linalg.norm(p[-1] - best)
        tail = np.linalg.norm(p[-steps // 3:] - best, axis=1).mean()   # noise floor
        key = name.split()[0].lower()
        result[f"{key}_final_distance"] = float(final)
        result[f"{key}_tail_distance"] = float(tail)
        print(f"{name:20s} after {steps} updates: |theta - theta*| = {final:.4f}, "
              f"mean over the last third = {tail:.4f}")
    ax.plot(*best, "k*", ms=12, label="closed form")
    ax.plot(*START, "ko", ms=5)
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.set_title(f"{steps} updates, rate {RATE}: full batch vs one sample vs 16 samples")
    ax.legend(loc="lower left")
    result["png"] = save(fig, "gd_paths", out)
    return result


if __name__ == "__main__":
    cli(main, __doc__)
