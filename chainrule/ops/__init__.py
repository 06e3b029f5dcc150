"""Differentiable ops on raw arrays, one family a module.

Each op is one function ``op(*arrays, **options) -> (out, backward)``: the forward
result and a closure ``backward(g, needs)`` that returns one gradient per array
input (``None`` where ``needs`` says it is not wanted). Ops never see a Tensor;
:mod:`chainrule.tensor` records them in the graph. Adding an op means adding
one function here and its gradient check in ``tests/ops``.
"""

from . import (
    activation,
    arithmetic,
    conv,
    exponential,
    linalg,
    loss,
    normalization,
    pooling,
    random,
    reduction,
    shape,
    softmax,
)

__all__ = ["activation", "arithmetic", "conv", "exponential", "linalg", "loss",
           "normalization", "pooling", "random", "reduction", "shape", "softmax"]
