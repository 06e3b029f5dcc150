"""Read tabular files: CSV/TSV (any common dialect), Parquet, NPY/NPZ.

CSV and Parquet files are first read into a typed :class:`~chainrule.data.frame.Frame`
(:func:`read_frame`); :func:`read_table` then turns it into a numeric
:class:`~chainrule.data.Table`, strictly or through a
:class:`~chainrule.data.TablePreprocessor`. CSV is parsed by ``pyarrow.csv`` when pyarrow
is installed and by the ``csv`` module otherwise, with identical results.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .._types import StrPath
from ..errors import DataError
from .dialect import MISSING_VALUES, sniff
from .frame import Frame, arrow_column, classify_cells
from .npyfile import existing_file, read_npy, read_npz
from .table import Table, check_task, frame_table, object_array

__all__ = ["read_csv", "read_parquet", "read_npy", "read_table", "read_frame",
           "SUPPORTED_EXTENSIONS", "ENGINES"]

SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".npy", ".npz")
ENGINES = ("auto", "pyarrow", "python")
_SNIFF_BYTES = 1 << 16


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


def _pyarrow_csv():
    try:
        import pyarrow.csv as pacsv
    except ImportError:
        return None
    return pacsv


def _sniff_file(path, delimiter):
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read(_SNIFF_BYTES)
            at_eof = not f.read(1)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty (a header row and data rows are needed)")
    try:
        return sniff(text, delimiter, at_eof)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None


def _python_columns(path, dialect):
    """The header and the columns as object arrays of str (the csv-module engine)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = dialect.reader(f)
            header = next(reader, None)
            rows = [r for r in reader if r]  # blank lines are skipped
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from None
    except csv.Error as e:
        raise DataError(f"{path}: malformed CSV ({e}) {dialect.hint()}") from None
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
                        f"{len(names)} (data rows are numbered from 1, not counting the header) "
                        f"{dialect.hint()}")
    return names, [object_array(col) for col in zip(*rows, strict=True)]


