"""Safe model files: ``cr.save(model, path)`` and ``cr.load(path)``.

A model file is a safetensors file: the weights as named tensors, and in its
metadata a JSON description of the architecture (the module tree with each
layer's constructor arguments), the dtype, chainrule's version, the format
version and any extra information (class labels, feature names, scaler
statistics, training configuration). Loading rebuilds the network from a
fixed registry of chainrule's own layers: nothing named in the file is
imported, evaluated or unpickled.
"""

from __future__ import annotations

import inspect
import math
import os

import numpy as np

from .._version import __version__
from ..backend import get_rng_state, set_rng_state
from ..device import to_host
from ..errors import ModelFileError
from ..nn.module import LAYER_REGISTRY, Module
from . import tensorfile

FORMAT = "chainrule-model"
FORMAT_VERSION = 1
STATE_DICT_FORMAT = "chainrule-state-dict"
MODEL_FILENAME = "model.safetensors"
_MAX_DEPTH = 64
_MAX_LAYERS = 100_000
_FLOAT_DTYPES = ("float16", "float32", "float64")
# Elements a description may state beyond those stored. Counts are exact (a layer without
# weights states 0), so a valid file needs none; the slack lets a file that lost or renamed
# a few tensors be named precisely ("missing tensors [...]") instead of "larger than the
# weights", and caps what a hostile file can make the loader allocate at 4-8 MB.
_SLACK_ELEMENTS = 1 << 20


# ------------------------------------------------------------------ architecture
def _encode(value, where):
    if isinstance(value, Module):
        return {"module": describe(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"dtype": np.dtype(value).name}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, where) for v in value]
        return items if isinstance(value, list) else {"tuple": items}
    raise ValueError(f"cannot describe argument {where} of type {type(value).__name__}; "
                     f"save the weights with cr.io.save_state_dict instead")


def describe(module):
    """The JSON description of ``module``: its class and constructor arguments, recursively."""
    cls = type(module)
    if LAYER_REGISTRY.get(cls.__name__) is not cls:
        raise ValueError(
            f"cannot save a {cls.__name__}: a model file can only describe networks built from "
            f"chainrule's own layers (Sequential, Linear, Residual, ...). Save the weights with "
            f"cr.io.save_state_dict(model.state_dict(), path) and rebuild the class in code")
    args, kwargs = module._init_args
    return {"type": cls.__name__,
            "args": [_encode(a, f"{i} of {cls.__name__}") for i, a in enumerate(args)],
            "kwargs": {k: _encode(v, f"{k!r} of {cls.__name__}") for k, v in kwargs.items()}}


def _decode(value, path, depth, budget):
    if isinstance(value, list):
        return [_decode(v, path, depth, budget) for v in value]
    if isinstance(value, dict):
        if set(value) == {"module"}:
            return _build(value["module"], path, depth + 1, budget)
        if set(value) == {"tuple"} and isinstance(value["tuple"], list):
            return tuple(_decode(v, path, depth, budget) for v in value["tuple"])
        if set(value) == {"dtype"} and value["dtype"] in _FLOAT_DTYPES:
            return value["dtype"]
        raise ModelFileError(f"{path}: unrecognised argument {str(value)[:80]} in the "
                             f"architecture")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ModelFileError(f"{path}: unrecognised argument in the architecture")


def _modules_in(value):
    """The modules passed as an argument (alone, or inside lists and tuples)."""
    if isinstance(value, Module):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _modules_in(v)


def _message(e):
    return (str(e).splitlines() or [""])[0][:200]


