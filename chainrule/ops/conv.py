"""Convolution: conv2d and conv1d through im2col and one batched GEMM.

Layout as PyTorch: input (N, C, H, W) or (N, C, L), weight (O, C / groups, kH, kW)
or (O, C / groups, k), bias (O,); the output is (N, O, OH, OW) or (N, O, OL).

Forward. The padded input is seen through a strided view of its windows
(N, C, OH, OW, kH, kW), without a copy; one copy turns it into the column
buffer ``cols`` of shape (N, G, K, P) with K = C / G * kH * kW and P = OH * OW
(im2col). The convolution is then one batched GEMM,
``W (G, O / G, K) @ cols -> (N, G, O / G, P)``, already in NCHW order.

Backward. ``dW = sum_n g @ cols^T``, ``dcols = W^T @ g``, and col2im adds
``dcols`` back into the padded input, one strided slice per kernel offset
(kH * kW vectorised additions, no loop over the batch or the output pixels).

Memory. ``cols`` takes ``N * C * kH * kW * OH * OW * itemsize`` bytes: kH * kW
times the input for a stride-1 'same' convolution (a 3x3 convolution of a
float32 batch (128, 64, 32, 32) needs 288 MiB). Past :data:`COLUMN_BUFFER_LIMIT`
bytes the convolution runs over chunks of the batch that each fit the limit and
does not keep the columns: backward rebuilds them chunk by chunk. Under the
limit the forward's columns are kept for backward. A 1x1 convolution at stride 1
needs no columns at all (the input is its own column buffer).
"""

from __future__ import annotations

from ..backend import Array, array_module
from ._util import OpResult
from .window import (
    IntOrTuple,
    as_2d,
    col2im,
    ntuple,
    output_size,
    pad_spatial,
    padding_pairs,
    unpad_spatial,
    windows,
)

#: Largest column buffer (bytes) built at once; bigger batches are processed in chunks.
COLUMN_BUFFER_LIMIT = 64 * 2**20


