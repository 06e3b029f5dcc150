"""Output heads: how a network's last layer meets the targets of a task.

The two ways to classify N classes are both here:

- ``softmax``: N outputs, softmax + cross-entropy (one probability distribution);
- ``ovr`` (one-vs-all): N independent sigmoid outputs, each trained with binary
  cross-entropy to answer "is it class k?"; the prediction is the arg-max.

A binary problem uses one logit + sigmoid + BCE (logistic regression); a
regression uses linear outputs with squared, absolute or Huber error.
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..nn.mlp import ACTIVATIONS  # noqa: F401  (the CLI lists them)
from ..ops.activation import stable_sigmoid
from ..ops.softmax import softmax_array

HEADS = ("softmax", "ovr")
REGRESSION_LOSSES = {"squared_error": nn.MSELoss, "absolute_error": nn.L1Loss,
                     "huber": nn.HuberLoss}


class Head:
    """Base: ``loss_module()``, ``encode(y)`` for the loss, ``predict(out)`` from outputs."""

    task = "regression"
    name = "regression"

    def config(self):
        """The head's description saved in a model file (``head``, ``n_outputs``)."""
        return {"head": self.name, "n_outputs": self.n_outputs}


class SoftmaxHead(Head):
    """N logits, softmax + cross-entropy; targets are class indices."""

    task = "classification"
    name = "softmax"

    def __init__(self, n_classes, label_smoothing=0.0):
        self.n_classes = self.n_outputs = n_classes
        self.label_smoothing = label_smoothing

    def loss_module(self):
        """``nn.CrossEntropyLoss`` (fused softmax + cross-entropy, gradient p - y)."""
        return nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)

    def encode(self, y):
        """Targets for the loss: the class indices, unchanged."""
        return y

    def proba(self, out):
        """Class probabilities, the softmax of the outputs (N, n_classes)."""
        return softmax_array(out, axis=-1)

    def predict(self, out):
        """The class index of the largest output."""
        return out.argmax(axis=-1)


class OneVsAllHead(Head):
    """N independent sigmoid outputs, each a binary classifier "class k or not"."""

    task = "classification"
    name = "ovr"

    def __init__(self, n_classes):
        self.n_classes = self.n_outputs = n_classes

    def loss_module(self):
        """Binary cross-entropy with logits, summed over the N independent outputs."""
        # NOTE: summing the N binary losses per sample (mean over the batch) trains
        # N logistic regressions at once; BCE's mean over N*batch would shrink the
        # gradient by N.
        return _OvrLoss(self.n_classes)

    def encode(self, y):
        """Targets for the loss: one-hot rows of shape (N, n_classes)."""
        onehot = np.zeros((len(y), self.n_classes), dtype=np.float32)
        onehot[np.arange(len(y)), np.asarray(y)] = 1
        return onehot

    def proba(self, out):
        """Each class's sigmoid, normalised to sum to 1 over the classes."""
        p = stable_sigmoid(out)
        return p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-12)

    def predict(self, out):
        """The class whose classifier has the largest output."""
        return out.argmax(axis=-1)


class _OvrLoss(nn.BCEWithLogitsLoss):
    def __init__(self, n_classes):
        super().__init__()
        self.n_classes = n_classes

    def _loss(self, input, target, reduction):
        per = super()._loss(input, target, "none").sum(axis=-1)
        if reduction == "none":
            return per
        return per.sum() if reduction == "sum" else per.mean()


class BinaryHead(Head):
    """One logit, sigmoid + binary cross-entropy (logistic regression's output)."""

    task = "classification"
    name = "binary"
    n_classes = 2
    n_outputs = 1

    def loss_module(self):
        """``nn.BCEWithLogitsLoss`` (fused sigmoid + BCE, gradient h - y)."""
        return nn.BCEWithLogitsLoss()

    def encode(self, y):
        """Targets for the loss: 0/1 floats of shape (N, 1)."""
        return np.asarray(y, dtype=np.float32).reshape(-1, 1)

    def proba(self, out):
        """Probabilities of classes 0 and 1, shape (N, 2)."""
        p = stable_sigmoid(out.reshape(-1))
        return np.stack([1 - p, p], axis=1)

    def predict(self, out):
        """1 where the logit is positive (h > 1/2), else 0."""
        return (out.reshape(-1) > 0).astype(np.int64)