def stated_elements(cls, args, kwargs, path="<model>", name=None):
    """The array elements that ``cls(*args, **kwargs)`` states it allocates itself (its
    ``_parameter_count``, given the arguments bound with their defaults), before building.

    Raises :class:`ModelFileError` for arguments the constructor cannot take.
    """
    name = cls.__name__ if name is None else name
    try:
        bound = inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as e:
        raise ModelFileError(f"{path}: cannot build layer {name}: {_message(e)}") from None
    dtype = bound.arguments.get("dtype")
    if dtype is not None and dtype not in _FLOAT_DTYPES:
        raise ModelFileError(f"{path}: layer {name} has unsupported dtype {str(dtype)[:20]!r}")
    bound.apply_defaults()
    try:
        size = cls._parameter_count(*bound.args, **bound.kwargs)
    except ValueError as e:
        raise ModelFileError(f"{path}: cannot build layer {name}: {_message(e)}") from None
    except (TypeError, OverflowError, ArithmeticError):
        raise ModelFileError(f"{path}: cannot build layer {name}: malformed arguments") \
            from None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ModelFileError(f"{path}: cannot build layer {name}: malformed arguments")
    return size


def allocated_elements(module, given=()):
    """The array elements (parameters and buffers) of ``module``'s tree, less those of the
    modules in ``given`` (the modules passed to its constructor), each array once."""
    skip = {id(m) for m in given}
    seen, total, stack = set(), 0, [module]
    while stack:
        m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        arrays = [p.data for p in m._parameters.values() if p is not None]
        for a in arrays + [b for b in m._buffers.values() if b is not None]:
            if id(a) not in seen:
                seen.add(id(a))
                total += int(a.size)
        stack.extend(c for c in m._modules.values() if id(c) not in skip)
    return total


def _build(spec, path, depth, budget):
    budget["layers"] += 1
    if depth > _MAX_DEPTH or budget["layers"] > _MAX_LAYERS:
        raise ModelFileError(f"{path}: the architecture is nested too deeply or is too large")
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ModelFileError(f"{path}: malformed architecture description")
    name = spec["type"]
    cls = LAYER_REGISTRY.get(name)
    if cls is None or name.startswith("_"):
        raise ModelFileError(f"{path}: unknown layer {name[:80]!r} (not a chainrule layer)")
    if set(spec) - {"type", "args", "kwargs"}:
        raise ModelFileError(f"{path}: malformed description of layer {name}")
    args, kwargs = spec.get("args", []), spec.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ModelFileError(f"{path}: malformed arguments for layer {name}")
    args = [_decode(a, path, depth, budget) for a in args]
    kwargs = {str(k): _decode(v, path, depth, budget) for k, v in kwargs.items()}
    # NOTE: the guard. Each layer states the elements its arguments allocate (exact, not a
    # guess: tests/io/test_layer_registry.py checks every registered layer); their running
    # total may not pass what the file stores, so a few bytes of JSON cannot ask for
    # gigabytes. The check comes before the constructor allocates anything.
    size = stated_elements(cls, args, kwargs, path, name)
    budget["elements"] += size
    if budget["elements"] > budget["limit"]:
        raise ModelFileError(f"{path}: layer {name} is larger than the weights the file holds")
    try:
        module = cls(*args, **kwargs)
    except (TypeError, ValueError, OverflowError) as e:
        raise ModelFileError(f"{path}: cannot build layer {name}: {_message(e)}") from None
    allocated = allocated_elements(module, [m for v in [*args, *kwargs.values()]
                                            for m in _modules_in(v)])
    if allocated != size:  # a layer whose _parameter_count is wrong: a chainrule bug
        raise ModelFileError(f"{path}: layer {name} allocated {allocated} weights but states "
                             f"{size} (a bug in chainrule's {name}._parameter_count; please "
                             f"report it)")
    return module


def build(spec, path="<model>", max_elements=None):
    """Rebuild a module from :func:`describe`'s output, using only chainrule's layer registry.

    Parameters
    ----------
    spec : dict
        As returned by :func:`describe` (untrusted: it may come from a file).
    path : str
        Named in error messages.
    max_elements : int, optional
        The most weights (array elements) the network may have; a larger
        description raises :class:`ModelFileError` before it allocates them.

    Notes
    -----
    The global random generator is left as it was (the layers' random
    initialisation draws from a saved and restored state).
    """
    limit = int(max_elements) + _SLACK_ELEMENTS if max_elements is not None else math.inf
    budget = {"layers": 0, "elements": 0, "limit": limit}
    state = get_rng_state()
    try:
        return _build(spec, path, 0, budget)
    finally:
        set_rng_state(state)


