"""NumPy files, memory-mapped: ``.npy`` directly, ``.npz`` members through the zip layout.

``np.load`` ignores ``mmap_mode`` for ``.npz`` archives. A member stored without
compression (``np.savez``) is a plain ``.npy`` file at some offset inside the zip,
so we parse its header and map the data where it lies. Pickles are never loaded.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

from .._types import StrPath
from ..errors import DataError
from .table import Table, check_task, target_column

_LOCAL_HEADER = b"PK\x03\x04"
_FINITE_CHUNK = 1 << 20  # elements per chunk of the NaN/inf scan


def existing_file(path: StrPath) -> Path:
    """``Path(path)``, or DataError if there is no such file."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if not p.is_file():
        raise DataError(f"{p}: not a file")
    return p


def _no_pickle(where):
    return DataError(f"{where}: holds Python objects (a pickle); chainrule never loads pickles "
                     f"(allow_pickle=False). Save numeric or string arrays instead")


def load_npy(path: StrPath) -> np.ndarray:
    """Memory-map a ``.npy`` file (read-only, ``allow_pickle=False``)."""
    path = existing_file(path)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        msg = str(e)
        if "object" in msg.lower() or "pickle" in msg.lower():
            raise _no_pickle(path) from None
        raise DataError(f"{path}: not a .npy file ({msg})") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy file ({e})") from None


def _member_memmap(path, info):
    """np.memmap of an uncompressed .npz member, or None if its header cannot be mapped."""
    with open(path, "rb") as raw:
        raw.seek(info.header_offset)
        local = raw.read(30)
        if local[:4] != _LOCAL_HEADER:
            raise DataError(f"{path}: corrupt zip archive (member {info.filename!r})")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        start = info.header_offset + 30 + name_len + extra_len
        raw.seek(start)
        version = np.lib.format.read_magic(raw)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(raw)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(raw)
        else:  # format 3.0 (utf-8 field names): let np.load read it
            return None
        offset = raw.tell()
    if dtype.hasobject:
        raise _no_pickle(f"{path}[{info.filename}]")
    if 0 in shape:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")


def npz_members(path: StrPath) -> dict[str, zipfile.ZipInfo]:
    """``{array name: ZipInfo}`` of a ``.npz`` archive."""
    path = existing_file(path)
    try:
        with zipfile.ZipFile(path) as zf:
            return {n[:-4]: zf.getinfo(n) for n in zf.namelist() if n.endswith(".npy")}
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path}: not a readable .npz archive ({e})") from None


def load_npz_member(path: StrPath, name: str,
                    members: dict[str, zipfile.ZipInfo] | None = None) -> np.ndarray:
    """Member ``name`` of a ``.npz`` archive: memory-mapped when stored uncompressed
    (``np.savez``), loaded into memory when compressed (``np.savez_compressed``)."""
    members = npz_members(path) if members is None else members
    if name not in members:
        raise DataError(f"{path}: no array named {name!r}; it holds {sorted(members)}")
    info = members[name]
    out = None
    if info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1:
        try:
            out = _member_memmap(path, info)
        except ValueError as e:
            raise DataError(f"{path}[{name}]: malformed .npy header ({e})") from None
    if out is None:
        try:
            with np.load(path, allow_pickle=False) as z:
                out = z[name]
        except ValueError:
            raise _no_pickle(f"{path}[{name}]") from None
    return out


def _features(X, source):
    if X.dtype.kind not in "biuf":
        raise DataError(f"{source}: features must be numeric, got dtype {X.dtype}")
    if X.ndim == 0 or X.shape[0] == 0:
        raise DataError(f"{source}: no rows (shape {X.shape})")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.dtype.kind == "f":  # chunk by chunk: a memmap is never read whole into memory
        row = max(1, int(np.prod(X.shape[1:])))
        step = max(1, _FINITE_CHUNK // row)
        for start in range(0, X.shape[0], step):
            ok = np.isfinite(X[start:start + step]).reshape(-1, row).all(axis=1)
            if not ok.all():
                i = start + int(np.flatnonzero(~ok)[0])
                j = int(np.flatnonzero(~np.isfinite(np.asarray(X[i]).ravel()))[0])
                value = np.asarray(X[i]).ravel()[j]
                raise DataError(f"{source}: feature x{j}, row {i + 1} (1-based, X[{i}]): "
                                f"value {value} is not finite (NaN or inf)")
    return X


def _table(X, y, source, y_name, task):
    X = _features(X, source)
    names = [f"x{j}" for j in range(int(np.prod(X.shape[1:])))]
    if y is None:
        return Table(X=X, feature_names=names, source=source)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise DataError(f"{source}: X has {X.shape[0]} rows but y has shape {y.shape}; "
                        f"y must hold one value per row")
    if y.dtype.kind not in "biufU":
        raise DataError(f"{source}: target must be numeric or strings, got dtype {y.dtype}")
    y, classes, task = target_column(y, y_name, source, task)
    return Table(X=X, y=y, feature_names=names, target_name=y_name, classes=classes,
                 source=source, task=task)


def read_npz(path: StrPath, y_name: str = "y", required: bool = False, task: str = "auto"
             ) -> Table:
    """Read members ``'X'`` and ``y_name`` of a ``.npz`` archive (see :func:`read_npy`)."""
    check_task(task)
    path = existing_file(path)
    members = npz_members(path)
    X = load_npz_member(path, "X", members)
    y = None
    if required or y_name in members:
        y = load_npz_member(path, y_name, members)
    return _table(X, y, str(path), y_name, task)


def read_npy(path_X: StrPath, path_y: StrPath | None = None, task: str = "auto") -> Table:
    """Memory-map NumPy arrays: features from ``path_X``, an optional target from ``path_y``.

    ``.npy`` files are opened with ``np.load(mmap_mode='r', allow_pickle=False)``. A
    ``.npz`` ``path_X`` supplies members ``'X'`` and (if present) ``'y'``; members saved
    by ``np.savez`` are memory-mapped in place, members saved by ``np.savez_compressed``
    cannot be and are loaded into memory. Object arrays (pickles) are refused.

    Parameters
    ----------
    path_X : str or PathLike
        ``.npy`` of shape (n_samples, n_features) (1-D becomes one feature; more axes
        are kept, e.g. images) or ``.npz``.
    path_y : str or PathLike, optional
        ``.npy`` of shape (n_samples,): numbers or strings. It is read into memory.
    task : {'auto', 'classification', 'regression'}, default 'auto'
        How the target is encoded, as in :func:`read_csv`.

    Returns
    -------
    Table
        ``X`` is the memmap itself, in the file's dtype (no copy: the DataLoader converts
        each batch to float32). X is scanned once, chunk by chunk, for NaN and inf.

    Raises
    ------
    DataError
        Missing file, pickled data, non-numeric X, NaN/inf in X or y, mismatched lengths.
    """
    check_task(task)
    if Path(path_X).suffix.lower() == ".npz":
        if path_y is not None:
            raise DataError(f"{path_X}: a .npz holds its own 'y'; path_y is not used with it")
        return read_npz(path_X, task=task)
    X = load_npy(path_X)
    y = None if path_y is None else load_npy(path_y)
    return _table(X, y, str(path_X), None if path_y is None else Path(path_y).stem, task)
