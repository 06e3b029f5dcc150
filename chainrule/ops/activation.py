"""Activation functions: tanh, sigmoid, relu, leaky_relu, elu, gelu.

Each backward keeps only what it needs: sigmoid and tanh keep their output,
relu keeps the sign of its output.
"""

from __future__ import annotations

import math

from .. import kernels
from ..backend import Array, array_module
from ..kernels import on_gpu
from ._util import OpResult, writeable, zeros_like_shared

# NOTE: from this size on, the max against a zeros array is faster than against 0,
# call included; below it the scalar costs less (bitwise the same result either way).
_ZEROS_FROM = 4096


def tanh(a: Array) -> OpResult:
    xp = array_module(a)
    out = xp.tanh(a)

    def backward(g, needs):
        if on_gpu(xp):
            return (kernels.tanh_backward(g, out),)
        return (g * (1 - out * out),)

    return out, backward


def stable_sigmoid(a: Array) -> Array:
    """1 / (1 + exp(-a)) without overflow for any finite ``a``."""
    xp = array_module(a)
    # NOTE: exp(-|a|) is at most 1, so neither branch can overflow.
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1, e) / (1 + e)


def sigmoid(a: Array) -> OpResult:
    out = stable_sigmoid(a)

    def backward(g, needs):
        if on_gpu(array_module(out)):
            return (kernels.sigmoid_backward(g, out),)
        return (g * out * (1 - out),)

    return out, backward


def relu(a: Array) -> OpResult:
    xp = array_module(a)
    out = xp.maximum(a, zeros_like_shared(a) if a.size >= _ZEROS_FROM else 0)

    def backward(g, needs):
        # NOTE: the gradient at exactly 0 is taken as 0 (the subgradient PyTorch uses).
        if writeable(g):
            return (xp.multiply(g, out > 0, out=g),)
        if on_gpu(xp):
            return (kernels.relu_backward(g, out),)
        return (g * (out > 0),)

    return out, backward


def leaky_relu(a: Array, negative_slope: float = 0.01) -> OpResult:
    xp = array_module(a)
    positive = a > 0
    out = xp.where(positive, a, a * negative_slope)

    def backward(g, needs):
        return (xp.where(positive, g, g * negative_slope),)

    return out, backward


def elu(a: Array, alpha: float = 1.0) -> OpResult:
    xp = array_module(a)
    positive = a > 0
    out = xp.where(positive, a, alpha * xp.expm1(xp.minimum(a, 0)))

    def backward(g, needs):
        # d/da alpha*(exp(a)-1) = alpha*exp(a) = out + alpha on the negative side.
        return (xp.where(positive, g, g * (out + alpha)),)

    return out, backward


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def erf(x: Array) -> Array:
    """Error function, Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7).

    NumPy has no ``erf``; this rational approximation is exact to float32
    resolution, which is what GELU needs.
    """
    xp = array_module(x)
    s = xp.sign(x)
    z = xp.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                + t * (-1.453152027 + t * 1.061405429))))
    return s * (1.0 - poly * xp.exp(-z * z))


def gelu(a: Array, approximate: str = "none") -> OpResult:
    """x * Phi(x); ``approximate='tanh'`` uses the tanh formula of Hendrycks & Gimpel."""
    xp = array_module(a)
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (a + 0.044715 * a**3)
        th = xp.tanh(inner)
        out = 0.5 * a * (1 + th)

        def backward_tanh(g, needs):
            dinner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * a * a)
            return (g * (0.5 * (1 + th) + 0.5 * a * (1 - th * th) * dinner),)

        return out, backward_tanh
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    cdf = (0.5 * (1 + erf(a * (1 / math.sqrt(2))))).astype(a.dtype, copy=False)
    out = a * cdf

    def backward(g, needs):
        pdf = _INV_SQRT_2PI * xp.exp(-0.5 * a * a)
        return (g * (cdf + a * pdf),)

    return out, backward
