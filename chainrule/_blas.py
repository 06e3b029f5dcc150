"""BLAS threads that fit the work: one thread for small products and on a busy machine.

A BLAS splits a matrix product over its threads even when the product is too small
to gain from it, and its threads spin against any other process on the machine:
with one competing CPU-bound process, a small MLP trained 7x slower with two
OpenBLAS threads than with one. So, unless told otherwise, chainrule asks for

- one thread for a product of fewer than ``SMALL_WORK`` multiply-adds (m * k * n),
- otherwise as many threads as there are cores that other processes leave free
  (measured from /proc/stat about once a second, chainrule's own CPU time
  subtracted, niced processes not counted; until the first measurement, the cores
  left free by the processes running at that moment, from /proc/loadavg),
  at most the BLAS's own count.

The thread count only changes when the wanted count differs from the current one
(one C call). Nothing is touched when the user chose: ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` or ``BLIS_NUM_THREADS`` set in the
environment, or :func:`set_num_threads` called (``chainrule train --threads N``).
Needs threadpoolctl (``pip install "chainrule[threads]"``); without it the BLAS
keeps its default.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

#: below this many multiply-adds a product runs on one thread (see benchmarks/README.md)
SMALL_WORK = 4_000_000
USER_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
_REFRESH_CALLS = 64   # look at the clock every this many products
_REFRESH_S = 1.0      # and measure the machine's load at most this often

_auto = True          # chainrule chooses (False: the user did, or nothing can be set)
_ready = False        # the BLAS has been looked up
_setter: Callable[[int], Any] | None = None  # callable(n) that sets the BLAS thread count
_max = 1              # the BLAS's thread count before chainrule touched it
_wide = 1             # threads for a large product now
_current: int | None = None  # the count last set
_calls = 0
#: (wall, busy jiffies, total jiffies, own cpu seconds) of the last look
_sample: tuple[float, int, int, float] | None = None


def _blas_libs() -> list[Any]:
    """threadpoolctl's controllers of the loaded BLAS libraries ([] without threadpoolctl)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return []
    try:
        return list(ThreadpoolController().select(user_api="blas").lib_controllers)
    except Exception:  # a broken library on the machine: leave the BLAS alone
        return []


def _find_blas() -> tuple[Callable[[int], Any], int] | tuple[None, None]:
    """A fast setter of the thread count of NumPy's BLAS and its current count, or (None, None).

    SciPy (and so scikit-learn) loads a BLAS of its own; NumPy's is the one whose file
    lives in NumPy's folder (``numpy.libs``), or the only one loaded.
    """
    libs = _blas_libs()
    if len(libs) > 1:
        libs = [lib for lib in libs if "numpy" in os.path.basename(
            os.path.dirname(str(getattr(lib, "filepath", ""))))]
    if len(libs) != 1:  # none, or several and none of them NumPy's: do not guess
        return None, None
    lib = libs[0]
    count = lib.num_threads
    setter = lib.set_num_threads
    if lib.internal_api == "openblas" and getattr(lib, "threading_layer", "") != "openmp":
        try:  # the C function itself: about 20x cheaper than the wrapper's locking
            fast = lib._get_symbol("openblas_set_num_threads")
            if fast is not None:
                setter = fast
        except Exception:
            pass
    return setter, count


def _init() -> None:
    global _ready, _auto, _setter, _max, _wide, _current
    _ready = True
    if any(os.environ.get(v) for v in USER_VARS):
        _auto = False
        return
    setter, count = _find_blas()
    if setter is None or not count:
        _auto = False
        return
    _setter, _max, _current = setter, int(count), int(count)
    _wide = _free_now()  # until the first measurement over an interval
    _look()


def _free_now() -> int:
    """Threads for a large product from the threads runnable at this moment.

    The machine's runnable threads, less this process's own (its BLAS threads
    spin for a while after a call): a guess for the first second only (niced work
    counts here); one thread where /proc cannot be read.
    """
    try:
        running, own = _running_threads()
    except (OSError, ValueError, IndexError):
        return 1
    ncpu = os.cpu_count() or 1
    return max(1, min(_max, ncpu - max(0, running - max(own, 1))))


