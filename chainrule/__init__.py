"""chainrule: neural networks trained by stochastic gradient descent with backpropagation.

>>> import chainrule as cr
>>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
array([2., 4., 6.], dtype=float32)
"""

import importlib

# tensor_methods installs F's functions as Tensor's methods (sum, exp, reshape...);
# compiler registers its fusion rules with nn's containers
from . import autograd, compiler, functional, nn, tensor_methods  # noqa: F401
from ._version import __version__
from .backend import get_num_threads, get_rng, manual_seed, set_num_threads
from .compiler import CompiledStep, compile
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
from .tensor import Tensor, enable_grad, is_grad_enabled, no_grad

__all__ = [
    "Tensor", "tensor", "as_tensor", "zeros", "ones", "full", "zeros_like", "ones_like",
    "randn", "rand", "arange", "no_grad", "enable_grad", "is_grad_enabled", "manual_seed",
    "get_rng", "set_num_threads", "get_num_threads", "gradcheck", "functional", "nn", "optim",
    "data", "train", "io", "onnx", "viz", "save", "load", "compile", "CompiledStep",
    "ChainruleError", "DataError", "ModelFileError", "__version__",
    "Device", "DeviceError", "device", "cuda", "get_default_device", "set_default_device",
]

# Subpackages that load on first use (PEP 562), so that ``import chainrule`` costs little
# more than NumPy and never imports an optional package: ``cr.data``, ``cr.onnx`` ... import
# themselves when first touched. Add a new heavy subpackage here.
_LAZY_MODULES = frozenset({"data", "train", "io", "optim", "sklearn", "onnx", "distributed",
                           "viz"})
# name -> the lazy module that defines it
_LAZY_ATTRS = {"save": "io", "load": "io"}


def __getattr__(name):
    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY_ATTRS:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY_ATTRS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _LAZY_MODULES | set(_LAZY_ATTRS))
