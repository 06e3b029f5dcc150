"""Helpers shared by the ops."""

from __future__ import annotations

import contextlib


def unbroadcast(g, shape):
    """Sum ``g`` back to ``shape``, undoing NumPy broadcasting.

    A forward op that broadcast an operand of ``shape`` to ``g.shape`` used each
    of its elements several times, so by the chain rule its gradient is the sum
    of the gradients of every copy.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def writeable(g):
    """True when a backward may overwrite its incoming gradient ``g``.

    The engine hands a gradient that other consumers share as a read-only view;
    an owned one is writeable. (CuPy arrays are never written in place.)
    """
    try:
        return g.flags.writeable
    except AttributeError:  # CuPy arrays have no such flag
        return False


def normalize_axis(axis, ndim):
    """``axis`` as a tuple of non-negative ints (``None`` means every axis)."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    out = []
    for a in axis:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for an array of {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    return tuple(out)


def expand_reduced(g, shape, axis, keepdims):
    """Reshape the gradient of a reduction so it broadcasts against the input."""
    if keepdims or g.ndim == len(shape):
        return g
    axes = normalize_axis(axis, len(shape))
    kept = [1 if i in axes else n for i, n in enumerate(shape)]
    return g.reshape(kept)


def check_reduction(reduction, op):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )


def errstate(xp, **kwargs):
    """``numpy.errstate(**kwargs)`` for NumPy arrays; nothing for CuPy, which never warns."""
    fn = getattr(xp, "errstate", None)
    return fn(**kwargs) if fn is not None else contextlib.nullcontext()