def _running_threads() -> tuple[int, int]:
    """(runnable threads of the machine, runnable threads of this process) now.

    The first from /proc/loadavg's fourth field ("running/total"), the second
    from the state field of each /proc/self/task/TID/stat.
    """
    with open("/proc/loadavg") as f:
        running = int(f.read().split()[3].split("/")[0])
    own = 0
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/stat") as f:
            own += f.read().rpartition(")")[2].split()[0] == "R"
    return running, own


def _proc_stat() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from the first line of /proc/stat.

    Time spent in niced processes (the ``nice`` column) is not counted as busy unless
    this process runs niced itself: a niced job yields its core to normal-priority
    work, so it does not take a core from chainrule's BLAS threads (a ``nice -n 19``
    job gets about 1.5% of a core against one normal thread).
    """
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[:8])
    idle = v[3] + v[4]
    if _own_nice() <= 0:
        idle += v[1]  # user time of niced processes: yields to us
    return total - idle, total


def _own_nice() -> int:
    try:
        return os.nice(0)
    except (AttributeError, OSError):  # not POSIX
        return 0


def _look() -> None:
    """Update ``_wide`` from the load other processes put on the machine since last time."""
    global _sample, _wide
    try:
        busy, total = _proc_stat()
    except (OSError, ValueError, IndexError):  # not Linux: decide by size only
        _wide = _max
        return
    now = (time.monotonic(), busy, total, time.process_time())
    prev, _sample = _sample, now
    if prev is None or now[2] <= prev[2]:
        return
    ncpu = os.cpu_count() or 1
    elapsed = now[0] - prev[0]
    busy_cores = (now[1] - prev[1]) / (now[2] - prev[2]) * ncpu
    own_cores = (now[3] - prev[3]) / elapsed if elapsed > 0 else 0.0
    others = max(0.0, busy_cores - own_cores)
    _wide = max(1, min(_max, int(ncpu - others + 0.5)))


def fit_threads(work: int) -> None:
    """Set the BLAS thread count for a product of ``work`` multiply-adds (m * k * n)."""
    global _calls, _current
    if not _auto:
        return
    if not _ready:
        _init()
        if not _auto:
            return
    _calls += 1
    if _calls >= _REFRESH_CALLS:
        _calls = 0
        if _sample is None or time.monotonic() - _sample[0] >= _REFRESH_S:
            _look()
    want = 1 if work < SMALL_WORK else _wide
    if want != _current:
        _setter(want)  # type: ignore[misc]  # set by _init whenever _auto survives it
        _current = want


def set_num_threads(n: int | None) -> None:
    """Use ``n`` BLAS threads for every product from now on (``None``: chainrule chooses).

    Parameters
    ----------
    n : int or None
        A positive thread count; ``None`` returns to the automatic choice (one thread
        for small products and on a busy machine), unless a ``*_NUM_THREADS``
        environment variable is set.

    Examples
    --------
    >>> cr.set_num_threads(1)      # e.g. several trainings side by side
    """
    global _auto, _ready, _current, _setter, _max
    if n is None:
        _ready, _auto = False, True
        if _setter is not None and _current != _max:
            _setter(_max)
        _current = None
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer or None, got {n!r}")
    if not _ready:
        _init()
    _auto = False
    if _setter is None:
        setter, count = _find_blas()
        if setter is None:
            libs = _blas_libs()
            if not libs:
                raise RuntimeError("set_num_threads needs threadpoolctl "
                                   "(pip install \"chainrule[threads]\")")
            for lib in libs:  # NumPy's BLAS not told apart: set every one
                lib.set_num_threads(n)
            _current = n
            return
        assert count is not None  # found with its setter
        _setter, _max = setter, int(count)
    _setter(n)
    _current = n


def get_num_threads() -> int | None:
    """The BLAS thread count chainrule last set, or the BLAS's own count (None if unknown)."""
    if _current is not None:
        return _current
    setter, count = _find_blas()
    return count


def is_automatic() -> bool:
    """True while chainrule chooses the thread count per product."""
    if not _ready:
        _init()
    return _auto
