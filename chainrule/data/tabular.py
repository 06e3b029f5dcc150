"""``TablePreprocessor``: a raw table in, a float32 matrix out, learned on the training rows.

What it does to each column (fit on the training split, replayed as is afterwards):

- **numbers** (integer and float columns): missing cells get the training median, and an
  indicator column ``NAME_missing`` (1 where the cell was missing) is added when the
  training rows had any; then standardised with the training mean and standard
  deviation (of the imputed values; 1 for a constant column).
- **booleans**: 0/1, missing cells as numbers (median + indicator), not standardised.
- **strings**: one-hot, one column ``NAME=VALUE`` per category seen in training (sorted),
  plus ``NAME=<missing>`` when the training rows had missing cells. A category never seen
  in training encodes as all zeros, with one :class:`DataWarning` per call naming the
  columns and values. More than ``max_categories`` distinct values, or all values
  distinct (an identifier, 10 rows or more), is refused naming the column.
- **dates** and columns with no values are refused naming the column (drop them). Every
  unusable column of a table is named in one message (:meth:`TablePreprocessor.check_usable`).
- **the target**: class labels are encoded as indices into the sorted ``classes_``; a
  regression target is standardised with the training mean and standard deviation
  (``inverse_transform_target`` gives predictions back in the original units).

``missing='error'`` refuses any missing cell (naming column and row), ``missing='drop'``
drops incomplete rows (:meth:`TablePreprocessor.complete_rows`); rows with a missing target
are always dropped (refused with 'error').

The state (:meth:`TablePreprocessor.state_dict`) is plain JSON, saved in the model file::

    {"format": "chainrule-table-preprocessor", "version": 1,
     "target": "price", "task": "regression", "missing": "impute", "max_categories": 50,
     "scale": true, "scale_target": true,
     "columns": [                                  # input columns, in order
       {"name": "age", "kind": "numeric", "median": 41.0, "mean": 40.2, "std": 11.9,
        "indicator": true},
       {"name": "member", "kind": "bool", "median": 0.0, "mean": 0.0, "std": 1.0,
        "indicator": false},
       {"name": "city", "kind": "categorical", "categories": ["Oslo", "Rome"],
        "missing_category": false}],
     "ignored": ["id"],                            # dropped by the user
     "feature_names_out": ["age", "age_missing", "member", "city=Oslo", "city=Rome"],
     "classes": null, "target_mean": 65012.5, "target_std": 8021.3}

Output columns come in input order: a number gives ``(x - mean) / std`` after replacing a
missing value by ``median``, followed by its indicator when ``indicator``; a category
column gives its one-hot block (``categories`` order, then ``<missing>``).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import DataError
from ._tabular_state import FORMAT, VERSION, check_state
from .frame import Column, Frame
from .table import auto_task, check_task, encode_target, first_non_number

__all__ = ["TablePreprocessor", "DataWarning", "detect_task", "MISSING_MODES"]

MISSING_MODES = ("impute", "drop", "error")
#: A string column with all values distinct and at least this many rows is an identifier.
ID_MIN_ROWS = 10
MISSING_LABEL = "<missing>"


class DataWarning(UserWarning):
    """Something about a table worth telling the user (unseen categories, extra columns)."""


def detect_task(frame: Frame, target: str) -> tuple:
    """``(task, reason)`` for ``frame[target]`` under ``task='auto'`` (see
    :func:`~chainrule.data.table.auto_task`)."""
    if target not in frame:
        raise DataError(f"{frame.source}: target column {target!r} not found; available "
                        f"columns: {frame.names}")
    try:
        return auto_task(frame[target])
    except DataError as e:
        raise DataError(f"{frame.source}: {e}") from None


def _key(v):
    """Labels compared by text: 1, 1.0 and '1' are the same class."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, float, np.integer, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _text(column: Column) -> np.ndarray:
    """The cells of any column as str (None where missing), to match categories."""
    if column.kind in ("string", "date"):
        return column.values
    out = np.empty(len(column.values), dtype=object)
    out[:] = [None if m else _key(bool(v) if column.kind == "bool" else v)
              for v, m in zip(column.values.tolist(), column.missing.tolist())]
    return out


