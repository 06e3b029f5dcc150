"""Rank 0 writes; the other ranks skip the write."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from .world import is_main

P = ParamSpec("P")
R = TypeVar("R")


def main_only(fn: Callable[P, R]) -> Callable[P, R | None]:
    """Decorator: run ``fn`` on rank 0 only (returns None on the other ranks).

    For anything that writes files or prints: checkpoints, model files, history,
    plots. Without MPI the function always runs.

    Examples
    --------
    >>> @main_only
    ... def save(model, path):
    ...     cr.save(model, path)
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        if is_main():
            return fn(*args, **kwargs)
        return None

    return wrapper