# ------------------------------------------------------------------ files
def _dtype_of(model):
    dtypes = {p.data.dtype.name for p in model.parameters()}
    dtypes |= {b.dtype.name for _, b in model.named_buffers()
               if b is not None and np.dtype(b.dtype).kind == "f"}
    if len(dtypes) > 1:
        raise ValueError(f"cannot save a model whose weights mix dtypes {sorted(dtypes)}; "
                         f"convert it with model.to(dtype) first")
    dtype = dtypes.pop() if dtypes else "float32"
    if dtype not in _FLOAT_DTYPES:
        raise ValueError(f"cannot save weights of dtype {dtype}")
    return dtype


def _check_describable(model, spec, state):
    """Rebuild ``spec`` and compare with ``model``: a layer changed after construction
    (an attribute set by hand, a module replaced) would otherwise load differently."""
    copy = build(spec).to(_dtype_of(model))
    got = {k: (v.shape, v.dtype) for k, v in copy.state_dict().items()}
    want = {k: (v.shape, v.dtype) for k, v in state.items()}
    if got != want or repr(copy) != repr(model):
        raise ValueError(
            f"cannot save this {type(model).__name__}: it no longer matches the arguments it was "
            f"built with (a layer or an attribute was changed after construction). Save the "
            f"weights with cr.io.save_state_dict(model.state_dict(), path) instead")


def save(model, path, metadata=None):
    """Save ``model`` (architecture and weights) to a safetensors file, atomically.

    Parameters
    ----------
    model : Module
        Built from chainrule's layers (``Sequential``, ``Linear``...). A custom
        Module subclass cannot be described; save its ``state_dict`` with
        :func:`save_state_dict` and rebuild the class in code.
    path : str or PathLike
        The file to write (conventionally ``*.safetensors``). It is replaced
        atomically: a crash leaves the old file or the new one.
    metadata : dict, optional
        Extra values returned by :func:`load_with_metadata`: JSON-able values
        (str, int, float, bool, None, lists, dicts with str keys) and ndarrays
        (stored as tensors, e.g. scaler statistics), such as class labels and
        feature names.

    Raises
    ------
    ValueError
        When the model or the metadata cannot be described without pickle.

    Examples
    --------
    >>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))
    >>> cr.save(model, "iris.safetensors", metadata={"classes": ["setosa", "versicolor",
    ...                                                          "virginica"]})
    >>> same = cr.load("iris.safetensors")
    """
    if not isinstance(model, Module):
        raise TypeError(f"save: expected a chainrule Module, got {type(model).__name__}")
    state = model.state_dict()
    spec = describe(model)
    _check_describable(model, spec, state)
    arrays = {"model." + name: value for name, value in state.items()}
    try:
        extra = tensorfile.flatten(metadata or {}, "extra", arrays)
    except TypeError as e:
        raise ValueError(f"save: metadata: {e} (use JSON values and ndarrays)") from None
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "chainrule_version": __version__,
            "architecture": spec, "dtype": _dtype_of(model), "metadata": extra}
    tensorfile.write(path, arrays, meta)


def _resolve(path):
    path = os.fspath(path)
    if os.path.isdir(path):
        inner = os.path.join(path, MODEL_FILENAME)
        if not os.path.exists(inner):
            raise ModelFileError(f"{path}: this directory holds no {MODEL_FILENAME} (is it a "
                                 f"run directory written by 'chainrule train'?)")
        return inner
    return path


