"""chainrule.functional (``F``): activations, stable softmax, reductions, shapes, losses and
layers as functions.

Every function accepts Tensors or array-likes and returns a Tensor recorded in
the graph. Every loss takes ``reduction='mean' | 'sum' | 'none'``. The Tensor methods
that apply one op are these functions (``x.sum(axis=1)`` is ``F.sum(x, axis=1)``; the
table is in :mod:`chainrule.tensor_methods`).
"""

from __future__ import annotations

import numpy as np

from . import ops
from .autograd import apply
from .backend import array_module, get_rng
from .creation import as_tensor
from .device import device_of, to_device
from .tensor import Tensor, as_array, axis_arg, operand, promote

__all__ = [
    "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax",
    "logsumexp", "linear", "linear_relu", "dropout", "concat", "stack", "where", "maximum",
    "minimum",
    "clip", "exp", "log", "sqrt", "abs", "layer_norm", "batch_norm", "pad",
    "sum", "mean", "max", "min", "var",
    "reshape", "transpose", "flatten", "squeeze", "unsqueeze", "expand",
    "conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool2d",
    "mse_loss", "l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss",
]


def _t(x):
    return x if isinstance(x, Tensor) else as_tensor(x)


def _target(t, like):
    """A target as a plain array; float targets take the input's dtype."""
    arr = t.data if isinstance(t, Tensor) else as_array(t, None, array_module(like.data))
    if arr.dtype.kind in "fb" and like.dtype.kind == "f" and arr.dtype != like.dtype:
        arr = arr.astype(like.dtype)
    return arr


def _pair(a, b):
    """Two operands as tensors, promoted as the operators promote them (tensor.promote):
    a Python number takes the other's float dtype, as in x * 2."""
    if isinstance(b, Tensor) and not isinstance(a, Tensor):
        return promote(operand(a, b), b)
    a = _t(a)
    return promote(a, operand(b, a))


def _array(x, like):
    if x is None:
        return None
    arr = x.data if isinstance(x, Tensor) else x
    arr = array_module(like.data).asarray(arr)  # host weights move to the input's device
    return arr.astype(like.dtype, copy=False) if arr.dtype != like.dtype else arr


# ---------------------------------------------------------------- activations
def relu(x):
    """max(x, 0)."""
    return apply(ops.activation.relu, _t(x))


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, ``negative_slope * x`` otherwise."""
    return apply(ops.activation.leaky_relu, _t(x), negative_slope=negative_slope)


def elu(x, alpha=1.0):
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    return apply(ops.activation.elu, _t(x), alpha=alpha)


def gelu(x, approximate="none"):
    """x * Phi(x) (Gaussian error linear unit); ``approximate='tanh'`` for the tanh form."""
    return apply(ops.activation.gelu, _t(x), approximate=approximate)


def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow."""
    return apply(ops.activation.sigmoid, _t(x))


def tanh(x):
    """Elementwise hyperbolic tangent (gradient ``1 - tanh(x)^2``)."""
    return apply(ops.activation.tanh, _t(x))


def exp(x):
    """Elementwise exponential."""
    return apply(ops.exponential.exp, _t(x))


def log(x):
    """Elementwise natural logarithm (gradient ``1 / x``)."""
    return apply(ops.exponential.log, _t(x))


def sqrt(x):
    """Elementwise square root (gradient ``1 / (2 sqrt(x))``)."""
    return apply(ops.exponential.sqrt, _t(x))


def softmax(x, axis=-1, *, dim=None):
    """exp(x - max) / sum(exp(x - max)) along ``axis``: probabilities that sum to 1.

    ``dim`` is PyTorch's name for ``axis``: ``F.softmax(logits, dim=1)`` works.
    """
    return apply(ops.softmax.softmax, _t(x), axis=axis_arg(axis, dim))


def log_softmax(x, axis=-1, *, dim=None):
    """log(softmax(x)) computed as (x - max) - log(sum(exp(x - max))); ``dim`` as in softmax."""
    return apply(ops.softmax.log_softmax, _t(x), axis=axis_arg(axis, dim))


def abs(x):
    """Elementwise absolute value (gradient ``sign(x)``, 0 at 0)."""
    return apply(ops.arithmetic.abs, _t(x))


