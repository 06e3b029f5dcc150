"""chainrule, through its public API only: what a PyTorch user would write."""

from __future__ import annotations

from common import RESIDUAL_BLOCKS, RESIDUAL_WIDTH, SEED

import chainrule as cr
import chainrule.functional as F
import chainrule.nn as nn


def info():
    return {"chainrule": cr.__version__}


def _mlp(sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _residual(d_in, d_out, width=RESIDUAL_WIDTH, blocks=RESIDUAL_BLOCKS):
    body = [nn.Residual(nn.Sequential(nn.Linear(width, width), nn.ReLU(),
                                      nn.Linear(width, width))) for _ in range(blocks)]
    return nn.Sequential(nn.Linear(d_in, width), *body, nn.Linear(width, d_out))


def build(arch, sizes):
    cr.manual_seed(SEED)
    if arch == "residual":
        return _residual(sizes[0], sizes[-1])
    return _mlp(sizes)


def trainer(arch, sizes, x, y, optimizer="sgd", lr=0.01, compiled=False):
    """A function ``step(start, stop)``: one SGD/Adam step on the batch ``x[start:stop]``.

    ``compiled=True`` runs the step through ``cr.compile`` (step capture), which falls
    back to the engine for a model it does not capture (the residual net).
    """
    import chainrule.optim as optim  # imported here: inference needs no optimizer

    model = build(arch, sizes)
    if optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=lr)
    else:
        opt = optim.Adam(model.parameters(), lr=lr)
    xt, yt = cr.as_tensor(x), cr.as_tensor(y)
    if compiled:
        captured = cr.compile(model, F.cross_entropy, opt)

        def compiled_step(s, e):
            captured(xt[s:e], yt[s:e])

        return compiled_step

    def step(s, e):
        opt.zero_grad()
        loss = F.cross_entropy(model(xt[s:e]), yt[s:e])
        loss.backward()
        opt.step()

    return step


def predictor(arch, sizes, x):
    """A function ``forward(start, stop)``: the logits of ``x[start:stop]`` under no_grad."""
    model = build(arch, sizes)
    model.eval()
    xt = cr.as_tensor(x)

    def forward(s, e):
        with cr.no_grad():
            return model(xt[s:e])

    return forward
