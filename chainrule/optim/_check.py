"""Argument checks shared by the optimizers and the schedulers.

Each raises ``ValueError`` naming the argument, as PyTorch's optimizers do.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeGuard, TypeVar

T = TypeVar("T")
N = TypeVar("N", bound=float)  # a number checked and given back as it came


def is_real(value: object) -> TypeGuard[float]:
    """True for a real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def non_negative(name: str, value: N) -> N:
    """Raise unless ``value`` is a real number >= 0 (NaN is rejected)."""
    if not is_real(value) or not value >= 0:
        raise ValueError(f"invalid {name}: {value!r} (must be a number >= 0)")
    return value


def positive(name: str, value: N) -> N:
    """Raise unless ``value`` is a real number > 0."""
    if not is_real(value) or not value > 0:
        raise ValueError(f"invalid {name}: {value!r} (must be a number > 0)")
    return value


def in_range(name: str, value: N, lo: float, hi: float, *, hi_closed: bool = False) -> N:
    """Raise unless ``lo <= value < hi`` (``<= hi`` when ``hi_closed``)."""
    ok = is_real(value) and lo <= value and (value <= hi if hi_closed else value < hi)
    if not ok:
        bracket = "]" if hi_closed else ")"
        raise ValueError(f"invalid {name}: {value!r} (must be in [{lo}, {hi}{bracket})")
    return value


def integer(name: str, value: int, minimum: int = 0) -> int:
    """Raise unless ``value`` is an integer >= ``minimum``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"invalid {name}: {value!r} (must be an integer >= {minimum})")
    return int(value)


def choice(name: str, value: T, choices: Sequence[T]) -> T:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        allowed = ", ".join(map(repr, choices))
        raise ValueError(f"invalid {name}: {value!r} (must be one of {allowed})")
    return value


def build(registry: Mapping[str, tuple[Callable[..., T], Mapping[str, Any]]], kind: str,
          name: str, *args: Any, **kwargs: Any) -> T:
    """Look ``name`` up in ``registry`` (name -> (class, default kwargs)) and build it.

    Unknown names and unknown keyword arguments raise ``ValueError`` naming them.
    """
    key = str(name).strip().lower() if isinstance(name, str) else name
    if key not in registry:
        raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(registry)}")
    cls, defaults = registry[key]
    accepted = inspect.signature(cls).parameters
    unknown = sorted(k for k in kwargs if k not in accepted or k in ("params", "optimizer"))
    if unknown:
        raise ValueError(f"{kind} {key!r}: unknown keyword argument(s) {', '.join(unknown)}")
    return cls(*args, **{**defaults, **kwargs})
