"""Pooling: max_pool2d/1d, avg_pool2d/1d, adaptive_avg_pool2d.

Layout (N, C, H, W) or (N, C, L). A pool runs over the kernel offsets: for each
offset (i, j), a strided view of the padded input holds that element of every
window (see :mod:`chainrule.ops.window`), so a pool is kH * kW vectorised
maximums or additions and its backward kH * kW strided additions; no loop over
the batch or the pixels, no copy of the windows.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy.typing as npt

from ..backend import Array, array_module
from ._util import OpResult
from .window import (
    IntOrTuple,
    Pairs,
    as_2d,
    ntuple,
    offset_slices,
    output_size,
    pad_spatial,
    unpad_spatial,
)


def _geometry(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None,
              padding: IntOrTuple, op: str
              ) -> tuple[tuple[int, ...], tuple[int, ...], Pairs, tuple[int, ...]]:
    kernel = ntuple(kernel_size, 2, "kernel_size", op)
    stride = kernel if stride is None else ntuple(stride, 2, "stride", op)
    pad = ntuple(padding, 2, "padding", op, minimum=0)
    if any(2 * p > k for p, k in zip(pad, kernel)):
        raise ValueError(f"{op}: padding {pad} must be at most half the kernel size {kernel}")
    pairs = tuple((p, p) for p in pad)
    out_hw = output_size(x.shape[2:], kernel, stride, (1, 1), pairs, op)
    return kernel, stride, pairs, out_hw


def _check_4d(x: Array, op: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{op}: input must have shape (N, C, H, W), got {x.shape}")


def max_pool2d(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0) -> OpResult:
    """Maximum over each window of ``x`` (N, C, H, W); padding counts as -inf.

    ``stride`` defaults to ``kernel_size``. The gradient goes to the arg-max of
    each window only (the first one when several elements tie).
    """
    _check_4d(x, "max_pool2d")
    return _max_pool(x, kernel_size, stride, padding, "max_pool2d")


def _max_pool(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None,
              padding: IntOrTuple, op: str) -> OpResult:
    xp = array_module(x)
    kernel, stride, pairs, out_hw = _geometry(x, kernel_size, stride, padding, op)
    xpad = pad_spatial(x, pairs, value=-xp.inf)
    offsets = offset_slices(kernel, stride, (1, 1), out_hw)
    out = xpad[offsets[0]].copy()
    for idx in offsets[1:]:  # a running maximum over the kernel offsets
        xp.maximum(out, xpad[idx], out=out)

    def backward(g, needs):
        # NOTE: the arg-max is found again here rather than stored: the first offset whose
        # element equals the window's maximum gets the gradient (ties: the first one only).
        gx = xp.zeros(xpad.shape, dtype=g.dtype)
        tiled = stride == kernel  # disjoint windows: each offset's view is written once
        taken = None
        for k, idx in enumerate(offsets):
            hit = xpad[idx] == out
            if taken is not None:
                xp.greater(hit, taken, out=hit)  # hit and not taken
            if tiled:
                xp.multiply(g, hit, out=gx[idx])
            else:
                gx[idx] += g * hit
            if k + 1 < len(offsets):
                taken = hit if taken is None else xp.logical_or(taken, hit, out=taken)
        return (unpad_spatial(gx, pairs),)

    return out, backward


def avg_pool2d(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, count_include_pad: bool = True) -> OpResult:
    """Mean over each window of ``x`` (N, C, H, W); ``stride`` defaults to ``kernel_size``.

    Padding is zeros; ``count_include_pad=False`` divides by the number of real
    (unpadded) elements of each window instead of the kernel size.
    """
    _check_4d(x, "avg_pool2d")
    return _avg_pool(x, kernel_size, stride, padding, count_include_pad, "avg_pool2d")


def _avg_pool(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None,
              padding: IntOrTuple, count_include_pad: bool, op: str) -> OpResult:
    xp = array_module(x)
    kernel, stride, pairs, out_hw = _geometry(x, kernel_size, stride, padding, op)
    xpad = pad_spatial(x, pairs)
    offsets = offset_slices(kernel, stride, (1, 1), out_hw)
    div: float | Array
    if count_include_pad or not any(a for a, _ in pairs):
        div = float(kernel[0] * kernel[1])
    else:  # the number of real elements in each window
        ones = pad_spatial(xp.ones((1, 1) + x.shape[2:], dtype=x.dtype), pairs)
        div = sum(ones[idx] for idx in offsets)
    out = xpad[offsets[0]].copy()
    for idx in offsets[1:]:
        out += xpad[idx]
    out /= div

    def backward(g, needs):
        gd = g / div
        gx = xp.zeros(xpad.shape, dtype=g.dtype)
        for idx in offsets:
            gx[idx] += gd
        return (unpad_spatial(gx, pairs),)

    return out, backward


def _one_d(fn2d: Callable[..., OpResult], x: Array, kernel_size: IntOrTuple,
           stride: IntOrTuple | None, padding: IntOrTuple, op: str, *extra: Any) -> OpResult:
    """Run a 2-D pool on (N, C, 1, L) with a (1, k) kernel."""
    x2 = as_2d(x, op, 3)
    k = ntuple(kernel_size, 1, "kernel_size", op)[0]
    s = k if stride is None else ntuple(stride, 1, "stride", op)[0]
    p = ntuple(padding, 1, "padding", op, minimum=0)[0]
    out, back2 = fn2d(x2, (1, k), (1, s), (0, p), *extra, op)

    def backward(g, needs):
        return (back2(g[:, :, None, :], needs)[0][:, :, 0, :],)

    return out[:, :, 0, :], backward


def max_pool1d(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0) -> OpResult:
    """Maximum over each window of ``x`` (N, C, L); see :func:`max_pool2d`."""
    return _one_d(_max_pool, x, kernel_size, stride, padding, "max_pool1d")


def avg_pool1d(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, count_include_pad: bool = True) -> OpResult:
    """Mean over each window of ``x`` (N, C, L); see :func:`avg_pool2d`."""
    return _one_d(_avg_pool, x, kernel_size, stride, padding, "avg_pool1d", count_include_pad)


def _pool_matrix(xp: ModuleType, n_in: int, n_out: int, dtype: npt.DTypeLike) -> Array:
    """(n_out, n_in) averaging matrix of adaptive pooling: bin i covers
    [floor(i n_in / n_out), ceil((i + 1) n_in / n_out)), as in PyTorch."""
    i = xp.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    j = xp.arange(n_in)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_avg_pool2d(x: Array, output_size: IntOrTuple) -> OpResult:
    """Average ``x`` (N, C, H, W) over an ``output_size`` grid of near-equal bins.

    ``output_size=1`` is global average pooling. The pooling is linear and
    separable: ``out = A_h @ x @ A_w^T`` with averaging matrices A, and the
    gradient is ``A_h^T @ g @ A_w``.
    """
    _check_4d(x, "adaptive_avg_pool2d")
    xp = array_module(x)
    oh, ow = ntuple(output_size, 2, "output_size", "adaptive_avg_pool2d")
    n, c, h, w = x.shape
    if (oh, ow) == (1, 1):
        out = x.mean(axis=(2, 3), keepdims=True)

        def backward_global(g, needs):
            gx = xp.empty(x.shape, dtype=g.dtype)
            gx[...] = g / (h * w)
            return (gx,)

        return out, backward_global
    ah = _pool_matrix(xp, h, oh, x.dtype)
    aw = _pool_matrix(xp, w, ow, x.dtype)
    out = xp.matmul(xp.matmul(ah, x), aw.T)

    def backward(g, needs):
        return (xp.matmul(xp.matmul(ah.T, g), aw),)

    return out, backward