def _arrow_table(path, dialect, pacsv):
    """The file as a pyarrow Table, or None where only the csv module can tell what is wrong."""
    import pyarrow as pa

    parse = pacsv.ParseOptions(delimiter=dialect.delimiter, quote_char=dialect.quotechar,
                               newlines_in_values=True, ignore_empty_lines=True)
    convert = pacsv.ConvertOptions(
        null_values=list(MISSING_VALUES), strings_can_be_null=True,
        quoted_strings_can_be_null=True, true_values=["true", "True", "TRUE"],
        false_values=["false", "False", "FALSE"], decimal_point=dialect.decimal)
    try:
        return pacsv.read_csv(path, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None  # ragged rows, bad bytes...: the csv module words the message


def read_frame(path: StrPath, delimiter: str | None = None, engine: str = "auto") -> Frame:
    """Read a CSV/TSV or Parquet file into typed columns (see :mod:`chainrule.data.frame`).

    Parameters
    ----------
    path : str or PathLike
    delimiter : str, optional
        Force the delimiter (``','``, ``';'``, ``'\\t'``, ``' '`` for runs of spaces...);
        by default it is detected from the header and the first lines (``.tsv``: tab).
    engine : {'auto', 'pyarrow', 'python'}, default 'auto'
        CSV parser: ``pyarrow.csv`` when installed ('auto'), or the ``csv`` module. Both
        give the same frame. Runs of spaces are always read by the ``csv`` module.

    Returns
    -------
    Frame

    Raises
    ------
    DataError
        A missing, empty or non-UTF-8 file, a bad header (empty or duplicate names, a
        data row where the header should be), rows with the wrong number of fields; the
        message names the dialect it assumed.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    path = existing_file(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _parquet_frame(path)
    if delimiter is None and suffix == ".tsv":
        delimiter = "\t"
    dialect = _sniff_file(path, delimiter)
    pacsv = _pyarrow_csv() if engine != "python" and dialect.delimiter != " " else None
    if engine == "pyarrow" and pacsv is None and dialect.delimiter != " ":
        raise ImportError('engine="pyarrow" needs pyarrow: pip install "chainrule[parquet]"')
    table = None if pacsv is None else _arrow_table(path, dialect, pacsv)
    if table is not None:
        names = _check_header(table.column_names, path)
        if table.num_rows == 0:
            raise DataError(f"{path}: no data rows after the header")
        columns = [arrow_column(n, table.column(j), dialect.decimal)
                   for j, n in enumerate(names)]
    else:
        names, cells = _python_columns(path, dialect)
        columns = [classify_cells(n, c, dialect.decimal) for n, c in zip(names, cells)]
    return Frame(columns, source=str(path), dialect=dialect)


def read_csv(path: StrPath, target: str | None = None, task: str = "auto",
             delimiter: str | None = None, engine: str = "auto") -> Table:
    """Read a CSV file with a header row into a numeric :class:`Table` (strict).

    Parameters
    ----------
    path : str or PathLike
    target : str, optional
        The name of the target column; the other columns are the features.
        ``None``: every column is a feature and ``y`` is None.
    task : {'auto', 'classification', 'regression'}, default 'auto'
        'auto': a float target is regression, a string or bool target classification,
        an integer target classification with at most 20 distinct values and at least 5
        rows per value on average (regression otherwise).
    delimiter : str, optional
        Detected when not given (see :func:`read_frame`).
    engine : {'auto', 'pyarrow', 'python'}, default 'auto'

    Returns
    -------
    Table
        ``X`` float32 of shape (n_rows, n_columns - 1); ``y`` int64 class indices with
        ``classes`` the sorted original labels, or float32 for regression.

    Raises
    ------
    DataError
        Everything :func:`read_frame` refuses, an unknown target column (the available
        ones are listed), a non-numeric feature, a missing cell or an infinite value
        (column and 1-based data row named). :func:`read_table` with ``preprocess=True``
        encodes categories and imputes missing values instead.

    Examples
    --------
    >>> table = read_csv("iris.csv", target="species")
    >>> table.X.shape, table.classes
    ((150, 4), ['setosa', 'versicolor', 'virginica'])
    """
    check_task(task)
    return frame_table(read_frame(path, delimiter, engine), target=target, task=task)


def _parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError('reading Parquet needs pyarrow: pip install "chainrule[parquet]"') \
            from None
    return pq


def _parquet_frame(path):
    pq = _parquet()
    try:
        tbl = pq.read_table(path)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError...
        raise DataError(f"{path}: not a readable Parquet file ({e})") from None
    if tbl.num_columns == 0:
        raise DataError(f"{path}: the file has no columns")
    if tbl.num_rows == 0:
        raise DataError(f"{path}: no data rows")
    names = [str(n) for n in tbl.column_names]
    return Frame([arrow_column(n, tbl.column(j)) for j, n in enumerate(names)],
                 source=str(path))


def read_parquet(path: StrPath, target: str | None = None, task: str = "auto") -> Table:
    """Read a Parquet file (needs pyarrow: ``pip install "chainrule[parquet]"``).

    Same parameters, return value and validation as :func:`read_csv`; a null cell is
    missing like an empty CSV cell.

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
    _parquet()
    return frame_table(read_frame(existing_file(path)), target=target, task=task)


def read_table(path: StrPath, target: str | None = None, task: str = "auto",
               delimiter: str | None = None, preprocess: bool = False) -> Table:
    """Read a table, choosing the reader from the file extension.

    ========================  ===========================================================
    ``.csv``/``.tsv``/``.txt``  :func:`read_csv` (dialect detected; ``.tsv``: tab)
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
    delimiter : str, optional
        CSV only: force the delimiter.
    preprocess : bool or TablePreprocessor, default False
        CSV/Parquet only. ``True``: encode the table as ``chainrule train`` does (one-hot
        categories, imputed missing values, standardised numbers: a
        :class:`~chainrule.data.TablePreprocessor` fitted on *all* rows, in
        ``table.preprocessor``). A preprocessor instance is used as given (fitted
        here if it is not yet). To keep test rows out of the statistics, fit one on
        the training rows of :func:`read_frame` instead.

    Returns
    -------
    Table
    """
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv", ".txt", ".parquet", ".pq"):
        check_task(task)
        if suffix in (".parquet", ".pq"):
            _parquet()
        frame = read_frame(path, delimiter)
        if preprocess is False or preprocess is None:
            return frame_table(frame, target=target, task=task)
        from .tabular import TablePreprocessor

        prep = preprocess if isinstance(preprocess, TablePreprocessor) else \
            TablePreprocessor(target=target, task=task)
        if not prep.fitted:
            frame = frame.take(prep.complete_rows(frame))
            prep.fit(frame)
        X = prep.transform(frame)
        y = prep.transform_target(frame, scaled=False) if prep.target is not None else None
        return Table(X=X, y=y, feature_names=prep.feature_names_out_, target_name=prep.target,
                     classes=prep.classes_, source=frame.source, task=prep.task_,
                     preprocessor=prep)
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
