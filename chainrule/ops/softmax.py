"""Numerically stable softmax and log-softmax.

softmax(a)_i = exp(a_i) / sum_k exp(a_k) is unchanged when a constant is
subtracted from every a_k; subtracting the max makes every exponent <= 0, so
nothing overflows. Entries of -inf (masks) give probability 0 as long as the
slice holds one finite entry.
"""

from __future__ import annotations

from ..backend import Array, array_module
from ._util import OpResult


def _shifted(a: Array, axis: int) -> Array:
    xp = array_module(a)
    m = a.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    return a - m


def softmax_array(a: Array, axis: int = -1) -> Array:
    """The softmax of an array (no graph); used by ops and predictions alike."""
    xp = array_module(a)
    e = xp.exp(_shifted(a, axis))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax_array(a: Array, axis: int = -1) -> Array:
    xp = array_module(a)
    z = _shifted(a, axis)
    return z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))


def softmax(a: Array, axis: int = -1) -> OpResult:
    out = softmax_array(a, axis)

    def backward(g, needs):
        # dp_i/da_j = p_i (delta_ij - p_j)  =>  grad_a = p * (g - sum(g * p))
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return out, backward


def log_softmax(a: Array, axis: int = -1) -> OpResult:
    xp = array_module(a)
    out = log_softmax_array(a, axis)

    def backward(g, needs):
        # d log p_i / d a_j = delta_ij - p_j  =>  grad_a = g - p * sum(g)
        return (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),)

    return out, backward
