"""Losses, fused with their output non-linearity where that is the stable way.

Each takes arrays and a ``reduction`` ('mean', 'sum' or 'none'). The heads
that take logits (cross_entropy, binary_cross_entropy_with_logits) never form
a probability and then its log: their gradients are the closed forms
p - y (softmax + cross-entropy) and sigmoid(x) - y (sigmoid + BCE), the same
remark scikit-learn makes above its output deltas.
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy.typing as npt

from .. import kernels
from ..backend import Array, array_module
from ..kernels import on_gpu
from ._util import OpResult, check_reduction, errstate, fast_max, fast_sum
from .activation import stable_sigmoid
from .softmax import log_softmax_array


def _check_same_shape(x: Array, t: Array, op: str) -> None:
    if x.shape != t.shape:
        raise ValueError(f"{op}: input shape {x.shape} and target shape {t.shape} differ")


def _reduce(per_sample: Array, reduction: str, denom: float | None = None
            ) -> tuple[Array, float | None]:
    """Reduce the per-element losses; return the value and d(value)/d(per_sample) scale."""
    if reduction == "none":
        return per_sample, None
    total = fast_sum(per_sample)
    if reduction == "sum":
        return total, 1.0
    n = per_sample.size if denom is None else denom
    return total / n, 1.0 / n


def _upstream(g: Array, scale: float | None, dtype: npt.DTypeLike) -> Array:
    """The incoming gradient of the loss, per element."""
    return g if scale is None else (g * scale).astype(dtype, copy=False)


def _elementwise_loss(per_elem: Array, dper: Array, reduction: str, x_dtype: npt.DTypeLike
                      ) -> OpResult:
    """Wrap a per-element loss with derivative ``dper`` w.r.t. the input."""
    out, scale = _reduce(per_elem, reduction)

    def backward(g, needs):
        gx = _upstream(g, scale, x_dtype) * dper
        return (gx if needs[0] else None, -gx if needs[1] else None)

    return out, backward


def mse_loss(x: Array, t: Array, reduction: str = "mean", half: bool = False) -> OpResult:
    """(x - t)**2, or E = 1/2 (x - t)**2 with ``half=True`` (gradient x - t)."""
    check_reduction(reduction, "mse_loss")
    _check_same_shape(x, t, "mse_loss")
    d = x - t
    c = 0.5 if half else 1.0
    return _elementwise_loss(c * d * d, (2 * c) * d, reduction, x.dtype)


def l1_loss(x: Array, t: Array, reduction: str = "mean") -> OpResult:
    check_reduction(reduction, "l1_loss")
    _check_same_shape(x, t, "l1_loss")
    xp = array_module(x, t)
    d = x - t
    return _elementwise_loss(xp.abs(d), xp.sign(d), reduction, x.dtype)


def huber_loss(x: Array, t: Array, reduction: str = "mean", delta: float = 1.0) -> OpResult:
    """Quadratic within ``delta`` of the target, linear beyond (PyTorch's HuberLoss)."""
    check_reduction(reduction, "huber_loss")
    _check_same_shape(x, t, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    xp = array_module(x, t)
    d = x - t
    ad = xp.abs(d)
    per = xp.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    return _elementwise_loss(per, xp.clip(d, -delta, delta), reduction, x.dtype)


def binary_cross_entropy_with_logits(x: Array, t: Array, reduction: str = "mean",
                                     weight: Array | None = None,
                                     pos_weight: Array | float | None = None) -> OpResult:
    """Sigmoid + binary cross-entropy from logits ``x``, stable for any finite ``x``.

    loss = (1 - t) x + (1 + (pw - 1) t) * softplus(-x), with
    softplus(-x) = log(1 + exp(-|x|)) + max(-x, 0); the gradient is sigmoid(x) - t
    when ``pos_weight`` is 1.
    """
    check_reduction(reduction, "binary_cross_entropy_with_logits")
    _check_same_shape(x, t, "binary_cross_entropy_with_logits")
    xp = array_module(x, t)
    softplus_neg = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)
    if pos_weight is None:
        per = (1 - t) * x + softplus_neg
    else:
        lw = 1 + (pos_weight - 1) * t
        per = (1 - t) * x + lw * softplus_neg
    if weight is not None:
        per = per * weight
    out, scale = _reduce(per, reduction)

    def backward(g, needs):
        if pos_weight is None:
            d = stable_sigmoid(x) - t
        else:
            d = (1 - t) - lw * stable_sigmoid(-x)
        if weight is not None:
            d = d * weight
        return (_upstream(g, scale, x.dtype) * d, None)

    return out, backward


def binary_cross_entropy(p: Array, t: Array, reduction: str = "mean",
                         weight: Array | None = None) -> OpResult:
    """Binary cross-entropy of probabilities ``p``; logs are clamped at -100 as in PyTorch."""
    check_reduction(reduction, "binary_cross_entropy")
    _check_same_shape(p, t, "binary_cross_entropy")
    xp = array_module(p, t)
    if p.size and (float(p.min()) < 0 or float(p.max()) > 1):
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1]; "
                         "use binary_cross_entropy_with_logits for logits")
    with errstate(xp, divide="ignore"):
        log_p = xp.maximum(xp.log(p), -100)
        log_q = xp.maximum(xp.log1p(-p), -100)
    per = -(t * log_p + (1 - t) * log_q)
    if weight is not None:
        per = per * weight
    out, scale = _reduce(per, reduction)

    def backward(g, needs):
        # NOTE: PyTorch's form (p - t) / max(p (1 - p), 1e-12) keeps p in {0, 1} finite.
        d = (p - t) / xp.maximum(p * (1 - p), 1e-12)
        if weight is not None:
            d = d * weight
        return (_upstream(g, scale, p.dtype) * d, None)

    return out, backward