def _im2col(x: Array, kernel: tuple[int, ...], stride: tuple[int, ...],
            dilation: tuple[int, ...], out_hw: tuple[int, ...], groups: int) -> Array:
    """Column buffer (N, G, K, P) of the padded ``x`` (N, C, H, W)."""
    xp = array_module(x)
    n, c = x.shape[:2]
    kh, kw = kernel
    oh, ow = out_hw
    if kernel == (1, 1) and stride == (1, 1):
        return x.reshape(n, groups, c // groups, oh * ow)
    cols = xp.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    cols[...] = windows(x, kernel, stride, dilation, out_hw).transpose(0, 1, 4, 5, 2, 3)
    return cols.reshape(n, groups, c // groups * kh * kw, oh * ow)


def _check(x: Array, weight: Array, bias: Array | None, groups: int, op: str) -> None:
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"{op}: input and weight must have 4 dimensions, got input "
                         f"{x.shape} and weight {weight.shape}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    o, cg = weight.shape[:2]
    if x.shape[1] != cg * groups or o % groups:
        raise ValueError(f"{op}: input with {x.shape[1]} channels does not match weight of "
                         f"shape {weight.shape} with groups={groups} (expected "
                         f"{cg * groups} input channels and out_channels divisible by groups)")
    if x.dtype != weight.dtype:
        raise ValueError(f"{op}: input dtype {x.dtype} differs from weight dtype {weight.dtype}")
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"{op}: bias of shape {bias.shape} does not match {o} output channels")


def _conv(x: Array, weight: Array, bias: Array | None, stride: IntOrTuple,
          padding: IntOrTuple | str, dilation: IntOrTuple, groups: int, op: str) -> OpResult:
    """conv2d on 4-D arrays: ``(out, backward)``; shared by conv1d."""
    _check(x, weight, bias, groups, op)
    kernel = tuple(weight.shape[2:])
    stride = ntuple(stride, 2, "stride", op)
    dilation = ntuple(dilation, 2, "dilation", op)
    pairs = padding_pairs(padding, kernel, stride, dilation, op)
    n, c, h, w = x.shape
    out_hw = output_size((h, w), kernel, stride, dilation, pairs, op)
    o = weight.shape[0]
    xp = array_module(x, weight)
    xpad = pad_spatial(x, pairs)
    wg = weight.reshape(groups, o // groups, -1)
    p = out_hw[0] * out_hw[1]
    per_sample = c * kernel[0] * kernel[1] * p * x.dtype.itemsize
    step = max(1, COLUMN_BUFFER_LIMIT // max(per_sample, 1))
    if n <= step:
        cols = _im2col(xpad, kernel, stride, dilation, out_hw, groups)
        out = xp.matmul(wg, cols)
    else:  # chunk over the batch so the column buffer stays under the limit
        cols = None
        out = xp.empty((n, groups, o // groups, p), dtype=x.dtype)
        for s in range(0, n, step):
            xp.matmul(wg, _im2col(xpad[s:s + step], kernel, stride, dilation, out_hw, groups),
                      out=out[s:s + step])
    out = out.reshape(n, o, *out_hw)
    if bias is not None:
        out += bias.reshape(1, o, 1, 1)

    def backward(g, needs):
        gg = g.reshape(n, groups, o // groups, p)
        gx = gw = gb = None
        if bias is not None and needs[2]:
            gb = g.sum(axis=(0, 2, 3))
        if not (needs[0] or needs[1]):
            return gx, gw, gb
        gxpad = xp.zeros(xpad.shape, dtype=x.dtype) if needs[0] else None
        gwg = xp.zeros(wg.shape, dtype=x.dtype) if needs[1] else None
        wt = wg.swapaxes(-1, -2)
        for s in range(0, n, step):
            gc = gg[s:s + step]
            cc = cols if cols is not None else _im2col(
                xpad[s:s + step], kernel, stride, dilation, out_hw, groups)
            if needs[1]:
                gwg += xp.matmul(gc, cc.swapaxes(-1, -2)).sum(axis=0)
            if needs[0]:
                dcols = xp.matmul(wt, gc)  # (n, G, K, P)
                m = dcols.shape[0]
                if kernel == (1, 1) and stride == (1, 1):
                    gxpad[s:s + m] = dcols.reshape(m, c, *out_hw)
                else:
                    col2im(dcols.reshape(m, c, kernel[0], kernel[1], *out_hw),
                           gxpad[s:s + m], kernel, stride, dilation, out_hw)
        if needs[0]:
            gx = unpad_spatial(gxpad, pairs)
        if needs[1]:
            gw = gwg.reshape(weight.shape)
        return gx, gw, gb

    return out, backward


def conv2d(x: Array, weight: Array, bias: Array | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1
           ) -> OpResult:
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (O, C / groups, kH, kW).

    ``stride``, ``dilation``: an int or a pair; ``padding``: an int, a pair,
    'same' (stride 1) or 'valid'. ``groups`` splits the channels into independent
    convolutions (``groups == C``: depthwise).
    """
    return _conv(x, weight, bias, stride, padding, dilation, groups, "conv2d")


def conv1d(x: Array, weight: Array, bias: Array | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1
           ) -> OpResult:
    """1-D cross-correlation of ``x`` (N, C, L) with ``weight`` (O, C / groups, k).

    Runs as :func:`conv2d` on (N, C, 1, L); arguments as there, with single ints.
    """
    if weight.ndim != 3:
        raise ValueError(f"conv1d: weight must have shape (O, C / groups, k), got {weight.shape}")
    x2 = as_2d(x, "conv1d", 3)
    pad = padding if isinstance(padding, str) else (0, ntuple(padding, 1, "padding", "conv1d",
                                                              minimum=0)[0])
    out, back2 = _conv(x2, weight[:, :, None, :], bias,
                       (1, ntuple(stride, 1, "stride", "conv1d")[0]), pad,
                       (1, ntuple(dilation, 1, "dilation", "conv1d")[0]), groups, "conv1d")

    def backward(g, needs):
        gx, gw, gb = back2(g[:, :, None, :], needs)
        return (None if gx is None else gx[:, :, 0, :],
                None if gw is None else gw[:, :, 0, :], gb)

    return out[:, :, 0, :], backward
