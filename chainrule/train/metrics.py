"""Evaluation metrics for classification and regression, on NumPy arrays.

Each function gives the value of the scikit-learn metric of the same meaning
(the tests compare them on random data) without depending on scikit-learn, and
returns a Python ``float``. Inputs may be anything ``numpy.asarray`` accepts,
chainrule tensors and CuPy arrays included.

>>> from chainrule.train.metrics import compute_metrics
>>> compute_metrics("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0])["mae"]
0.3333333333333333
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = [
    "accuracy", "balanced_accuracy", "log_loss", "confusion_matrix", "precision_recall_f1",
    "precision", "recall", "f1", "mse", "rmse", "mae", "r2",
    "Metric", "METRICS", "PROBA_METRICS", "compute_metrics",
]

_AVERAGES = ("macro", "micro", "weighted", "binary", None)


# ---------------------------------------------------------------- input checks

def _to_numpy(a) -> np.ndarray:
    if hasattr(a, "__cuda_array_interface__") and hasattr(a, "get"):
        a = a.get()  # CuPy array: copy to the host
    return np.asarray(a)


def _check_length(name: str, what: str, n_true: int, n_other: int) -> None:
    if n_true != n_other:
        raise ValueError(f"{name}: y_true and {what} have different lengths: "
                         f"{n_true} and {n_other}")


def _labels_1d(name: str, arg: str, a) -> np.ndarray:
    a = _to_numpy(a)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{name}: {arg} must have shape (n_samples,), got {a.shape}")
    return a


def _weights(name: str, sample_weight, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = _to_numpy(sample_weight).astype(np.float64).ravel()
    _check_length(name, "sample_weight", n, len(w))
    return w


def _check_labels(name: str, y_true, y_pred, sample_weight):
    y_true = _labels_1d(name, "y_true", y_true)
    y_pred = _labels_1d(name, "y_pred", y_pred)
    _check_length(name, "y_pred", len(y_true), len(y_pred))
    if len(y_true) == 0:
        raise ValueError(f"{name}: needs at least one sample, got none")
    return y_true, y_pred, _weights(name, sample_weight, len(y_true))


def _encode(values: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each value in ``labels`` (in their given order) and whether it was found."""
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    pos = np.minimum(np.searchsorted(ordered, values), len(labels) - 1)
    return order[pos], ordered[pos] == values


