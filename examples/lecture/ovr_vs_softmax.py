"""One-vs-all against softmax: decision regions of two linear classifiers on 3-class data.

One-vs-all trains N independent binary classifiers, "class k or not?", each a sigmoid with
binary cross-entropy (here one nn.Linear(2, 3) whose three outputs are trained by
nn.BCEWithLogitsLoss against one-hot targets: the loss is a sum over the outputs, so the
three never interact); it predicts the class whose classifier is most confident. Its scores
do not add up to 1, and parts of the plane are claimed by no classifier or by several.
Softmax regression, p(y = j | x) = e^{w_j . x + b_j} / sum_k e^{w_k . x + b_k}, trained
with nn.CrossEntropyLoss, gives one distribution over the classes at every point.

Run: python examples/lecture/ovr_vs_softmax.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from lecture_common import cli, fast_mode, plt, save

import chainrule as cr
from chainrule import nn, optim

CENTRES = np.array([[-2.0, 0.0], [0.0, 0.3], [2.0, 0.0]])  # class 1 between 0 and 2


def make_data(per_class=80, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(c, 0.6, size=(per_class, 2)) for c in CENTRES])
    return X, np.repeat(np.arange(3), per_class)


def train(loss_fn, X, target, steps):
    cr.manual_seed(0)
    model = nn.Linear(2, 3, dtype="float64")
    opt = optim.Adam(model.parameters(), lr=0.05)
    Xt, tt = cr.tensor(X), cr.tensor(target)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(Xt), tt).backward()
        opt.step()
    return model


def main(fast: bool | None = None, out=None) -> dict:
    fast = fast_mode(fast)
    steps = 300 if fast else 600
    X, y = make_data()
    onehot = np.eye(3)[y]
    ovr = train(nn.BCEWithLogitsLoss(), X, onehot, steps)      # three binary classifiers
    soft = train(nn.CrossEntropyLoss(), X, y, steps)            # one softmax classifier

    g = 120 if fast else 250
    g1, g2 = np.meshgrid(np.linspace(-4, 4, g), np.linspace(-3, 3.5, g))
    grid = cr.tensor(np.stack([g1.ravel(), g2.ravel()], 1))
    with cr.no_grad():
        s_ovr = ovr(grid).sigmoid().numpy()                     # P(class k or not), each
        p_soft = soft(grid).softmax(-1).numpy()
        acc_ovr = float((ovr(cr.tensor(X)).numpy().argmax(1) == y).mean())
        acc_soft = float((soft(cr.tensor(X)).numpy().argmax(1) == y).mean())
    claims = (s_ovr > 0.5).sum(1)
    unclaimed = float((claims == 0).mean())
    contested = float((claims > 1).mean())
    disagree = float((s_ovr.argmax(1) != p_soft.argmax(1)).mean())
    print(f"training accuracy: one-vs-all {acc_ovr:.3f}, softmax {acc_soft:.3f}")
    print(f"one-vs-all on the plotted plane: {unclaimed:.1%} claimed by no classifier, "
          f"{contested:.1%} by several; scores sum to between "
          f"{s_ovr.sum(1).min():.2f} and {s_ovr.sum(1).max():.2f}")
    print(f"softmax: probabilities sum to 1 everywhere (max error "
          f"{np.abs(p_soft.sum(1) - 1).max():.1e}); the two disagree on {disagree:.1%} "
          f"of the plane")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    colours = np.array([[0.12, 0.47, 0.71], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16]])
    for ax, scores, title in ((axes[0], s_ovr, f"one-vs-all (accuracy {acc_ovr:.2f})"),
                              (axes[1], p_soft, f"softmax (accuracy {acc_soft:.2f})")):
        region = colours[scores.argmax(1)].reshape(g, g, 3)
        ax.imshow(region, origin="lower", extent=(-4, 4, -3, 3.5), alpha=0.35, aspect="auto")
        for k in range(3):
            pts = X[y == k]
            ax.scatter(pts[:, 0], pts[:, 1], s=10, color=colours[k], edgecolors="w",
                       linewidths=0.3, label=f"class {k}")
        ax.set_title(title)
        ax.set_xlabel("$x_1$")
    ambiguous = (claims != 1).reshape(g, g)
    axes[0].contourf(g1, g2, ambiguous.astype(float), levels=[0.5, 1.5], colors="none",
                     hatches=["///"])
    axes[0].contour(g1, g2, ambiguous.astype(float), levels=[0.5], colors="k", linewidths=0.6)
    axes[0].set_title(f"one-vs-all (accuracy {acc_ovr:.2f}); hatched: no classifier\n"
                      "or several say yes")
    axes[0].set_ylabel("$x_2$")
    axes[1].legend(loc="lower right", fontsize=8)
    return {"accuracy_ovr": acc_ovr, "accuracy_softmax": acc_soft, "unclaimed": unclaimed,
            "contested": contested, "disagree": disagree,
            "softmax_sum_error": float(np.abs(p_soft.sum(1) - 1).max()),
            "ovr_sum_range": (float(s_ovr.sum(1).min()), float(s_ovr.sum(1).max())),
            "png": save(fig, "ovr_vs_softmax", out)}


if __name__ == "__main__":
    cli(main, __doc__)
