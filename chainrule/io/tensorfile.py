"""Arrays plus JSON in one safetensors file: written atomically, read only after validation.

The safetensors layout is an 8-byte little-endian header length, a JSON header
(dtype, shape and byte range of every tensor, and a ``__metadata__`` map of
strings), then the raw tensor bytes. It holds data only: loading it cannot run
code, unlike a pickle. chainrule keeps its own JSON under the metadata key
``"chainrule"``. Nested structures (an optimizer state) are stored by
:func:`flatten`: each array is replaced in the JSON tree by a reference to a
named tensor.

Every file also carries a SHA-256 digest of its chainrule JSON and of every
tensor (name, dtype, shape, bytes), so a flipped byte anywhere that matters is
reported as corruption instead of loading silently different weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from types import ModuleType
from typing import Any, NoReturn

import numpy as np

from .._types import StrPath
from ..backend import is_device_array
from ..device import to_host
from ..errors import ModelFileError

META_KEY = "chainrule"
DIGEST_KEY = "chainrule_sha256"
MAX_HEADER_BYTES = 16 * 1024 * 1024  # a header is a few KB; anything this large is hostile
MAX_JSON_DEPTH = 200  # deeper JSON is hostile (and would exhaust the recursion limit)
_DTYPES = {"F16": 2, "F32": 4, "F64": 8, "BF16": 2, "I8": 1, "I16": 2, "I32": 4, "I64": 8,
           "U8": 1, "U16": 2, "U32": 4, "U64": 8, "BOOL": 1}
_REF = "__tensor__"
_RESERVED = frozenset({_REF, "__int_keys__", "__tuple__"})


def _contiguous(a):
    # NOTE: np.ascontiguousarray would turn a 0-d array into a 1-d one.
    return a if a.flags.c_contiguous else a.copy(order="C")


def flatten(tree: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """Return a JSON-able copy of ``tree`` with every ndarray moved into ``arrays``."""
    if isinstance(tree, np.ndarray) or is_device_array(tree):
        key = prefix if prefix not in arrays else f"{prefix}#{len(arrays)}"
        arrays[key] = _contiguous(to_host(tree))  # device state is saved from the host
        return {_REF: key}
    if isinstance(tree, dict):
        for k in tree:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"cannot store a dict key of type {type(k).__name__}")
            if k in _RESERVED:
                raise TypeError(f"cannot store a dict with the reserved key {k!r}")
        # int keys (optimizer state indices) survive as {"__int_keys__": ...}
        if tree and all(isinstance(k, int) for k in tree):
            return {"__int_keys__": {str(k): flatten(v, f"{prefix}/{k}", arrays)
                                     for k, v in tree.items()}}
        return {str(k): flatten(v, f"{prefix}/{k}", arrays) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        items = [flatten(v, f"{prefix}/{i}", arrays) for i, v in enumerate(tree)]
        return {"__tuple__": items} if isinstance(tree, tuple) else items
    if isinstance(tree, np.generic):
        return tree.item()
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(f"cannot store a value of type {type(tree).__name__} at {prefix!r}")


def unflatten(tree: Any, arrays: dict[str, np.ndarray], path: str = "<file>",
              used: set[str] | None = None) -> Any:
    """Inverse of :func:`flatten`; records the tensors it refers to in ``used``.

    Malformed references raise :class:`ModelFileError` (the tree comes from a file).
    """
    def bad(what):
        raise ModelFileError(f"{path}: corrupted metadata: {what}")

    if isinstance(tree, dict):
        if _REF in tree:
            key = tree[_REF]
            if set(tree) != {_REF} or not isinstance(key, str):
                bad("malformed tensor reference")
            if key not in arrays:
                bad(f"it refers to a tensor {key[:80]!r} that the file does not hold")
            if used is not None:
                used.add(key)
            return arrays[key]
        if "__int_keys__" in tree:
            inner = tree["__int_keys__"]
            if set(tree) != {"__int_keys__"} or not isinstance(inner, dict) or not all(
                    re.fullmatch(r"-?[0-9]{1,18}", k) for k in inner):
                bad("malformed integer-keyed map")
            return {int(k): unflatten(v, arrays, path, used) for k, v in inner.items()}
        if "__tuple__" in tree:
            if set(tree) != {"__tuple__"} or not isinstance(tree["__tuple__"], list):
                bad("malformed tuple")
            return tuple(unflatten(v, arrays, path, used) for v in tree["__tuple__"])
        return {k: unflatten(v, arrays, path, used) for k, v in tree.items()}
    if isinstance(tree, list):
        return [unflatten(v, arrays, path, used) for v in tree]
    return tree


def require_safetensors() -> None:
    """Raise ImportError, saying how to install it, when safetensors is missing."""
    _safetensors()


def _safetensors() -> ModuleType:
    try:
        import safetensors.numpy as st
    except ImportError:
        raise ImportError('chainrule model files need the safetensors package: '
                          'pip install "chainrule[safetensors]"') from None
    return st


def _little_endian(a):
    a = _contiguous(to_host(a))  # device arrays (CuPy) are copied to the host
    return a.astype(a.dtype.newbyteorder("<")) if a.dtype.byteorder == ">" else a


def digest(text: str, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the chainrule JSON ``text`` and of every array (name, dtype, shape, bytes)."""
    h = hashlib.sha256()
    h.update(text.encode("utf-8"))
    for name in sorted(arrays):
        a = _little_endian(arrays[name])
        h.update(f"\0{name}\0{a.dtype.name}\0{list(a.shape)}\0".encode())
        h.update(a.reshape(-1).view(np.uint8))
    return h.hexdigest()