# ---------------------------------------------------------------- reductions
# NOTE: sum, max, min and abs shadow the builtins inside this module (none is used here).
# ``dim`` / ``keepdim`` are accepted for PyTorch users (``x.sum(dim=1)``).
def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Sum over ``axis`` (all axes when None); ``dim``/``keepdim`` are PyTorch's names."""
    return apply(ops.reduction.sum, _t(x), axis=axis_arg(axis, dim),
                 keepdims=keepdims if keepdim is None else keepdim)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Mean over ``axis`` (all axes when None); ``dim``/``keepdim`` are PyTorch's names."""
    return apply(ops.reduction.mean, _t(x), axis=axis_arg(axis, dim),
                 keepdims=keepdims if keepdim is None else keepdim)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``; the gradient goes to the maximal elements (shared on ties).

    The elementwise maximum of two tensors is :func:`maximum`.
    """
    return apply(ops.reduction.max, _t(x), axis=axis_arg(axis), keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    """Minimum over ``axis``; the gradient goes to the minimal elements (shared on ties).

    The elementwise minimum of two tensors is :func:`minimum`.
    """
    return apply(ops.reduction.min, _t(x), axis=axis_arg(axis), keepdims=keepdims)


def var(x, axis=None, keepdims=False, correction=1):
    """Variance over ``axis`` with ``correction`` degrees of freedom removed (1: unbiased)."""
    return apply(ops.reduction.var, _t(x), axis=axis_arg(axis), keepdims=keepdims,
                 correction=correction)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) along ``axis``, stable for any finite input."""
    return apply(ops.reduction.logsumexp, _t(x), axis=axis_arg(axis), keepdims=keepdims)


