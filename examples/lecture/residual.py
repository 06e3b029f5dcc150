"""A residual branch: the gradient of both paths, summed.

A residual block computes y = x + f(x) (nn.Residual(f)). x feeds two paths, so the chain
rule gives dL/dx = dL/dy (the identity path) + J_f(x)^T dL/dy (the path through the block),
and backpropagation adds the two contributions when it reaches x. The script computes each
path on its own, checks that their sum is what loss.backward() leaves in x.grad, and then
shows why that matters: through a deep stack of plain tanh layers the gradient reaching the
input shrinks layer after layer, while the identity path of residual blocks carries it
through undiminished.

Run: python examples/lecture/residual.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from lecture_common import cli, fast_mode, plt, save

import chainrule as cr
from chainrule import nn


def block(width):
    return nn.Sequential(nn.Linear(width, width, dtype="float64"), nn.Tanh(),
                         nn.Linear(width, width, dtype="float64"))


def input_gradient_norm(model, x):
    xt = cr.tensor(x, requires_grad=True)
    (0.5 * (model(xt) ** 2).sum()).backward()
    return float(np.linalg.norm(xt.grad))


def main(fast: bool | None = None, out=None) -> dict:
    fast = fast_mode(fast)
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    width = 6
    f = block(width)
    res = nn.Residual(f)                                     # y = x + f(x)
    x0 = rng.normal(size=width)
    t = rng.normal(size=width)

    x = cr.tensor(x0, requires_grad=True)
    y = res(x)
    (0.5 * ((y - cr.tensor(t)) ** 2).sum()).backward()       # L = 1/2 |y - t|^2
    g = y.numpy() - t                                        # dL/dy
    skip = g                                                 # identity path: dy/dx = I
    xb = cr.tensor(x0, requires_grad=True)
    f(xb).backward(g)                                        # block path: J_f^T dL/dy
    through_block = xb.grad.copy()
    total = skip + through_block
    sum_error = float(np.abs(x.grad - total).max())
    print(f"dL/dy (identity path)        = {np.round(skip, 4)}")
    print(f"J_f^T dL/dy (through f)      = {np.round(through_block, 4)}")
    print(f"sum of the two paths         = {np.round(total, 4)}")
    print(f"x.grad from loss.backward()  = {np.round(x.grad, 4)}   "
          f"(max difference {sum_error:.1e})")

    depths = list(range(1, 17 if fast else 41, 1 if fast else 2))
    plain_norms, residual_norms = [], []
    xs = rng.normal(size=(32, 16))
    for depth in depths:
        cr.manual_seed(1)
        plain = nn.Sequential(*[nn.Sequential(nn.Linear(16, 16, dtype="float64"), nn.Tanh())
                                for _ in range(depth)])
        cr.manual_seed(1)
        resid = nn.Sequential(*[nn.Residual(nn.Sequential(nn.Linear(16, 16, dtype="float64"),
                                                          nn.Tanh()))
                                for _ in range(depth)])
        plain_norms.append(input_gradient_norm(plain, xs))
        residual_norms.append(input_gradient_norm(resid, xs))
    ratio = residual_norms[-1] / plain_norms[-1]
    print(f"|dL/dx| at the input after {depths[-1]} layers: plain tanh stack "
          f"{plain_norms[-1]:.2e}, residual stack {residual_norms[-1]:.2e} "
          f"(ratio {ratio:.1e})")

    fig, (a, b) = plt.subplots(1, 2, figsize=(11.5, 4.2))
    idx = np.arange(width)
    a.bar(idx - 0.2, skip, 0.4, color="C0", label="identity path dL/dy")
    a.bar(idx + 0.2, through_block, 0.4, color="C1", label=r"block path $J_f^T$ dL/dy")
    a.plot(idx, x.grad, "k_", ms=22, mew=2, label="x.grad (backward) = sum")
    a.axhline(0, color="0.5", lw=0.6)
    a.set_xticks(idx, [f"$x_{i}$" for i in idx])
    a.set_title("y = x + f(x): the two contributions add up")
    a.legend(fontsize=8)
    b.semilogy(depths, plain_norms, "o-", ms=3, color="C3", label="plain: tanh(W x + b)")
    b.semilogy(depths, residual_norms, "o-", ms=3, color="C0",
               label="residual: x + tanh(W x + b)")
    b.set_xlabel("number of layers")
    b.set_ylabel("|dL/dx| at the input")
    b.set_title("the identity path keeps the gradient alive")
    b.legend()
    return {"sum_error": sum_error, "skip": skip, "through_block": through_block,
            "grad": x.grad.copy(), "depths": depths, "plain_norms": plain_norms,
            "residual_norms": residual_norms, "png": save(fig, "residual", out)}


if __name__ == "__main__":
    cli(main, __doc__)
