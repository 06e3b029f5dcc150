"""chainrule: neural networks trained by stochastic gradient descent with backpropagation.

>>> import chainrule as cr
>>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
array([2., 4., 6.], dtype=float32)
"""

# autograd is imported first: it binds tensor.Tensor at its end (see autograd.py)
from . import autograd, data, functional, io, nn, optim, train  # noqa: F401
from ._version import __version__
from .backend import get_rng, manual_seed
from .creation import (
    arange,
    as_tensor,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from .device import Device, DeviceError, cuda, device, get_default_device, set_default_device
from .errors import ChainruleError, DataError, ModelFileError
from .gradcheck import gradcheck
from .io import load, save
from .tensor import Tensor, enable_grad, is_grad_enabled, no_grad


def __getattr__(name):
    # NOTE: chainrule.onnx loads on first use (cr.onnx.export), so `import chainrule`
    # stays as fast as before and never imports the onnx package.
    if name == "onnx":
        import importlib

        return importlib.import_module(".onnx", __name__)
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


__all__ = [
    "Tensor", "tensor", "as_tensor", "zeros", "ones", "full", "zeros_like", "ones_like",
    "randn", "rand", "arange", "no_grad", "enable_grad", "is_grad_enabled", "manual_seed",
    "get_rng", "gradcheck", "functional", "nn", "optim", "data", "train", "io", "onnx", "save",
    "load",
    "ChainruleError", "DataError", "ModelFileError", "__version__",
    "Device", "DeviceError", "device", "cuda", "get_default_device", "set_default_device",
]