def to_bytes(arrays: dict[str, np.ndarray], meta: Any) -> bytes:
    """Serialise named arrays and a JSON-able ``meta`` to safetensors bytes."""
    st = _safetensors()
    if not _json_depth_ok(meta):
        raise ValueError(f"cannot store metadata nested more than {MAX_JSON_DEPTH} levels deep")
    text = json.dumps(meta, allow_nan=True)
    arrays = {k: _little_endian(v) for k, v in arrays.items()}
    return st.save(arrays, metadata={META_KEY: text, DIGEST_KEY: digest(text, arrays)})


def write(path: StrPath, arrays: dict[str, np.ndarray], meta: Any) -> None:
    """Write atomically (temporary file in the same directory, fsync, rename)."""
    from .atomic import atomic_write

    atomic_write(path, to_bytes(arrays, meta))


def _fail(path: str, what: str) -> NoReturn:
    raise ModelFileError(f"{path}: {what}")


def _json_depth_ok(tree, limit=MAX_JSON_DEPTH):
    """True when ``tree`` nests no deeper than ``limit`` (checked without recursion)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True


def _loads(path, raw, what):
    try:
        tree = json.loads(raw)
    except (ValueError, RecursionError, UnicodeDecodeError):
        _fail(path, f"corrupted file: its {what} is not valid JSON")
    if not isinstance(tree, dict):
        _fail(path, f"corrupted file: its {what} is not a JSON object")
    if not _json_depth_ok(tree):
        _fail(path, f"corrupted file: its {what} is nested too deeply")
    return tree


def _check_header(path, raw, size):
    header = _loads(path, raw, "header")
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                _fail(path, "corrupted file: __metadata__ must map strings to strings")
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            _fail(path, f"corrupted file: bad entry for tensor {name[:80]!r}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _DTYPES:
            _fail(path, f"tensor {name[:80]!r} has unsupported dtype {str(dtype)[:20]!r}")
        if (not isinstance(shape, list) or len(shape) > 32
                or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**40
                           for n in shape)):
            _fail(path, f"tensor {name[:80]!r} has an invalid shape")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            _fail(path, f"tensor {name[:80]!r} has invalid data offsets")
        begin, end = offsets
        if not 0 <= begin <= end <= size:
            _fail(path, f"truncated or corrupted file: tensor {name[:80]!r} lies outside the "
                        f"file")
        if end - begin != math.prod(shape) * _DTYPES[dtype]:
            _fail(path, f"corrupted file: tensor {name[:80]!r} has {end - begin} bytes for "
                        f"shape {shape} of {dtype}")
        spans.append((begin, end))
    position = 0  # the tensors must tile the data section: no holes, no overlaps
    for begin, end in sorted(spans):
        if begin != position:
            _fail(path, "corrupted file: the tensors overlap or leave holes")
        position = end
    if position != size:
        _fail(path, "truncated or corrupted file: its size does not match its header")
    return header


def read(path: StrPath, expect_format: str | None = None
         ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read ``(arrays, meta)`` from a file written by :func:`write`.

    Everything is validated before anything is returned (structure, sizes and
    the SHA-256 digest); any problem raises :class:`ModelFileError` with a
    one-line message. Pickles and archives are recognised and refused without
    being opened as such.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        _fail(path, "no such file")
    if os.path.isdir(path):
        _fail(path, "is a directory, not a model file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        _fail(path, f"cannot be read ({e.strerror or e})")
    n = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else None
    if n is None or not 2 <= n <= min(MAX_HEADER_BYTES, len(data) - 8) or data[8:9] != b"{":
        # NOTE: only a file that cannot be safetensors is sniffed, since a header length
        # of 0x0280..0x05ff begins with the bytes of a pickle's PROTO opcode.
        if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            _fail(path, "is a Python pickle; chainrule never loads pickles (they can run code)")
        if data[:4] == b"PK\x03\x04":
            _fail(path, "is a zip archive (a PyTorch .pt or NumPy .npz file?), not a "
                        "chainrule model file; chainrule loads only safetensors files")
        if data[:6] == b"\x93NUMPY":
            _fail(path, "is a NumPy .npy file, not a chainrule model file")
        if n is None:
            _fail(path, f"truncated or not a model file ({len(data)} bytes)")
        _fail(path, "truncated or not a safetensors model file (bad header)")
    header = _check_header(path, data[8:8 + n], len(data) - 8 - n)
    info = header.get("__metadata__", {})
    meta_text, expected = info.get(META_KEY), info.get(DIGEST_KEY)
    if meta_text is None:
        _fail(path, "is a safetensors file without chainrule metadata")
    if expected is None:
        _fail(path, "corrupted file: it has no checksum")
    meta = _loads(path, meta_text, "chainrule metadata")
    st = _safetensors()
    try:
        arrays = st.load(data)
    except BaseException as e:  # the library's own checks (a Rust panic is a BaseException)
        if isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        first = (str(e).splitlines() or [""])[0][:200]
        _fail(path, f"corrupted file ({type(e).__name__}: {first})")
    if digest(meta_text, arrays) != expected:
        _fail(path, "corrupted file: its checksum does not match its content")
    if expect_format is not None and meta.get("format") != expect_format:
        _fail(path, f"is not a {expect_format} file (format {str(meta.get('format'))[:40]!r})")
    return arrays, meta
