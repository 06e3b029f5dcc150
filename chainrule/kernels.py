"""Fused element-wise kernels for arrays on a GPU (CuPy).

On a GPU every NumPy-style expression launches one kernel per operator: the SGD
update ``param -= grad * lr`` is two launches and a temporary, Adam's update about
a dozen. Each kernel below does such a chain in one launch, reading and writing
each element once. They are used only when the arrays are CuPy arrays
(:func:`on_gpu`); the NumPy code next to each call site is the reference that
``tests/test_kernels.py`` compares them with, on a machine with a GPU.

Each kernel's body is the formula of the NumPy path it replaces, written once in
CUDA C; scalars are passed as float64 and the arithmetic is done in the array's
type ``T``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from .backend import Array

_cache: dict[str, Any] = {}


def on_gpu(xp: ModuleType) -> bool:
    """True when ``xp`` is CuPy (the kernels apply); False for NumPy and stand-ins."""
    return xp is not np and getattr(xp, "__name__", "") == "cupy"


def _kernel(name: str, in_params: str, out_params: str, body: str) -> Any:
    k = _cache.get(name)
    if k is None:
        import cupy

        k = _cache[name] = cupy.ElementwiseKernel(in_params, out_params, body,
                                                  f"chainrule_{name}")
    return k


# ----------------------------------------------------------------- activations
def relu_backward(g: Array, out: Array) -> Array:
    """``g * (out > 0)``."""
    return _kernel("relu_backward", "T g, T out", "T gx",
                   "gx = out > (T)0 ? g : (T)0")(g, out)


def sigmoid_backward(g: Array, out: Array) -> Array:
    """``g * out * (1 - out)``."""
    return _kernel("sigmoid_backward", "T g, T out", "T gx",
                   "gx = g * out * ((T)1 - out)")(g, out)


def tanh_backward(g: Array, out: Array) -> Array:
    """``g * (1 - out * out)``."""
    return _kernel("tanh_backward", "T g, T out", "T gx",
                   "gx = g * ((T)1 - out * out)")(g, out)


# ----------------------------------------------------------------- cross-entropy
def softmax_xent_backward(e: Array, s: Array, t: Array, scale: Array | float) -> Array:
    """``(e / s - onehot(t)) * scale`` for an (n, c) ``e``, row sums ``s`` (n, 1),
    class indices ``t`` (n,) and ``scale`` of shape (n, 1) (or broadcastable)."""
    n, c = e.shape
    return _kernel(
        "softmax_xent_backward", "T e, T s, raw I t, T scale, int64 c", "T gx",
        "gx = (e / s - (T)((long long)t[i / c] == (long long)(i % c))) * scale",
    )(e, s, t, scale, c)


# ----------------------------------------------------------------- optimizers
def sgd_plain(param: Array, grad: Array, lr: float) -> None:
    """``param -= lr * grad`` in place."""
    _kernel("sgd_plain", "T g, float64 lr", "T p", "p -= (T)(lr * (double)g)")(grad, lr, param)


def sgd_momentum(param: Array, grad: Array, buf: Array, *, lr: float, momentum: float,
                 dampening: float, nesterov: bool, weight_decay: float, maximize: bool,
                 first: bool) -> None:
    """:func:`chainrule.optim.sgd.sgd_update` with a momentum buffer, in place."""
    _kernel(
        "sgd_momentum",
        "T g0, float64 lr, float64 mom, float64 damp, float64 wd, bool nest, bool maxi, "
        "bool first",
        "T p, T buf",
        """
        T g = maxi ? -g0 : g0;
        if (wd != 0) g += (T)wd * p;
        buf = first ? g : (T)mom * buf + (T)(1 - damp) * g;
        T d = nest ? g + (T)mom * buf : buf;
        p -= (T)lr * d;
        """,
    )(grad, lr, momentum, dampening, weight_decay, nesterov, maximize, first, param, buf)


def adam(param: Array, grad: Array, exp_avg: Array, exp_avg_sq: Array, *, step_size: float,
         bias_correction2_sqrt: float, beta1: float, beta2: float, eps: float,
         weight_decay: float, maximize: bool) -> None:
    """Adam's update (without AMSGrad), in place on ``param`` and both moments.

    ``step_size`` is ``lr / (1 - beta1**step)``, ``bias_correction2_sqrt`` is
    ``sqrt(1 - beta2**step)``; L2 weight decay (not decoupled) is added to the gradient.
    """
    _kernel(
        "adam",
        "T g0, float64 step, float64 bc2, float64 b1, float64 b2, float64 eps, float64 wd, "
        "bool maxi",
        "T p, T m, T v",
        """
        T g = maxi ? -g0 : g0;
        if (wd != 0) g += (T)wd * p;
        m = (T)b1 * m + (T)(1 - b1) * g;
        v = (T)b2 * v + (T)(1 - b2) * g * g;
        p -= (T)step * (m / (sqrt(v) / (T)bc2 + (T)eps));
        """,
    )(grad, step_size, bias_correction2_sqrt, beta1, beta2, eps, weight_decay, maximize,
      param, exp_avg, exp_avg_sq)
