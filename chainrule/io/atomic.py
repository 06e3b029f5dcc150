"""Atomic file writes: a reader of the target sees the old file or the new one, never half.

The data go to a temporary file in the target's directory (so that the final
rename stays on one filesystem), which is flushed and ``fsync``-ed, then
``os.replace``-d onto the target, and the directory is ``fsync``-ed (best
effort) so that the rename itself survives a power cut. On any error the
temporary file is removed, the target is left as it was, and the error
propagates.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
>>> atomic_write(path, "hello\\n")
>>> open(path).read()
'hello\\n'
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from .._types import StrPath

__all__ = ["atomic_open", "atomic_write", "atomic_savez", "write_json", "write_csv"]


def _fsync_directory(directory: str) -> None:
    """Make a rename inside ``directory`` durable; silently skipped where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    # NOTE: os.umask can only be read by setting it, which races with other
    # threads creating files; Linux shows it in /proc instead.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _target_mode(path: str) -> int:
    """The permissions ``open(path, 'w')`` would leave: the existing file's, or the umask's."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_open(path: StrPath, mode: str = "wb", *, encoding: str = "utf-8",
                newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a file for writing that replaces ``path`` only when the block succeeds.

    Parameters
    ----------
    path : str or os.PathLike
        The target file. A symbolic link is followed: the file it points to is
        replaced, as ``open(path, 'w')`` would write through it.
    mode : {'wb', 'w'}, default 'wb'
        Binary or text.
    encoding : str, default 'utf-8'
        Text mode only.
    newline : str, optional
        Text mode only, as for :func:`open` (``''`` for the ``csv`` module).

    Yields
    ------
    file object
        Writes go to a temporary file in the same directory as ``path``.

    Raises
    ------
    OSError
        When the directory is not writable, the disk is full, and so on; the
        target is then untouched and no temporary file is left behind. Any
        exception raised inside the block likewise propagates and leaves the
        target untouched.

    Notes
    -----
    The new file gets the permissions of the file it replaces, or those a new
    file gets from ``open`` (``0o666`` less the umask), not ``mkstemp``'s ``0o600``.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "data.bin")
    >>> with atomic_open(path) as f:
    ...     _ = f.write(b"\\x00\\x01")
    >>> open(path, "rb").read()
    b'\\x00\\x01'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    target = os.path.realpath(os.fspath(path))
    directory, name = os.path.split(target)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        f: IO[Any]
        if mode == "wb":
            f = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding=encoding, newline=newline)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # best effort, as a plain open() would
            os.chmod(tmp, _target_mode(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def atomic_write(path: StrPath, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`).

    Parameters
    ----------
    path : str or os.PathLike
        The target file.
    data : bytes, bytearray, memoryview or str
        The whole content; ``str`` is encoded as UTF-8.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> atomic_write(path, b"abc")
    >>> open(path, "rb").read()
    b'abc'
    """
    if isinstance(data, str):
        mode = "w"
    elif isinstance(data, (bytes, bytearray, memoryview)):
        mode = "wb"
    else:
        raise TypeError(f"atomic_write: data must be bytes or str, got {type(data).__name__}")
    with atomic_open(path, mode, newline="") as f:  # newline='': write str exactly as given
        f.write(data)


def atomic_savez(path: StrPath, /, **arrays: npt.ArrayLike) -> None:
    """Save named arrays to an ``.npz`` file atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The target file, used as given: unlike ``np.savez``, no ``.npz`` is appended.
    **arrays : array-like
        The arrays, by name. Object arrays are refused (ValueError), since they
        would need pickle: chainrule loads ``.npz`` files with
        ``np.load(path, allow_pickle=False)``, so that a file cannot run code.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
    >>> atomic_savez(path, w=np.eye(2))
    >>> np.load(path, allow_pickle=False)["w"].tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    with atomic_open(path, "wb") as f:
        np.savez(f, allow_pickle=False, **arrays)


def _json_default(obj: object) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"write_json: {type(obj).__name__} is not JSON serializable")


def write_json(path: StrPath, obj: Any) -> None:
    """Write ``obj`` as indented JSON (``indent=2``, UTF-8, final newline), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The target file.
    obj : object
        Anything ``json.dumps`` accepts, plus NumPy scalars and arrays (as
        numbers and lists) and paths (as strings). Serialisation happens
        before the file is touched, so a TypeError leaves the old file.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.json")
    >>> write_json(path, {"loss": np.float32(0.5)})
    >>> open(path).read()
    '{\\n  "loss": 0.5\\n}\\n'
    """
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    atomic_write(path, text)


def write_csv(path: StrPath, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a CSV file (a header line, then one line per row), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The target file.
    header : sequence of str
        The column names.
    rows : iterable of sequences
        Each as long as ``header``; values are written with ``str``.

    Raises
    ------
    ValueError
        When a row's length differs from the header's; the target is then untouched.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.csv")
    >>> write_csv(path, ["epoch", "loss"], [[1, 0.5], [2, 0.25]])
    >>> open(path).read().splitlines()
    ['epoch,loss', '1,0.5', '2,0.25']
    """
    header = list(header)
    with atomic_open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for i, values in enumerate(rows):
            row = list(values)
            if len(row) != len(header):
                raise ValueError(f"write_csv: row {i} has {len(row)} values but the header "
                                 f"has {len(header)} columns")
            writer.writerow(row)
