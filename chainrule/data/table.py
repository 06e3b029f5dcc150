"""``Table``: what the readers and the built-in datasets return, and the column checks.

Every tabular reader (CSV, Parquet, NPY) turns its file into named columns and
hands them to :func:`build_table`, so the rules are the same whatever the format:
features must be numeric and finite, the target may be numeric or a label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError

#: An integer-valued target with at most this many distinct values is a class label
#: under ``task='auto'``.
MAX_AUTO_CLASSES = 20

TASKS = ("auto", "classification", "regression")

_ROW_NOTE = "data rows are numbered from 1, not counting the header"


@dataclass(repr=False)
class Table:
    """A feature matrix, an optional target and what is known about them.

    Attributes
    ----------
    X : ndarray or np.memmap of shape (n_samples, n_features)
        The features, float32 (readers of ``.npy`` keep the file's dtype to avoid a copy).
    y : ndarray of shape (n_samples,) or None
        int64 class indices for classification, float32 for regression.
    feature_names : list of str
    target_name : str or None
    classes : list or None
        For classification, ``classes[i]`` is the original label of class index ``i``
        (the readers sort the labels: strings or ints); ``None`` for regression or
        without a target.
    source : str or None
        The file (or dataset) it came from.
    task : {'classification', 'regression'} or None
    """

    X: np.ndarray
    y: np.ndarray | None = None
    feature_names: list = field(default_factory=list)
    target_name: str | None = None
    classes: list | None = None
    source: str | None = None
    task: str | None = None

    def __len__(self):
        return int(self.X.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(np.prod(self.X.shape[1:], dtype=np.int64))

    def dataset(self):
        """An :class:`~chainrule.data.ArrayDataset` over ``(X, y)`` (or ``(X,)``)."""
        from .dataset import ArrayDataset

        return ArrayDataset(self.X, self.y)

    def __repr__(self):
        kind = "memmap" if isinstance(self.X, np.memmap) else "array"
        parts = [f"X={kind}{tuple(self.X.shape)} {self.X.dtype}"]
        if self.y is not None:
            parts.append(f"y={tuple(self.y.shape)} {self.y.dtype}")
        parts.append(f"task={self.task!r}")
        if self.classes is not None:
            shown = self.classes if len(self.classes) <= 10 else self.classes[:10] + ["..."]
            parts.append(f"classes={shown}")
        parts.append(f"source={self.source!r}")
        return f"Table({', '.join(parts)})"


def check_task(task):
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def object_array(values) -> np.ndarray:
    """A 1-D object array holding ``values`` as they are (no nesting, no conversion)."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _where(source, name, i):
    return f"{source}: column {name!r}, data row {i + 1} ({_ROW_NOTE})"


def _parse_numeric(col, name, source):
    """(float64 values, None) if every cell is a number, else (None, (row, raw) of the first
    non-numeric cell). Missing cells (None, empty) raise DataError."""
    if col.dtype.kind in "biuf":
        return col.astype(np.float64), None
    if col.dtype.kind == "O":
        missing = np.flatnonzero(np.equal(col, None))
        if missing.size:  # float(None) would quietly give NaN
            i = int(missing[0])
            raise DataError(f"{_where(source, name, i)}: missing value (empty cell or null)")
    try:
        return np.array(col, dtype=np.float64), None
    except (ValueError, TypeError):
        pass
    for i, v in enumerate(col.tolist()):
        if _is_missing(v):
            raise DataError(f"{_where(source, name, i)}: missing value (empty cell or null)")
        try:
            float(v)
        except (ValueError, TypeError):
            return None, (i, v)
    raise DataError(f"{source}: column {name!r} could not be read as numbers")  # pragma: no cover


def _check_finite(values, col, name, source, dtype=np.float64):
    with np.errstate(over="ignore"):
        bad = np.flatnonzero(~np.isfinite(values.astype(dtype, copy=False)))
    if bad.size:
        i = int(bad[0])
        raw = col[i].item() if isinstance(col[i], np.generic) else col[i]
        what = (f"overflows {np.dtype(dtype).name}" if np.isfinite(values[i])
                else "is not finite (NaN or inf)")
        raise DataError(f"{_where(source, name, i)}: value {raw!r} {what}; "
                        f"remove or impute it")


def feature_column(col, name, source) -> np.ndarray:
    """Validate one feature column: numeric and finite. Returns float64 values."""
    values, bad = _parse_numeric(col, name, source)
    if bad is not None:
        i, v = bad
        raise DataError(f"{_where(source, name, i)}: non-numeric value {v!r} in a feature column; "
                        f"encode it first (one-hot for categories, ordinal for ordered levels) "
                        f"or drop the column")
    _check_finite(values, col, name, source, np.float32)
    return values


def target_column(col, name, source, task="auto"):
    """Validate and encode a target column.

    Returns
    -------
    y : ndarray of shape (n,)
        int64 class indices (classification) or float32 values (regression).
    classes : list or None
    task : {'classification', 'regression'}

    Notes
    -----
    ``task='auto'`` picks classification when the target is non-numeric (strings,
    booleans) or integer-valued with at most ``MAX_AUTO_CLASSES`` (20) distinct values,
    and regression otherwise.
    """
    check_task(task)
    values, bad = _parse_numeric(col, name, source)
    if bad is not None:  # labels
        if task == "regression":
            i, v = bad
            raise DataError(f"{_where(source, name, i)}: non-numeric target {v!r}; "
                            f"task='regression' needs numbers (use task='classification')")
        cells = col.tolist()
        for i, v in enumerate(cells):
            if _is_missing(v):
                raise DataError(f"{_where(source, name, i)}: missing value (empty cell or "
                                f"null) in the target")
        labels = np.array([str(v).strip() for v in cells])
        classes, y = np.unique(labels, return_inverse=True)
        return y.astype(np.int64).ravel(), classes.tolist(), "classification"
    _check_finite(values, col, name, source)
    integral = bool(np.all(values == np.round(values)))
    if task == "auto":
        is_label = col.dtype.kind == "b" or (
            integral and np.unique(values).size <= MAX_AUTO_CLASSES)
        task = "classification" if is_label else "regression"
    if task == "regression":
        return values.astype(np.float32), None, "regression"
    if not integral:
        i = int(np.flatnonzero(values != np.round(values))[0])
        raise DataError(f"{_where(source, name, i)}: class labels must be integers or strings, "
                        f"got {col[i]!r}; use task='regression' for a continuous target")
    classes, y = np.unique(values.astype(np.int64), return_inverse=True)
    if col.dtype.kind == "b":
        return y.astype(np.int64).ravel(), [bool(c) for c in classes], "classification"
    return y.astype(np.int64).ravel(), classes.tolist(), "classification"


def build_table(names, columns, target=None, task="auto", source=None) -> Table:
    """Validate named columns and assemble a :class:`Table`.

    Parameters
    ----------
    names : list of str
    columns : list of ndarray of shape (n_rows,)
        Numeric arrays, or object/str arrays of cells (``None`` or ``''`` = missing).
    target : str or None
        The target column; ``None`` means every column is a feature.
    task : {'auto', 'classification', 'regression'}
    source : str
        Named in every error message.
    """
    check_task(task)
    names = [str(n) for n in names]
    if target is not None and target not in names:
        raise DataError(f"{source}: target column {target!r} not found; "
                        f"available columns: {names}")
    features = [j for j, n in enumerate(names) if n != target]
    if not features:
        raise DataError(f"{source}: no feature columns (only the target {target!r})")
    n = len(columns[0])
    X = np.empty((n, len(features)), dtype=np.float32)
    for out_j, j in enumerate(features):
        X[:, out_j] = feature_column(columns[j], names[j], source)
    y = classes = found_task = None
    if target is not None:
        j = names.index(target)
        y, classes, found_task = target_column(columns[j], target, source, task)
    return Table(X=X, y=y, feature_names=[names[j] for j in features], target_name=target,
                 classes=classes, source=None if source is None else str(source), task=found_task)
