"""The differentiable methods of Tensor: reductions, elementwise functions, softmax, shapes.

Each is one op of :mod:`chainrule.ops` applied to the tensor (``x.sum(axis=1)`` is
``apply(ops.reduction.sum, x, axis=1)``). :class:`~chainrule.tensor.Tensor` inherits them
from :class:`TensorMethods`; the Tensor itself (its data, conversions and devices,
``backward``, the operators, indexing and comparisons) is in tensor.py.
"""

from __future__ import annotations

import numpy as np

from . import ops
from .autograd import apply

__all__ = ["TensorMethods", "axis_arg"]


def axis_arg(axis, dim=None):
    """The axis argument (a list becomes a tuple); PyTorch's name ``dim`` overrides it."""
    if dim is not None:
        axis = dim
    return tuple(axis) if isinstance(axis, list) else axis


class TensorMethods:
    """The methods of :class:`~chainrule.tensor.Tensor` that apply one differentiable op.

    A mixin without state (``__slots__ = ()``: a Tensor keeps no ``__dict__``); every
    method returns a new Tensor, recorded in the graph when ``self`` requires a gradient
    (and grad mode is on).
    """

    __slots__ = ()

    # ``dim`` / ``keepdim`` are accepted for PyTorch users (``x.sum(dim=1)``).
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """Sum over ``axis`` (all axes when None); ``dim``/``keepdim`` are PyTorch's names."""
        return apply(ops.reduction.sum, self, axis=axis_arg(axis, dim),
                     keepdims=keepdims if keepdim is None else keepdim)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """Mean over ``axis`` (all axes when None); ``dim``/``keepdim`` are PyTorch's names."""
        return apply(ops.reduction.mean, self, axis=axis_arg(axis, dim),
                     keepdims=keepdims if keepdim is None else keepdim)

    def max(self, axis=None, keepdims=False):
        """Maximum over ``axis``; the gradient goes to the maximal elements (shared on ties)."""
        return apply(ops.reduction.max, self, axis=axis_arg(axis), keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        """Minimum over ``axis``; the gradient goes to the minimal elements (shared on ties)."""
        return apply(ops.reduction.min, self, axis=axis_arg(axis), keepdims=keepdims)

    def var(self, axis=None, keepdims=False, correction=1):
        """Variance over ``axis`` with ``correction`` degrees of freedom removed (1: unbiased)."""
        return apply(ops.reduction.var, self, axis=axis_arg(axis), keepdims=keepdims,
                     correction=correction)

    def logsumexp(self, axis=None, keepdims=False):
        """``log(sum(exp(x)))`` over ``axis``, computed stably (the max subtracted first)."""
        return apply(ops.reduction.logsumexp, self, axis=axis_arg(axis), keepdims=keepdims)

    def exp(self):
        """Elementwise :math:`e^x`."""
        return apply(ops.exponential.exp, self)

    def log(self):
        """Elementwise natural logarithm."""
        return apply(ops.exponential.log, self)

    def sqrt(self):
        """Elementwise square root."""
        return apply(ops.exponential.sqrt, self)

    def abs(self):
        """Elementwise absolute value (gradient ``sign(x)``, 0 at 0)."""
        return apply(ops.arithmetic.abs, self)

    def tanh(self):
        """Elementwise hyperbolic tangent (gradient :math:`1 - \\tanh^2 x`)."""
        return apply(ops.activation.tanh, self)

    def sigmoid(self):
        """Elementwise logistic sigmoid :math:`1 / (1 + e^{-x})`, stable for any input."""
        return apply(ops.activation.sigmoid, self)

    def relu(self):
        """Elementwise ``max(x, 0)`` (gradient 0 at 0)."""
        return apply(ops.activation.relu, self)

    def clip(self, lo=None, hi=None):
        """Elementwise clamp to ``[lo, hi]`` (either may be None); gradient 0 outside."""
        return apply(ops.arithmetic.clip, self, lo=lo, hi=hi)

    clamp = clip

    def softmax(self, axis=-1, *, dim=None):
        """Softmax over ``axis``: :math:`e^{x_i - \\max x} / \\sum_k e^{x_k - \\max x}`."""
        return apply(ops.softmax.softmax, self, axis=axis_arg(axis, dim))

    def log_softmax(self, axis=-1, *, dim=None):
        """Log of the softmax over ``axis``, computed stably as ``x - logsumexp(x)``."""
        return apply(ops.softmax.log_softmax, self, axis=axis_arg(axis, dim))

    def reshape(self, *shape):
        """The same elements in a new shape (ints or one tuple; one entry may be -1)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(ops.shape.reshape, self, shape=shape)

    view = reshape

    def flatten(self, start_axis=0):
        """Reshape to ``shape[:start_axis] + (-1,)``."""
        return self.reshape(self.shape[:start_axis] + (-1,))

    def transpose(self, *axes):
        """Permute the axes (reverse them when none are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return apply(ops.shape.transpose, self, axes=axes or None)

    def squeeze(self, axis=None):
        """Remove axes of length 1 (only ``axis`` when given)."""
        return self.reshape(np.squeeze(np.empty(self.shape, dtype=bool), axis=axis).shape)

    def unsqueeze(self, axis):
        """Insert an axis of length 1 at position ``axis``."""
        return self.reshape(np.expand_dims(np.empty(self.shape, dtype=bool), axis).shape)

    def expand(self, *shape):
        """Broadcast to ``shape`` (the gradient is summed back over the broadcast axes)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(ops.shape.broadcast_to, self, shape=shape)
