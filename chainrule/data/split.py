"""Train/test splits: shuffled always, stratified on request."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ..backend import get_rng
from ..errors import DataError
from .table import Table


def _n_test(test_size, n):
    if isinstance(test_size, bool):
        raise ValueError(f"test_size must be a fraction in (0, 1) or a count, got {test_size!r}")
    if isinstance(test_size, (int, np.integer)):
        if test_size < 1:
            raise ValueError(f"test_size must be a fraction in (0, 1) or a count >= 1, "
                             f"got {test_size}")
        n_test = int(test_size)
    elif isinstance(test_size, float) and 0.0 < test_size < 1.0:
        n_test = math.ceil(test_size * n)
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a count, got {test_size!r}")
    if n_test >= n:
        raise DataError(f"train_test_split: test_size={test_size} of {n} samples leaves "
                        f"{n - n_test} for training; both parts must be non-empty")
    return n_test


def _allocate(counts, n_test):
    """Test rows per class: proportional (largest remainders), and at least one on each
    side for every class with two or more members."""
    n = counts.sum()
    ideal = n_test * counts / n
    t = np.floor(ideal).astype(np.int64)
    t[np.argsort(t - ideal, kind="stable")[: n_test - t.sum()]] += 1
    lo = (counts >= 2).astype(np.int64)
    hi = np.where(counts >= 2, counts - 1, 0)
    t = np.clip(t, lo, hi)
    while t.sum() != n_test:  # the clipping moved the total: give or take where it hurts least
        if t.sum() < n_test:
            room = np.flatnonzero(t < hi)
            step = 1
            score = ideal[room] - t[room]
        else:
            room = np.flatnonzero(t > lo)
            step = -1
            score = t[room] - ideal[room]
        if room.size == 0:
            need = int(lo.sum())
            raise DataError(f"train_test_split: cannot stratify {n} samples into {n_test} test "
                            f"rows with every class of >= 2 members on both sides ({need} "
                            f"such classes); change test_size")
        t[room[np.argmax(score)]] += step
    return t


def split_indices(n: int, test_size: float = 0.2, seed: int | None = None,
                  stratify: npt.ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled row indices of a train/test split.

    Parameters
    ----------
    n : int
        Number of samples.
    test_size : float in (0, 1) or int, default 0.2
        Fraction of the samples (rounded up) or number of samples in the test part.
    seed : int, optional
        ``None`` draws from chainrule's generator (see :func:`chainrule.manual_seed`).
    stratify : array_like of shape (n,), optional
        Class labels: each class keeps its proportion in both parts (largest-remainder
        rounding), and every class with two or more members appears in both.

    Returns
    -------
    train_idx, test_idx : ndarray of int64
        Disjoint, together ``range(n)``, each in random order.
    """
    n = int(n)
    n_test = _n_test(test_size, n)
    rng = np.random.default_rng(int(get_rng().integers(2**63)) if seed is None else seed)
    if stratify is None:
        perm = rng.permutation(n)
        return perm[n_test:], perm[:n_test]
    labels = np.asarray(stratify)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise DataError(f"train_test_split: stratify has shape {labels.shape}, "
                        f"expected ({n},) labels")
    _, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.ravel()
    per_class = _allocate(np.bincount(inverse), n_test)
    order = np.argsort(inverse, kind="stable")
    groups = np.split(order, np.cumsum(np.bincount(inverse))[:-1])
    test, train = [], []
    for rows, t in zip(groups, per_class, strict=True):
        rows = rng.permutation(rows)
        test.append(rows[:t])
        train.append(rows[t:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def train_test_split(*arrays: Any, test_size: float = 0.2, seed: int | None = None,
                     stratify: npt.ArrayLike | None = None
                     ) -> list[np.ndarray] | tuple[Table, ...]:
    """Split arrays (or a :class:`Table`) into shuffled train and test parts.

    Parameters
    ----------
    *arrays : ndarray of shape (n_samples, ...), or one Table
        Split along the first axis with the same rows.
    test_size : float in (0, 1) or int, default 0.2
    seed : int, optional
    stratify : array_like of shape (n_samples,), optional
        Class labels to keep in proportion (usually ``y``).

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]`` as scikit-learn's; for a Table,
        ``(train_table, test_table)``. For index arrays use :func:`split_indices`.

    Raises
    ------
    DataError
        Arrays of different lengths, or a part that would be empty.

    Examples
    --------
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25,
    ...                                                     seed=0, stratify=y)
    """
    if not arrays:
        raise TypeError("train_test_split: pass at least one array")
    if len(arrays) == 1 and isinstance(arrays[0], Table):
        table = arrays[0]
        train, test = split_indices(len(table), test_size, seed, stratify)
        return tuple(dataclasses.replace(
            table, X=table.X[idx], y=None if table.y is None else table.y[idx])
            for idx in (train, test))
    arrs = [a if isinstance(a, np.ndarray) else np.asarray(a) for a in arrays]
    lengths = [a.shape[0] if a.ndim else None for a in arrs]
    if None in lengths or len(set(lengths)) != 1:
        raise DataError(f"train_test_split: arrays must have the same number of rows, "
                        f"got {lengths}")
    train, test = split_indices(arrs[0].shape[0], test_size, seed, stratify)
    return [part for a in arrs for part in (a[train], a[test])]
