"""Helpers shared by the ops."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any, TypeAlias

import numpy as np

from ..backend import Array

#: ``backward(g, needs)``: one gradient per array input, ``None`` where ``needs`` (one flag
#: per input) says that none is wanted.
Backward: TypeAlias = Callable[[Array, tuple[bool, ...]], tuple["Array | None", ...]]
#: What every op returns: its forward result and its backward.
OpResult: TypeAlias = tuple[Array, Backward]
#: An ``axis=`` argument: one axis, several, or ``None`` for all of them.
Axis: TypeAlias = int | tuple[int, ...] | None
#: An array's shape.
Shape: TypeAlias = tuple[int, ...]

_ndarray = np.ndarray
_add_reduce: Callable[..., Array] = np.add.reduce
_max_reduce: Callable[..., Array] = np.maximum.reduce


def unbroadcast(g: Array, shape: Shape) -> Array:
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


def fast_sum(a: Array, axis: Axis = None, keepdims: bool = False) -> Array:
    """``a.sum(axis, keepdims=keepdims)``, bitwise; on NumPy without the method's Python
    wrapper (``ndarray.sum`` calls ``np.add.reduce`` through two Python frames, about
    1 us that a small network pays at every op)."""
    if a.__class__ is _ndarray:
        return _add_reduce(a, axis, keepdims=keepdims)
    return a.sum(axis=axis, keepdims=keepdims)


def fast_max(a: Array, axis: Axis = None, keepdims: bool = False) -> Array:
    """``a.max(axis, keepdims=keepdims)``, bitwise, as :func:`fast_sum` for the maximum."""
    if a.__class__ is _ndarray:
        return _max_reduce(a, axis, keepdims=keepdims)
    return a.max(axis=axis, keepdims=keepdims)


def writeable(g: Array) -> bool:
    """True when a backward may overwrite its incoming gradient ``g``.

    The engine hands a gradient that other consumers share as a read-only view;
    an owned one is writeable. (CuPy arrays are never written in place.)
    """
    try:
        return g.flags.writeable
    except AttributeError:  # CuPy arrays have no such flag
        return False


def normalize_axis(axis: Axis | list[int], ndim: int) -> tuple[int, ...]:
    """``axis`` as a tuple of non-negative ints (``None`` means every axis)."""
    if axis is None:
        return tuple(range(ndim))
    axes: Sequence[int] = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for an array of {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    return tuple(out)


def expand_reduced(g: Array, shape: Shape, axis: Axis, keepdims: bool) -> Array:
    """Reshape the gradient of a reduction so it broadcasts against the input."""
    if keepdims or g.ndim == len(shape):
        return g
    axes = normalize_axis(axis, len(shape))
    kept = [1 if i in axes else n for i, n in enumerate(shape)]
    return g.reshape(kept)


def check_reduction(reduction: str, op: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )


def errstate(xp: ModuleType, **kwargs: Any) -> AbstractContextManager[Any]:
    """``numpy.errstate(**kwargs)`` for NumPy arrays; nothing for CuPy, which never warns."""
    fn = getattr(xp, "errstate", None)
    return fn(**kwargs) if fn is not None else contextlib.nullcontext()
_ZEROS: dict[tuple[type, Shape, Any], Array] = {}  # (array type, shape, dtype) -> read-only zeros


def _zeros(a: Array) -> Array:
    from ..backend import array_module

    if len(_ZEROS) >= 64:  # many batch shapes: start again
        _ZEROS.clear()
    z = array_module(a).zeros(a.shape, dtype=a.dtype)
    try:
        z.flags.writeable = False  # shared by every caller: never written
    except (AttributeError, ValueError):  # CuPy arrays have no such flag
        pass
    _ZEROS[(type(a), a.shape, a.dtype)] = z
    return z


def zeros_like_shared(a: Array) -> Array:
    """A read-only array of zeros of ``a``'s shape and dtype, shared between calls.

    ``xp.maximum(a, zeros_like_shared(a))`` gives bitwise the same result as
    ``xp.maximum(a, 0)`` (also for -0.0 and NaN) about 4x faster: NumPy's loop over
    two arrays is vectorised, the one against a Python scalar is not (measured on a
    128 x 256 float32 array: 2.8 us against 12.9 us).
    """
    z = _ZEROS.get((type(a), a.shape, a.dtype))
    return z if z is not None else _zeros(a)
