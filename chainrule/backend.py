"""Array backend: NumPy on the CPU, CuPy on a GPU when it is installed.

Every op takes its array module from its operands (``array_module(x)``), as
chainer does, so one implementation serves both libraries.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from ._blas import fit_threads, get_num_threads, set_num_threads  # noqa: F401 (re-exported)

try:  # CuPy is optional; importing it must never be required.
    import cupy as _cupy
except Exception:  # pragma: no cover - depends on the machine
    _cupy = None

DEFAULT_FLOAT = np.float32

#: The arrays that ops, kernels and optimizers work on: a ``numpy.ndarray``, or a device
#: array with NumPy's API (a CuPy array; untyped, so the checker sees ``numpy.ndarray``).
#: A full reduction may give a NumPy scalar, which behaves as a 0-d array.
Array: TypeAlias = np.ndarray


def _tune_allocator() -> bool:
    """Keep freed memory in the process instead of giving it back to the OS at every step.

    A training step allocates and frees the same large arrays again and again. With
    glibc's defaults each array over 128 KiB is mapped fresh and unmapped when freed,
    so every step pays page faults on memory it just released (measured: 1,635 faults
    per step of a 784-256-256-10 MLP at batch 1024, and 1.4x slower steps). Raising
    the mmap and trim thresholds makes glibc reuse that memory. Set
    ``CHAINRULE_TUNE_MALLOC=0`` to leave the allocator alone.
    """
    if os.environ.get("CHAINRULE_TUNE_MALLOC", "1") == "0" or not sys.platform.startswith(
            "linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's maximum
        ok &= libc.mallopt(m_trim_threshold, 256 * 1024 * 1024)
        return bool(ok)
    except (OSError, AttributeError):  # not glibc
        return False


ALLOCATOR_TUNED = _tune_allocator()


#: Device array types other than ``numpy.ndarray``: ``(array type, array module)`` pairs.
#: CuPy's is here when CuPy imports; :func:`register_backend` adds others (tests
#: register a NumPy-backed stand-in so the device path runs on any machine).
_DEVICE_TYPES: tuple[tuple[type, ModuleType], ...] = ()
#: Device type name ("cuda", ...) -> backend description, see :func:`register_backend`.
BACKENDS: dict[str, Backend] = {}


def array_module(*arrays: object) -> ModuleType:
    """Return the array module of the first device array among ``arrays``, else ``numpy``.

    ``cupy`` for a CuPy array; NumPy for host arrays and Python scalars.
    """
    for t, xp in _DEVICE_TYPES:
        for a in arrays:
            if isinstance(a, t):
                return xp
    return np


def is_device_array(a: object) -> bool:
    """True for an array that lives on a device (a CuPy array, not a NumPy one)."""
    for t, _ in _DEVICE_TYPES:
        if isinstance(a, t):
            return True
    return False


class Backend:
    """How to reach one kind of device: its array module, array type and transfers.

    Parameters
    ----------
    name : str
        The device type, as written in ``cr.device("name:index")``.
    xp : module
        The array module (NumPy's API) whose arrays live on the device.
    array_type : type
        The type of its arrays.
    to_host : callable
        ``to_host(array) -> numpy.ndarray`` (a copy).
    from_host : callable
        ``from_host(ndarray, index) -> array`` on device ``index``.
    index_of : callable
        ``index_of(array) -> int``: the device an array lives on.
    device_count : callable
        ``device_count() -> int``: devices of this type present (0: unavailable).
    """

    def __init__(self, name: str, xp: ModuleType, array_type: type,
                 to_host: Callable[[Any], np.ndarray], from_host: Callable[[np.ndarray, int], Any],
                 index_of: Callable[[Any], int], device_count: Callable[[], int]) -> None:
        self.name, self.xp, self.array_type = name, xp, array_type
        self.to_host, self.from_host = to_host, from_host
        self.index_of, self.device_count = index_of, device_count


def register_backend(backend: Backend) -> None:
    """Make a device type known to chainrule (``cr.device(backend.name)``)."""
    global _DEVICE_TYPES
    BACKENDS[backend.name] = backend
    _DEVICE_TYPES = tuple((b.array_type, b.xp) for b in BACKENDS.values())


def _cupy_count() -> int:
    try:
        return _cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, no GPU
        return 0


def _cupy_from_host(a: np.ndarray, index: int) -> Any:
    with _cupy.cuda.Device(index):
        return _cupy.asarray(a)


if _cupy is not None:  # pragma: no cover - needs CuPy
    register_backend(Backend("cuda", _cupy, _cupy.ndarray, _cupy.asnumpy, _cupy_from_host,
                             lambda a: a.device.id, _cupy_count))


def is_float(dtype: npt.DTypeLike) -> bool:
    """True for floating-point dtypes."""
    return np.dtype(dtype).kind == "f"


class _Random:
    """The seeded random generator shared by creation helpers, init and dropout."""

    def __init__(self, seed: int | None = None) -> None:
        self.generator = np.random.default_rng(seed)

    def seed(self, seed: int | None) -> None:
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


def get_rng_state() -> Mapping[str, Any]:
    """The state of the global generator, as a JSON-able dict."""
    return _random.generator.bit_generator.state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    _random.generator.bit_generator.state = state
