"""The chain rule on a 2-layer network, printed node by node (value and gradient).

The network x -> h1 = W1 x + b1 -> a1 = tanh(h1) -> y = W2 a1 + b2 -> e = 1/2 (y - t)^2 is
a composition of functions, so de/dW1 = de/dy * dy/da1 * da1/dh1 * dh1/dW1. Backpropagation
evaluates that product from the loss backwards, one node at a time, each node turning the
gradient it receives into the gradients of its inputs:

    de/dy   = y - t
    de/dW2  = de/dy a1^T         de/db2 = de/dy        de/da1 = W2^T de/dy
    de/dh1  = de/da1 * (1 - a1^2)
    de/dW1  = de/dh1 x^T         de/db1 = de/dh1

The script cuts the graph at every node (a fresh leaf holds each intermediate value), runs
each node's backward alone with the gradient from the node after it, prints the result
next to the formula above, and checks the product against one backward() over the whole
graph. First the one-layer case: e = (y - w^T x)^2 has de/dw = -2 x (y - w^T x).

Run: python examples/lecture/chain_rule.py [--fast] [--out DIR]
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from lecture_common import cli, fast_mode, plt, save

import chainrule as cr
import chainrule.functional as F


def leaf(t):
    """A new graph input holding the value of ``t``: backward stops here."""
    return cr.tensor(t.numpy().copy(), requires_grad=True)


def fmt(a):
    return np.array2string(np.asarray(a), precision=4, suppress_small=True,
                           separator=", ").replace("\n", "")


def one_layer():
    """k = 1: e = (y - w^T x)^2, de/dw = -2 x (y - w^T x)."""
    x = np.array([1.0, -2.0, 0.5])
    target = 0.7
    w = cr.tensor(np.array([0.3, 0.1, -0.4]), requires_grad=True)   # float64
    h1 = (w * cr.tensor(x)).sum()                           # h1 = w^T x
    e = (target - h1) ** 2
    e.backward()
    formula = -2 * x * (target - h1.item())
    print(f"k = 1: h1 = w^T x = {h1.item():.4f}, e = (y - h1)^2 = {e.item():.4f}")
    print(f"       de/dw by backprop {fmt(w.grad)}  =  -2 x (y - w^T x) {fmt(formula)}")
    return float(np.abs(w.grad - formula).max())


def main(fast: bool | None = None, out=None) -> dict:
    fast = fast_mode(fast)
    k1_error = one_layer()
    rng = np.random.default_rng(0)
    x = cr.tensor(np.array([0.5, -1.0]))
    t = cr.tensor(np.array([0.25]))
    params = {"W1": rng.normal(0, 0.8, (3, 2)), "b1": rng.normal(0, 0.1, 3),
              "W2": rng.normal(0, 0.8, (1, 3)), "b2": np.array([0.1])}
    P = {k: cr.tensor(v, requires_grad=True) for k, v in params.items()}

    # Forward, one node at a time; each node starts from a fresh leaf copy of its input.
    h1 = F.linear(x, P["W1"], P["b1"])
    h1_in = leaf(h1)
    a1 = F.tanh(h1_in)
    a1_in = leaf(a1)
    y = F.linear(a1_in, P["W2"], P["b2"])
    y_in = leaf(y)
    e = F.mse_loss(y_in, t, half=True)

    print("\nforward:")
    nodes = [("x", x, None), ("h1 = W1 x + b1", h1, None), ("a1 = tanh(h1)", a1, None),
             ("y = W2 a1 + b2", y, None), ("e = 1/2 (y - t)^2", e, None)]
    for name, node, _ in nodes:
        print(f"  {name:20s} = {fmt(node.numpy())}")

    print("\nbackward, node by node (autodiff  |  formula):")
    e.backward()                                             # de/de = 1
    de_dy = y_in.grad
    print(f"  de/dy  = {fmt(de_dy):28s} | y - t = {fmt(y.numpy() - t.numpy())}")
    y.backward(de_dy)                                        # through y = W2 a1 + b2
    de_da1 = a1_in.grad
    print(f"  de/dW2 = {fmt(P['W2'].grad):28s} | de/dy a1^T = "
          f"{fmt(np.outer(de_dy, a1.numpy()))}")
    print(f"  de/db2 = {fmt(P['b2'].grad):28s} | de/dy = {fmt(de_dy)}")
    print(f"  de/da1 = {fmt(de_da1):28s} | W2^T de/dy = {fmt(params['W2'].T @ de_dy)}")
    a1.backward(de_da1)                                      # through a1 = tanh(h1)
    de_dh1 = h1_in.grad
    print(f"  de/dh1 = {fmt(de_dh1):28s} | de/da1 * (1 - a1^2) = "
          f"{fmt(de_da1 * (1 - a1.numpy() ** 2))}")
    h1.backward(de_dh1)                                      # through h1 = W1 x + b1
    print(f"  de/dW1 = {fmt(P['W1'].grad)} | de/dh1 x^T = "
          f"{fmt(np.outer(de_dh1, x.numpy()))}")
    print(f"  de/db1 = {fmt(P['b1'].grad):28s} | de/dh1 = {fmt(de_dh1)}")
    formulas = {"W2": np.outer(de_dy, a1.numpy()), "b2": de_dy,
                "W1": np.outer(de_dh1, x.numpy()), "b1": de_dh1}
    formula_error = max(float(np.abs(P[k].grad - v).max()) for k, v in formulas.items())

    # The same gradients from one backward() over the uncut graph.
    Q = {k: cr.tensor(v, requires_grad=True) for k, v in params.items()}
    e_full = F.mse_loss(F.linear(F.tanh(F.linear(x, Q["W1"], Q["b1"])), Q["W2"], Q["b2"]),
                        t, half=True)
    graph = cr.viz.graph(e_full, params=Q)               # captured before backward frees it
    e_full.backward()
    print("\nthe whole graph (cr.viz.graph), with the parameters' gradients:")
    print(graph.text())
    whole_error = max(float(np.abs(P[k].grad - Q[k].grad).max()) for k in params)
    print(f"\nnode by node vs the formulas: max difference {formula_error:.1e}; "
          f"vs one backward() over the whole graph: {whole_error:.1e}")

    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    ax.set_axis_off()
    boxes = [("x", x.numpy(), None, ""),
             ("h1 = W1 x + b1", h1.numpy(), de_dh1, "de/dh1 = de/da1 * (1 - a1^2)"),
             ("a1 = tanh(h1)", a1.numpy(), de_da1, "de/da1 = W2^T de/dy"),
             ("y = W2 a1 + b2", y.numpy(), de_dy, "de/dy = y - t"),
             ("e = 1/2 (y - t)^2", e.numpy(), np.array([1.0]), "de/de = 1")]
    for i, (name, value, grad, rule) in enumerate(boxes):
        height = 0.92 - 0.2 * i
        text = f"{name}\nvalue {fmt(value)}"
        if grad is not None:
            text += f"\ngradient {fmt(grad)}   ({rule})"
        ax.text(0.5, height, text, ha="center", va="center", fontsize=9, family="monospace",
                bbox=dict(boxstyle="round", fc="w", ec="C0"), transform=ax.transAxes)
        if i:
            ax.annotate("", xy=(0.5, height + 0.07), xytext=(0.5, height + 0.13),
                        xycoords="axes fraction", arrowprops=dict(arrowstyle="->"))
    ax.text(0.5, -0.02, f"de/dW1 = {fmt(P['W1'].grad)}\nde/dW2 = {fmt(P['W2'].grad)}\n"
            "values flow down; gradients flow up, each node multiplying by its local derivative",
            ha="center", va="top", fontsize=8.5, transform=ax.transAxes)
    folder = Path(out) if out is not None else Path(__file__).resolve().parent / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                   # no Graphviz: DOT text instead
        drawn = graph.render(folder / "chain_rule_graph.svg")
    print(f"wrote {drawn}")
    return {"k1_error": k1_error, "graph": graph, "formula_error": formula_error,
            "whole_error": whole_error,
            "loss": e.item(), "grads": {k: P[k].grad.copy() for k in params},
            "png": save(fig, "chain_rule", out)}


if __name__ == "__main__":
    cli(main, __doc__)
