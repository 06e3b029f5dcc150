"""ONNX emitters of chainrule.nn's layers: one function per module class.

Each ``fn(g, module, x)`` adds the nodes computing ``module(x)`` in evaluation mode to
the :class:`~chainrule.onnx.graph.GraphBuilder` ``g`` and returns the output's name.
A layer added to chainrule.nn gets one function here.
"""

from __future__ import annotations

import math

import numpy as np

from .. import nn
from .graph import OnnxExportError, register


# ------------------------------------------------------------------ containers
@register(nn.Sequential)
@register(nn.MLP)
def _sequential(g, m, x):
    for name, child in m.named_children():
        x = g.child(child, name, x)
    return x


@register(nn.Residual)
def _residual(g, m, x):
    return g.op("Add", [x, g.child(m.block, "block", x)], "residual")


@register(nn.Identity)
@register(nn.Dropout)
def _identity(g, m, x):
    return x  # Dropout is the identity in evaluation mode: no node at all


# ------------------------------------------------------------------ dense
@register(nn.Linear)
def _linear(g, m, x):
    w = m.weight.data
    b = None if m.bias is None else g.const(m.bias.data, "bias")
    if g.example(x).ndim == 2:
        return g.op("Gemm", [x, g.const(w, "weight"), b], "linear", transB=1)
    y = g.op("MatMul", [x, g.const(w.T, "weight_t")], "matmul")
    return y if b is None else g.op("Add", [y, b], "linear")


@register(nn.Flatten)
def _flatten(g, m, x):
    ndim = g.example(x).ndim
    start, end = m.start_dim % ndim, m.end_dim % ndim
    if start == 1 and end == ndim - 1:
        return g.op("Flatten", [x], "flatten", axis=1)
    in_shape = g.example(x).shape
    shape = [0] * start + [-1] + list(in_shape[end + 1:])
    if start == 0:  # the batch axis is merged too: nothing to copy
        shape = [-1] + list(in_shape[end + 1:])
    return g.op("Reshape", [x, g.const(np.asarray(shape, dtype=np.int64), "shape")], "flatten")


# ------------------------------------------------------------------ activations
def _unary(op_type, **attrs):
    def fn(g, m, x):
        kw = {k: float(getattr(m, v)) for k, v in attrs.items()}
        return g.op(op_type, [x], op_type.lower(), **kw)
    return fn


register(nn.ReLU)(_unary("Relu"))
register(nn.Sigmoid)(_unary("Sigmoid"))
register(nn.Tanh)(_unary("Tanh"))
register(nn.LeakyReLU)(_unary("LeakyRelu", alpha="negative_slope"))
register(nn.ELU)(_unary("Elu", alpha="alpha"))


@register(nn.Softmax)
def _softmax(g, m, x):
    return g.op("Softmax", [x], "softmax", axis=int(m.dim))


@register(nn.LogSoftmax)
def _log_softmax(g, m, x):
    return g.op("LogSoftmax", [x], "log_softmax", axis=int(m.dim))


@register(nn.GELU)
def _gelu(g, m, x):
    if g.opset >= 20:
        return g.op("Gelu", [x], "gelu", approximate=m.approximate)
    half_x = g.op("Mul", [x, g.scalar(0.5, "half")], "half_x")
    if m.approximate == "tanh":
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.op("Mul", [g.op("Mul", [x, x], "x2"), x], "x3")
        inner = g.op("Add", [x, g.op("Mul", [cube, g.scalar(0.044715, "k")], "kx3")], "inner")
        t = g.op("Tanh", [g.op("Mul", [inner, g.scalar(math.sqrt(2 / math.pi), "s")], "z")])
    else:
        # 0.5 x (1 + erf(x / sqrt(2)))
        t = g.op("Erf", [g.op("Mul", [x, g.scalar(1 / math.sqrt(2), "s")], "z")])
    return g.op("Mul", [half_x, g.op("Add", [t, g.scalar(1.0, "one")], "one_plus")], "gelu")


# ------------------------------------------------------------------ normalisation
@register(nn.BatchNorm1d)
def _batch_norm(g, m, x):
    if not m.track_running_stats:
        raise OnnxExportError("ONNX export: BatchNorm1d(track_running_stats=False) normalises "
                              "with each batch's own statistics at inference; only layers with "
                              "running statistics can be exported")
    c = m.num_features
    w = m.weight.data if m.weight is not None else np.ones(c)
    b = m.bias.data if m.bias is not None else np.zeros(c)
    return g.op("BatchNormalization",
                [x, g.const(w, "weight"), g.const(b, "bias"),
                 g.const(m.running_mean, "running_mean"), g.const(m.running_var, "running_var")],
                "batch_norm", epsilon=float(m.eps))


@register(nn.LayerNorm)
def _layer_norm(g, m, x):
    k = len(m.normalized_shape)
    shape = m.normalized_shape
    w = m.weight.data if m.weight is not None else np.ones(shape)
    b = None if m.bias is None else g.const(m.bias.data, "bias")
    if g.opset >= 17:
        return g.op("LayerNormalization", [x, g.const(w, "weight"), b], "layer_norm",
                    axis=-k, epsilon=float(m.eps))
    # opset 13-16: (x - mean) / sqrt(var + eps) * w + b, biased variance over the last k axes
    axes = list(range(-k, 0))
    mean = g.op("ReduceMean", [x], "mean", axes=axes, keepdims=1)
    d = g.op("Sub", [x, mean], "centered")
    var = g.op("ReduceMean", [g.op("Mul", [d, d], "sq")], "var", axes=axes, keepdims=1)
    std = g.op("Sqrt", [g.op("Add", [var, g.scalar(m.eps, "eps")], "var_eps")], "std")
    y = g.op("Mul", [g.op("Div", [d, std], "normed"), g.const(w, "weight")], "scaled")
    return y if b is None else g.op("Add", [y, b], "layer_norm")