def load_with_metadata(path, device=None):
    """Load a model file (or a run directory's model); returns ``(model, metadata)``.

    ``device`` (``"cpu"``, ``"cuda"``...) is where the weights go (default: the CPU,
    or the default device set with :func:`chainrule.set_default_device`).

    Everything (format, architecture, tensor names, shapes and dtypes, checksum)
    is validated before the weights are copied into the rebuilt model; any
    problem raises :class:`chainrule.errors.ModelFileError`.
    """
    path = _resolve(path)
    arrays, meta = tensorfile.read(path, expect_format=FORMAT)
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path}: unknown model format version {str(version)[:20]} (this "
                             f"chainrule reads version {FORMAT_VERSION}; upgrade chainrule?)")
    dtype = meta.get("dtype", "float32")
    if dtype not in _FLOAT_DTYPES:
        raise ModelFileError(f"{path}: unsupported dtype {str(dtype)[:20]!r}")
    stored = {k[6:]: v for k, v in arrays.items() if k.startswith("model.")}
    model = build(meta.get("architecture"), path,
                  max_elements=sum(int(v.size) for v in stored.values()))
    model.to(dtype)
    expected = model.state_dict()
    missing = [k for k in expected if k not in stored]
    unexpected = [k for k in stored if k not in expected]
    if missing or unexpected:
        what = (f"missing tensors {missing[:5]}" if missing
                else f"unexpected tensors {unexpected[:5]}")
        raise ModelFileError(f"{path}: the weights do not match the architecture: {what}")
    for k, v in expected.items():
        got = stored[k]
        if got.shape != v.shape or got.dtype != v.dtype:
            raise ModelFileError(f"{path}: tensor {k!r} has shape {got.shape} and dtype "
                                 f"{got.dtype}; the architecture needs {v.shape} {v.dtype}")
    used = {"model." + k for k in stored}
    extra_meta = tensorfile.unflatten(meta.get("metadata") or {}, arrays, path, used)
    if not isinstance(extra_meta, dict):
        raise ModelFileError(f"{path}: corrupted metadata: not a mapping")
    stray = sorted(set(arrays) - used)
    if stray:
        raise ModelFileError(f"{path}: unexpected tensors {stray[:5]} in the file")
    model.load_state_dict(stored)
    model.eval()
    if device is not None:
        model.to(device=device)
    return model, extra_meta


def load(path, device=None):
    """Load a model saved by :func:`save` (or a run directory's ``model.safetensors``).

    Parameters
    ----------
    path : str or PathLike
        A model file, or a run directory written by ``chainrule train``.
    device : str or Device, optional
        Where to put the weights (``"cpu"``, ``"cuda"``, ``"cuda:1"``). A model saved
        from any device loads onto any device.

    Returns
    -------
    Module
        The rebuilt network, in evaluation mode, with the saved weights and dtype.

    Raises
    ------
    chainrule.errors.ModelFileError
        For anything that is not a valid chainrule model file (a pickle, an
        archive, a truncated or corrupted file, an unknown layer or format
        version, weights that do not fit the architecture). Nothing from the
        file is executed, imported or unpickled.
    """
    return load_with_metadata(path, device)[0]


def save_state_dict(state, path):
    """Save a ``state_dict`` (name -> array) alone, for custom Module classes.

    Examples
    --------
    >>> cr.io.save_state_dict(model.state_dict(), "weights.safetensors")
    >>> model = model.load_state_dict(cr.io.load_state_dict("weights.safetensors"))
    """
    arrays = {}
    for k, v in state.items():
        a = to_host(getattr(v, "data", v))
        if a.dtype == object:
            raise ValueError(f"save_state_dict: {k!r} is not a numeric array")
        arrays[str(k)] = a
    tensorfile.write(path, arrays, {"format": STATE_DICT_FORMAT, "format_version": 1})


def load_state_dict(path):
    """Load a file written by :func:`save_state_dict`; returns name -> array."""
    arrays, meta = tensorfile.read(path, expect_format=STATE_DICT_FORMAT)
    if meta.get("format_version") != 1:
        raise ModelFileError(f"{path}: unknown state-dict format version "
                             f"{str(meta.get('format_version'))[:20]}")
    return arrays
