"""``Table``: what the readers and the built-in datasets return, the task rule and the
strict column checks.

Every tabular reader (CSV, Parquet) turns its file into a typed
:class:`~chainrule.data.frame.Frame` and hands it to :func:`frame_table`, so the rules are
the same whatever the format. Without a preprocessor, features must be numeric and
present; :class:`~chainrule.data.TablePreprocessor` encodes the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from .frame import Column, Frame, classify_cells

#: An integer target is a class label under ``task='auto'`` with at most this many
#: distinct values...
MAX_AUTO_CLASSES = 20
#: ...and at least this many rows per distinct value on average.
MIN_ROWS_PER_CLASS = 5

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
    preprocessor : TablePreprocessor or None
        The fitted preprocessor that produced ``X`` and ``y`` (``read_table(...,
        preprocess=True)``), else None.
    """

    X: np.ndarray
    y: np.ndarray | None = None
    feature_names: list = field(default_factory=list)
    target_name: str | None = None
    classes: list | None = None
    source: str | None = None
    task: str | None = None
    preprocessor: object = None

    def __len__(self):
        return int(self.X.shape[0])

    @property
    def n_samples(self) -> int:
        """The number of rows of ``X``."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """The number of features (the product of ``X``'s trailing axes)."""
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


def auto_task(column: Column) -> tuple:
    """The task a target column asks for under ``task='auto'``, and why.

    A float target is regression; a string or bool target is classification; an integer
    target is classification only with at most ``MAX_AUTO_CLASSES`` (20) distinct values
    *and* at least ``MIN_ROWS_PER_CLASS`` (5) rows per value on average, otherwise
    regression.

    Returns
    -------
    task : {'classification', 'regression'}
    reason : str
        E.g. ``"3 distinct integer values, 50 rows each on average"``.
    """
    if column.kind in ("string", "bool"):
        return "classification", f"{column.kind} values"
    if column.kind == "float":
        return "regression", "float values"
    if column.kind != "integer":
        raise DataError(f"column {column.name!r} holds {column.kind} values and cannot be a "
                        f"target")
    present = column.values[~column.missing]
    k = int(np.unique(present).size)
    per = present.size / max(k, 1)
    reason = f"{k} distinct integer values, {per:.3g} row{'' if per == 1 else 's'} each on " \
             f"average"
    if k <= MAX_AUTO_CLASSES and per >= MIN_ROWS_PER_CLASS:
        return "classification", reason
    return "regression", reason + (f" (more than {MAX_AUTO_CLASSES})" if k > MAX_AUTO_CLASSES
                                   else f" (fewer than {MIN_ROWS_PER_CLASS})")


def _first_missing(column, where, what="missing value"):
    if column.missing.any():
        i = int(np.flatnonzero(column.missing)[0])
        raise DataError(f"{where(i)}: {what} (empty cell or one of NA, NaN, nan, N/A, null, "
                        f"?)")


def _check_finite(column, where, dtype=np.float32):
    with np.errstate(over="ignore"):
        cast = column.values.astype(dtype)
    bad = np.flatnonzero(~np.isfinite(cast) & ~column.missing)
    if bad.size:
        i = int(bad[0])
        v = column.values[i]
        what = (f"overflows {np.dtype(dtype).name}" if np.isfinite(v)
                else "is not finite (inf)")
        raise DataError(f"{where(i)}: value {str(column.cell(i))!r} {what}; remove or impute "
                        f"it")


def encode_target(column: Column, task: str, where) -> tuple:
    """Encode a target column (no missing cells allowed).

    Parameters
    ----------
    column : Column
    task : {'auto', 'classification', 'regression'}
    where : callable
        ``where(i)`` names row ``i`` in messages.

    Returns
    -------
    y : ndarray of shape (n,)
        int64 class indices (classification) or float32 values (regression).
    classes : list or None
        Sorted labels: str, int, bool or float.
    task : {'classification', 'regression'}
    """
    check_task(task)
    if column.kind in ("date", "empty"):
        raise DataError(f"{where(0).split(', data row')[0]}: the target holds "
                        f"{'dates' if column.kind == 'date' else 'no values'}")
    _first_missing(column, where, "missing value in the target")
    if task == "auto":
        task = auto_task(column)[0]
    if column.kind == "string":
        if task == "regression":
            i = 0
            raise DataError(f"{where(i)}: non-numeric target {column.cell(i)!r}; "
                            f"task='regression' (--task regression) needs numbers")
        classes, y = np.unique(column.values.astype(str), return_inverse=True)
        return y.astype(np.int64).ravel(), classes.tolist(), task
    _check_finite(column, where, np.float64)
    if task == "regression":
        return column.values.astype(np.float32), None, task
    values = column.values
    if column.kind == "float" and not np.all(values == np.round(values)):
        i = int(np.flatnonzero(values != np.round(values))[0])
        raise DataError(f"{where(i)}: class labels must be integers or strings, got "
                        f"{column.cell(i)!r}; use task='regression' (--task regression) for a "
                        f"continuous target")
    classes, y = np.unique(values, return_inverse=True)
    cast = {"bool": bool, "integer": int}.get(column.kind, float)
    return y.astype(np.int64).ravel(), [cast(c) for c in classes], task


def array_column(values, name) -> Column:
    """A :class:`Column` of a 1-D array (numbers, booleans or strings)."""
    return Frame.from_arrays({name: np.asarray(values)})[name] if np.asarray(values).dtype \
        .kind in "biuf" else classify_cells(name, object_array(np.asarray(values).tolist()))


def target_column(col, name, source, task="auto"):
    """Validate and encode a target array (see :func:`encode_target`)."""
    column = array_column(col, name)
    return encode_target(column, task, lambda i: f"{source}: column {name!r}, data row "
                                                 f"{i + 1} ({_ROW_NOTE})")


def first_non_number(column):
    for i in np.flatnonzero(~column.missing).tolist():
        try:
            float(column.values[i].replace(",", "."))
        except ValueError:
            return i
    return int(np.flatnonzero(~column.missing)[0])  # pragma: no cover


def feature_matrix(frame: Frame, names) -> np.ndarray:
    """The columns ``names`` as a float32 matrix; they must be numeric, present, finite."""
    X = np.empty((frame.n_rows, len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        column = frame[name]
        where = lambda i, name=name: frame.where(name, i)  # noqa: E731
        if column.kind in ("string", "date"):
            i = first_non_number(column)
            raise DataError(f"{where(i)}: non-numeric value {column.cell(i)!r} in a feature "
                            f"column; one-hot encode it (TablePreprocessor, as 'chainrule "
                            f"train' does) or drop the column")
        _first_missing(column, where)
        _check_finite(column, where)
        X[:, j] = column.values
    return X


def frame_table(frame: Frame, target=None, task="auto") -> Table:
    """A :class:`Table` of a frame with numeric, complete feature columns (strict).

    Parameters
    ----------
    frame : Frame
    target : str or None
        The target column; ``None`` means every column is a feature.
    task : {'auto', 'classification', 'regression'}
    """
    check_task(task)
    names = frame.names
    if target is not None and target not in frame:
        raise DataError(f"{frame.source}: target column {target!r} not found; "
                        f"available columns: {names}")
    features = [n for n in names if n != target]
    if not features:
        raise DataError(f"{frame.source}: no feature columns (only the target {target!r})")
    X = feature_matrix(frame, features)
    y = classes = found = None
    if target is not None:
        y, classes, found = encode_target(frame[target], task,
                                          lambda i: frame.where(target, i))
    return Table(X=X, y=y, feature_names=features, target_name=target, classes=classes,
                 source=frame.source, task=found)
