"""Hand-written NumPy: forward and backward written out for the fixed nets (the ceiling).

Every buffer is allocated once per batch size and reused; every update is in
place (``out=``); ReLU masks are written into a preallocated boolean buffer;
the first layer's input gradient is never computed. Weights are stored
(in, out) so that each product is one plain GEMM; the init is PyTorch's
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as for the frameworks.
"""

from __future__ import annotations

import math

import numpy as np
from common import RESIDUAL_BLOCKS, RESIDUAL_WIDTH, SEED, uniform_init

F32 = np.float32


def info():
    return {}


class _Optimizer:
    """In-place SGD (p -= lr g) or Adam (PyTorch's formula, betas 0.9/0.999, eps 1e-8)."""

    def __init__(self, params, grads, kind, lr):
        self.params, self.grads, self.kind, self.lr = params, grads, kind, lr
        if kind == "adam":
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
            self.tmp = [np.empty_like(p) for p in params]
            self.t = 0

    def step(self):
        lr = self.lr
        if self.kind == "sgd":
            for p, g in zip(self.params, self.grads):
                g *= lr
                p -= g
            return
        b1, b2, eps = 0.9, 0.999, 1e-8
        self.t += 1
        step_size = lr / (1 - b1**self.t)
        inv_sqrt_bc2 = 1 / math.sqrt(1 - b2**self.t)
        for p, g, m, v, tmp in zip(self.params, self.grads, self.m, self.v, self.tmp):
            m *= b1
            np.multiply(g, 1 - b1, out=tmp)
            m += tmp
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp *= inv_sqrt_bc2
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            p -= tmp


def _softmax_ce_grad(z, y, rows):
    """Turn logits ``z`` into d(mean CE)/dz in place; return the loss value."""
    n = z.shape[0]
    z -= z.max(axis=1, keepdims=True)
    picked = z[rows, y]
    np.exp(z, out=z)
    s = z.sum(axis=1, keepdims=True)
    loss = float(np.log(s).sum() - picked.sum()) / n
    z /= s
    z[rows, y] -= 1  # p - onehot(y)
    z *= 1.0 / n
    return loss


class MLP:
    """Linear-ReLU-...-Linear with softmax cross-entropy."""

    def __init__(self, sizes, optimizer="sgd", lr=0.01):
        rng = np.random.default_rng(SEED)
        pairs = list(zip(sizes[:-1], sizes[1:]))
        self.W = [uniform_init(rng, a, (a, b)) for a, b in pairs]
        self.b = [uniform_init(rng, a, (b,)) for a, b in pairs]
        self.gW = [np.empty_like(w) for w in self.W]
        self.gb = [np.empty_like(b) for b in self.b]
        self.opt = _Optimizer(self.W + self.b, self.gW + self.gb, optimizer, lr)
        self._bufs = {}

    def _buffers(self, n):
        bufs = self._bufs.get(n)
        if bufs is None:
            h = [np.empty((n, w.shape[1]), F32) for w in self.W]
            d = [np.empty((n, w.shape[1]), F32) for w in self.W[:-1]]
            masks = [np.empty((n, w.shape[1]), bool) for w in self.W[:-1]]
            bufs = self._bufs[n] = (h, d, masks, np.arange(n))
        return bufs

    def forward(self, x, h):
        a = x
        last = len(self.W) - 1
        for i, (w, b) in enumerate(zip(self.W, self.b)):
            np.matmul(a, w, out=h[i])
            h[i] += b
            if i < last:
                np.maximum(h[i], 0, out=h[i])
            a = h[i]
        return a

    def step(self, x, y):
        h = self._buffers(x.shape[0])[0]
        self.forward(x, h)
        loss = self.backward(x, y)
        self.opt.step()
        return loss

    def backward(self, x, y):
        """Loss and gradients (into gW, gb) from the activations of the last forward."""
        h, d, masks, rows = self._buffers(x.shape[0])
        loss = _softmax_ce_grad(h[-1], y, rows)
        g = h[-1]
        for i in range(len(self.W) - 1, -1, -1):
            a_prev = x if i == 0 else h[i - 1]
            np.matmul(a_prev.T, g, out=self.gW[i])
            np.sum(g, axis=0, out=self.gb[i])
            if i > 0:
                np.matmul(g, self.W[i].T, out=d[i - 1])
                np.greater(h[i - 1], 0, out=masks[i - 1])
                np.multiply(d[i - 1], masks[i - 1], out=d[i - 1])
                g = d[i - 1]
        return loss


