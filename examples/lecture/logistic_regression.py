"""Logistic regression: the two branches of the cross-entropy cost, and a decision boundary.

h = sigmoid(w . x + b) is the probability of class 1. The cost of one sample is
-log(h) when y = 1 and -log(1 - h) when y = 0, written as one expression
Cost = -y log(h) - (1 - y) log(1 - h) (F.binary_cross_entropy). Each branch is 0 for a
right and confident prediction and grows without bound for a confident wrong one. Averaged
over m samples its gradient is 1/m sum (h - y) x, which nn.BCEWithLogitsLoss computes from
the logit w . x + b directly (stable for any logit). Gradient descent on it finds the line
w . x + b = 0 (h = 1/2) that separates two clouds of points.

Run: python examples/lecture/logistic_regression.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from lecture_common import cli, fast_mode, plt, save

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim


def main(fast: bool | None = None, out=None) -> dict:
    fast = fast_mode(fast)
    # The two branches of the cost, computed by the framework's BCE on probabilities.
    h = np.linspace(0.001, 0.999, 400)
    cost1 = F.binary_cross_entropy(cr.tensor(h), cr.tensor(np.ones_like(h)),
                                   reduction="none").numpy()
    cost0 = F.binary_cross_entropy(cr.tensor(h), cr.tensor(np.zeros_like(h)),
                                   reduction="none").numpy()
    branch_error = float(max(np.abs(cost1 + np.log(h)).max(),
                             np.abs(cost0 + np.log(1 - h)).max()))

    rng = np.random.default_rng(0)
    m = 200
    X = np.vstack([rng.normal([-1.0, -0.5], 0.7, size=(m // 2, 2)),
                   rng.normal([1.2, 1.0], 0.7, size=(m // 2, 2))])
    y = np.repeat([0.0, 1.0], m // 2)[:, None]
    Xt, yt = cr.tensor(X), cr.tensor(y)
    cr.manual_seed(0)
    model = nn.Linear(2, 1, dtype="float64")
    loss_fn = nn.BCEWithLogitsLoss()
    opt = optim.SGD(model.parameters(), lr=0.5)

    # Backpropagation's gradient against the formula 1/m sum (h - y) x.
    loss_fn(model(Xt), yt).backward()
    with cr.no_grad():
        hx = model(Xt).sigmoid().numpy()
    formula = np.concatenate([((hx - y) * X).mean(0), [(hx - y).mean()]])
    autodiff = np.concatenate([model.weight.grad.ravel(), model.bias.grad.ravel()])
    grad_error = float(np.abs(formula - autodiff).max())

    steps = 200 if fast else 500
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(Xt), yt)
        loss.backward()
        opt.step()                            # theta_j := theta_j - alpha/m sum (h - y) x_j
    w, b = model.weight.numpy()[0], model.bias.item()
    with cr.no_grad():
        accuracy = float(((model(Xt).numpy() > 0) == (y > 0.5)).mean())
    print(f"cost branches: y = 1: -log(h) is {cost1[-1]:.4f} at h = 0.999 and {cost1[0]:.2f} "
          f"at h = 0.001; y = 0: -log(1 - h) is {cost0[0]:.4f} at h = 0.001 and "
          f"{cost0[-1]:.2f} at h = 0.999")
    print(f"gradient: autodiff vs 1/m sum (h - y) x: max difference {grad_error:.1e}")
    print(f"after {steps} GD steps: loss {loss.item():.4f}, boundary {w[0]:.3f} x1 + "
          f"{w[1]:.3f} x2 + {b:.3f} = 0, training accuracy {accuracy:.3f}")

    fig, (a, c) = plt.subplots(1, 2, figsize=(10.5, 4.2))
    a.plot(h, cost1, color="C0", label=r"y = 1: $-\log h$")
    a.plot(h, cost0, color="C3", label=r"y = 0: $-\log(1 - h)$")
    a.set_xlabel(r"prediction $h_\theta(x)$")
    a.set_ylabel("cost")
    a.set_ylim(0, 7)
    a.set_title("confident and wrong costs the most")
    a.legend()
    g1, g2 = np.meshgrid(np.linspace(-3.5, 3.5, 120), np.linspace(-3, 3.5, 120))
    with cr.no_grad():
        grid = np.stack([g1.ravel(), g2.ravel()], 1)
        prob = model(cr.tensor(grid)).sigmoid().numpy().reshape(g1.shape)
    cs = c.contourf(g1, g2, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    fig.colorbar(cs, ax=c, label=r"$h = \sigma(w \cdot x + b)$")
    c.contour(g1, g2, prob, levels=[0.5], colors="k")
    for label, colour in ((0, "tab:blue"), (1, "tab:red")):
        pts = X[y[:, 0] == label]
        c.scatter(pts[:, 0], pts[:, 1], s=14, color=colour, edgecolors="w", linewidths=0.4,
                  label=f"y = {label}")
    c.legend(loc="lower right")
    c.set_xlabel("$x_1$")
    c.set_ylabel("$x_2$")
    c.set_title(f"decision boundary h = 1/2 (accuracy {accuracy:.2f})")
    return {"branch_error": branch_error, "cost_y1": (float(cost1[0]), float(cost1[-1])),
            "cost_y0": (float(cost0[0]), float(cost0[-1])), "gradient_error": grad_error,
            "accuracy": accuracy, "weight": w, "bias": b,
            "png": save(fig, "logistic_regression", out)}


if __name__ == "__main__":
    cli(main, __doc__)
