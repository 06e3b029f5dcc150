"""Classification metrics: accuracy, balanced accuracy, confusion matrix, precision,
recall, F1 and log-loss, from labels (or, for log-loss, probabilities).

Each gives the value of the scikit-learn metric of the same name without depending on
scikit-learn, and returns a Python ``float`` (``confusion_matrix``: an array).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ._inputs import (
    as_labels,
    check_labels,
    check_length,
    divide,
    encode,
    labels_1d,
    sample_weights,
    to_numpy,
)

__all__ = [
    "accuracy", "balanced_accuracy", "confusion_matrix", "precision_recall_f1", "precision",
    "recall", "f1", "log_loss",
]

_AVERAGES = ("macro", "micro", "weighted", "binary", None)


def accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
             sample_weight: npt.ArrayLike | None = None) -> float:
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
    y_true, y_pred, w = check_labels("accuracy", y_true, y_pred, sample_weight)
    return float(np.average(y_true == y_pred, weights=w))


def confusion_matrix(y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                     labels: npt.ArrayLike | None = None,
                     sample_weight: npt.ArrayLike | None = None) -> np.ndarray:
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
    y_true, y_pred, w = check_labels("confusion_matrix", y_true, y_pred, sample_weight)
    return _confusion(y_true, y_pred, labels, w)


def _confusion(y_true, y_pred, labels, w):
    if labels is None:
        labels = np.union1d(y_true, y_pred)
    labels = as_labels("confusion_matrix", labels)
    k = len(labels)
    t, t_found = encode(y_true, labels)
    p, p_found = encode(y_pred, labels)
    keep = t_found & p_found
    cm = np.bincount(t[keep] * k + p[keep], weights=None if w is None else w[keep],
                     minlength=k * k).reshape(k, k)
    return cm.astype(np.int64) if w is None else cm


def balanced_accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                      sample_weight: npt.ArrayLike | None = None) -> float:
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
    y_true, y_pred, w = check_labels("balanced_accuracy", y_true, y_pred, sample_weight)
    cm = _confusion(y_true, y_pred, None, w)
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def precision_recall_f1(y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                        average: str | None = "macro", *,
                        labels: npt.ArrayLike | None = None, pos_label: Any = 1,
                        sample_weight: npt.ArrayLike | None = None
                        ) -> tuple[float, float, float] | tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    y_true, y_pred, w = check_labels(name, y_true, y_pred, sample_weight)
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
    labels = as_labels(name, labels)
    k = len(labels)
    w = np.ones(len(y_true)) if w is None else w
    t, t_found = encode(y_true, labels)
    p, p_found = encode(y_pred, labels)
    hit = t_found & p_found & (t == p)
    tp = np.bincount(t[hit], weights=w[hit], minlength=k)
    n_pred = np.bincount(p[p_found], weights=w[p_found], minlength=k)
    n_true = np.bincount(t[t_found], weights=w[t_found], minlength=k)
    if average == "micro":
        tp, n_pred, n_true = tp.sum(), n_pred.sum(), n_true.sum()
    prec = divide(tp, n_pred)
    rec = divide(tp, n_true)
    f = divide(2 * tp, n_pred + n_true)  # harmonic mean of prec and rec, from the counts
    if average is None:
        return prec, rec, f
    if average == "weighted":
        if n_true.sum() == 0:
            return 0.0, 0.0, 0.0
        return tuple(float(np.average(s, weights=n_true)) for s in (prec, rec, f))
    return float(np.mean(prec)), float(np.mean(rec)), float(np.mean(f))


def precision(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, average: str | None = "macro", *,
              labels: npt.ArrayLike | None = None, pos_label: Any = 1,
              sample_weight: npt.ArrayLike | None = None) -> float | np.ndarray:
    """Precision: of the samples predicted as a class, the fraction that belong to it.

    Same parameters as :func:`precision_recall_f1`, of which this is the first value.

    Examples
    --------
    >>> round(precision([0, 1, 1, 1], [0, 1, 0, 0]), 4)
    0.6667
    """
    return _prf("precision", y_true, y_pred, average, labels, pos_label, sample_weight)[0]


def recall(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, average: str | None = "macro", *,
           labels: npt.ArrayLike | None = None, pos_label: Any = 1,
           sample_weight: npt.ArrayLike | None = None) -> float | np.ndarray:
    """Recall: of the samples of a class, the fraction predicted as it.

    Same parameters as :func:`precision_recall_f1`, of which this is the second value.

    Examples
    --------
    >>> round(recall([0, 1, 1, 1], [0, 1, 0, 0]), 4)
    0.6667
    """
    return _prf("recall", y_true, y_pred, average, labels, pos_label, sample_weight)[1]


def f1(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, average: str | None = "macro", *,
       labels: npt.ArrayLike | None = None, pos_label: Any = 1,
       sample_weight: npt.ArrayLike | None = None) -> float | np.ndarray:
    """F1 score: harmonic mean of precision and recall.

    Same parameters as :func:`precision_recall_f1`, of which this is the third value.

    Examples
    --------
    >>> f1([0, 1, 1, 1], [0, 1, 0, 0])
    0.5
    """
    return _prf("f1", y_true, y_pred, average, labels, pos_label, sample_weight)[2]


def log_loss(y_true: npt.ArrayLike, proba: npt.ArrayLike, labels: npt.ArrayLike | None = None,
             eps: float | None = None,
             sample_weight: npt.ArrayLike | None = None) -> float:
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
    y_true = labels_1d(name, "y_true", y_true)
    proba = to_numpy(proba)
    if proba.dtype.kind != "f":
        proba = proba.astype(np.float64)
    if proba.ndim == 2 and proba.shape[1] == 1:
        proba = proba[:, 0]
    if proba.ndim == 1:
        proba = np.stack([1.0 - proba, proba], axis=1)
    if proba.ndim != 2:
        raise ValueError(f"{name}: proba must have shape (n_samples, n_classes) or "
                         f"(n_samples,), got {proba.shape}")
    check_length(name, "proba", len(y_true), len(proba))
    if len(y_true) == 0:
        raise ValueError(f"{name}: needs at least one sample, got none")
    if proba.min() < 0 or proba.max() > 1:
        raise ValueError(f"{name}: proba must lie in [0, 1], got values in "
                         f"[{proba.min()}, {proba.max()}]")
    w = sample_weights(name, sample_weight, len(y_true))
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
    labels = as_labels(name, labels)
    if len(labels) != k:
        raise ValueError(f"{name}: {len(labels)} labels for {k} columns of proba")
    col, found = encode(y_true, labels)
    if not found.all():
        raise ValueError(f"{name}: y_true contains {y_true[~found][0]!r}, which is not in "
                         f"labels {labels.tolist()}")
    if eps is None:
        eps = float(np.finfo(proba.dtype).eps)
    p = np.clip(proba[np.arange(len(col)), col].astype(np.float64), eps, 1 - eps)
    return float(np.average(-np.log(p), weights=w))
