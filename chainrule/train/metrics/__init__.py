"""Evaluation metrics for classification and regression, on NumPy arrays.

Each function gives the value of the scikit-learn metric of the same meaning
(the tests compare them on random data) without depending on scikit-learn, and
returns a Python ``float``. Inputs may be anything ``numpy.asarray`` accepts,
chainrule tensors and CuPy arrays included. The functions live in
:mod:`~chainrule.train.metrics.classification` and
:mod:`~chainrule.train.metrics.regression`; this module names them all and adds the
registry (:data:`METRICS`) and :func:`compute_metrics`.

>>> from chainrule.train.metrics import compute_metrics
>>> compute_metrics("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0])["mae"]
0.3333333333333333
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from .classification import (
    accuracy,
    balanced_accuracy,
    confusion_matrix,
    f1,
    log_loss,
    precision,
    precision_recall_f1,
    recall,
)
from .regression import mae, mse, r2, rmse

__all__ = [
    "accuracy", "balanced_accuracy", "log_loss", "confusion_matrix", "precision_recall_f1",
    "precision", "recall", "f1", "mse", "rmse", "mae", "r2",
    "Metric", "METRICS", "PROBA_METRICS", "compute_metrics",
]


class Metric(NamedTuple):
    """A metric in :data:`METRICS`: the function, its task and its direction."""

    fn: Callable[..., float | np.ndarray]  # an array only with options asking for one
    kind: str  # 'classification' or 'regression'
    greater_is_better: bool


METRICS: dict[str, Metric] = {
    "accuracy": Metric(accuracy, "classification", True),
    "balanced_accuracy": Metric(balanced_accuracy, "classification", True),
    "f1_macro": Metric(f1, "classification", True),
    "precision_macro": Metric(precision, "classification", True),
    "recall_macro": Metric(recall, "classification", True),
    "log_loss": Metric(log_loss, "classification", False),
    "mse": Metric(mse, "regression", False),
    "rmse": Metric(rmse, "regression", False),
    "mae": Metric(mae, "regression", False),
    "r2": Metric(r2, "regression", True),
}
"""Every named metric: ``name -> (fn, kind, greater_is_better)``.

``fn(y_true, y_pred)`` takes predicted labels (classification) or values
(regression), except the metrics in :data:`PROBA_METRICS`, whose
``fn(y_true, proba)`` takes predicted probabilities.
"""

PROBA_METRICS = frozenset({"log_loss"})
"""The metrics of :data:`METRICS` computed from probabilities, not labels."""


def compute_metrics(task: str, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                    proba: npt.ArrayLike | None = None, *,
                    labels: npt.ArrayLike | None = None) -> dict[str, float]:
    """All the metrics of a task, by name.

    Parameters
    ----------
    task : {'classification', 'regression'}
        The kind of problem.
    y_true : array-like of shape (n_samples,) or (n_samples, n_outputs)
        True labels or targets (several outputs: regression only).
    y_pred : array-like of the same shape
        Predicted labels or targets.
    proba : array-like of shape (n_samples, n_classes) or (n_samples,), optional
        Predicted class probabilities (classification only); adds ``log_loss``.
    labels : array-like of shape (n_classes,), optional
        The class of each column of ``proba``; see :func:`log_loss`.

    Returns
    -------
    dict of str to float
        Classification: ``accuracy, balanced_accuracy, f1_macro, precision_macro,
        recall_macro`` and ``log_loss`` when ``proba`` is given. Regression:
        ``mse, rmse, mae, r2``. :data:`METRICS` tells which direction is better.

    Examples
    --------
    >>> m = compute_metrics("classification", [0, 1, 1], [0, 1, 0])
    >>> sorted(m)
    ['accuracy', 'balanced_accuracy', 'f1_macro', 'precision_macro', 'recall_macro']
    """
    if task == "classification":
        p, r, f = precision_recall_f1(y_true, y_pred, "macro")
        out = {
            "accuracy": accuracy(y_true, y_pred),
            "balanced_accuracy": balanced_accuracy(y_true, y_pred),
            "f1_macro": float(f),  # averaged: already floats
            "precision_macro": float(p),
            "recall_macro": float(r),
        }
        if proba is not None:
            out["log_loss"] = log_loss(y_true, proba, labels=labels)
        return out
    if task == "regression":
        if proba is not None:
            raise ValueError("compute_metrics: proba is only meaningful for task='classification'")
        return {name: float(METRICS[name].fn(y_true, y_pred))
                for name in ("mse", "rmse", "mae", "r2")}
    raise ValueError(f"compute_metrics: task must be 'classification' or 'regression', "
                     f"got {task!r}")
