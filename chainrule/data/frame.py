"""``Frame``: a table's named, typed columns as read from a file, before any encoding.

Every cell is typed the same way whichever engine read the file (``pyarrow.csv``, the
``csv`` module, Parquet):

=============  ========================================================================
kind           cells
=============  ========================================================================
``integer``    whole numbers written without a decimal point (``-3``, ``007``)
``float``      other numbers (``2.5``, ``1e-3``, ``+1``, ``inf``)
``bool``       ``true`` / ``false`` (``True``, ``TRUE``, ``False``, ``FALSE``)
``date``       dates and times (``2024-03-01``, ``2024-03-01 10:00``, ``01/03/2024``,
               ``10:00:00``)
``string``     anything else: categories, names, identifiers
``empty``      every cell missing
=============  ========================================================================

Missing cells (:data:`~chainrule.data.dialect.MISSING_VALUES`, surrounding spaces ignored)
do not decide the kind; they are NaN in ``values`` for numbers and booleans, None for
strings and dates, and ``missing`` marks them in every kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .dialect import MISSING_VALUES

__all__ = ["Column", "Frame", "classify_cells", "KINDS"]

KINDS = ("integer", "float", "bool", "date", "string", "empty")
NUMERIC_KINDS = ("integer", "float", "bool")
TRUE_VALUES = ("true", "True", "TRUE")
FALSE_VALUES = ("false", "False", "FALSE")
_ROW_NOTE = "data rows are numbered from 1, not counting the header"
_DATE = re.compile(
    r"^(\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d*)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?"
    r"|\d{1,4}/\d{1,2}/\d{1,4}( \d{1,2}:\d{2}(:\d{2})?)?"
    r"|\d{1,2}:\d{2}(:\d{2}(\.\d*)?)?)$")
_INF = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")


@dataclass(repr=False)
class Column:
    """One typed column.

    Attributes
    ----------
    name : str
    kind : {'integer', 'float', 'bool', 'date', 'string', 'empty'}
    values : ndarray of shape (n_rows,)
        float64 (NaN where missing) for integer, float, bool (0/1) and empty columns;
        object (str, None where missing) for string and date columns.
    missing : ndarray of bool, shape (n_rows,)
    """

    name: str
    kind: str
    values: np.ndarray
    missing: np.ndarray

    @property
    def numeric(self) -> bool:
        """True for the numeric kinds (integer, float, boolean)."""
        return self.kind in NUMERIC_KINDS

    def take(self, rows) -> Column:
        """The column restricted to ``rows`` (indices or a boolean mask), in that order."""
        return Column(self.name, self.kind, self.values[rows], self.missing[rows])

    def cell(self, i):
        """The value of row ``i`` as Python would print it (for messages)."""
        v = self.values[i]
        if self.kind == "bool" and not self.missing[i]:
            return bool(v)
        if self.kind == "integer" and not self.missing[i]:
            return int(v)
        return v.item() if isinstance(v, np.generic) else v

    def __repr__(self):
        return f"Column({self.name!r}, {self.kind}, n={len(self.values)}, " \
               f"missing={int(self.missing.sum())})"


class Frame:
    """Named typed columns of equal length, and where they came from.

    Parameters
    ----------
    columns : list of Column
    source : str, optional
        The file, named in every error message.
    rows : ndarray of int, optional
        The data-row index (from 0) of each row in the source file; kept through
        :meth:`take` so that messages name the file's row.
    dialect : Dialect, optional
        How a CSV file was read.

    Examples
    --------
    >>> frame = read_frame("penguins.csv")
    >>> frame.names, frame["island"].kind
    (['species', 'island', 'bill_length_mm', ...], 'string')
    """

    def __init__(self, columns, source=None, rows=None, dialect=None):
        self.columns = {c.name: c for c in columns}
        n = len(columns[0].values) if columns else 0
        self.n_rows = n
        self.source = None if source is None else str(source)
        self.rows = np.arange(n) if rows is None else np.asarray(rows)
        self.dialect = dialect

    @classmethod
    def from_arrays(cls, data: dict, source=None) -> Frame:
        """A frame from ``{name: values}`` (numbers, booleans, strings; None or NaN missing).

        Examples
        --------
        >>> Frame.from_arrays({"age": [31, None, 45], "city": ["Oslo", "Rome", "NA"]})
        Frame(3 rows; age:integer, city:string; source=None)
        """
        cols = []
        for name, values in data.items():
            arr = np.asarray(values)
            if arr.dtype.kind == "b":
                cols.append(Column(str(name), "bool", arr.astype(np.float64),
                                   np.zeros(arr.shape, bool)))
            elif arr.dtype.kind in "iu":
                cols.append(Column(str(name), "integer", arr.astype(np.float64),
                                   np.zeros(arr.shape, bool)))
            elif arr.dtype.kind == "f":
                v = arr.astype(np.float64)
                cols.append(Column(str(name), "float", v, np.isnan(v)))
            else:
                cells = np.empty(len(arr), dtype=object)
                cells[:] = [None if v is None or (isinstance(v, float) and v != v) else str(v)
                            for v in arr.tolist()]
                cols.append(classify_cells(str(name), cells))
        lengths = {len(c.values) for c in cols}
        if len(lengths) > 1:
            raise DataError(f"{source}: columns of different lengths {sorted(lengths)}")
        return cls(cols, source=source)

    @property
    def names(self) -> list:
        """The column names, in file order."""
        return list(self.columns)

    def __getitem__(self, name) -> Column:
        return self.columns[name]

    def __contains__(self, name):
        return name in self.columns

    def __len__(self):
        return self.n_rows

    def take(self, rows) -> Frame:
        """The rows ``rows`` (indices or a boolean mask), in that order."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        return Frame([c.take(rows) for c in self.columns.values()], self.source,
                     self.rows[rows], self.dialect)

    def select(self, names) -> Frame:
        """The columns ``names``, in that order."""
        return Frame([self.columns[n] for n in names], self.source, self.rows, self.dialect)

    def where(self, name, i) -> str:
        """``"file: column 'x', data row 7 (...)"`` for messages."""
        return f"{self.source}: column {name!r}, data row {int(self.rows[i]) + 1} ({_ROW_NOTE})"

    def __repr__(self):
        kinds = ", ".join(f"{c.name}:{c.kind}" for c in list(self.columns.values())[:8])
        more = ", ..." if len(self.columns) > 8 else ""
        return f"Frame({self.n_rows} rows; {kinds}{more}; source={self.source!r})"


