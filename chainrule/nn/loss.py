"""Losses as modules: ``loss_fn = CrossEntropyLoss(); loss = loss_fn(logits, target)``."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..backend import array_module
from ..ops._util import check_reduction
from ..tensor import Tensor
from .module import Module


class _Loss(Module):
    """A loss module: ``loss_fn(input, target, sample_weight=None)``.

    Subclasses define ``_loss(input, target, reduction)``. With ``sample_weight``
    (shape (N,)), the per-sample losses are weighted and 'mean' divides by the
    total weight (times each sample's class weight, where the loss has class
    weights), so integer weights act like repeated samples.
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def forward(self, input, target, sample_weight=None):
        """The loss of ``input`` against ``target``.

        Parameters
        ----------
        input : Tensor
            Predictions (shape (N, ...)).
        target : Tensor or ndarray
            Targets; the shape each loss expects is in its class description.
        sample_weight : array_like of shape (N,), optional
            Per-sample weights; 'mean' divides by their total.

        Returns
        -------
        Tensor
            A scalar for 'mean' and 'sum', the per-element losses for 'none'.
        """
        if sample_weight is None:
            return self._loss(input, target, self.reduction)
        per = self._loss(input, target, "none")
        w = _weight(sample_weight, per.data)
        if w.shape != (per.shape[0],):
            raise ValueError(f"{type(self).__name__}: sample_weight of shape {w.shape} does not "
                             f"match {per.shape[0]} samples")
        w = w.astype(per.dtype, copy=False)
        weighted = per * Tensor(w.reshape((-1,) + (1,) * (per.ndim - 1)))
        if self.reduction == "none":
            return weighted
        total = weighted.sum()
        if self.reduction == "sum":
            return total
        # 'mean' divides by the denominator the repeated samples would give.
        return total * (1.0 / float((w * self._mean_counts(per, target)).sum()))

    def _mean_counts(self, per, target):
        """Each sample's share of the unweighted 'mean' denominator: its number of elements."""
        return per.size // max(per.shape[0], 1)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def _weight(w, like=None):
    """Weights as an array on the device of ``like`` (host when ``like`` is None)."""
    if w is None:
        return None
    w = getattr(w, "data", w)
    return np.asarray(w) if like is None else array_module(like).asarray(w)


def _class_weight_counts(weight, per, target):
    """With class weights and class-index targets, 'mean' divides by the targets' weights."""
    xp = array_module(per.data)
    t = xp.asarray(getattr(target, "data", target))
    if weight is None or t.dtype.kind not in "iu":
        return 1
    return xp.asarray(weight)[t].astype(per.dtype, copy=False)


class MSELoss(_Loss):
    """Squared error ``(y - t)^2``; with ``half=True``, ``E = 1/2 (y - t)^2``.

    The gradient of the halved form is exactly ``y - t`` (per element, divided by
    the number of elements for 'mean').

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        How the per-element losses are combined; calling the loss also accepts
        ``sample_weight`` of shape (N,) (see ``forward``).
    half : bool, default False
        Halve the squared error.

    Examples
    --------
    >>> y = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> loss = cr.nn.MSELoss(half=True)(y, cr.tensor([0.0, 0.0]))
    >>> loss.item()
    1.25
    >>> loss.backward(); y.grad                    # (y - t) / 2 elements
    array([0.5, 1. ], dtype=float32)
    """

    def __init__(self, reduction="mean", half=False):
        super().__init__(reduction)
        self.half = half

    def _loss(self, input, target, reduction):
        return F.mse_loss(input, target, reduction, half=self.half)


class L1Loss(_Loss):
    """Absolute error ``|y - t|`` (gradient ``sign(y - t)``, 0 where equal).

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        How the per-element losses are combined; calling the loss also accepts
        ``sample_weight`` of shape (N,) (see ``forward``).

    Examples
    --------
    >>> cr.nn.L1Loss()(cr.tensor([1.0, -2.0]), cr.tensor([0.0, 0.0])).item()
    1.5
    """

    def _loss(self, input, target, reduction):
        return F.l1_loss(input, target, reduction)


class HuberLoss(_Loss):
    """Huber loss: squared near the target, absolute far from it.

    ``1/2 (y - t)^2`` where ``|y - t| <= delta``, ``delta (|y - t| - delta / 2)``
    elsewhere, so the gradient is ``y - t`` clipped to ``[-delta, delta]``.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        How the per-element losses are combined; calling the loss also accepts
        ``sample_weight`` of shape (N,) (see ``forward``).
    delta : float, default 1.0

    Examples
    --------
    >>> cr.nn.HuberLoss(reduction="none")(cr.tensor([0.5, 3.0]), cr.tensor([0.0, 0.0]))
    tensor([0.125, 2.5  ])
    """

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        self.delta = delta

    def _loss(self, input, target, reduction):
        return F.huber_loss(input, target, reduction, self.delta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities (after a sigmoid)."""

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.weight = _weight(weight)

    def _loss(self, input, target, reduction):
        return F.binary_cross_entropy(input, target, self.weight, reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy from logits, fused and stable."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.weight = _weight(weight)
        self.pos_weight = _weight(pos_weight)

    def _loss(self, input, target, reduction):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction,
                                                  self.pos_weight)


class CrossEntropyLoss(_Loss):
    """Softmax + cross-entropy from logits (N, C); targets are class indices or probabilities."""

    def __init__(self, weight=None, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        self.weight = _weight(weight)
        self.label_smoothing = label_smoothing

    def _loss(self, input, target, reduction):
        return F.cross_entropy(input, target, self.weight, reduction, self.label_smoothing)

    def _mean_counts(self, per, target):
        return _class_weight_counts(self.weight, per, target)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (after LogSoftmax)."""

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.weight = _weight(weight)

    def _loss(self, input, target, reduction):
        return F.nll_loss(input, target, self.weight, reduction)

    def _mean_counts(self, per, target):
        return _class_weight_counts(self.weight, per, target)
