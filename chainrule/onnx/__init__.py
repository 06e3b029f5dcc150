"""ONNX export of chainrule models: ``chainrule.onnx.export(model, path, example_input)``.

The graph is built from the module tree: each layer class has an emitter (a small
function adding its ONNX nodes, :mod:`chainrule.onnx.layers`), looked up by class in a
registry; :func:`register` adds one for a layer of your own. Importing this package
does not import ``onnx``; exporting does (``pip install 'chainrule[onnx]'``).

Layer to ONNX op mapping (opset 17 by default; 13 and newer accepted):

==================  ===========================================================
Linear              Gemm (2-D input; MatMul + Add otherwise)
ReLU, Sigmoid, Tanh Relu, Sigmoid, Tanh
LeakyReLU, ELU      LeakyRelu(alpha), Elu(alpha)
GELU                Gelu at opset >= 20; Erf (or Tanh) formula below
Softmax, LogSoftmax Softmax(axis), LogSoftmax(axis)
Dropout, Identity   removed (evaluation mode)
BatchNorm1d         BatchNormalization with the running statistics
LayerNorm           LayerNormalization at opset >= 17; ReduceMean formula below
Flatten             Flatten (all but the batch axis) or Reshape
Residual            Add(x, block(x))
Sequential, MLP     their layers in order
Conv1d, Conv2d      Conv (kernel_shape, strides, dilations, pads, group)
MaxPool1d/2d        MaxPool
AvgPool1d/2d        AveragePool (count_include_pad)
AdaptiveAvgPool2d   GlobalAveragePool (1x1), or AveragePool when the bins are equal
BatchNorm2d         BatchNormalization with the running statistics
ResidualBlock       Conv, BatchNormalization, Relu, Add(main, shortcut), Relu
CNN, ResNet         their layers in order
Unflatten           Reshape (0 keeps the batch axis)
==================  ===========================================================
"""

from . import conv, layers  # noqa: F401  (fill EMITTERS)
from .export import export, signature
from .graph import (
    DEFAULT_OPSET,
    EMITTERS,
    MIN_OPSET,
    GraphBuilder,
    OnnxExportError,
    register,
)
from .pipeline import export_pipeline, export_run


def supported() -> list[str]:
    """Names of the module classes :func:`export` can translate."""
    return sorted(c.__name__ for c in EMITTERS)


__all__ = ["export", "export_pipeline", "export_run", "register", "supported", "signature",
           "OnnxExportError", "GraphBuilder", "DEFAULT_OPSET", "MIN_OPSET", "EMITTERS"]
