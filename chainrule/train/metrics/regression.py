"""Regression metrics: mean squared error, its root, mean absolute error and R^2, for one
output or several.

Each gives the value of the scikit-learn metric of the same meaning without depending on
scikit-learn, and returns a Python ``float`` (or one value per output for
``multioutput='raw_values'``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._inputs import check_length, divide, sample_weights, to_numpy

__all__ = ["mse", "rmse", "mae", "r2"]


def _check_targets(name: str, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                   sample_weight: npt.ArrayLike | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    t = to_numpy(y_true).astype(np.float64)
    p = to_numpy(y_pred).astype(np.float64)
    check_length(name, "y_pred", len(t), len(p))
    t = t[:, None] if t.ndim == 1 else t
    p = p[:, None] if p.ndim == 1 else p
    if t.ndim != 2 or t.shape != p.shape:
        raise ValueError(f"{name}: y_true and y_pred must both have shape (n_samples,) or "
                         f"(n_samples, n_outputs), got {t.shape} and {p.shape}")
    if len(t) == 0:
        raise ValueError(f"{name}: needs at least one sample, got none")
    return t, p, sample_weights(name, sample_weight, len(t))


def _over_outputs(per_output: np.ndarray, multioutput: str | npt.ArrayLike) -> float | np.ndarray:
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return per_output
        if multioutput == "uniform_average":
            return float(np.mean(per_output))
        raise ValueError(f"multioutput must be 'uniform_average', 'raw_values' or an array "
                         f"of weights, got {multioutput!r}")
    return float(np.average(per_output, weights=to_numpy(multioutput)))


def _squared_error(name: str, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                   sample_weight: npt.ArrayLike | None) -> np.ndarray:
    y_true, y_pred, w = _check_targets(name, y_true, y_pred, sample_weight)
    return np.average((y_true - y_pred) ** 2, axis=0, weights=w)


def mse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None,
        multioutput: str | npt.ArrayLike = "uniform_average") -> float | np.ndarray:
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


def rmse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None,
         multioutput: str | npt.ArrayLike = "uniform_average") -> float | np.ndarray:
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


def mae(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None,
        multioutput: str | npt.ArrayLike = "uniform_average") -> float | np.ndarray:
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


def r2(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None,
       multioutput: str | npt.ArrayLike = "uniform_average") -> float | np.ndarray:
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
    np.subtract(1.0, divide(residual, total), out=score, where=total != 0)
    return _over_outputs(score, multioutput)