def _parse_numbers(present, decimal):
    """float64 values of the stripped str array ``present``, or None if not all numbers."""
    if decimal == ",":
        present = np.char.replace(present, ",", ".")
    low = np.char.lower(present)
    plain = np.char.strip(low, "0123456789+-.e") == ""
    if not plain.all() and not np.isin(low[~plain], _INF).all():
        return None
    try:
        return present.astype(np.float64)
    except ValueError:
        return None


def _integers(present):
    return bool(np.all(np.char.strip(np.char.lstrip(present, "-"), "0123456789") == "")
                and not np.any(np.char.startswith(present, "+")))


def classify_cells(name: str, cells: np.ndarray, decimal: str = ".") -> Column:
    """Type one column of text cells (the csv-module engine; the arrow engine sends
    the columns it left as strings through here too).

    Parameters
    ----------
    name : str
    cells : ndarray of object, shape (n_rows,)
        str, or None for a cell already known to be missing.
    decimal : {'.', ','}

    Returns
    -------
    Column
    """
    n = len(cells)
    none = np.equal(cells, None) if cells.dtype == object else np.zeros(n, bool)
    text = np.where(none, "", cells).astype(str) if n else np.zeros(0, dtype="<U1")
    text = np.char.strip(text)
    missing = none | np.isin(text, MISSING_VALUES)
    present = text[~missing]
    if present.size == 0:
        return Column(name, "empty", np.full(n, np.nan), missing)
    numbers = _parse_numbers(present, decimal)
    if numbers is not None:
        values = np.full(n, np.nan)
        values[~missing] = numbers
        kind = "integer" if _integers(present) else "float"
        return Column(name, kind, values, missing)
    if np.isin(present, TRUE_VALUES + FALSE_VALUES).all():
        values = np.full(n, np.nan)
        values[~missing] = np.isin(present, TRUE_VALUES)
        return Column(name, "bool", values, missing)
    values = np.empty(n, dtype=object)
    values[~missing] = present.tolist()
    values[missing] = None
    distinct = np.unique(present)
    kind = "date" if all(_DATE.match(v) for v in distinct[:1000]) else "string"
    return Column(name, kind, values, missing)


def arrow_column(name: str, col, decimal: str = ".") -> Column:
    """Type one pyarrow column (CSV or Parquet) like :func:`classify_cells` would."""
    import pyarrow as pa

    t = col.type
    missing = col.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_null(t):
        return Column(name, "empty", np.full(len(col), np.nan), np.ones(len(col), bool))
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        values = col.cast(pa.float64()).fill_null(float("nan")).to_numpy()
        kind = ("integer" if pa.types.is_integer(t) else "bool" if pa.types.is_boolean(t)
                else "float")
        if kind == "float":
            missing = missing | np.isnan(values)
        return Column(name, kind, np.asarray(values, dtype=np.float64), missing)
    if pa.types.is_temporal(t):
        values = np.empty(len(col), dtype=object)
        values[:] = [None if v is None else str(v) for v in col.to_pylist()]
        return Column(name, "date", values, missing)
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
    cells = np.empty(len(col), dtype=object)
    cells[:] = col.cast(pa.string()).to_pylist()
    return classify_cells(name, cells, decimal)
