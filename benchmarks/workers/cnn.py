"""The CNN cases (issue 13): a LeNet-style CNN on 1x28x28 at batch 128 and the digits CNN
(``nn.CNN(1, 10, (8, 8))``: two Conv3x3-BN-ReLU-MaxPool2 blocks, 16 and 32 channels,
then Linear(128, 64)-ReLU-Linear(64, 10)) on 1x8x8 at batch 64; one SGD step a batch,
samples/s over timed epochs of random data.

The same networks in chainrule (public API), PyTorch (eager, the idiomatic loop) and
hand-written NumPy: im2col through a strided view and one batched GEMM per
convolution, col2im by one strided addition per kernel offset, 2x2 max pooling on
strided quadrant views, fused softmax + cross-entropy, in-place SGD: what chainrule's ops do, minus
the engine.
"""

from __future__ import annotations

import common as C
import numpy as np
from numpy.lib.stride_tricks import as_strided

LR = 0.01
#: net -> (image shape, batch, samples an epoch)
NETS = {"lenet": ((1, 28, 28), 128, 2048), "digits": ((1, 8, 8), 64, 1792)}


def data(net):
    shape, _, n = NETS[net]
    rng = np.random.default_rng(C.SEED + 2)
    x = rng.standard_normal((n, *shape), dtype=np.float32)
    y = rng.integers(0, 10, size=n, dtype=np.int64)
    return x, y


def _lenet(nn):
    """LeNet-5 on 1x28x28 in the framework ``nn`` (chainrule and PyTorch spell it alike)."""
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120),
                         nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


# ---------------------------------------------------------------------- chainrule
def chainrule_step(net, x, y):
    import chainrule as cr
    import chainrule.functional as F
    from chainrule import nn, optim

    cr.manual_seed(C.SEED)
    if net == "lenet":
        model = _lenet(nn)
    else:
        model = nn.CNN(1, 10, (8, 8))
    opt = optim.SGD(model.parameters(), lr=LR)
    xt, yt = cr.as_tensor(x), cr.as_tensor(y)
    return C.train_step(model, opt, F.cross_entropy, xt, yt)


# ---------------------------------------------------------------------- PyTorch
def torch_step(net, x, y):
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(C.SEED)
    if net == "lenet":
        model = _lenet(nn)
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32),
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 64), nn.ReLU(),
            nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    return C.train_step(model, opt, F.cross_entropy, xt, yt)


# ---------------------------------------------------------------------- NumPy by hand
def _conv(x, w, pad):
    """im2col + one batched GEMM; returns the output and what backward needs."""
    if pad:
        xp = np.zeros(x.shape[:2] + (x.shape[2] + 2 * pad, x.shape[3] + 2 * pad), x.dtype)
        xp[:, :, pad:-pad, pad:-pad] = x
        x = xp
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = h - kh + 1, wd - kw + 1
    sn, sc, sh, sw = x.strides
    win = as_strided(x, (n, c, oh, ow, kh, kw), (sn, sc, sh, sw, sh, sw))
    cols = np.empty((n, c, kh, kw, oh, ow), x.dtype)
    cols[...] = win.transpose(0, 1, 4, 5, 2, 3)
    cols = cols.reshape(n, c * kh * kw, oh * ow)
    return np.matmul(w.reshape(o, -1), cols).reshape(n, o, oh, ow), (cols, x.shape, pad)


