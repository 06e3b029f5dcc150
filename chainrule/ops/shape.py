"""Shape and indexing ops: reshape, transpose, broadcast_to, getitem, concat, stack, pad."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from ..backend import Array, array_module
from ._util import OpResult, Shape, unbroadcast


def reshape(a: Array, shape: Shape) -> OpResult:
    out = a.reshape(shape)

    def backward(g, needs):
        return (g.reshape(a.shape),)

    return out, backward


def transpose(a: Array, axes: Sequence[int] | None = None) -> OpResult:
    xp = array_module(a)
    out = a.transpose(axes)

    def backward(g, needs):
        if axes is None:
            return (g.transpose(),)
        return (g.transpose(tuple(xp.argsort(xp.asarray(axes) % a.ndim).tolist())),)

    return out, backward


def broadcast_to(a: Array, shape: Shape) -> OpResult:
    xp = array_module(a)
    out = xp.broadcast_to(a, shape)

    def backward(g, needs):
        return (unbroadcast(g, a.shape),)

    return out, backward


def _is_basic(index: Any) -> bool:
    """True when ``index`` uses only ints, slices, None and Ellipsis (no repeats possible)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


def _has_only_bool_arrays(index: Any, xp: ModuleType) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(not isinstance(p, (list, xp.ndarray)) or xp.asarray(p).dtype == bool
               for p in parts)


def getitem(a: Array, index: Any) -> OpResult:
    xp = array_module(a)
    out = a[index]

    def backward(g, needs):
        grad = xp.zeros(a.shape, dtype=g.dtype)
        if _is_basic(index) or _has_only_bool_arrays(index, xp):
            grad[index] = g
        else:
            # NOTE: an integer index may repeat; scatter-add accumulates every copy.
            xp.add.at(grad, index, g)
        return (grad,)

    return out, backward


def concat(*arrays: Array, axis: int = 0) -> OpResult:
    xp = array_module(*arrays)
    out = xp.concatenate(arrays, axis=axis)
    ends = []
    total = 0
    for a in arrays:
        total += a.shape[axis]
        ends.append(total)

    def backward(g, needs):
        return tuple(xp.split(g, ends[:-1], axis=axis))

    return out, backward


def stack(*arrays: Array, axis: int = 0) -> OpResult:
    xp = array_module(*arrays)
    out = xp.stack(arrays, axis=axis)

    def backward(g, needs):
        return tuple(xp.moveaxis(g, axis, 0))

    return out, backward


def pad(a: Array, pad: Sequence[int], value: float = 0.0) -> OpResult:
    """Constant padding in PyTorch's order: ``pad = (last_before, last_after,
    second_last_before, second_last_after, ...)`` pads the trailing ``len(pad) // 2``
    axes; the gradient is the inner region of the incoming gradient."""
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > a.ndim or not all(
            isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in pad):
        raise ValueError(f"pad: pad must be an even-length tuple of non-negative ints for at "
                         f"most {a.ndim} axes, got {pad!r}")
    xp = array_module(a)
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    out = xp.full(tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, widths)), value,
                  dtype=a.dtype)
    inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, widths))
    out[inner] = a

    def backward(g, needs):
        return (g[inner],)

    return out, backward