class RegressionHead(Head):
    """Linear outputs with squared, absolute or Huber error."""

    def __init__(self, n_outputs=1, loss="squared_error"):
        if loss not in REGRESSION_LOSSES:
            raise ValueError(f"loss must be one of {sorted(REGRESSION_LOSSES)}, got {loss!r}")
        self.n_outputs = n_outputs
        self.loss = loss

    def loss_module(self):
        """The regression loss chosen by ``loss`` (squared, absolute or Huber)."""
        return REGRESSION_LOSSES[self.loss]()

    def encode(self, y):
        """Targets for the loss, as a float array of the outputs' shape."""
        return np.asarray(y).reshape(len(y), self.n_outputs)

    def predict(self, out):
        """The outputs themselves."""
        return out

    def config(self):
        """The head's description saved in a model file (adds ``loss``)."""
        return {"head": "regression", "n_outputs": self.n_outputs, "loss": self.loss}


def make_head(task, n_classes=None, head="softmax", n_outputs=1, loss="squared_error"):
    """The head for a task: classification (softmax/ovr; binary when 2 classes) or regression."""
    if task == "regression":
        return RegressionHead(n_outputs, loss)
    if task != "classification":
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if head not in HEADS:
        raise ValueError(f"head must be one of {list(HEADS)}, got {head!r}")
    if n_classes is None or n_classes < 2:
        raise ValueError(f"classification needs at least 2 classes, got {n_classes}")
    if n_classes == 2:
        return BinaryHead()
    return SoftmaxHead(n_classes) if head == "softmax" else OneVsAllHead(n_classes)


def head_from_config(cfg):
    """Rebuild a head from ``Head.config()``."""
    name = cfg["head"]
    if name == "regression":
        return RegressionHead(cfg["n_outputs"], cfg.get("loss", "squared_error"))
    if name == "binary":
        return BinaryHead()
    if name == "softmax":
        return SoftmaxHead(cfg["n_outputs"])
    if name == "ovr":
        return OneVsAllHead(cfg["n_outputs"])
    raise ValueError(f"unknown head {name!r}")


def class_weights(class_weight, y, n_classes, labels=None, dtype=np.float32):
    """The weight of each class, as a vector indexed by class: the one place they are computed.

    Parameters
    ----------
    class_weight : dict, 'balanced' or None
        ``{class: weight}`` (classes absent from the dict weigh 1), or 'balanced':
        ``n_samples / (n_present * count(class))`` for each class present in ``y``
        (scikit-learn's rule; a class absent from ``y`` weighs 1).
    y : ndarray of int
        Class indices in ``0..n_classes-1`` (the training targets).
    n_classes : int
    labels : sequence, optional
        The label of each class index; the dict's keys are labels then (the
        scikit-learn estimators), else class indices (the Trainer, the CLI).
    dtype : dtype, default float32

    Returns
    -------
    ndarray of shape (n_classes,), or None when ``class_weight`` is None
    """
    if class_weight is None:
        return None
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be a dict or 'balanced', got {class_weight!r}")
        y = np.asarray(y).astype(np.int64, copy=False)
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        present = counts > 0
        w = np.ones(n_classes)
        w[present] = len(y) / (np.count_nonzero(present) * counts[present])
        return w.astype(dtype)
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight must be a dict or 'balanced', got "
                         f"{type(class_weight).__name__}")
    w = np.ones(n_classes, dtype=dtype)
    if labels is not None:
        index = {c: i for i, c in enumerate(np.asarray(labels).tolist())}
        unknown = [c for c in class_weight if c not in index]
        if unknown:
            raise ValueError(f"class_weight: labels {unknown} are not in classes_ "
                             f"{list(index)}")
        for c, v in class_weight.items():
            w[index[c]] = v
        return w
    for c, v in class_weight.items():
        if not 0 <= int(c) < n_classes:
            raise ValueError(f"class_weight: class {c} is not in 0..{n_classes - 1}")
        w[int(c)] = v
    return w
