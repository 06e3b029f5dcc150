"""Rank 0 writes; the other ranks skip the write."""

from __future__ import annotations

import functools

from .world import is_main


def main_only(fn):
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
    def wrapper(*args, **kwargs):
        if is_main():
            return fn(*args, **kwargs)
        return None

    return wrapper
