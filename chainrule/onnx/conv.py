"""ONNX emitters of the convolutional layers: Conv, pooling, BatchNorm2d, CNN, ResNet."""

from __future__ import annotations

import numpy as np

from .. import nn
from .graph import OnnxExportError, register
from .layers import _batch_norm, _sequential

register(nn.BatchNorm2d)(_batch_norm)
register(nn.CNN)(_sequential)
register(nn.ResNet)(_sequential)


def _pads(padding, kernel, dilation):
    """ONNX ``pads`` (all begins, then all ends) from a layer's padding."""
    if padding == "valid":
        return [0] * (2 * len(kernel))
    if padding == "same":
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [t // 2 for t in total] + [t - t // 2 for t in total]
    return list(padding) * 2


@register(nn.Conv1d)
@register(nn.Conv2d)
def _conv(g, m, x):
    inputs = [x, g.const(m.weight.data, "weight")]
    if m.bias is not None:
        inputs.append(g.const(m.bias.data, "bias"))
    return g.op("Conv", inputs, "conv", kernel_shape=list(m.kernel_size),
                strides=list(m.stride), dilations=list(m.dilation),
                pads=_pads(m.padding, m.kernel_size, m.dilation), group=m.groups)


@register(nn.MaxPool1d)
@register(nn.MaxPool2d)
def _max_pool(g, m, x):
    return g.op("MaxPool", [x], "max_pool", kernel_shape=list(m.kernel_size),
                strides=list(m.stride), pads=list(m.padding) * 2)


@register(nn.AvgPool1d)
@register(nn.AvgPool2d)
def _avg_pool(g, m, x):
    return g.op("AveragePool", [x], "avg_pool", kernel_shape=list(m.kernel_size),
                strides=list(m.stride), pads=list(m.padding) * 2,
                count_include_pad=int(m.count_include_pad))


@register(nn.AdaptiveAvgPool2d)
def _adaptive_avg_pool(g, m, x):
    if m.output_size == (1, 1):
        return g.op("GlobalAveragePool", [x], "global_avg_pool")
    h, w = g.example(x).shape[2:]
    oh, ow = m.output_size
    if h % oh or w % ow:
        raise OnnxExportError(f"ONNX export: AdaptiveAvgPool2d({m.output_size}) of a {h}x{w} "
                              f"input has bins of unequal sizes, which no ONNX pooling op "
                              f"computes; export with H and W divisible by the output size")
    k = [h // oh, w // ow]
    return g.op("AveragePool", [x], "adaptive_avg_pool", kernel_shape=k, strides=k)


@register(nn.Unflatten)
def _unflatten(g, m, x):
    shape = list(g.example(x).shape)
    d = m.dim % len(shape)
    new = [0] * d + list(m.unflattened_size) + [0] * (len(shape) - d - 1)
    if d == 0:
        raise OnnxExportError("ONNX export: Unflatten of the batch axis cannot keep it dynamic")
    return g.op("Reshape", [x, g.const(np.asarray(new, dtype=np.int64), "shape")], "unflatten")


@register(nn.ResidualBlock)
def _residual_block(g, m, x):
    h = g.child(m.bn1, "bn1", g.child(m.conv1, "conv1", x))
    r = g.op("Relu", [h], "relu1")
    g.examples[r] = np.maximum(g.example(h), 0)
    h = g.child(m.bn2, "bn2", g.child(m.conv2, "conv2", r))
    s = g.child(m.shortcut, "shortcut", x)
    return g.op("Relu", [g.op("Add", [h, s], "add")], "relu")
