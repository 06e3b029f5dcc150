"""Reductions: sum, mean, max, min, var, logsumexp (each with axis and keepdims)."""

from __future__ import annotations

from collections.abc import Callable

from ..backend import Array, array_module
from ._util import Axis, OpResult, Shape, expand_reduced, normalize_axis


def _count(shape: Shape, axis: Axis) -> int:
    n = 1
    for a in normalize_axis(axis, len(shape)):
        n *= shape[a]
    return n


def sum(a: Array, axis: Axis = None, keepdims: bool = False) -> OpResult:  # noqa: A001
    xp = array_module(a)
    out = a.sum(axis=axis, keepdims=keepdims)

    def backward(g, needs):
        return (xp.broadcast_to(expand_reduced(g, a.shape, axis, keepdims), a.shape),)

    return out, backward


def mean(a: Array, axis: Axis = None, keepdims: bool = False) -> OpResult:
    xp = array_module(a)
    out = a.mean(axis=axis, keepdims=keepdims)
    n = _count(a.shape, axis)

    def backward(g, needs):
        g = expand_reduced(g, a.shape, axis, keepdims) / n
        return (xp.broadcast_to(g, a.shape),)

    return out, backward


def _drop_axes(x: Array, axis: Axis, ndim: int) -> Array:
    """Reshape a keepdims=True reduction result to its keepdims=False shape."""
    axes = normalize_axis(axis, ndim)
    return x.reshape([n for i, n in enumerate(x.shape) if i not in axes])


def _extremum(a: Array, axis: Axis, keepdims: bool, pick: Callable[..., Array]) -> OpResult:
    out_k = pick(a, axis=axis, keepdims=True)

    def backward(g, needs):
        # NOTE: where several elements tie for the extremum, they share the gradient equally.
        hit = a == out_k
        share = (hit / hit.sum(axis=axis, keepdims=True)).astype(g.dtype, copy=False)
        return (expand_reduced(g, a.shape, axis, keepdims) * share,)

    return (out_k if keepdims else _drop_axes(out_k, axis, a.ndim)), backward


def max(a: Array, axis: Axis = None, keepdims: bool = False) -> OpResult:  # noqa: A001
    xp = array_module(a)
    return _extremum(a, axis, keepdims, xp.max)


def min(a: Array, axis: Axis = None, keepdims: bool = False) -> OpResult:  # noqa: A001
    xp = array_module(a)
    return _extremum(a, axis, keepdims, xp.min)


def var(a: Array, axis: Axis = None, keepdims: bool = False, correction: int = 1) -> OpResult:
    """Variance with ``correction`` (1: unbiased, as ``torch.var``; 0: population)."""
    mu = a.mean(axis=axis, keepdims=True)
    d = a - mu
    n = _count(a.shape, axis)
    denom = n - correction
    out = (d * d).sum(axis=axis, keepdims=keepdims) / denom

    def backward(g, needs):
        return (expand_reduced(g, a.shape, axis, keepdims) * d * (2.0 / denom),)

    return out, backward


def logsumexp(a: Array, axis: Axis = None, keepdims: bool = False) -> OpResult:
    """log(sum(exp(a))), computed as m + log(sum(exp(a - m))) with m the max."""
    xp = array_module(a)
    m = a.max(axis=axis, keepdims=True)
    # NOTE: a slice that is all -inf has max -inf; shifting by 0 there keeps it -inf, not NaN.
    m = xp.where(xp.isfinite(m), m, 0)
    e = xp.exp(a - m)
    s = e.sum(axis=axis, keepdims=True)
    out_k = xp.log(s) + m
    out = out_k if keepdims else _drop_axes(out_k, axis, a.ndim)

    def backward(g, needs):
        # d/da logsumexp(a) = softmax(a) = e / s; exp(a - out) would lose the low bits
        # of a large out (|a| ~ 1e4 in float32) and the gradient would not sum to 1.
        return (expand_reduced(g, a.shape, axis, keepdims) * (e / s),)

    return out, backward
