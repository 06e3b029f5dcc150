"""Elementwise arithmetic: add, sub, mul, div, pow, neg, maximum, minimum, where, clip, abs.

Every op takes arrays and returns ``(out, backward)``; ``backward(g, needs)``
returns one gradient per input (``None`` where ``needs`` says none is wanted).
Operands may broadcast; :func:`unbroadcast` sums their gradients back.
"""

from __future__ import annotations

from ..backend import Array, array_module
from ._util import OpResult, unbroadcast


def add(a: Array, b: Array) -> OpResult:
    out = a + b

    def backward(g, needs):
        return (
            unbroadcast(g, a.shape) if needs[0] else None,
            unbroadcast(g, b.shape) if needs[1] else None,
        )

    return out, backward


def sub(a: Array, b: Array) -> OpResult:
    out = a - b

    def backward(g, needs):
        return (
            unbroadcast(g, a.shape) if needs[0] else None,
            unbroadcast(-g, b.shape) if needs[1] else None,
        )

    return out, backward


def mul(a: Array, b: Array) -> OpResult:
    out = a * b

    def backward(g, needs):
        return (
            unbroadcast(g * b, a.shape) if needs[0] else None,
            unbroadcast(g * a, b.shape) if needs[1] else None,
        )

    return out, backward


def div(a: Array, b: Array) -> OpResult:
    out = a / b

    def backward(g, needs):
        return (
            unbroadcast(g / b, a.shape) if needs[0] else None,
            # d(a/b)/db = -a/b**2 = -out/b
            unbroadcast(-g * out / b, b.shape) if needs[1] else None,
        )

    return out, backward


def pow(a: Array, b: Array) -> OpResult:  # noqa: A001 - the op's name is the operator's name
    xp = array_module(a, b)
    out = a**b

    def backward(g, needs):
        ga = gb = None
        if needs[0]:
            ga = unbroadcast(g * b * a ** (b - 1), a.shape)
        if needs[1]:
            # d(a**b)/db = a**b * log(a); defined for a > 0 only.
            gb = unbroadcast(g * out * xp.log(a), b.shape)
        return ga, gb

    return out, backward


def neg(a: Array) -> OpResult:
    def backward(g, needs):
        return (-g,)

    return -a, backward


def abs(a: Array) -> OpResult:  # noqa: A001
    xp = array_module(a)

    def backward(g, needs):
        # NOTE: the subgradient at 0 is taken as 0, as in PyTorch.
        return (g * xp.sign(a),)

    return xp.abs(a), backward


def maximum(a: Array, b: Array) -> OpResult:
    xp = array_module(a, b)
    out = xp.maximum(a, b)

    def backward(g, needs):
        # NOTE: on ties the gradient is split evenly between the operands.
        share = (a > b) + 0.5 * (a == b)
        share = share.astype(g.dtype, copy=False)
        return (
            unbroadcast(g * share, a.shape) if needs[0] else None,
            unbroadcast(g * (1 - share), b.shape) if needs[1] else None,
        )

    return out, backward


def minimum(a: Array, b: Array) -> OpResult:
    xp = array_module(a, b)
    out = xp.minimum(a, b)

    def backward(g, needs):
        share = (a < b) + 0.5 * (a == b)
        share = share.astype(g.dtype, copy=False)
        return (
            unbroadcast(g * share, a.shape) if needs[0] else None,
            unbroadcast(g * (1 - share), b.shape) if needs[1] else None,
        )

    return out, backward


def where(a: Array, b: Array, cond: Array) -> OpResult:
    """``a`` where the boolean array ``cond`` holds, else ``b`` (``cond`` is not differentiated)."""
    xp = array_module(a, b)
    out = xp.where(cond, a, b)

    def backward(g, needs):
        zero = xp.zeros((), dtype=g.dtype)
        return (
            unbroadcast(xp.where(cond, g, zero), a.shape) if needs[0] else None,
            unbroadcast(xp.where(cond, zero, g), b.shape) if needs[1] else None,
        )

    return out, backward


def clip(a: Array, lo: float | None = None, hi: float | None = None) -> OpResult:
    xp = array_module(a)
    out = xp.clip(a, lo, hi)

    def backward(g, needs):
        # NOTE: the gradient passes on the bounds themselves, as in PyTorch's clamp.
        inside = xp.ones(a.shape, dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        return (g * inside,)

    return out, backward
