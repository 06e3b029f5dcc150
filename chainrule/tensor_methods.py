"""The differentiable methods of Tensor, from one table: each is a :mod:`chainrule.functional`
function with the tensor as its first argument (``x.sum(axis=1)`` is ``F.sum(x, axis=1)``).

The method *is* the function (the same object: its signature, its docstring, no extra
call), so an op is its function in ``ops/``, its F function, and one line in
:data:`METHODS`. F builds on tensor.py, so tensor.py cannot import F: this module, above
both, installs the table on :class:`~chainrule.tensor.Tensor` when it is imported, and
``import chainrule`` imports it (every Tensor has its methods once the package is loaded).
The Tensor itself (its data, conversions and devices, ``backward``, the operators, indexing
and comparisons) is in tensor.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import functional as F
from .tensor import Tensor

__all__ = ["METHODS", "install"]

METHODS: Mapping[str, Callable[..., Tensor]] = {
    # reductions (``dim`` / ``keepdim`` accepted where PyTorch users write them)
    "sum": F.sum, "mean": F.mean, "max": F.max, "min": F.min, "var": F.var,
    "logsumexp": F.logsumexp,
    # elementwise
    "exp": F.exp, "log": F.log, "sqrt": F.sqrt, "abs": F.abs, "tanh": F.tanh,
    "sigmoid": F.sigmoid, "relu": F.relu, "clip": F.clip, "clamp": F.clip,
    "softmax": F.softmax, "log_softmax": F.log_softmax,
    # shapes
    "reshape": F.reshape, "view": F.reshape, "flatten": F.flatten,
    "transpose": F.transpose, "squeeze": F.squeeze, "unsqueeze": F.unsqueeze,
    "expand": F.expand,
}
"""Method name -> the F function it is (``clamp`` and ``view`` name the same function as
``clip`` and ``reshape``): ``x.name(*args)`` is ``F.<function>(x, *args)``."""


def install(cls: type, methods: Mapping[str, Callable[..., Tensor]]) -> None:
    """Make each function of ``methods`` a method of ``cls`` under its name.

    A plain function set on a class binds the instance as its first argument, so
    ``x.exp()`` calls ``F.exp(x)`` directly.
    """
    for name, fn in methods.items():
        setattr(cls, name, fn)


install(Tensor, METHODS)
