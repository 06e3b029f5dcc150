"""What every metric checks of its inputs, and the counting helpers they share."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def to_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "__cuda_array_interface__") and hasattr(a, "get"):
        a = a.get()  # CuPy array: copy to the host
    return np.asarray(a)


def check_length(name: str, what: str, n_true: int, n_other: int) -> None:
    if n_true != n_other:
        raise ValueError(f"{name}: y_true and {what} have different lengths: "
                         f"{n_true} and {n_other}")


def labels_1d(name: str, arg: str, a: npt.ArrayLike) -> np.ndarray:
    a = to_numpy(a)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{name}: {arg} must have shape (n_samples,), got {a.shape}")
    return a


def sample_weights(name: str, sample_weight: npt.ArrayLike | None, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = to_numpy(sample_weight).astype(np.float64).ravel()
    check_length(name, "sample_weight", n, len(w))
    return w


def check_labels(name: str, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                 sample_weight: npt.ArrayLike | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    y_true = labels_1d(name, "y_true", y_true)
    y_pred = labels_1d(name, "y_pred", y_pred)
    check_length(name, "y_pred", len(y_true), len(y_pred))
    if len(y_true) == 0:
        raise ValueError(f"{name}: needs at least one sample, got none")
    return y_true, y_pred, sample_weights(name, sample_weight, len(y_true))


def encode(values: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each value in ``labels`` (in their given order) and whether it was found."""
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    pos = np.minimum(np.searchsorted(ordered, values), len(labels) - 1)
    return order[pos], ordered[pos] == values


def as_labels(name: str, labels: npt.ArrayLike) -> np.ndarray:
    labels = to_numpy(labels).ravel()
    if len(labels) == 0:
        raise ValueError(f"{name}: labels must not be empty")
    return labels


def divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, and 0 where den is 0 (scikit-learn's ``zero_division=0``)."""
    out = np.zeros(np.shape(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out