def _as_labels(name: str, labels) -> np.ndarray:
    labels = _to_numpy(labels).ravel()
    if len(labels) == 0:
        raise ValueError(f"{name}: labels must not be empty")
    return labels


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, and 0 where den is 0 (scikit-learn's ``zero_division=0``)."""
    out = np.zeros(np.shape(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


# -------------------------------------------------------------- classification

def accuracy(y_true, y_pred, sample_weight=None) -> float:
    """Fraction of samples whose predicted label equals the true label.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels (integers, strings, anything comparable with ``==``).
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    sample_weight : array-like of shape (n_samples,), optional
        Weight of each sample in the average.

    Returns
    -------
    float
        In [0, 1]; greater is better.

    Examples
    --------
    >>> accuracy([0, 1, 2, 2], [0, 1, 1, 2])
    0.75
    """
    y_true, y_pred, w = _check_labels("accuracy", y_true, y_pred, sample_weight)
    return float(np.average(y_true == y_pred, weights=w))


def confusion_matrix(y_true, y_pred, labels=None, sample_weight=None) -> np.ndarray:
    """Count of samples of each true class (rows) predicted as each class (columns).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    labels : array-like of shape (n_classes,), optional
        The classes, in the order of the rows and columns. Samples whose true or
        predicted label is not among them are left out. Default: the sorted
        union of the labels in ``y_true`` and ``y_pred``.
    sample_weight : array-like of shape (n_samples,), optional
        Weight of each sample; the matrix then holds sums of weights.

    Returns
    -------
    ndarray of shape (n_classes, n_classes)
        ``C[i, j]`` counts samples of class ``labels[i]`` predicted as
        ``labels[j]``; int64, or float64 when ``sample_weight`` is given.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1], [0, 0, 1])
    array([[1, 0],
           [1, 1]])
    """
    y_true, y_pred, w = _check_labels("confusion_matrix", y_true, y_pred, sample_weight)
    return _confusion(y_true, y_pred, labels, w)


def _confusion(y_true, y_pred, labels, w):
    if labels is None:
        labels = np.union1d(y_true, y_pred)
    labels = _as_labels("confusion_matrix", labels)
    k = len(labels)
    t, t_found = _encode(y_true, labels)
    p, p_found = _encode(y_pred, labels)
    keep = t_found & p_found
    cm = np.bincount(t[keep] * k + p[keep], weights=None if w is None else w[keep],
                     minlength=k * k).reshape(k, k)
    return cm.astype(np.int64) if w is None else cm


def balanced_accuracy(y_true, y_pred, sample_weight=None) -> float:
    """Mean over the classes of the recall of each class.

    Classes absent from ``y_true`` (they can appear in ``y_pred``) are left out
    of the mean, as scikit-learn does.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    sample_weight : array-like of shape (n_samples,), optional
        Weight of each sample.

    Returns
    -------
    float
        In [0, 1]; greater is better. Equals ``accuracy`` on balanced classes.

    Examples
    --------
    >>> balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0])
    0.5
    """
    y_true, y_pred, w = _check_labels("balanced_accuracy", y_true, y_pred, sample_weight)
    cm = _confusion(y_true, y_pred, None, w)
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def precision_recall_f1(y_true, y_pred, average="macro", *, labels=None, pos_label=1,
                        sample_weight=None):
    """Precision, recall and F1 score, per class then averaged.

    A ratio whose denominator is zero (a class never predicted has no precision;
    a class absent from ``y_true`` has no recall) counts as 0, without a
    warning: the value scikit-learn returns for its default ``zero_division="warn"``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    average : {'macro', 'micro', 'weighted', 'binary'} or None, default 'macro'
        ``'macro'``: unweighted mean over the classes; ``'weighted'``: mean
        weighted by each class's support in ``y_true``; ``'micro'``: from the
        counts summed over the classes; ``'binary'``: the scores of class
        ``pos_label`` alone (at most two classes); ``None``: one score per class.
    labels : array-like of shape (n_classes,), optional
        The classes to score. Default: the sorted union of the labels in
        ``y_true`` and ``y_pred``.
    pos_label : int or str, default 1
        The positive class when ``average='binary'``.
    sample_weight : array-like of shape (n_samples,), optional
        Weight of each sample.

    Returns
    -------
    (precision, recall, f1) : tuple of float, or of ndarray of shape (n_classes,)
        Arrays when ``average`` is None; greater is better.

    Examples
    --------
    >>> p, r, f = precision_recall_f1([0, 1, 1, 1], [0, 1, 0, 0])
    >>> round(p, 4), round(r, 4), round(f, 4)
    (0.6667, 0.6667, 0.5)
    """
    return _prf("precision_recall_f1", y_true, y_pred, average, labels, pos_label,
                sample_weight)


def _prf(name, y_true, y_pred, average, labels, pos_label, sample_weight):
    if average not in _AVERAGES:
        raise ValueError(f"{name}: average must be one of {_AVERAGES}, got {average!r}")
    y_true, y_pred, w = _check_labels(name, y_true, y_pred, sample_weight)
    if average == "binary":
        present = np.union1d(y_true, y_pred)
        if len(present) > 2:
            raise ValueError(f"{name}: average='binary' needs at most two classes, got "
                             f"{len(present)}; use average='macro'")
        if len(present) == 2 and pos_label not in present:
            raise ValueError(f"{name}: pos_label={pos_label!r} is not among the labels "
                             f"{present.tolist()}")
        labels = np.asarray([pos_label])
    elif labels is None:
        labels = np.union1d(y_true, y_pred)
    labels = _as_labels(name, labels)
    k = len(labels)
    w = np.ones(len(y_true)) if w is None else w
    t, t_found = _encode(y_true, labels)
    p, p_found = _encode(y_pred, labels)
    hit = t_found & p_found & (t == p)
    tp = np.bincount(t[hit], weights=w[hit], minlength=k)
    n_pred = np.bincount(p[p_found], weights=w[p_found], minlength=k)
    n_true = np.bincount(t[t_found], weights=w[t_found], minlength=k)
    if average == "micro":
        tp, n_pred, n_true = tp.sum(), n_pred.sum(), n_true.sum()
    prec = _divide(tp, n_pred)
    rec = _divide(tp, n_true)
    f = _divide(2 * tp, n_pred + n_true)  # harmonic mean of prec and rec, from the counts
    if average is None:
        return prec, rec, f
    if average == "weighted":
        if n_true.sum() == 0:
            return 0.0, 0.0, 0.0
        return tuple(float(np.average(s, weights=n_true)) for s in (prec, rec, f))
    return float(np.mean(prec)), float(np.mean(rec)), float(np.mean(f))


def precision(y_true, y_pred, average="macro", *, labels=None, pos_label=1, sample_weight=None):
    """Precision: of the samples predicted as a class, the fraction that belong to it.

    Same parameters as :func:`precision_recall_f1`, of which this is the first value.

    Examples
    --------
    >>> round(precision([0, 1, 1, 1], [0, 1, 0, 0]), 4)
    0.6667
    """
    return _prf("precision", y_true, y_pred, average, labels, pos_label, sample_weight)[0]


def recall(y_true, y_pred, average="macro", *, labels=None, pos_label=1, sample_weight=None):
    """Recall: of the samples of a class, the fraction predicted as it.

    Same parameters as :func:`precision_recall_f1`, of which this is the second value.

    Examples
    --------
    >>> round(recall([0, 1, 1, 1], [0, 1, 0, 0]), 4)
    0.6667
    """
    return _prf("recall", y_true, y_pred, average, labels, pos_label, sample_weight)[1]


def f1(y_true, y_pred, average="macro", *, labels=None, pos_label=1, sample_weight=None):
    """F1 score: harmonic mean of precision and recall.

    Same parameters as :func:`precision_recall_f1`, of which this is the third value.

    Examples
    --------
    >>> f1([0, 1, 1, 1], [0, 1, 0, 0])
    0.5
    """
    return _prf("f1", y_true, y_pred, average, labels, pos_label, sample_weight)[2]


def log_loss(y_true, proba, labels=None, eps=None, sample_weight=None) -> float:
    """Mean negative log-likelihood of the true classes (cross-entropy).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, one column per class; a 1-D array holds the
        probability of the positive (second) class of a binary problem. Rows
        are not renormalised.
    labels : array-like of shape (n_classes,), optional
        The class of each column of ``proba``, in column order. Default: the
        sorted classes of ``y_true`` when there are ``n_classes`` of them, else
        ``0 .. n_classes - 1`` when ``y_true`` holds integers in that range (a
        validation set that misses a class); anything else raises ValueError.
    eps : float, optional
        Probabilities are clipped to ``[eps, 1 - eps]`` so that the loss stays
        finite. Default: the machine epsilon of ``proba``'s float dtype, as
        scikit-learn does.
    sample_weight : array-like of shape (n_samples,), optional
        Weight of each sample.

    Returns
    -------
    float
        Non-negative, in nats; smaller is better.

    Examples
    --------
    >>> round(log_loss([0, 1], [[0.9, 0.1], [0.2, 0.8]]), 4)
    0.1643
    """
    name = "log_loss"
    y_true = _labels_1d(name, "y_true", y_true)
    proba = _to_numpy(proba)
    if proba.dtype.kind != "f":
        proba = proba.astype(np.float64)
    if proba.ndim == 2 and proba.shape[1] == 1:
        proba = proba[:, 0]
    if proba.ndim == 1:
        proba = np.stack([1.0 - proba, proba], axis=1)
    if proba.ndim != 2:
        raise ValueError(f"{name}: proba must have shape (n_samples, n_classes) or "
                         f"(n_samples,), got {proba.shape}")
    _check_length(name, "proba", len(y_true), len(proba))
    if len(y_true) == 0:
        raise ValueError(f"{name}: needs at least one sample, got none")
    if proba.min() < 0 or proba.max() > 1:
        raise ValueError(f"{name}: proba must lie in [0, 1], got values in "
                         f"[{proba.min()}, {proba.max()}]")
    w = _weights(name, sample_weight, len(y_true))
    k = proba.shape[1]
    if labels is None:
        labels = np.unique(y_true)
        if len(labels) != k:
            integral = y_true.dtype.kind in "iub" or (
                y_true.dtype.kind == "f" and np.all(y_true == np.round(y_true)))
            if not (integral and y_true.min() >= 0 and y_true.max() < k):
                raise ValueError(f"{name}: y_true has {len(labels)} classes but proba has {k} "
                                 f"columns; pass labels= (the class of each column)")
            labels = np.arange(k)
    labels = _as_labels(name, labels)
    if len(labels) != k:
        raise ValueError(f"{name}: {len(labels)} labels for {k} columns of proba")
    col, found = _encode(y_true, labels)
    if not found.all():
        raise ValueError(f"{name}: y_true contains {y_true[~found][0]!r}, which is not in "
                         f"labels {labels.tolist()}")
    if eps is None:
        eps = float(np.finfo(proba.dtype).eps)
    p = np.clip(proba[np.arange(len(col)), col].astype(np.float64), eps, 1 - eps)
    return float(np.average(-np.log(p), weights=w))


# ------------------------------------------------------------------ regression

def _check_targets(name: str, y_true, y_pred, sample_weight):
    y_true = _to_numpy(y_true).astype(np.float64)
    y_pred = _to_numpy(y_pred).astype(np.float64)
    _check_length(name, "y_pred", len(y_true), len(y_pred))
    y_true = y_true[:, None] if y_true.ndim == 1 else y_true
    y_pred = y_pred[:, None] if y_pred.ndim == 1 else y_pred
    if y_true.ndim != 2 or y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true and y_pred must both have shape (n_samples,) or "
                         f"(n_samples, n_outputs), got {y_true.shape} and {y_pred.shape}")
    if len(y_true) == 0:
        raise ValueError(f"{name}: needs at least one sample, got none")
    return y_true, y_pred, _weights(name, sample_weight, len(y_true))


def _over_outputs(per_output: np.ndarray, multioutput):
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return per_output
        if multioutput == "uniform_average":
            return float(np.mean(per_output))
        raise ValueError(f"multioutput must be 'uniform_average', 'raw_values' or an array "
                         f"of weights, got {multioutput!r}")
    return float(np.average(per_output, weights=_to_numpy(multioutput)))


def _squared_error(name, y_true, y_pred, sample_weight) -> np.ndarray:
    y_true, y_pred, w = _check_targets(name, y_true, y_pred, sample_weight)
    return np.average((y_true - y_pred) ** 2, axis=0, weights=w)


def mse(y_true, y_pred, sample_weight=None, multioutput="uniform_average"):
    """Mean squared error.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_outputs)
        True targets.
    y_pred : array-like of the same shape
        Predicted targets.
    sample_weight : array-like of shape (n_samples,), optional
        Weight of each sample.
    multioutput : 'uniform_average', 'raw_values' or array-like of shape (n_outputs,)
        How to combine several outputs: their plain mean (default, as
        scikit-learn), one value per output, or a weighted mean.

    Returns
    -------
    float, or ndarray of shape (n_outputs,) for ``multioutput='raw_values'``
        Non-negative; smaller is better.

    Examples
    --------
    >>> mse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    1.3333333333333333
    """
    return _over_outputs(_squared_error("mse", y_true, y_pred, sample_weight), multioutput)


def rmse(y_true, y_pred, sample_weight=None, multioutput="uniform_average"):
    """Root mean squared error, per output, then combined over the outputs.

    Parameters and return shape as :func:`mse`. Non-negative, in the unit of
    the target; smaller is better.

    Examples
    --------
    >>> rmse([[0.0, 0.0]], [[3.0, 4.0]])
    3.5
    """
    per_output = _squared_error("rmse", y_true, y_pred, sample_weight)
    return _over_outputs(np.sqrt(per_output), multioutput)


def mae(y_true, y_pred, sample_weight=None, multioutput="uniform_average"):
    """Mean absolute error.

    Parameters and return shape as :func:`mse`. Non-negative, in the unit of
    the target; smaller is better.

    Examples
    --------
    >>> mae([1.0, 2.0], [2.0, 4.0])
    1.5
    """
    y_true, y_pred, w = _check_targets("mae", y_true, y_pred, sample_weight)
    return _over_outputs(np.average(np.abs(y_true - y_pred), axis=0, weights=w), multioutput)


def r2(y_true, y_pred, sample_weight=None, multioutput="uniform_average"):
    """Coefficient of determination: 1 - residual sum of squares / total sum of squares.

    NaN with fewer than two samples. A constant target scores 1 when predicted
    exactly and 0 otherwise (scikit-learn's ``force_finite=True``).

    Parameters and return shape as :func:`mse`. At most 1 (perfect), 0 for
    predicting the mean, negative when worse; greater is better.

    Examples
    --------
    >>> r2([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
    """
    y_true, y_pred, w = _check_targets("r2", y_true, y_pred, sample_weight)
    if len(y_true) < 2:
        return float("nan")
    ww = 1.0 if w is None else w[:, None]
    residual = np.sum(ww * (y_true - y_pred) ** 2, axis=0)
    total = np.sum(ww * (y_true - np.average(y_true, axis=0, weights=w)) ** 2, axis=0)
    # NOTE: a constant target has no variance to explain; scikit-learn's
    # force_finite scores 1 for a perfect prediction of it and 0 otherwise.
    score = np.where(residual == 0, 1.0, 0.0)
    np.subtract(1.0, _divide(residual, total), out=score, where=total != 0)
    return _over_outputs(score, multioutput)


# -------------------------------------------------------------------- registry

class Metric(NamedTuple):
    """A metric in :data:`METRICS`: the function, its task and its direction."""

    fn: Callable[..., float]
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


def compute_metrics(task, y_true, y_pred, proba=None, *, labels=None) -> dict[str, float]:
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
            "f1_macro": f,
            "precision_macro": p,
            "recall_macro": r,
        }
        if proba is not None:
            out["log_loss"] = log_loss(y_true, proba, labels=labels)
        return out
    if task == "regression":
        if proba is not None:
            raise ValueError("compute_metrics: proba is only meaningful for task='classification'")
        return {name: METRICS[name].fn(y_true, y_pred) for name in ("mse", "rmse", "mae", "r2")}
    raise ValueError(f"compute_metrics: task must be 'classification' or 'regression', "
                     f"got {task!r}")
