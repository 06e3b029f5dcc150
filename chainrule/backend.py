"""Array backend: NumPy on the CPU, CuPy on a GPU when it is installed.

Every op takes its array module from its operands (``array_module(x)``), as
chainer does, so one implementation serves both libraries.
"""

from __future__ import annotations

import numpy as np

try:  # CuPy is optional; importing it must never be required.
    import cupy as _cupy  # type: ignore
except Exception:  # pragma: no cover - depends on the machine
    _cupy = None

DEFAULT_FLOAT = np.float32


def array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def is_float(dtype) -> bool:
    """True for floating-point dtypes."""
    return np.dtype(dtype).kind == "f"


class _Random:
    """The seeded random generator shared by creation helpers, init and dropout."""

    def __init__(self, seed=None):
        self.generator = np.random.default_rng(seed)

    def seed(self, seed):
        self.generator = np.random.default_rng(seed)


_random = _Random()


def manual_seed(seed: int) -> None:
    """Seed chainrule's random generator (initialisation, dropout, ``randn``...).

    Parameters
    ----------
    seed : int
        Any non-negative integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _random.seed(int(seed))


def get_rng() -> np.random.Generator:
    """The global ``numpy.random.Generator`` used by chainrule."""
    return _random.generator


def get_rng_state() -> dict:
    """The state of the global generator, as a JSON-able dict."""
    return _random.generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    _random.generator.bit_generator.state = state