# ---------------------------------------------------------------- shapes
def _shape_args(shape):
    """``f(x, 2, 3)`` and ``f(x, (2, 3))`` alike: the shape (or axes) as a tuple."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


def reshape(x, *shape):
    """The same elements in a new shape (ints or one tuple; one entry may be -1)."""
    return apply(ops.shape.reshape, _t(x), shape=_shape_args(shape))


def transpose(x, *axes):
    """Permute the axes as NumPy does (reverse them when none are given)."""
    return apply(ops.shape.transpose, _t(x), axes=_shape_args(axes) or None)


def flatten(x, start_axis=0):
    """Reshape to ``shape[:start_axis] + (-1,)``."""
    x = _t(x)
    return reshape(x, x.shape[:start_axis] + (-1,))


def squeeze(x, axis=None):
    """Remove axes of length 1 (only ``axis`` when given)."""
    x = _t(x)
    return reshape(x, np.squeeze(np.empty(x.shape, dtype=bool), axis=axis).shape)


def unsqueeze(x, axis):
    """Insert an axis of length 1 at position ``axis``."""
    x = _t(x)
    return reshape(x, np.expand_dims(np.empty(x.shape, dtype=bool), axis).shape)


def expand(x, *shape):
    """Broadcast to ``shape`` (the gradient is summed back over the broadcast axes)."""
    return apply(ops.shape.broadcast_to, _t(x), shape=_shape_args(shape))


# ---------------------------------------------------------------- combinators
def maximum(a, b):
    """Elementwise maximum of two broadcastable tensors; ties split the gradient."""
    return apply(ops.arithmetic.maximum, *_pair(a, b))


def minimum(a, b):
    """Elementwise minimum of two broadcastable tensors; ties split the gradient."""
    return apply(ops.arithmetic.minimum, *_pair(a, b))


def clip(x, lo=None, hi=None):
    """Clamp to ``[lo, hi]`` (either may be None); the gradient is 0 where clipped."""
    return apply(ops.arithmetic.clip, _t(x), lo=lo, hi=hi)


def where(cond, a, b):
    """Elementwise ``a if cond else b``; the gradient flows to the branch taken."""
    a, b = _pair(a, b)
    cond = cond.data if isinstance(cond, Tensor) else array_module(a.data).asarray(cond)
    return apply(ops.arithmetic.where, a, b, cond=cond.astype(bool, copy=False))


def concat(tensors, axis=0):
    """Join tensors along an existing axis."""
    return apply(ops.shape.concat, *[_t(t) for t in tensors], axis=axis)


def stack(tensors, axis=0):
    """Join tensors along a new axis."""
    return apply(ops.shape.stack, *[_t(t) for t in tensors], axis=axis)


# ---------------------------------------------------------------- layers
def linear(x, weight, bias=None):
    """x @ weight.T + bias, with ``weight`` of shape (out_features, in_features)."""
    return apply(ops.linalg.linear, _t(x), _t(weight), None if bias is None else _t(bias))


def linear_relu(x, weight, bias=None):
    """relu(x @ weight.T + bias) as one fused op (what ``Sequential`` runs for Linear, ReLU)."""
    return apply(ops.linalg.linear_relu, _t(x), _t(weight), None if bias is None else _t(bias))


def dropout(x, p=0.5, training=True, generator=None):
    """Inverted dropout: in training, zero each element with probability ``p`` and
    scale the survivors by 1/(1 - p), so evaluation needs no rescaling."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    x = _t(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return apply(ops.random.dropout, x, p=p, generator=generator or get_rng())


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` axes, then scale and shift."""
    x = _t(x)
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    if tuple(x.shape[x.ndim - len(normalized_shape):]) != tuple(normalized_shape):
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end in "
                         f"normalized_shape {tuple(normalized_shape)}")
    return apply(ops.normalization.layer_norm, x, None if weight is None else _t(weight),
                 None if bias is None else _t(bias), normalized_ndim=len(normalized_shape),
                 eps=eps)


def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None,
               training=True, momentum=0.1, eps=1e-5):
    """Batch normalisation over axis 0 (and trailing axes) of ``x`` of shape (N, C[, L]) or
    (N, C, H, W).

    In training, normalise with the batch's statistics and update the running
    ones in place (``running = (1 - momentum) * running + momentum * batch``,
    with the unbiased batch variance, as PyTorch does); in evaluation, use the
    running statistics.
    """
    x = _t(x)
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm: input must have shape (N, C), (N, C, L) or "
                         f"(N, C, H, W), got {x.shape}")
    c = x.shape[1]
    shape = (c,) + (1,) * (x.ndim - 2)
    w = None if weight is None else _t(weight).reshape(shape)
    b = None if bias is None else _t(bias).reshape(shape)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
        rm = _array(running_mean, x).reshape(shape)
        rv = _array(running_var, x).reshape(shape)
        y = (x - Tensor(rm)) * Tensor(1 / array_module(rv).sqrt(rv + eps))
        if w is not None:
            y = y * w
        if b is not None:
            y = y + b
        return y
    n = x.size // c
    if n < 2:
        raise ValueError(f"batch_norm: training needs more than one value per channel, "
                         f"got input of shape {x.shape}")
    stats = {}

    def op(xa, wa, ba):
        out, backward, mu, var = ops.normalization.batch_norm_train(xa, wa, ba, eps)
        stats["mean"], stats["var"] = mu, var
        return out, backward

    op.__name__ = "batch_norm"
    y = apply(op, x, w, b)
    if running_mean is not None:
        rm = running_mean.data if isinstance(running_mean, Tensor) else running_mean
        rv = running_var.data if isinstance(running_var, Tensor) else running_var
        mean, var = stats["mean"], stats["var"]
        if type(mean) is not type(rm):  # running statistics kept on another device
            mean, var = to_device(mean, device_of(rm)), to_device(var, device_of(rm))
        rm *= 1 - momentum
        rm += momentum * mean.reshape(rm.shape)
        rv *= 1 - momentum
        rv += momentum * var.reshape(rv.shape) * (n / (n - 1))
    return y


def pad(x, pad, mode="constant", value=0.0):
    """Pad the trailing axes of ``x`` with ``value``, in PyTorch's order.

    ``pad = (left, right)`` pads the last axis, ``(left, right, top, bottom)`` the
    last two, and so on. Only ``mode='constant'`` is supported.
    """
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    return apply(ops.shape.pad, _t(x), pad=pad, value=value)


# ---------------------------------------------------------------- convolution and pooling
def _bias(bias):
    return None if bias is None else _t(bias)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as PyTorch) by im2col and one batched GEMM.

    Parameters
    ----------
    input : Tensor of shape (N, C, H, W)
    weight : Tensor of shape (O, C / groups, kH, kW)
    bias : Tensor of shape (O,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int), 'same' or 'valid'
        'same' (stride 1 only) keeps H and W; an odd total puts the extra row or
        column after the input.
    groups : int
        Channels split into ``groups`` independent convolutions; ``groups == C``
        with ``O == k * C`` is a depthwise convolution.

    Returns
    -------
    Tensor of shape (N, O, OH, OW)
        ``OH = (H + pad_h - dilation * (kH - 1) - 1) // stride + 1``, likewise OW.

    Examples
    --------
    >>> x = cr.randn(8, 3, 32, 32)
    >>> w = cr.randn(16, 3, 3, 3, requires_grad=True)
    >>> F.conv2d(x, w, padding=1).shape
    (8, 16, 32, 32)
    """
    return apply(ops.conv.conv2d, _t(input), _t(weight), _bias(bias), stride=stride,
                 padding=padding, dilation=dilation, groups=groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of ``input`` (N, C, L) with ``weight`` (O, C / groups, k).

    Arguments as :func:`conv2d`, with single ints; the output is (N, O, OL).
    """
    return apply(ops.conv.conv1d, _t(input), _t(weight), _bias(bias), stride=stride,
                 padding=padding, dilation=dilation, groups=groups)


def max_pool2d(input, kernel_size, stride=None, padding=0):
    """Maximum over ``kernel_size`` windows of ``input`` (N, C, H, W).

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most half the kernel)
    is -inf. The gradient goes to each window's arg-max.
    """
    return apply(ops.pooling.max_pool2d, _t(input), kernel_size=kernel_size, stride=stride,
                 padding=padding)


def max_pool1d(input, kernel_size, stride=None, padding=0):
    """Maximum over windows of ``input`` (N, C, L); see :func:`max_pool2d`."""
    return apply(ops.pooling.max_pool1d, _t(input), kernel_size=kernel_size, stride=stride,
                 padding=padding)


def avg_pool2d(input, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Mean over ``kernel_size`` windows of ``input`` (N, C, H, W).

    Zero padding counts in the mean unless ``count_include_pad=False``.
    """
    return apply(ops.pooling.avg_pool2d, _t(input), kernel_size=kernel_size, stride=stride,
                 padding=padding, count_include_pad=count_include_pad)


def avg_pool1d(input, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Mean over windows of ``input`` (N, C, L); see :func:`avg_pool2d`."""
    return apply(ops.pooling.avg_pool1d, _t(input), kernel_size=kernel_size, stride=stride,
                 padding=padding, count_include_pad=count_include_pad)


def adaptive_avg_pool2d(input, output_size):
    """Average ``input`` (N, C, H, W) into an ``output_size`` grid (1: global average pool)."""
    return apply(ops.pooling.adaptive_avg_pool2d, _t(input), output_size=output_size)


# ---------------------------------------------------------------- losses
def mse_loss(input, target, reduction="mean", half=False):
    """Mean squared error (input - target)**2.

    ``half=True`` gives E = 1/2 (y - t)**2, whose gradient is y - t.
    """
    x = _t(input)
    t = _t(target) if isinstance(target, Tensor) else Tensor(_target(target, x))
    return apply(ops.loss.mse_loss, x, t, reduction=reduction, half=half)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error |input - target|."""
    x = _t(input)
    t = _t(target) if isinstance(target, Tensor) else Tensor(_target(target, x))
    return apply(ops.loss.l1_loss, x, t, reduction=reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber loss: 0.5 d**2 for |d| < delta, delta (|d| - delta/2) beyond."""
    x = _t(input)
    t = _t(target) if isinstance(target, Tensor) else Tensor(_target(target, x))
    return apply(ops.loss.huber_loss, x, t, reduction=reduction, delta=delta)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy of probabilities -[t log p + (1 - t) log(1 - p)]."""
    p = _t(input)
    return apply(ops.loss.binary_cross_entropy, p, Tensor(_target(target, p)),
                 reduction=reduction, weight=_array(weight, p))


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy from logits, fused: gradient sigmoid(x) - t."""
    x = _t(input)
    return apply(ops.loss.binary_cross_entropy_with_logits, x, Tensor(_target(target, x)),
                 reduction=reduction, weight=_array(weight, x),
                 pos_weight=_array(pos_weight, x))


def cross_entropy(input, target, weight=None, reduction="mean", label_smoothing=0.0):
    """Softmax + cross-entropy from logits of shape (N, C), fused: gradient p - y.

    Parameters
    ----------
    input : Tensor of shape (N, C)
        Unnormalised scores (logits).
    target : array_like of shape (N,) or (N, C)
        Class indices (integers) or class probabilities (floats).
    weight : array_like of shape (C,), optional
        A weight per class; 'mean' then divides by the summed weights of the targets.
    reduction : {'mean', 'sum', 'none'}
    label_smoothing : float in [0, 1]
        Mix the target with the uniform distribution.
    """
    z = _t(input)
    return apply(ops.loss.cross_entropy, z, Tensor(_target(target, z)), reduction=reduction,
                 weight=_array(weight, z), label_smoothing=label_smoothing)


def nll_loss(input, target, weight=None, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C) at class indices (N,)."""
    z = _t(input)
    return apply(ops.loss.nll_loss, z, Tensor(_target(target, z)), reduction=reduction,
                 weight=_array(weight, z))
