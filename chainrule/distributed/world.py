"""The MPI world: joining it, who we are, guarded collectives, and failing loudly.

mpi4py is imported only by :func:`init` when the process was started by an MPI
launcher (or ``force=True``), never by ``import chainrule``.

Failures. A rank that raises an uncaught exception prints it, prefixed with its
rank, and calls ``MPI_Abort``: the launcher then ends every rank (MPICH's
``mpiexec`` does so in about a second, measured). A rank killed outright (``kill
-9``, out of memory) is noticed by MPICH's ``mpiexec`` itself, which kills the
others and exits non-zero in about a second (its "BAD TERMINATION" message names
the first process it found dead in rank order, which may be one it killed itself;
``init(verbose=True)`` prints which PID is which rank). Where the launcher
does not clean up, every collective chainrule runs is watched: a rank that has
waited more than ``timeout`` seconds for its peers prints which collective hung
and aborts the job.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import traceback
from typing import Any, Literal, NoReturn

_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE")
DEFAULT_TIMEOUT = 120.0


class _World:
    def __init__(self) -> None:
        self.comm: Any = None  # mpi4py's MPI.COMM_WORLD once initialised
        self.MPI: Any = None  # the mpi4py.MPI module
        self.rank = 0
        self.size = 1
        self.timeout = DEFAULT_TIMEOUT
        self.pending: tuple[str, float] | None = None  # (label, start) while a collective runs
        self.watchdog: threading.Thread | None = None
        self.lock = threading.Lock()


_world = _World()


def launched_size() -> int:
    """The number of processes an MPI launcher started, read from its environment (1 if none).

    Reads MPICH/Intel MPI (``PMI_SIZE``), Open MPI (``OMPI_COMM_WORLD_SIZE``), MVAPICH
    and PMIx variables; imports nothing.
    """
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 1


def init(force: bool = False, timeout: float | None = None, verbose: bool = False) -> int:
    """Join the MPI world when this process was started by ``mpiexec`` with several ranks.

    With one process (plain ``python``, or ``mpiexec -n 1``) it does nothing and
    mpi4py is not imported; with several it imports mpi4py, installs the failure
    handling described in the module notes and returns the world size. Calling it
    again returns the same world.

    Parameters
    ----------
    force : bool, default False
        Use MPI even when the launcher's environment variables are not recognised.
    timeout : float, optional
        Seconds a rank waits for its peers in one collective before it aborts the job
        (a peer that hangs, or died under a launcher that does not clean up).
        Default: ``$CHAINRULE_MPI_TIMEOUT`` or 120.
    verbose : bool, default False
        Rank 0 prints the world: each rank's PID and host (to read a launcher's
        "PID ... EXIT CODE" message).

    Returns
    -------
    int
        The world size (1 without MPI).
    """
    w = _world
    if timeout is None:
        timeout = float(os.environ.get("CHAINRULE_MPI_TIMEOUT", DEFAULT_TIMEOUT))
    if not timeout > 0:
        raise ValueError(f"distributed.init: timeout must be > 0 seconds, got {timeout}")
    w.timeout = float(timeout)
    if w.comm is not None:
        return w.size
    launched = launched_size()
    if launched <= 1 and not force:
        return 1
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError(
            f"this process was started by an MPI launcher with {launched} processes, but "
            f"mpi4py is not installed: pip install 'chainrule[mpi]'") from None
    w.MPI, w.comm = MPI, MPI.COMM_WORLD
    w.rank, w.size = w.comm.Get_rank(), w.comm.Get_size()
    if w.size > 1:
        _install_excepthook()
        w.watchdog = threading.Thread(target=_watch, name="chainrule-mpi-watchdog",
                                      daemon=True)
        w.watchdog.start()
        if verbose:
            where = w.comm.gather(f"rank {w.rank}: pid {os.getpid()} on "
                                  f"{socket.gethostname()}", root=0)
            if w.rank == 0:
                print(f"distributed: {w.size} ranks ({'; '.join(where)})", file=sys.stderr)
    return w.size


def is_initialized() -> bool:
    """True once :func:`init` joined an MPI world of more than one rank."""
    return _world.comm is not None and _world.size > 1


def rank() -> int:
    """This process's rank, 0 without MPI."""
    return _world.rank


def world_size() -> int:
    """The number of ranks, 1 without MPI."""
    return _world.size


def is_main() -> bool:
    """True on rank 0, the rank that prints and writes files (always True without MPI)."""
    return _world.rank == 0


def timeout() -> float:
    """Seconds a collective may wait for the peers before the job is aborted."""
    return _world.timeout


def comm() -> Any:
    """The mpi4py communicator (``MPI.COMM_WORLD``), or None without MPI."""
    return _world.comm if is_initialized() else None


# MPICH's launcher forwards each rank's stderr through a pipe and its proxy, while
# MPI_Abort reaches mpiexec on another channel: aborting at once can kill the
# proxy before it has read the message (the suite saw this about 1 run in 10 on
# an idle machine). Waiting this long before the abort lets the text through.
_FLUSH_SECONDS = 0.5


def abort(message: str, code: int = 1, detail: str = "") -> NoReturn:
    """Print ``message`` prefixed with this rank and end every rank of the job.

    ``detail`` (such as a traceback) is printed before it, in the same write.
    Without MPI it prints and exits with ``code``.
    """
    w = _world
    prefix = f"rank {w.rank} of {w.size}: " if w.size > 1 else ""
    try:
        sys.stderr.write(f"{detail}{prefix}{message}\n")
        sys.stderr.flush()
        if is_initialized():
            time.sleep(_FLUSH_SECONDS)
    finally:
        if is_initialized():
            w.comm.Abort(code)
        os._exit(code)


class guarded:
    """Context manager around a collective: the watchdog aborts the job when it hangs."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __enter__(self) -> guarded:
        _world.pending = (self.label, time.monotonic())
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        _world.pending = None
        return False


def _watch():
    w = _world
    while True:
        time.sleep(min(1.0, w.timeout / 4))
        pending = w.pending
        if pending is not None and time.monotonic() - pending[1] > w.timeout:
            abort(f"no answer from the other ranks for {w.timeout:g} s in {pending[0]} "
                  f"(a rank died or hangs); aborting the job "
                  f"(set CHAINRULE_MPI_TIMEOUT to wait longer)", code=3)


def _install_excepthook():
    previous = sys.excepthook

    def hook(kind, value, tb):
        w = _world
        if w.size <= 1:
            return previous(kind, value, tb)
        text = "".join(traceback.format_exception(kind, value, tb))
        text = "".join(f"[rank {w.rank}] {line}\n" for line in text.splitlines())
        abort(f"failed with {kind.__name__}: {value}; aborting all {w.size} ranks", code=1,
              detail=text)

    sys.excepthook = hook
