"""Tables in a run of ``chainrule train``: read the file, keep the usable rows, pick the task,
fit the :class:`~chainrule.data.TablePreprocessor` on the training split, save its state in
the model file, and replay it for ``chainrule evaluate`` / ``predict``.

Only CSV/TSV/TXT and Parquet files go through here; ``.npy`` / ``.npz`` arrays and the
built-in datasets keep the plain feature scaler.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ChainruleError, DataError

__all__ = ["TABLE_SUFFIXES", "is_table_file", "TableData", "read_for_run", "encode_for_run",
           "model_metadata", "features_from_file", "cells_as_written", "task_line",
           "can_switch_task", "check_task_options", "mlp_parameter_count", "check_model_size"]

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


def is_table_file(path) -> bool:
    """True for the files read as tables (and preprocessed): CSV/TSV/TXT and Parquet."""
    return path is not None and os.path.splitext(str(path))[1].lower() in TABLE_SUFFIXES


@dataclass
class TableData:
    """A table read for a run, before the split.

    Attributes
    ----------
    frame : Frame
        The rows kept (a missing target, or with ``--missing drop`` any missing cell,
        drops a row).
    preprocessor : TablePreprocessor
        Unfitted; its ``task`` is the chosen one.
    task : {'classification', 'regression'}
    reason : str
        Why (``"--task"`` when forced).
    y : ndarray
        The target of every row: class indices into ``classes``, or floats; used to split.
    classes : list or None
    dropped : int
        Rows left out.
    """

    frame: object
    preprocessor: object
    task: str
    reason: str
    y: np.ndarray
    classes: list | None
    dropped: int

    @property
    def source(self):
        return self.frame.source


def read_for_run(path, target, task="auto", delimiter=None, missing="impute",
                 max_categories=50, drop=(), features=None) -> TableData:
    """Read a table for training and choose its task (see :class:`TableData`)."""
    from ..data import TablePreprocessor, detect_task, read_frame
    from ..data.table import encode_target

    frame = read_frame(path, delimiter)
    prep = TablePreprocessor(target=target, task=task, missing=missing,
                             max_categories=max_categories, drop=drop, features=features)
    prep.check_usable(frame)  # every unusable column at once, counted in the whole file
    keep = prep.complete_rows(frame)
    dropped = int((~keep).sum())
    if dropped:
        frame = frame.take(keep)
    if frame.n_rows == 0:
        raise DataError(f"{frame.source}: no rows left after dropping those with missing "
                        f"values")
    if task == "auto":
        task, reason = detect_task(frame, target)
    else:
        reason = f"--task {task}"
    y, classes, task = encode_target(frame[target], task, lambda i: frame.where(target, i))
    prep.task = task
    return TableData(frame, prep, task, reason, y, classes, dropped)


def encode_for_run(data: TableData, train_idx) -> tuple:
    """Fit the preprocessor on the training rows and encode every row.

    Returns
    -------
    X : ndarray of shape (n_rows, n_features_out), float32
    y : ndarray of shape (n_rows,)
        Class indices, or the regression target standardised with the training rows'
        statistics.
    notes : list of str
        The preprocessor's warnings (e.g. categories of validation rows unseen in
        training).
    """
    prep = data.preprocessor
    prep.fit(data.frame.take(train_idx))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = prep.transform(data.frame)
    y = prep.transform_target(data.frame)
    return X, y, [str(w.message) for w in caught]


def model_metadata(prep) -> dict:
    """Entries of the model file's metadata for a table run.

    ``preprocessor`` is the full state (replayed by evaluate/predict); ``feature_names``
    are the input columns. When the preprocessing is only standardisation (numeric
    columns, no indicator), ``scaler`` states it as mean/scale per input column, and a
    standardised regression target is stated as ``target_scaler``, so that tools reading
    only those keys (the ONNX export) stay exact.
    """
    state = prep.state_dict()
    meta = {"preprocessor": state, "feature_names": prep.input_features_}
    cols = state["columns"]
    if all(c["kind"] == "numeric" and not c["indicator"] for c in cols):
        meta["scaler"] = {"mean": np.array([c["mean"] for c in cols]),
                          "scale": np.array([c["std"] for c in cols])}
    if prep.target_mean_ is not None:
        meta["target_scaler"] = {"mean": np.array([prep.target_mean_]),
                                 "scale": np.array([prep.target_std_])}
    return meta


def features_from_file(path, meta, need_target, delimiter=None, frame=None) -> tuple:
    """A file's features (and target) encoded as in training, columns matched by name
    (``frame``: the file already read by :func:`~chainrule.data.read_frame`).

    Returns
    -------
    X : ndarray, float32
    y : ndarray or None
        Class indices or target values in the original units; None when the file has no
        target column and ``need_target`` is False.
    notes : list of str
        Warnings to show (extra columns ignored, unseen categories).
    """
    from ..data import TablePreprocessor, read_frame

    if frame is None and not is_table_file(path):
        raise DataError(f"{path}: the model was trained on a table (CSV or Parquet) and "
                        f"needs one with the columns {meta['feature_names'][:8]}")
    prep = TablePreprocessor.from_state_dict(meta["preprocessor"])
    frame = read_frame(path, delimiter) if frame is None else frame
    has_target = prep.target is not None and prep.target in frame
    if need_target and not has_target:
        raise DataError(f"{path}: has no target column {prep.target!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = prep.transform(frame)
    y = prep.transform_target(frame, scaled=False) if need_target else None
    return X, y, [str(w.message) for w in caught]


def cells_as_written(frame, names) -> list:
    """The columns ``names`` of the file ``frame`` was read from, each a list of its cells
    as the file writes them: a CSV's text between the delimiters (quotes removed, ``007``
    and ``NA`` left as they are), a Parquet file's values as text (empty where null).

    Parameters
    ----------
    frame : Frame
        From :func:`~chainrule.data.read_frame`; names the file and, for CSV, its dialect.
    names : sequence of str
        Columns of ``frame``.

    Returns
    -------
    list of list of str
        One list per name, ``frame.n_rows`` cells each.
    """
    path = frame.source
    absent = [n for n in names if n not in frame]
    if absent:
        raise DataError(f"{path}: no column {absent[0]!r}; its columns: {frame.names}")
    if frame.dialect is None:  # Parquet: typed in the file
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=list(names))
        cols = [["" if v is None else str(v) for v in table.column(n).to_pylist()]
                for n in names]
    else:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = frame.dialect.reader(f)
            header = [h.strip() for h in next(reader)]
            index = [header.index(n) for n in names]
            rows = [r for r in reader if r]  # blank lines are skipped, as by read_frame
        cols = [[r[j] for r in rows] for j in index]
    if any(len(c) != frame.n_rows for c in cols):
        raise DataError(f"{path}: read {len(cols[0])} rows of {names[0]!r} as written but "
                        f"{frame.n_rows} rows of features; is the file being written?")
    return cols


def can_switch_task(task, y, classes) -> bool:
    """Whether ``--task`` could train this target for the other task, so that naming it as
    a remedy is no dead end: string labels are no quantity (regression refuses them),
    numbers with a fraction are no class labels (classification refuses them).

    Parameters
    ----------
    task : {'classification', 'regression'}
    y : ndarray
        Class indices (classification) or the target values (regression).
    classes : list or None
        The class labels of a classification target.
    """
    if task == "classification":
        return not any(isinstance(c, str) for c in classes or ())
    y = np.asarray(y, dtype=np.float64)
    return y.ndim == 1 and bool(np.all(y == np.round(y)))


def task_line(task, reason, target, switch=True) -> str:
    """The first line of a run: the task, why, and (``switch``) the flag that changes it."""
    other = "regression" if task == "classification" else "classification"
    line = f"task: {task} (target {target!r}: {reason})"
    return f"{line}; --task {other} to change it" if switch else line


def check_task_options(task, given: dict, switch=True) -> None:
    """Refuse options that do not apply to ``task``; ``given`` maps a flag to its value
    for the flags the user set; ``switch``: name ``--task`` as a remedy (see
    :func:`can_switch_task`)."""
    if task == "regression":
        bad = [f for f in ("--head", "--class-weight") if given.get(f) is not None]
        if bad:
            why = "--task classification to change it" if switch else \
                "the target holds numbers with a fraction, not class labels"
            raise ChainruleError(f"{bad[0]} {given[bad[0]]} applies to classification, but "
                                 f"the task is regression ({why})")
    elif given.get("--loss") is not None:
        why = "--task regression to change it" if switch else \
            "the target holds text labels, not numbers"
        raise ChainruleError(f"--loss {given['--loss']} applies to regression, but the task is "
                             f"classification ({why})")


def mlp_parameter_count(n_inputs, hidden, n_outputs, batch_norm=False) -> int:
    """Weights and biases of an MLP ``n_inputs -> hidden... -> n_outputs`` (with batch
    norm, its parameters and statistics too): ``MLP._parameter_count``, the one count."""
    from ..nn.mlp import MLP

    return MLP._parameter_count(n_inputs, hidden, n_outputs, batch_norm=batch_norm)


_STATE_COPIES = {"sgd": 0, "momentum": 1, "nesterov": 1, "adam": 2, "adamw": 2,
                 "rmsprop": 1, "adagrad": 1}


def _memory_bytes():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on every platform
        return None


def check_model_size(n_params, optimizer="adam", itemsize=4, memory=None, what="the model"):
    """Refuse, before anything is allocated, a model whose weights, gradients, optimizer
    state and best-weights copy would not fit in the machine's memory."""
    memory = _memory_bytes() if memory is None else memory
    copies = 3 + _STATE_COPIES.get(optimizer, 2)  # weights, gradients, best weights, state
    need = n_params * itemsize * copies
    if memory is not None and need > 0.8 * memory:
        raise ChainruleError(f"{what} has {n_params:,} parameters: training it needs about "
                             f"{need / 2**30:,.1f} GiB (weights, gradients, {optimizer} "
                             f"state), more than this machine's {memory / 2**30:,.1f} GiB; "
                             f"use smaller --hidden layers")
