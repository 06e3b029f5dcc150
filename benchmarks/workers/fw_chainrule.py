"""chainrule, through its public API only: what a PyTorch user would write."""

from __future__ import annotations

import common as C
from common import SEED

import chainrule as cr
import chainrule.functional as F
import chainrule.nn as nn


def info():
    return {"chainrule": cr.__version__}


def build(arch, sizes):
    cr.manual_seed(SEED)
    if arch == "residual":
        return C.residual_net(nn, nn.Residual, sizes[0], sizes[-1])
    return C.mlp(nn, sizes)


def trainer(arch, sizes, x, y, optimizer="sgd", lr=0.01, compiled=False):
    """A function ``step(start, stop)``: one SGD/Adam step on the batch ``x[start:stop]``.

    ``compiled=True`` runs the step through ``cr.compile`` (step capture), which falls
    back to the engine for a model it does not capture (the residual net).
    """
    import chainrule.optim as optim  # imported here: inference needs no optimizer

    model = build(arch, sizes)
    opt = (optim.SGD if optimizer == "sgd" else optim.Adam)(model.parameters(), lr=lr)
    xt, yt = cr.as_tensor(x), cr.as_tensor(y)
    if compiled:
        captured = cr.compile(model, F.cross_entropy, opt)

        def compiled_step(s, e):
            captured(xt[s:e], yt[s:e])

        return compiled_step

    return C.train_step(model, opt, F.cross_entropy, xt, yt)


def predictor(arch, sizes, x):
    """A function ``forward(start, stop)``: the logits of ``x[start:stop]`` under no_grad."""
    model = build(arch, sizes)
    model.eval()
    xt = cr.as_tensor(x)
    return C.forward_fn(model, xt, cr.no_grad)
