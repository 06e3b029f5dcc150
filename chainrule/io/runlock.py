"""One writer per run directory: a lock file taken atomically, and clean-up on early failure.

>>> with RunDirectory("runs/moons") as run_dir:   # creates it, takes runs/moons/.lock
...     _ = run_dir                               # an exception before keep() removes
...     run_dir.keep()                            # what this run created

A second ``RunDirectory`` on the same path while the first holds it raises
:class:`RunLocked` at once (``O_CREAT | O_EXCL``: exactly one process creates the lock
file). A lock left by a process that no longer exists is taken over.
"""

from __future__ import annotations

import os
import shutil
from types import TracebackType
from typing import Literal

from .._types import StrPath
from ..errors import ChainruleError

__all__ = ["RunDirectory", "RunLocked", "LOCK_NAME"]

LOCK_NAME = ".lock"


class RunLocked(ChainruleError):
    """Another process is writing the run directory."""


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunDirectory:
    """Create (if needed) and lock a run directory for this process.

    Parameters
    ----------
    path : str
        The run directory.

    Attributes
    ----------
    created : bool
        True when this object created the directory (it is then removed on failure
        unless :meth:`keep` was called).
    """

    def __init__(self, path: StrPath) -> None:
        self.path = str(path)
        self.lock = os.path.join(self.path, LOCK_NAME)
        self.created = False
        self.kept = False
        self._held = False

    def check_free(self) -> None:
        """Raise :class:`RunLocked` now if a live process holds the lock (no side effect);
        :meth:`acquire` is the atomic test."""
        pid = self._owner() if os.path.exists(self.lock) else None
        if pid is not None and _alive(pid) and pid != os.getpid():
            raise RunLocked(self._busy(pid))

    def _busy(self, pid: int) -> str:
        return (f"{self.path} is being written by another 'chainrule train' (pid {pid}); wait "
                f"for it or choose another --out")

    def acquire(self) -> RunDirectory:
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ChainruleError(f"{self.path}: exists and is not a directory; choose another "
                                 f"--out")
        try:
            os.makedirs(self.path)
            self.created = True
        except FileExistsError:
            pass
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = self._owner()
                if pid is not None and _alive(pid) and pid != os.getpid():
                    self._cleanup()
                    raise RunLocked(self._busy(pid)) from None
                try:  # a stale lock: its process is gone
                    os.remove(self.lock)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            self._held = True
            return self
        raise RunLocked(f"{self.path}: could not take the lock {self.lock}")

    def _owner(self) -> int | None:
        try:
            with open(self.lock) as f:
                return int(f.read().strip() or -1)
        except (OSError, ValueError):
            return None

    def keep(self) -> None:
        """The run has written something worth keeping (a checkpoint, a model)."""
        self.kept = True

    def _cleanup(self) -> None:
        if self.created and not self.kept:
            shutil.rmtree(self.path, ignore_errors=True)
            self.created = False

    def release(self, failed: bool = False) -> None:
        """Drop the lock; after a failure, remove the directory if this run created it and
        has kept nothing."""
        if self._held:
            try:
                os.remove(self.lock)
            except FileNotFoundError:
                pass
            self._held = False
        if failed:
            self._cleanup()

    def __enter__(self) -> RunDirectory:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        self.release(failed=exc_type is not None)
        return False