class ResidualMLP:
    """Linear(d_in, w), ``blocks`` x [h + Linear(ReLU(Linear(h)))], Linear(w, d_out)."""

    def __init__(self, d_in, d_out, optimizer="sgd", lr=0.01, width=RESIDUAL_WIDTH,
                 blocks=RESIDUAL_BLOCKS):
        rng = np.random.default_rng(SEED)
        shapes = [(d_in, width)] + [(width, width)] * (2 * blocks) + [(width, d_out)]
        self.W = [uniform_init(rng, a, (a, b)) for a, b in shapes]
        self.b = [uniform_init(rng, a, (b,)) for a, b in shapes]
        self.gW = [np.empty_like(w) for w in self.W]
        self.gb = [np.empty_like(b) for b in self.b]
        self.blocks = blocks
        self.opt = _Optimizer(self.W + self.b, self.gW + self.gb, optimizer, lr)
        self._bufs = {}

    def _buffers(self, n):
        bufs = self._bufs.get(n)
        if bufs is None:
            w = self.W[0].shape[1]
            hs = [np.empty((n, w), F32) for _ in range(self.blocks + 1)]  # block inputs + last
            rs = [np.empty((n, w), F32) for _ in range(self.blocks)]      # inner ReLU outputs
            z = np.empty((n, self.W[-1].shape[1]), F32)
            gh, gr, tmp = (np.empty((n, w), F32) for _ in range(3))
            mask = np.empty((n, w), bool)
            bufs = self._bufs[n] = (hs, rs, z, gh, gr, tmp, mask, np.arange(n))
        return bufs

    def forward(self, x, hs, rs, z):
        W, b = self.W, self.b
        np.matmul(x, W[0], out=hs[0])
        hs[0] += b[0]
        for k in range(self.blocks):
            i = 1 + 2 * k
            np.matmul(hs[k], W[i], out=rs[k])
            rs[k] += b[i]
            np.maximum(rs[k], 0, out=rs[k])
            np.matmul(rs[k], W[i + 1], out=hs[k + 1])
            hs[k + 1] += b[i + 1]
            hs[k + 1] += hs[k]
        np.matmul(hs[-1], W[-1], out=z)
        z += b[-1]
        return z

    def step(self, x, y):
        hs, rs, z, gh, gr, tmp, mask, rows = self._buffers(x.shape[0])
        W, gW, gb = self.W, self.gW, self.gb
        self.forward(x, hs, rs, z)
        loss = _softmax_ce_grad(z, y, rows)
        np.matmul(hs[-1].T, z, out=gW[-1])
        np.sum(z, axis=0, out=gb[-1])
        np.matmul(z, W[-1].T, out=gh)
        for k in range(self.blocks - 1, -1, -1):
            i = 1 + 2 * k
            np.matmul(rs[k].T, gh, out=gW[i + 1])
            np.sum(gh, axis=0, out=gb[i + 1])
            np.matmul(gh, W[i + 1].T, out=gr)
            np.greater(rs[k], 0, out=mask)
            np.multiply(gr, mask, out=gr)
            np.matmul(hs[k].T, gr, out=gW[i])
            np.sum(gr, axis=0, out=gb[i])
            np.matmul(gr, W[i].T, out=tmp)
            gh += tmp  # the skip path adds its gradient
        np.matmul(x.T, gh, out=gW[0])
        np.sum(gh, axis=0, out=gb[0])
        self.opt.step()
        return loss


def build(arch, sizes, optimizer="sgd", lr=0.01):
    if arch == "residual":
        return ResidualMLP(sizes[0], sizes[-1], optimizer, lr)
    return MLP(sizes, optimizer, lr)


def trainer(arch, sizes, x, y, optimizer="sgd", lr=0.01):
    net = build(arch, sizes, optimizer, lr)

    def step(s, e):
        net.step(x[s:e], y[s:e])

    return step


def predictor(arch, sizes, x):
    net = build(arch, sizes)
    cache = {}

    def forward(s, e):
        n = e - s
        if n not in cache:
            if arch == "residual":
                cache[n] = net._buffers(n)[:3]
            else:
                cache[n] = (net._buffers(n)[0],)
        return net.forward(x[s:e], *cache[n])

    return forward


def gemm_call(a, b):
    """One call of the product ``a @ b`` into a preallocated result (NumPy's BLAS)."""
    out = np.empty((a.shape[0], b.shape[1]), np.float32)
    return lambda: np.matmul(a, b, out=out)