def _conv_back(g, w, saved, need_dx=True):
    cols, shape, pad = saved
    n, o, oh, ow = g.shape
    g2 = g.reshape(n, o, oh * ow)
    dw = np.matmul(g2, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    if not need_dx:
        return None, dw
    _, c, kh, kw = w.shape
    dcols = np.matmul(w.reshape(o, -1).T, g2).reshape(n, c, kh, kw, oh, ow)
    dx = np.zeros(shape, g.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + oh, j:j + ow] += dcols[:, :, i, j]
    if pad:
        dx = dx[:, :, pad:-pad, pad:-pad]
    return dx, dw


_QUADRANTS = ((0, 0), (0, 1), (1, 0), (1, 1))


def _pool(x):
    """2x2 max pooling: the maximum of the four strided quadrant views."""
    q = [x[:, :, i::2, j::2] for i, j in _QUADRANTS]
    out = np.maximum(np.maximum(q[0], q[1]), np.maximum(q[2], q[3]))
    return out, (out, x)


def _pool_back(g, saved_out):
    out, x = saved_out
    dx = np.zeros(x.shape, g.dtype)
    taken = np.zeros(out.shape, bool)
    for i, j in _QUADRANTS:  # the gradient goes to the first maximum of each window
        hit = (x[:, :, i::2, j::2] == out) & ~taken
        dx[:, :, i::2, j::2] = g * hit
        taken |= hit
    return dx


def _bn(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    d = x - mu
    inv = 1 / np.sqrt((d * d).mean(axis=(0, 2, 3), keepdims=True) + eps)
    xh = d * inv
    return xh * gamma[:, None, None] + beta[:, None, None], (xh, inv, gamma)


def _bn_back(g, saved):
    xh, inv, gamma = saved
    dgamma, dbeta = (g * xh).sum(axis=(0, 2, 3)), g.sum(axis=(0, 2, 3))
    gh = g * gamma[:, None, None]
    dx = inv * (gh - gh.mean(axis=(0, 2, 3), keepdims=True)
                - xh * (gh * xh).mean(axis=(0, 2, 3), keepdims=True))
    return dx, dgamma, dbeta


def _xent_grad(z, y):
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    p /= len(y)
    return p


def _params(net, rng):
    def u(fan_in, shape):
        return C.uniform_init(rng, fan_in, shape)

    if net == "lenet":
        return {"c1": u(25, (6, 1, 5, 5)), "c1b": u(25, 6), "c2": u(150, (16, 6, 5, 5)),
                "c2b": u(150, 16), "f1": u(256, (256, 120)), "f1b": u(256, 120),
                "f2": u(120, (120, 84)), "f2b": u(120, 84), "f3": u(84, (84, 10)),
                "f3b": u(84, 10)}
    one = np.ones
    return {"c1": u(9, (16, 1, 3, 3)), "g1": one(16, np.float32), "b1": np.zeros(16, np.float32),
            "c2": u(144, (32, 16, 3, 3)), "g2": one(32, np.float32),
            "b2": np.zeros(32, np.float32), "f1": u(128, (128, 64)), "f1b": u(128, 64),
            "f2": u(64, (64, 10)), "f2b": u(64, 10)}


def numpy_step(net, x, y):
    P = _params(net, np.random.default_rng(C.SEED))

    def lenet(xb, yb):
        h1, s1 = _conv(xb, P["c1"], 0)
        h1 += P["c1b"][:, None, None]
        np.maximum(h1, 0, out=h1)
        p1, m1 = _pool(h1)
        h2, s2 = _conv(p1, P["c2"], 0)
        h2 += P["c2b"][:, None, None]
        np.maximum(h2, 0, out=h2)
        p2, m2 = _pool(h2)
        a0 = p2.reshape(len(xb), -1)
        a1 = np.maximum(a0 @ P["f1"] + P["f1b"], 0)
        a2 = np.maximum(a1 @ P["f2"] + P["f2b"], 0)
        g = _xent_grad(a2 @ P["f3"] + P["f3b"], yb)
        G = {"f3": a2.T @ g, "f3b": g.sum(0)}
        g = (g @ P["f3"].T) * (a2 > 0)
        G["f2"], G["f2b"] = a1.T @ g, g.sum(0)
        g = (g @ P["f2"].T) * (a1 > 0)
        G["f1"], G["f1b"] = a0.T @ g, g.sum(0)
        g = _pool_back((g @ P["f1"].T).reshape(p2.shape), m2) * (h2 > 0)
        G["c2b"] = g.sum(axis=(0, 2, 3))
        g, G["c2"] = _conv_back(g, P["c2"], s2)
        g = _pool_back(g, m1) * (h1 > 0)
        G["c1b"] = g.sum(axis=(0, 2, 3))
        _, G["c1"] = _conv_back(g, P["c1"], s1, need_dx=False)
        return G

    def digits(xb, yb):
        h1, s1 = _conv(xb, P["c1"], 1)
        n1, t1 = _bn(h1, P["g1"], P["b1"])
        np.maximum(n1, 0, out=n1)
        p1, m1 = _pool(n1)
        h2, s2 = _conv(p1, P["c2"], 1)
        n2, t2 = _bn(h2, P["g2"], P["b2"])
        np.maximum(n2, 0, out=n2)
        p2, m2 = _pool(n2)
        a0 = p2.reshape(len(xb), -1)
        a1 = np.maximum(a0 @ P["f1"] + P["f1b"], 0)
        g = _xent_grad(a1 @ P["f2"] + P["f2b"], yb)
        G = {"f2": a1.T @ g, "f2b": g.sum(0)}
        g = (g @ P["f2"].T) * (a1 > 0)
        G["f1"], G["f1b"] = a0.T @ g, g.sum(0)
        g = _pool_back((g @ P["f1"].T).reshape(p2.shape), m2) * (n2 > 0)
        g, G["g2"], G["b2"] = _bn_back(g, t2)
        g, G["c2"] = _conv_back(g, P["c2"], s2)
        g = _pool_back(g, m1) * (n1 > 0)
        g, G["g1"], G["b1"] = _bn_back(g, t1)
        _, G["c1"] = _conv_back(g, P["c1"], s1, need_dx=False)
        return G

    grads = lenet if net == "lenet" else digits

    def step(s, e):
        for k, g in grads(x[s:e], y[s:e]).items():
            P[k] -= LR * g

    return step


STEPS = {"chainrule": chainrule_step, "torch": torch_step, "numpy": numpy_step}


def case_cnn(fw, quick):
    """Worker case: samples/s of both nets for the framework module ``fw`` (fw_NAME)."""
    framework = fw.__name__.removeprefix("fw_")
    epochs = 1 if quick else 3
    out = {}
    for net, (_, batch, n) in NETS.items():
        x, y = data(net)
        step = STEPS[framework](net, x, y)
        rates = C.time_epochs(step, n, batch, epochs)
        out[f"{net} b{batch}"] = {"value": max(rates), "unit": "samples/s", "samples": rates,
                                  "stat": "best", "higher_is_better": True}
    return out, {"epochs_timed": epochs, "nets": {k: list(v) for k, v in NETS.items()}}