def _check_class_target(z: Array, t: Array, op: str) -> ModuleType:
    xp = array_module(z)
    if z.ndim != 2:
        raise ValueError(f"{op}: input must have shape (batch, classes), got {z.shape}")
    if t.shape != (z.shape[0],):
        raise ValueError(f"{op}: input shape {z.shape} needs a target of shape "
                         f"({z.shape[0]},), got {t.shape}")
    c = z.shape[1]
    # NOTE: seen as unsigned, a negative index is huge: one max checks both bounds.
    if t.size and int(fast_max(t.view(f"u{t.dtype.itemsize}"))) >= c:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= c:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{op}: class index {bad} is out of range for {c} classes "
                             f"(valid: 0..{c - 1})")
    return xp


def _target_weights(z: Array, t: Array, weight: Array | None, label_smoothing: float
                    ) -> tuple[Array, float]:
    """Q with loss_i = -sum_c Q_ic log p_ic, and the 'mean' denominator, as PyTorch defines them."""
    xp = array_module(z)
    n, c = z.shape
    if t.dtype.kind in "iu":
        q = xp.zeros((n, c), dtype=z.dtype)
        q[xp.arange(n), t] = 1 - label_smoothing
        if label_smoothing:
            q += label_smoothing / c
        if weight is None:
            return q, n
        # PyTorch: the one-hot part is weighted by w[t], the smoothing part by w[c],
        # and 'mean' divides by the sum of w[t].
        return q * weight, float(weight[t].sum())
    q = t.astype(z.dtype, copy=False)
    if label_smoothing:
        q = q * (1 - label_smoothing) + label_smoothing / c
    return (q if weight is None else q * weight), n


def cross_entropy(z: Array, t: Array, reduction: str = "mean", weight: Array | None = None,
                  label_smoothing: float = 0.0) -> OpResult:
    """Softmax + cross-entropy from logits ``z`` of shape (N, C).

    ``t`` holds class indices of shape (N,) or probabilities of shape (N, C).
    The gradient w.r.t. the logits is p - y (times the weights, over the batch).
    """
    op = "cross_entropy"
    check_reduction(reduction, op)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    xp = array_module(z)
    if t.dtype.kind in "iu":
        _check_class_target(z, t, op)
    elif t.dtype.kind == "f":
        if t.shape != z.shape:
            raise ValueError(f"{op}: probability target shape {t.shape} differs from input "
                             f"shape {z.shape}")
    else:
        raise ValueError(f"{op}: target must hold class indices (integers) or probabilities "
                         f"(floats), got dtype {t.dtype}")
    if weight is not None and weight.shape != (z.shape[-1],):
        raise ValueError(f"{op}: weight must have shape ({z.shape[-1]},), got {weight.shape}")
    if t.dtype.kind in "iu" and weight is None and not label_smoothing and z.size:
        return _cross_entropy_indices(z, t, reduction)
    logp = log_softmax_array(z, axis=-1)
    q, denom = _target_weights(z, t, weight, label_smoothing)
    per = -(q * logp).sum(axis=-1)
    out, scale = _reduce(per, reduction, denom)

    def backward(g, needs):
        p = xp.exp(logp)
        d = p * q.sum(axis=-1, keepdims=True) - q
        gz = _upstream(g, scale, z.dtype)
        return ((d * gz if scale is not None else d * gz[:, None]), None)

    return out, backward


@functools.lru_cache(maxsize=32)
def _row_starts(xp: ModuleType, n: int, c: int) -> Array:
    """0, c, 2c, ...: where each row of an (n, c) array starts when flattened.

    Cached, so callers must never write into it.
    """
    return xp.arange(0, n * c, c)


def _cross_entropy_indices(z: Array, t: Array, reduction: str) -> OpResult:
    """The common case (class indices, no weights), derived step by step.

    With m the row max, e = exp(z - m), s = sum(e): log p_t = (z_t - m) - log s, and
    the gradient of -log p_t w.r.t. z is p - onehot(t) with p = e / s.
    """
    xp = array_module(z)
    n, c = z.shape
    flat = _row_starts(xp, n, c) + t  # position of each target in z.reshape(-1)
    shifted = z - fast_max(z, 1, keepdims=True)
    e = xp.exp(shifted)
    s = fast_sum(e, 1, keepdims=True)
    per = xp.log(s).reshape(-1) - shifted.reshape(-1).take(flat)
    out, scale = _reduce(per, reduction)

    def backward(g, needs):
        if on_gpu(xp):  # the three lines below in one kernel
            return kernels.softmax_xent_backward(
                e, s, t, g[:, None] if scale is None else g * scale), None
        p = e / s
        p.reshape(-1)[flat] -= 1  # p - onehot(t)
        p *= g[:, None] if scale is None else g * scale
        return p, None

    return out, backward


def nll_loss(logp: Array, t: Array, reduction: str = "mean", weight: Array | None = None
             ) -> OpResult:
    """Negative log-likelihood of log-probabilities ``logp`` (N, C) at class indices ``t``."""
    op = "nll_loss"
    check_reduction(reduction, op)
    if t.dtype.kind not in "iu":
        raise ValueError(f"{op}: target must hold class indices, got dtype {t.dtype}")
    xp = _check_class_target(logp, t, op)
    rows = xp.arange(logp.shape[0])
    w = xp.ones(logp.shape[0], dtype=logp.dtype) if weight is None else weight[t]
    per = -logp[rows, t] * w
    out, scale = _reduce(per, reduction, None if weight is None else float(w.sum()))

    def backward(g, needs):
        d = xp.zeros_like(logp)
        gz = _upstream(g, scale, logp.dtype)
        d[rows, t] = -w * gz
        return (d, None)

    return out, backward
