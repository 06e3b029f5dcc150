"""Sliding windows shared by convolution and pooling: argument checks, padding,
the strided window view (im2col without a copy) and its adjoint (col2im).

Every op works on two spatial axes, (N, C, H, W); the 1-D ops view (N, C, L) as
(N, C, 1, L).
"""

from __future__ import annotations

import numbers
from typing import Any

from ..backend import Array, array_module

#: (before, after) padding of each spatial axis
Pairs = tuple[tuple[int, int], ...]
#: A size, stride, dilation or padding argument: one int for every axis, or one per axis.
IntOrTuple = int | tuple[int, ...]


def ntuple(value: Any, n: int, name: str, op: str, minimum: int = 1) -> tuple[int, ...]:
    """``value`` (an int or a sequence of ``n`` ints, each >= ``minimum``) as a tuple of ``n``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value),) * n
    try:
        value = tuple(value)
    except TypeError:
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, "
                         f"got {value!r}") from None
    if len(value) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                  and int(v) >= minimum for v in value):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints >= {minimum}, "
                         f"got {value!r}")
    return tuple(int(v) for v in value)


def padding_pairs(padding: IntOrTuple | str, kernel: tuple[int, ...],
                  stride: tuple[int, ...], dilation: tuple[int, ...], op: str) -> Pairs:
    """(before, after) padding of each spatial axis from an int, a tuple, 'same' or 'valid'.

    'same' keeps the spatial size at stride 1; an odd total padding puts the extra
    element after the input, as PyTorch does.
    """
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
            pairs = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', "
                         f"got {padding!r}")
    return tuple((p, p) for p in ntuple(padding, n, "padding", op, minimum=0))


def pad_spatial(x: Array, pairs: Pairs, value: float = 0.0) -> Array:
    """``x`` (N, C, H, W) padded on H and W by ``pairs`` with ``value`` (no copy if no padding)."""
    if not any(a or b for a, b in pairs):
        return x
    xp = array_module(x)
    (t, b), (le, r) = pairs
    n, c, h, w = x.shape
    out = xp.full((n, c, h + t + b, w + le + r), value, dtype=x.dtype)
    out[:, :, t:t + h, le:le + w] = x
    return out


def unpad_spatial(g: Array, pairs: Pairs) -> Array:
    """The inverse of :func:`pad_spatial` for a gradient: a view of the inner region."""
    if not any(a or b for a, b in pairs):
        return g
    (t, b), (le, r) = pairs
    return g[:, :, t:g.shape[2] - b, le:g.shape[3] - r]


def output_size(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                dilation: tuple[int, ...], pairs: Pairs, op: str) -> tuple[int, ...]:
    """Output extent of each spatial axis; refuses a kernel larger than the padded input."""
    out = []
    for n, k, s, d, (a, b) in zip(size, kernel, stride, dilation, pairs):
        span = d * (k - 1) + 1
        if n + a + b < span:
            raise ValueError(f"{op}: the kernel (extent {span}) is larger than the padded "
                             f"input (size {n + a + b})")
        out.append((n + a + b - span) // s + 1)
    return tuple(out)


def windows(x: Array, kernel: tuple[int, ...], stride: tuple[int, ...],
            dilation: tuple[int, ...], out_hw: tuple[int, ...]) -> Array:
    """A read-only strided view (N, C, OH, OW, kH, kW) of the padded ``x`` (N, C, H, W).

    ``windows(x)[n, c, i, j]`` is the receptive field of output pixel (i, j): no
    data is copied.
    """
    xp = array_module(x)
    n, c = x.shape[:2]
    sn, sc, sh, sw = x.strides
    shape = (n, c) + tuple(out_hw) + tuple(kernel)
    strides = (sn, sc, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1])
    return xp.lib.stride_tricks.as_strided(x, shape, strides)


def offset_slices(kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
                  out_hw: tuple[int, ...]) -> list[tuple[slice, slice, slice, slice]]:
    """One index per kernel offset (i, j): ``x[idx]`` is the (N, C, OH, OW) strided view of
    the element at that offset of every window of the padded ``x``."""
    (oh, ow), (sh, sw), (dh, dw) = out_hw, stride, dilation
    return [(slice(None), slice(None), slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
             slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))
            for i in range(kernel[0]) for j in range(kernel[1])]


def col2im(cols: Array, out: Array, kernel: tuple[int, ...], stride: tuple[int, ...],
           dilation: tuple[int, ...], out_hw: tuple[int, ...]) -> Array:
    """Add ``cols`` (N, C, kH, kW, OH, OW) into the image ``out`` (N, C, H, W), in place.

    The adjoint of :func:`windows`: every window element's gradient goes to the
    input pixel it was read from. One vectorised strided addition per kernel
    offset (kH * kW of them); no loop over the batch or the pixels.
    """
    for k, idx in enumerate(offset_slices(kernel, stride, dilation, out_hw)):
        out[idx] += cols[:, :, k // kernel[1], k % kernel[1]]
    return out


def as_2d(x: Array, op: str, ndim_wanted: int) -> Array:
    """(N, C, L) as (N, C, 1, L) for the 1-D ops; checks the number of dimensions."""
    if x.ndim != ndim_wanted:
        layout = "(N, C, L)" if ndim_wanted == 3 else "(N, C, H, W)"
        raise ValueError(f"{op}: input must have shape {layout}, got {x.shape}")
    return x[:, :, None, :] if ndim_wanted == 3 else x
