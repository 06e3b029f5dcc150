"""Read tabular files into a :class:`~chainrule.data.Table`: CSV/TSV, Parquet, NPY/NPZ.

CSV and Parquet columns go through one validator (:func:`~chainrule.data.table.build_table`),
so both formats accept and reject the same things, with the same messages.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import DataError
from .npyfile import existing_file, read_npy, read_npz
from .table import Table, build_table, check_task, object_array

__all__ = ["read_csv", "read_parquet", "read_npy", "read_table", "SUPPORTED_EXTENSIONS"]

SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".parquet", ".pq", ".npy", ".npz")


def _looks_like_data(cells):
    # Numbers with a fraction or exponent: a data row. Integer names ("0", "1", ...),
    # as pandas writes for unnamed columns, are accepted as a header.
    try:
        np.array(cells, dtype=np.float64)
    except ValueError:
        return False
    return not all(c.lstrip("+-").isdigit() for c in cells)


def _check_header(header, source):
    names = [h.strip() for h in header]
    if any(not n for n in names):
        j = names.index("")
        raise DataError(f"{source}: the header has an empty column name (column {j + 1})")
    seen = set()
    for n in names:
        if n in seen:
            raise DataError(f"{source}: duplicate column name {n!r} in the header")
        seen.add(n)
    if _looks_like_data(names):
        raise DataError(f"{source}: the first row {names} looks like data, not a header; "
                        f"a header row with the column names is required")
    return names


def read_csv(path, target=None, task="auto", delimiter=","):
    """Read a CSV file with a header row.

    Parameters
    ----------
    path : str or PathLike
    target : str, optional
        The name of the target column; the other columns are the features.
        ``None``: every column is a feature and ``y`` is None.
    task : {'auto', 'classification', 'regression'}, default 'auto'
        'auto' picks classification when the target is non-numeric, or integer-valued
        with at most 20 distinct values; regression otherwise.
    delimiter : str, default ','
        ``'\\t'`` for TSV.

    Returns
    -------
    Table
        ``X`` float32 of shape (n_rows, n_columns - 1); ``y`` int64 class indices with
        ``classes`` the sorted original labels, or float32 for regression.

    Raises
    ------
    DataError
        A missing or empty file, no data rows, rows with the wrong number of fields,
        an unknown target column (the available ones are listed), a non-numeric feature,
        or a missing (empty), NaN or inf cell (column and 1-based data row named).

    Examples
    --------
    >>> table = read_csv("iris.csv", target="species")
    >>> table.X.shape, table.classes
    ((150, 4), ['setosa', 'versicolor', 'virginica'])
    """
    check_task(task)
    path = existing_file(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            rows = [r for r in reader if r]  # blank lines are skipped
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from None
    except csv.Error as e:
        raise DataError(f"{path}: malformed CSV ({e})") from None
    if header is None:
        raise DataError(f"{path}: the file is empty (a header row and data rows are needed)")
    names = _check_header(header, path)
    if not rows:
        raise DataError(f"{path}: no data rows after the header")
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    ragged = np.flatnonzero(lengths != len(names))
    if ragged.size:
        i = int(ragged[0])
        raise DataError(f"{path}: data row {i + 1} has {lengths[i]} fields but the header has "
                        f"{len(names)} (data rows are numbered from 1, not counting the header)")
    columns = [object_array(col) for col in zip(*rows, strict=True)]
    del rows
    return build_table(names, columns, target=target, task=task, source=str(path))


def _parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError('reading Parquet needs pyarrow: pip install "chainrule[parquet]"') \
            from None
    return pq


def _arrow_column(col):
    import pyarrow as pa

    t = col.type
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
    if numeric and col.null_count == 0:
        return col.to_numpy()
    return object_array(col.to_pylist())  # nulls become None: reported as missing


def read_parquet(path, target=None, task="auto"):
    """Read a Parquet file (needs pyarrow: ``pip install "chainrule[parquet]"``).

    Same parameters, return value and validation as :func:`read_csv`; a null cell is
    reported like an empty CSV cell.

    Parameters
    ----------
    path : str or PathLike
    target : str, optional
    task : {'auto', 'classification', 'regression'}, default 'auto'

    Returns
    -------
    Table
    """
    check_task(task)
    pq = _parquet()
    path = existing_file(path)
    try:
        tbl = pq.read_table(path)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError...
        raise DataError(f"{path}: not a readable Parquet file ({e})") from None
    if tbl.num_columns == 0:
        raise DataError(f"{path}: the file has no columns")
    if tbl.num_rows == 0:
        raise DataError(f"{path}: no data rows")
    columns = [_arrow_column(tbl.column(j)) for j in range(tbl.num_columns)]
    return build_table(tbl.column_names, columns, target=target, task=task, source=str(path))


def read_table(path, target=None, task="auto") -> Table:
    """Read a table, choosing the reader from the file extension.

    ========================  ===========================================================
    ``.csv`` / ``.tsv``       :func:`read_csv` (comma / tab separated)
    ``.parquet`` / ``.pq``    :func:`read_parquet`
    ``.npy``                  :func:`read_npy` (features only; ``target`` must be None)
    ``.npz``                  members ``'X'`` and ``target`` (default ``'y'``), memory-mapped
    ========================  ===========================================================

    Parameters
    ----------
    path : str or PathLike
    target : str, optional
        The target column (for ``.npz``: the member holding the target).
    task : {'auto', 'classification', 'regression'}, default 'auto'

    Returns
    -------
    Table
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return read_csv(path, target=target, task=task)
    if suffix == ".tsv":
        return read_csv(path, target=target, task=task, delimiter="\t")
    if suffix in (".parquet", ".pq"):
        return read_parquet(path, target=target, task=task)
    if suffix == ".npy":
        if target is not None:
            raise DataError(f"{path}: a .npy file holds one array; pass the target file with "
                            f"read_npy(path_X, path_y) instead of target={target!r}")
        return read_npy(path, task=task)
    if suffix == ".npz":
        return read_npz(path, y_name="y" if target is None else target,
                        required=target is not None, task=task)
    raise DataError(f"{path}: unknown file type {suffix or '(no extension)'!r}; "
                    f"supported: {', '.join(SUPPORTED_EXTENSIONS)}")
