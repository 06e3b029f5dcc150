"""Devices: where a tensor's memory lives.

``cpu`` is the host, with NumPy arrays. ``cuda:N`` is GPU number N, with CuPy
arrays. The same op code serves both, because every op takes its array module
from its operands; moving data between devices is the only thing that needs to
know which device is which, and it happens here.

>>> import chainrule as cr
>>> cr.device("cpu")
device(type='cpu')
>>> x = cr.tensor([1.0, 2.0], device="cpu")
>>> x.device
device(type='cpu')
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from . import backend
from .errors import ChainruleError

if TYPE_CHECKING:
    from .nn.module import Module


class DeviceError(ChainruleError, ValueError):
    """A device that is not present, or tensors on different devices in one op."""


class Device:
    """A device: ``Device("cpu")`` or ``Device("cuda", 0)``. Build one with :func:`device`.

    Attributes
    ----------
    type : str
        ``"cpu"``, ``"cuda"`` (or another registered device type).
    index : int or None
        The device number; ``None`` for the CPU.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str, index: int | None = None) -> None:
        self.type = type
        self.index: int | None = None if type == "cpu" else (0 if index is None else int(index))

    @property
    def xp(self) -> ModuleType:
        """The array module of this device (``numpy`` or ``cupy``)."""
        return np if self.type == "cpu" else backend.BACKENDS[self.type].xp

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except DeviceError:
                return False
        return isinstance(other, Device) and (self.type, self.index) == (other.type,
                                                                         other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"


CPU = Device("cpu")
_default = CPU


def _parse(spec: str) -> Device:
    name, _, idx = spec.strip().lower().partition(":")
    if name == "cpu" and not idx:
        return CPU
    if name == "auto" and not idx:
        return Device("cuda", 0) if cuda.is_available() else CPU
    b = backend.BACKENDS.get(name)
    if b is None:
        if name == "cuda":
            raise DeviceError(
                "device 'cuda': CuPy is not installed (pip install 'chainrule[cuda12]' or "
                "'chainrule[cuda13]', matching your CUDA version), or it failed to import")
        known = ", ".join(["cpu", "auto", *sorted(backend.BACKENDS)])
        raise DeviceError(f"device {spec!r}: unknown device type {name!r} (known: {known})")
    if idx and not idx.isdigit():
        raise DeviceError(f"device {spec!r}: the index after ':' must be a non-negative "
                          "integer")
    index = int(idx) if idx else 0
    count = b.device_count()
    if index >= count:
        have = "none is present" if count == 0 else f"{count} present (0 to {count - 1})"
        raise DeviceError(f"device {spec!r}: no such {name} device; {have}")
    return Device(name, index)


def device(spec: str | Device | None = None) -> Device:
    """The device named by ``spec``.

    Parameters
    ----------
    spec : str or Device, optional
        ``"cpu"``, ``"cuda"`` (GPU 0), ``"cuda:N"``, or ``"auto"`` (the first GPU
        when one is usable, else the CPU). ``None`` gives the default device
        (the CPU unless :func:`set_default_device` changed it).

    Returns
    -------
    Device

    Raises
    ------
    DeviceError
        For an unknown name or a device that is not present.
    """
    if spec is None:
        return _default
    if isinstance(spec, Device):
        return spec
    if not isinstance(spec, str):
        raise DeviceError(f"device: expected a string such as 'cpu' or 'cuda:0', got "
                          f"{type(spec).__name__}")
    return _parse(spec)


def get_default_device() -> Device:
    """The device that creation helpers use when given no ``device=``."""
    return _default


def set_default_device(spec: str | Device | None) -> None:
    """Set the device that creation helpers and new layers use (``None``: the CPU)."""
    global _default
    _default = CPU if spec is None else device(spec)


def is_device_spec(a: object) -> bool:
    """True for a Device or a string naming one (``"cpu"``, ``"cuda:1"``), False for a dtype."""
    if isinstance(a, Device):
        return True
    return isinstance(a, str) and a.partition(":")[0].strip().lower() in (
        "cpu", "cuda", "auto", *backend.BACKENDS)


def device_of(array: object) -> Device:
    """The device holding ``array`` (the CPU for NumPy arrays and Python numbers)."""
    for b in backend.BACKENDS.values():
        if isinstance(array, b.array_type):
            return Device(b.name, b.index_of(array))
    return CPU


def module_device(module: Module) -> Device:
    """The device of a module's first parameter (the CPU for a module without any)."""
    for p in module.parameters():
        return device_of(p.data)
    return CPU


def to_device(array: Any, dev: Device) -> Any:
    """``array`` on ``dev``: the array itself when it already lives there, else a copy."""
    src = device_of(array)
    if src == dev:
        return array
    host = array if src.type == "cpu" else backend.BACKENDS[src.type].to_host(array)
    if dev.type == "cpu":
        return np.asarray(host)
    assert dev.index is not None  # every device but the CPU has one
    return backend.BACKENDS[dev.type].from_host(np.asarray(host), dev.index)


def place(array: Any, dev: str | Device | None = None) -> Any:
    """``array`` on ``dev``; with no ``dev``, a host array goes to the default device
    (:func:`set_default_device`) and a device array stays where it is."""
    if dev is None:
        dev = _default
        if dev.type == "cpu" or not isinstance(array, np.ndarray):
            return array
    return to_device(array, device(dev))


def to_host(array: Any) -> np.ndarray:
    """``array`` as a NumPy array (copied from the device when it lives on one)."""
    if isinstance(array, np.ndarray):
        return array
    for b in backend.BACKENDS.values():
        if isinstance(array, b.array_type):
            return b.to_host(array)
    return np.asarray(array)


def check_same_device(name: str, arrays: Iterable[object]) -> None:
    """Raise :class:`DeviceError` naming both devices when ``arrays`` live on different ones."""
    first = None
    for a in arrays:
        if a is None or not hasattr(a, "dtype"):
            continue
        d = device_of(a)
        if first is None:
            first = d
        elif d != first:
            raise DeviceError(f"{name}: expected all tensors on one device, found {first} "
                              f"and {d}; move them with .to(device)")


class _Cuda:
    """``cr.cuda``: what the machine's GPUs offer (through CuPy)."""

    @staticmethod
    def is_available() -> bool:
        """True when CuPy imports and sees at least one GPU."""
        b = backend.BACKENDS.get("cuda")
        return b is not None and b.device_count() > 0

    @staticmethod
    def device_count() -> int:
        """The number of GPUs CuPy sees (0 without CuPy)."""
        b = backend.BACKENDS.get("cuda")
        return 0 if b is None else b.device_count()

    def __repr__(self) -> str:
        return "<chainrule.cuda>"


cuda = _Cuda()
