"""Momentum and Adam against plain SGD on an ill-conditioned quadratic.

L(theta) = 1/2 (lambda_1 theta_1^2 + lambda_2 theta_2^2) with lambda_2 / lambda_1 = 50: a
long narrow valley. Plain gradient descent must keep rho < 2 / lambda_2 to stay stable in
the steep direction, so it crawls along the flat one (each step shrinks theta_1 by only
1 - rho lambda_1). Momentum (optim.SGD(momentum=0.9)) accumulates the consistent part of
the gradient and cancels the zig-zag; Adam (optim.Adam) divides each coordinate's step by
a running root-mean-square of its gradient, which evens out the two curvatures.

Run: python examples/lecture/momentum_adam.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from lecture_common import cli, fast_mode, plt, save

import chainrule as cr
from chainrule import nn, optim

CURVATURE = np.array([1.0, 50.0])
START = (-4.0, 1.0)


def loss(theta):
    """L(theta) = 1/2 sum_i lambda_i theta_i^2, as a chainrule expression."""
    return 0.5 * (cr.tensor(CURVATURE) * theta * theta).sum()


def trajectory(make_optimizer, steps):
    theta = nn.Parameter(np.array(START))
    opt = make_optimizer([theta])
    path, losses = [theta.numpy().copy()], [loss(theta).item()]
    for _ in range(steps):
        opt.zero_grad()
        value = loss(theta)
        value.backward()
        opt.step()
        path.append(theta.numpy().copy())
        losses.append(loss(theta).item())
    return np.array(path), np.array(losses)


def main(fast: bool | None = None, out=None) -> dict:
    fast = fast_mode(fast)
    steps = 100 if fast else 150
    rate = 0.036                  # 1.8 / lambda_max: plain GD zig-zags, still stable
    methods = {
        f"SGD, rho = {rate}": lambda p: optim.SGD(p, lr=rate),
        f"SGD + momentum 0.9, rho = {rate}": lambda p: optim.SGD(p, lr=rate, momentum=0.9),
        "Adam, rho = 0.3": lambda p: optim.Adam(p, lr=0.3),
    }
    runs = {name: trajectory(make, steps) for name, make in methods.items()}
    result = {"steps": steps}
    print(f"L = 1/2 (theta_1^2 + 50 theta_2^2) from {START}; loss after {steps} steps, and "
          f"the first step with L < 1e-3:")
    for (name, (_, losses)), key in zip(runs.items(), ("sgd", "momentum", "adam")):
        below = np.nonzero(losses < 1e-3)[0]
        first = int(below[0]) if below.size else None
        result[f"{key}_final_loss"] = float(losses[-1])
        result[f"{key}_steps_to_1e-3"] = first
        print(f"  {name:34s} L = {losses[-1]:.2e}   steps to 1e-3: {first}")

    fig, (a, b) = plt.subplots(1, 2, figsize=(11.5, 4.2))
    T1, T2 = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-1.3, 1.3, 200))
    a.contour(T1, T2, 0.5 * (CURVATURE[0] * T1 ** 2 + CURVATURE[1] * T2 ** 2),
              levels=np.geomspace(0.01, 60, 15), cmap="viridis", alpha=0.5, linewidths=0.8)
    for (name, (path, losses)), c in zip(runs.items(), ("C3", "C0", "C2")):
        a.plot(path[:, 0], path[:, 1], ".-", ms=2, lw=0.8, color=c, label=name)
        b.semilogy(np.maximum(losses, 1e-20), color=c, label=name)
    a.plot(0, 0, "k*", ms=10)
    a.set_xlabel(r"$\theta_1$ (curvature 1)")
    a.set_ylabel(r"$\theta_2$ (curvature 50)")
    a.set_title("paths in the valley")
    a.legend(fontsize=8, loc="lower right")
    b.set_xlabel("step")
    b.set_ylabel(r"L($\theta$)")
    b.set_title("loss")
    b.legend(fontsize=8)
    result["png"] = save(fig, "momentum_adam", out)
    return result


if __name__ == "__main__":
    cli(main, __doc__)
