"""Linear regression by gradient descent on E = 1/2 (y - t)^2, against the closed form.

The model y = w x + b, the error of one sample E = 1/2 (y - t)^2 (nn.MSELoss(half=True)),
whose gradient is dE/dy = y - t, so dE/dw = (y - t) x and dE/db = y - t. Gradient descent
w <- w - alpha dE/dw on the dataset's average (full batch) reaches the least-squares
solution that np.linalg.lstsq computes in closed form.

Run: python examples/lecture/linear_regression.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from lecture_common import cli, fast_mode, plt, save

import chainrule as cr
from chainrule import nn, optim


def main(fast: bool | None = None, out=None) -> dict:
    fast = fast_mode(fast)
    rng = np.random.default_rng(0)
    n = 60
    x = rng.uniform(-1.0, 3.0, size=(n, 1))
    t = 0.8 * x + 1.5 + rng.normal(0.0, 0.4, size=(n, 1))
    X, T = cr.tensor(x), cr.tensor(t)

    cr.manual_seed(0)
    model = nn.Linear(1, 1, dtype="float64")
    loss_fn = nn.MSELoss(half=True)                       # E = 1/2 (y - t)^2, averaged
    alpha = 0.3
    opt = optim.SGD(model.parameters(), lr=alpha)          # full batch: plain gradient descent

    # The first gradient, by backpropagation and by the formula (y - t) x averaged.
    y = model(X)
    loss_fn(y, T).backward()
    by_hand = np.array([np.mean((y.numpy() - t) * x), np.mean(y.numpy() - t)])
    by_autodiff = np.array([model.weight.grad.item(), model.bias.grad.item()])
    grad_error = float(np.abs(by_hand - by_autodiff).max())
    opt.zero_grad()

    steps = 300 if fast else 500
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(X), T)
        loss.backward()
        opt.step()                                        # w <- w - alpha dE/dw
        losses.append(loss.item())
    gd = np.array([model.weight.item(), model.bias.item()])
    design = np.hstack([x, np.ones_like(x)])
    closed = np.linalg.lstsq(design, t[:, 0], rcond=None)[0]
    gap = float(np.abs(gd - closed).max())
    print(f"gradient at the start: autodiff {by_autodiff}, mean((y - t) x, y - t) {by_hand} "
          f"(max difference {grad_error:.1e})")
    print(f"gradient descent, {steps} steps of alpha = {alpha}: w = {gd[0]:.6f}, b = {gd[1]:.6f}")
    print(f"closed form (lstsq):                      w = {closed[0]:.6f}, b = {closed[1]:.6f}"
          f"  (max difference {gap:.1e})")

    fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 4.0))
    grid = np.linspace(-1.2, 3.2, 50)
    a.scatter(x[:, 0], t[:, 0], s=14, color="0.4", label="data (x, t)")
    a.plot(grid, closed[0] * grid + closed[1], color="k", lw=3, alpha=0.35,
           label=f"closed form  y = {closed[0]:.3f} x + {closed[1]:.3f}")
    a.plot(grid, gd[0] * grid + gd[1], "--", color="C0",
           label=f"gradient descent y = {gd[0]:.3f} x + {gd[1]:.3f}")
    a.set_xlabel("x")
    a.set_ylabel("t")
    a.set_title("the fit")
    a.legend(fontsize=8)
    b.semilogy(np.array(losses) - losses[-1] + 1e-16, color="C0")
    b.set_xlabel("step")
    b.set_ylabel("E - E(final)")
    b.set_title(r"mean of $\frac{1}{2}(y - t)^2$ falling to its minimum")
    return {"gd": gd, "closed_form": closed, "max_difference": gap,
            "gradient_error": grad_error, "final_loss": losses[-1],
            "png": save(fig, "linear_regression", out)}


if __name__ == "__main__":
    cli(main, __doc__)