class TablePreprocessor:
    """Encode a :class:`~chainrule.data.Frame` for a network (see the module docstring).

    Parameters
    ----------
    target : str, optional
        The target column (excluded from the features).
    task : {'auto', 'classification', 'regression'}, default 'auto'
    missing : {'impute', 'drop', 'error'}, default 'impute'
    max_categories : int, default 50
    drop : sequence of str, default ()
        Columns not used.
    features : sequence of str, optional
        The only columns used (default: all but the target and ``drop``).
    scale : bool, default True
        Standardise numeric columns.
    scale_target : bool, default True
        Standardise a regression target.

    Attributes
    ----------
    input_features_ : list of str
    feature_names_out_ : list of str
    task_ : {'classification', 'regression'} or None
    classes_ : list or None
    target_mean_, target_std_ : float or None

    Examples
    --------
    >>> frame = read_frame("penguins.csv")
    >>> prep = TablePreprocessor(target="species", drop=["id"])
    >>> frame = frame.take(prep.complete_rows(frame))
    >>> train, test = split_indices(len(frame), 0.2, seed=0)
    >>> X_train = prep.fit_transform(frame.take(train))
    >>> y_train = prep.transform_target(frame.take(train))
    >>> X_test = prep.transform(frame.take(test))       # columns matched by name
    >>> state = prep.state_dict()                       # plain JSON
    """

    def __init__(self, target=None, task="auto", missing="impute", max_categories=50,
                 drop=(), features=None, scale=True, scale_target=True):
        check_task(task)
        if missing not in MISSING_MODES:
            raise ValueError(f"missing must be one of {MISSING_MODES}, got {missing!r}")
        if not isinstance(max_categories, int) or max_categories < 1:
            raise ValueError(f"max_categories must be a positive integer, got "
                             f"{max_categories!r}")
        self.target, self.task, self.missing = target, task, missing
        self.max_categories = max_categories
        self.drop = list(drop or ())
        self.features = None if features is None else list(features)
        self.scale, self.scale_target = bool(scale), bool(scale_target)
        self.columns_ = None
        self.ignored_ = []
        self.task_ = self.classes_ = self.target_mean_ = self.target_std_ = None

    # ------------------------------------------------------------ choosing columns
    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has run."""
        return self.columns_ is not None

    @property
    def input_features_(self) -> list:
        """The names of the input columns used as features, in order."""
        return [c["name"] for c in self.columns_ or []]

    @property
    def feature_names_out_(self) -> list:
        """The names of the output columns (one per one-hot category, ``name=value``)."""
        names = []
        for c in self.columns_ or []:
            if c["kind"] == "categorical":
                names += [f"{c['name']}={v}" for v in c["categories"]]
                if c["missing_category"]:
                    names.append(f"{c['name']}={MISSING_LABEL}")
            else:
                names.append(c["name"])
                if c["indicator"]:
                    names.append(f"{c['name']}_missing")
        return names

    def _chosen(self, frame):
        names = frame.names
        asked = self.drop + (self.features or [])
        unknown = [n for n in asked if n not in frame]
        if unknown:
            raise DataError(f"{frame.source}: no column {unknown[0]!r} (named in drop/features, "
                            f"--drop/--features); available columns: {names}")
        if self.target is not None:
            if self.target not in frame:
                raise DataError(f"{frame.source}: target column {self.target!r} not found; "
                                f"available columns: {names}")
            if self.target in asked:
                raise DataError(f"{frame.source}: the target {self.target!r} cannot also be "
                                f"dropped or listed as a feature")
        pool = self.features if self.features is not None else names
        chosen = [n for n in pool if n != self.target and n not in self.drop]
        if not chosen:
            raise DataError(f"{frame.source}: no feature columns left (target "
                            f"{self.target!r}, dropped {self.drop})")
        return chosen

    def complete_rows(self, frame: Frame) -> np.ndarray:
        """Rows to keep: all but those with a missing target and, with ``missing='drop'``,
        those with a missing feature. With ``missing='error'`` a missing cell is refused.

        Returns
        -------
        ndarray of bool, shape (n_rows,)
        """
        keep = np.ones(frame.n_rows, dtype=bool)
        names = self.input_features_ if self.fitted else self._chosen(frame)
        if self.target is not None and self.target in frame:
            if self.missing == "error":
                self._refuse_missing(frame, self.target, "missing value in the target")
            keep &= ~frame[self.target].missing
        for name in names:
            if name not in frame:
                continue
            if self.missing == "error":
                self._refuse_missing(frame, name)
            elif self.missing == "drop":
                keep &= ~frame[name].missing
        return keep

    @staticmethod
    def _refuse_missing(frame, name, what="missing value", hint=""):
        column = frame[name]
        if column.missing.any():
            i = int(np.flatnonzero(column.missing)[0])
            raise DataError(f"{frame.where(name, i)}: {what} (empty cell or one of NA, NaN, "
                            f"nan, N/A, null, ?){hint}")

    # ------------------------------------------------------------ fit
    def fit(self, frame: Frame) -> TablePreprocessor:
        """Learn the encoding from the training rows ``frame``.

        Returns
        -------
        self
        """
        if frame.n_rows == 0:
            raise DataError(f"{frame.source}: no rows to fit the preprocessing on")
        chosen = self._chosen(frame)
        self._refuse_unusable(frame, chosen, " in the training rows")
        columns = [self._fit_column(frame, name) for name in chosen]
        if self.target is not None:
            self._fit_target(frame)
        self.columns_ = columns
        self.ignored_ = [n for n in frame.names if n not in chosen and n != self.target]
        return self

    def _check_missing_mode(self, frame, name):
        if self.missing == "error":
            self._refuse_missing(frame, name)
        elif self.missing == "drop":
            self._refuse_missing(frame, name, hint="; with missing='drop' pass the frame "
                                 "through complete_rows() first")

    def check_usable(self, frame: Frame) -> None:
        """Refuse, in one message naming them all, the feature columns of ``frame`` that
        cannot be encoded: dates, no values, identifiers (all values distinct strings, at
        least ``ID_MIN_ROWS`` of them), more than ``max_categories`` distinct strings.

        :meth:`fit` checks its rows the same way; calling this on a whole file first words
        the message with the file's counts, not those of a training split.

        Raises
        ------
        DataError
        """
        self._refuse_unusable(frame, self._chosen(frame), "")

    def _refuse_unusable(self, frame, names, rows):
        problems = [(name, why) for name in names
                    for why in [self._unusable(frame[name], rows)] if why]
        if not problems:
            return
        drop = ",".join([*self.drop, *(name for name, _ in problems)])
        more = " or raise --max-categories" if any("--max-categories" in why
                                                   for _, why in problems) else ""
        if len(problems) == 1:
            name, why = problems[0]
            raise DataError(f"{frame.source}: column {name!r} {why}; drop it (--drop "
                            f"{drop}){more}")
        listed = "; ".join(f"{name!r} {why}" for name, why in problems)
        raise DataError(f"{frame.source}: {len(problems)} columns cannot be used as features: "
                        f"{listed}; drop them (--drop {drop}){more}")

    def _unusable(self, column, rows):
        """Why ``column`` cannot be encoded, or None (``rows`` ends the no-values reason)."""
        if column.kind == "date":
            i = int(np.flatnonzero(~column.missing)[0])
            return f"holds dates or times (e.g. {column.cell(i)!r}), which are not encoded"
        if column.kind == "empty" or column.missing.all():
            return f"has no values{rows}"
        if column.kind != "string":
            return None
        present = column.values[~column.missing].tolist()  # Python str, quoted as written
        n_distinct = len(set(present))
        if len(present) >= ID_MIN_ROWS and n_distinct == len(present):
            return (f"looks like an identifier (all {len(present)} values are distinct "
                    f"strings, e.g. {present[0]!r})")
        if n_distinct > self.max_categories:
            return (f"has {n_distinct} distinct values, more than --max-categories "
                    f"{self.max_categories}")
        return None

    def _fit_column(self, frame, name):
        column = frame[name]
        self._check_missing_mode(frame, name)
        if column.kind == "string":
            present = column.values[~column.missing].astype(str)
            categories = np.unique(present)
            return {"name": name, "kind": "categorical", "categories": categories.tolist(),
                    "missing_category": bool(column.missing.any())}
        values = self._finite(frame, name, column)
        median = float(np.median(values[~column.missing]))
        filled = np.where(column.missing, median, values)
        mean, std = 0.0, 1.0
        if self.scale and column.kind != "bool":
            mean, std = float(filled.mean()), float(filled.std())
            if not std > 10 * np.finfo(np.float64).eps * max(abs(mean), 1.0):
                std = 1.0
        return {"name": name, "kind": "bool" if column.kind == "bool" else "numeric",
                "median": median, "mean": mean, "std": std,
                "indicator": bool(column.missing.any())}

    @staticmethod
    def _finite(frame, name, column):
        values = column.values
        with np.errstate(over="ignore"):
            bad = np.flatnonzero(~np.isfinite(values.astype(np.float32)) & ~column.missing)
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{frame.where(name, i)}: value {column.cell(i)!r} is not finite "
                            f"in float32; remove or impute it")
        return values

    def _fit_target(self, frame):
        column = frame[self.target]
        y, classes, task = encode_target(column, self.task,
                                         lambda i: frame.where(self.target, i))
        self.task_, self.classes_ = task, classes
        self.target_mean_ = self.target_std_ = None
        if task == "regression" and self.scale_target:
            values = column.values
            std = float(values.std())
            self.target_mean_ = float(values.mean())
            self.target_std_ = std if std > 0 else 1.0

    # ------------------------------------------------------------ transform
    def _check_fitted(self, who):
        if not self.fitted:
            raise RuntimeError(f"TablePreprocessor.{who}: call fit() first")

    def transform(self, frame: Frame) -> np.ndarray:
        """Encode the features of ``frame`` (columns matched by name, in any order).

        Returns
        -------
        ndarray of shape (n_rows, len(feature_names_out_)), float32

        Warns
        -----
        DataWarning
            Once for columns the preprocessor does not use, once for categories not seen
            in training (encoded as all zeros).

        Raises
        ------
        DataError
            A column the model needs is absent (all named), a cell cannot be read as the
            column's kind, or a missing cell under ``missing='error'`` / ``'drop'``.
        """
        self._check_fitted("transform")
        absent = [n for n in self.input_features_ if n not in frame]
        if absent:
            raise DataError(f"{frame.source}: missing column(s) {absent} that the model was "
                            f"trained on (it needs {self.input_features_})")
        expected = set(self.input_features_) | set(self.ignored_) | {self.target}
        extra = [n for n in frame.names if n not in expected]
        if extra:
            warnings.warn(f"{frame.source}: ignoring column(s) {extra} that the model does "
                          f"not use", DataWarning, stacklevel=2)
        blocks, unseen = [], []
        for spec in self.columns_:
            name = spec["name"]
            if self.missing != "impute":
                self._check_missing_mode(frame, name)
            if spec["kind"] == "categorical":
                blocks.append(self._one_hot(frame[name], spec, unseen))
            else:
                blocks.append(self._number(frame, name, spec))
        if unseen:
            warnings.warn(f"{frame.source}: categories not seen in training, encoded as all "
                          f"zeros: " + "; ".join(unseen), DataWarning, stacklevel=2)
        return np.concatenate(blocks, axis=1).astype(np.float32, copy=False)

    def _number(self, frame, name, spec):
        column = frame[name]
        if column.kind in ("string", "date"):
            i = first_non_number(column)
            raise DataError(f"{frame.where(name, i)}: value {column.cell(i)!r} is not a "
                            f"number, but the column was numeric in training")
        values = self._finite(frame, name, column)
        filled = np.where(column.missing, spec["median"], values)
        out = [((filled - spec["mean"]) / spec["std"])[:, None]]
        if spec["indicator"]:
            out.append(column.missing.astype(np.float64)[:, None])
        return np.concatenate(out, axis=1)

    @staticmethod
    def _one_hot(column, spec, unseen):
        cats = spec["categories"]
        width = len(cats) + bool(spec["missing_category"])
        out = np.zeros((len(column.values), width), dtype=np.float32)
        text = _text(column)
        present = ~column.missing
        distinct, inverse = np.unique(text[present].astype(str), return_inverse=True)
        index = {c: j for j, c in enumerate(cats)}
        code = np.array([index.get(d, -1) for d in distinct.tolist()], dtype=np.int64)
        rows = np.flatnonzero(present)
        cols = code[inverse.ravel()] if rows.size else np.zeros(0, np.int64)
        hit = cols >= 0
        out[rows[hit], cols[hit]] = 1.0
        new = distinct[code < 0].tolist()
        if column.missing.any():
            if spec["missing_category"]:
                out[column.missing, len(cats)] = 1.0
            else:
                new.append(MISSING_LABEL)
        if new:
            shown = ", ".join(repr(v) for v in new[:5]) + (", ..." if len(new) > 5 else "")
            unseen.append(f"column {spec['name']!r}: {shown}")
        return out

    def fit_transform(self, frame: Frame) -> np.ndarray:
        """``fit(frame).transform(frame)``."""
        return self.fit(frame).transform(frame)

    def transform_target(self, frame: Frame, scaled=True) -> np.ndarray:
        """The target of ``frame``: int64 class indices, or float32 values (standardised
        when ``scaled`` and the preprocessor standardises the target)."""
        self._check_fitted("transform_target")
        if self.target is None:
            raise ValueError("TablePreprocessor.transform_target: no target was given")
        if self.target not in frame:
            raise DataError(f"{frame.source}: no target column {self.target!r}")
        column = frame[self.target]
        where = lambda i: frame.where(self.target, i)  # noqa: E731
        self._refuse_missing(frame, self.target, "missing value in the target")
        if self.task_ == "classification":
            index = {_key(c): i for i, c in enumerate(self.classes_)}
            text = _text(column)
            y = np.empty(len(text), dtype=np.int64)
            for r, label in enumerate(text.tolist()):
                i = index.get(label)
                if i is None:
                    raise DataError(f"{where(r)}: class {label!r}, which the model never saw "
                                    f"in training (known: {self.classes_[:10]})")
                y[r] = i
            return y
        if not column.numeric:
            i = int(np.flatnonzero(~column.missing)[0])
            raise DataError(f"{where(i)}: non-numeric target {column.cell(i)!r}")
        y = column.values
        if scaled and self.target_mean_ is not None:
            y = (y - self.target_mean_) / self.target_std_
        return y.astype(np.float32)

    def inverse_transform_target(self, y) -> np.ndarray:
        """Standardised regression outputs back in the target's units."""
        self._check_fitted("inverse_transform_target")
        y = np.asarray(y)
        if self.target_mean_ is None:
            return y
        return y * self.target_std_ + self.target_mean_

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """The fitted state as plain JSON (see the module docstring for the layout)."""
        self._check_fitted("state_dict")
        return {"format": FORMAT, "version": VERSION, "target": self.target,
                "task": self.task_, "missing": self.missing,
                "max_categories": self.max_categories, "scale": self.scale,
                "scale_target": self.scale_target,
                "columns": [dict(c) for c in self.columns_], "ignored": list(self.ignored_),
                "feature_names_out": self.feature_names_out_,
                "classes": None if self.classes_ is None else list(self.classes_),
                "target_mean": self.target_mean_, "target_std": self.target_std_}

    def load_state_dict(self, state: dict) -> TablePreprocessor:
        """Restore a state from :meth:`state_dict` (validated: nothing in it is executed)."""
        check_state(state)
        self.__init__(target=state["target"], missing=state["missing"],
                      max_categories=state["max_categories"], scale=state["scale"],
                      scale_target=state["scale_target"])
        self.columns_ = [dict(c) for c in state["columns"]]
        self.ignored_ = [str(n) for n in state.get("ignored") or []]
        self.task_, self.classes_ = state["task"], state.get("classes")
        if state.get("target_mean") is not None:
            self.target_mean_ = float(state["target_mean"])
            self.target_std_ = float(state["target_std"])
        return self

    @classmethod
    def from_state_dict(cls, state: dict) -> TablePreprocessor:
        """A fitted preprocessor from :meth:`state_dict`'s output."""
        return cls().load_state_dict(state)

    def __repr__(self):
        if not self.fitted:
            return f"TablePreprocessor(target={self.target!r}, unfitted)"
        return (f"TablePreprocessor(target={self.target!r}, task={self.task_!r}, "
                f"{len(self.columns_)} columns -> {len(self.feature_names_out_)} features)")
