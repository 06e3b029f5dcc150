"""Datasets: anything with ``__len__`` and ``get_batch(indices) -> tuple of arrays``.

A batch is gathered with one fancy-indexing call per array, so a dataset backed by
an ``np.memmap`` reads only the rows of the batch from disk.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..errors import DataError


@runtime_checkable
class Dataset(Protocol):
    """The protocol a :class:`~chainrule.data.DataLoader` consumes.

    ``get_batch`` receives a 1-D int64 array of row indices (in the order the batch
    must have) and returns a tuple of arrays whose first axis has that length.
    """

    def __len__(self) -> int: ...

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """The samples at ``indices`` (an integer array), as a tuple of arrays (X, y...)."""
        ...


def _contiguous(idx: np.ndarray) -> slice | None:
    """The slice equal to ``idx`` when it is an ascending run of consecutive integers."""
    if idx.ndim != 1 or idx.size == 0:
        return None
    start = int(idx[0])
    stop = int(idx[-1]) + 1
    if start < 0 or stop - start != idx.size or (idx.size > 1 and not np.all(np.diff(idx) == 1)):
        return None
    return slice(start, stop)


def _take(a: np.ndarray, index: Any) -> np.ndarray:
    out = a[index]
    if isinstance(out, np.memmap):  # a slice of a memmap is still on disk: read it now
        out = np.array(out)
    return out


class ArrayDataset:
    """A dataset over in-memory arrays or memory-mapped ones (``np.memmap``).

    Parameters
    ----------
    X : array_like of shape (n_samples, ...)
        Features. An ndarray or memmap is kept as it is (no copy).
    y : array_like of shape (n_samples, ...), optional
        Targets.
    sample_weight : array_like of shape (n_samples,), optional
        Weight of each sample in the loss (needs ``y``); a third array of every batch.

    Raises
    ------
    DataError
        If ``X`` and ``y`` have different numbers of rows.

    Examples
    --------
    >>> ds = ArrayDataset(np.zeros((10, 3)), np.arange(10))
    >>> xb, yb = ds[np.array([0, 4])]
    >>> xb.shape, yb.tolist()
    ((2, 3), [0, 4])
    """

    def __init__(self, X: npt.ArrayLike, y: npt.ArrayLike | None = None,
                 sample_weight: npt.ArrayLike | None = None) -> None:
        X = X if isinstance(X, np.ndarray) else np.asarray(X)
        if X.ndim == 0:
            raise DataError("ArrayDataset: X must have at least one dimension (the samples)")
        arrays = [X]
        if y is not None:
            y = y if isinstance(y, np.ndarray) else np.asarray(y)
            if y.ndim == 0 or y.shape[0] != X.shape[0]:
                n_y = y.shape[0] if y.ndim else "a scalar"
                raise DataError(f"ArrayDataset: X has {X.shape[0]} rows but y has {n_y}; "
                                f"they must have one row per sample")
            arrays.append(y)
        if sample_weight is not None:
            w = np.asarray(sample_weight)
            if y is None or w.shape != (X.shape[0],):
                raise DataError(f"ArrayDataset: sample_weight has shape {w.shape}, expected "
                                f"({X.shape[0]},) next to y")
            arrays.append(w)
        self.arrays = tuple(arrays)

    @property
    def X(self) -> np.ndarray:
        """The first array (the features)."""
        return self.arrays[0]

    @property
    def y(self) -> np.ndarray | None:
        """The second array (the targets), or None when there is only one."""
        return self.arrays[1] if len(self.arrays) > 1 else None

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __getitem__(self, index: int | slice | npt.ArrayLike) -> tuple[np.ndarray, ...]:
        """The rows at ``index`` (an int, a slice or an integer array) of each array.

        Returns
        -------
        tuple of ndarray
            ``(X[index], y[index])`` or ``(X[index],)``; always in memory, even for a memmap.
        """
        if isinstance(index, (int, np.integer)):
            return tuple(np.array(a[index]) for a in self.arrays)
        if not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype.kind == "b":
                index = np.flatnonzero(index)
            index = _contiguous(index) or index
        return tuple(_take(a, index) for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """The :class:`Dataset` protocol: same as ``self[indices]``."""
        return self[indices]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{tuple(a.shape)} {a.dtype}" for a in self.arrays)
        return f"ArrayDataset({shapes})"


class Subset:
    """The rows ``indices`` of another dataset, without copying anything.

    Useful with :func:`~chainrule.data.split_indices` to split a memory-mapped
    dataset into train and validation parts.

    Parameters
    ----------
    dataset : Dataset
    indices : array_like of int of shape (n_subset,)
    """

    def __init__(self, dataset: Dataset, indices: npt.ArrayLike) -> None:
        if not isinstance(dataset, Dataset):
            raise TypeError(f"Subset: {type(dataset).__name__} is not a Dataset "
                            f"(needs __len__ and get_batch)")
        indices = np.asarray(indices, dtype=np.int64).ravel()
        n = len(dataset)
        if indices.size and (indices.min() < -n or indices.max() >= n):
            raise DataError(f"Subset: indices out of range for a dataset of {n} samples")
        self.dataset = dataset
        self.indices = np.where(indices < 0, indices + n, indices)

    def __len__(self) -> int:
        return int(self.indices.size)

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """The samples at ``indices`` of this subset (positions in ``self.indices``)."""
        return self.dataset.get_batch(self.indices[np.asarray(indices)])

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {self.dataset!r})"
