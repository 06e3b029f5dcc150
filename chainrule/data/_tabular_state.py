"""Validation of a :class:`~chainrule.data.TablePreprocessor` state (plain JSON from a model
file): every field is checked before use; nothing in it is imported or executed."""

from __future__ import annotations

import math
from typing import Any

from ..errors import DataError

FORMAT = "chainrule-table-preprocessor"
VERSION = 1


def _bad(why: str) -> DataError:
    return DataError(f"table preprocessor state: {why}")


def _number(value: Any, what: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or (positive and value <= 0):
        raise _bad(f"{what} must be a finite{' positive' if positive else ''} number")
    return float(value)


def check_state(state: Any) -> None:
    """Refuse a state that :meth:`TablePreprocessor.load_state_dict` could not use."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise _bad("not a chainrule table preprocessor")
    if state.get("version") != VERSION:
        raise _bad(f"unsupported version {state.get('version')!r}")
    missing = {"target", "task", "missing", "max_categories", "scale", "scale_target",
               "columns"} - set(state)
    if missing:
        raise _bad(f"missing keys {sorted(missing)}")
    if state["missing"] not in ("impute", "drop", "error"):
        raise _bad(f"missing must be one of impute, drop, error, got {state['missing']!r}")
    if not (state["target"] is None or isinstance(state["target"], str)):
        raise _bad("target must be a column name or null")
    if isinstance(state["max_categories"], bool) or not isinstance(state["max_categories"], int):
        raise _bad("max_categories must be an integer")
    if state["task"] not in (None, "classification", "regression"):
        raise _bad(f"unknown task {state['task']!r}")
    columns = state.get("columns")
    if not isinstance(columns, list) or not columns:
        raise _bad("'columns' must be a non-empty list")
    for c in columns:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise _bad("each column must be a mapping with a 'name'")
        if c.get("kind") == "categorical":
            cats = c.get("categories")
            if not isinstance(cats, list) or not all(isinstance(v, str) for v in cats):
                raise _bad(f"column {c['name']!r}: categories must be a list of strings")
            if not isinstance(c.get("missing_category"), bool):
                raise _bad(f"column {c['name']!r}: missing_category must be true or false")
        elif c.get("kind") in ("numeric", "bool"):
            for k in ("median", "mean"):
                _number(c.get(k), f"column {c['name']!r}: {k}")
            _number(c.get("std"), f"column {c['name']!r}: std", positive=True)
            if not isinstance(c.get("indicator"), bool):
                raise _bad(f"column {c['name']!r}: indicator must be true or false")
        else:
            raise _bad(f"column {c['name']!r}: unknown kind {c.get('kind')!r}")
    classes = state.get("classes")
    if state["task"] == "classification" and (not isinstance(classes, list) or not classes):
        raise _bad("a classifier's state needs its 'classes'")
    if state.get("target_mean") is not None:
        _number(state["target_mean"], "target_mean")
        _number(state.get("target_std"), "target_std", positive=True)
