"""Creating tensors: from data (``tensor``, ``as_tensor``) and by shape (``zeros``, ``randn``...).

Every helper takes ``device=``; without it, host data goes to the default device
(the CPU unless :func:`chainrule.set_default_device` changed it) and device arrays
stay where they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .backend import DEFAULT_FLOAT, array_module, get_rng, is_float
from .device import Device, place
from .tensor import Tensor, as_array

__all__ = ["tensor", "as_tensor", "zeros", "ones", "full", "zeros_like", "ones_like",
           "randn", "rand", "arange"]


def tensor(data: Any, dtype: npt.DTypeLike | None = None, requires_grad: bool = False,
           device: str | Device | None = None) -> Tensor:
    """Create a tensor from array-like data (copied).

    Parameters
    ----------
    data : array_like
        Numbers, nested lists, an ndarray or a Tensor.
    dtype : dtype, optional
        Python floats and lists default to float32; a float64 ndarray stays float64.
    requires_grad : bool, default False
        Record ops on this tensor so that ``backward`` fills its ``grad``. Only
        floating-point tensors can require gradients.
    device : str or Device, optional
        Where the tensor lives (``"cpu"``, ``"cuda"``, ``"cuda:1"``). By default
        device arrays (CuPy) stay where they are and host data goes to the default
        device (the CPU, see :func:`chainrule.set_default_device`).

    Examples
    --------
    >>> x = cr.tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([[2., 4.]], dtype=float32)
    """
    arr = as_array(data, dtype, array_module(getattr(data, "data", data)))
    moved = place(arr, device)
    arr = moved.copy() if moved is arr else moved
    if requires_grad and not is_float(arr.dtype):
        raise ValueError(f"tensor(): only floating-point tensors can require gradients, "
                         f"got dtype {arr.dtype}")
    return Tensor(arr, bool(requires_grad))


def as_tensor(data: Any, dtype: npt.DTypeLike | None = None,
              device: str | Device | None = None) -> Tensor:
    """Wrap array-like data as a tensor without copying when it already is an array
    of that dtype on that device (see :func:`tensor` for the arguments)."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data if device is None else data.to(device)
    return Tensor(place(as_array(data, dtype, array_module(getattr(data, "data", data))),
                         device))


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _make(arr: Any, requires_grad: bool, device: str | Device | None = None) -> Tensor:
    if requires_grad and not is_float(arr.dtype):
        raise ValueError(f"only floating-point tensors can require gradients, got {arr.dtype}")
    return Tensor(place(arr, device), requires_grad)


def zeros(*shape: int | Sequence[int], dtype: npt.DTypeLike = DEFAULT_FLOAT,
          requires_grad: bool = False, device: str | Device | None = None) -> Tensor:
    """A tensor of zeros of the given shape (ints or one tuple); float32 by default."""
    return _make(np.zeros(_shape(shape), dtype=dtype), requires_grad, device)


def ones(*shape: int | Sequence[int], dtype: npt.DTypeLike = DEFAULT_FLOAT,
         requires_grad: bool = False, device: str | Device | None = None) -> Tensor:
    """A tensor of ones of the given shape (ints or one tuple); float32 by default."""
    return _make(np.ones(_shape(shape), dtype=dtype), requires_grad, device)


def full(shape: int | Sequence[int], fill_value: float, dtype: npt.DTypeLike = DEFAULT_FLOAT,
         requires_grad: bool = False, device: str | Device | None = None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``; float32 by default."""
    return _make(np.full(shape, fill_value, dtype=dtype), requires_grad, device)


def zeros_like(t: Tensor, dtype: npt.DTypeLike | None = None,
               requires_grad: bool = False) -> Tensor:
    """Zeros with the shape (and, unless given, dtype) of tensor ``t``."""
    return _make(array_module(t.data).zeros_like(t.data, dtype=dtype), requires_grad)


def ones_like(t: Tensor, dtype: npt.DTypeLike | None = None,
              requires_grad: bool = False) -> Tensor:
    """Ones with the shape (and, unless given, dtype) of tensor ``t``."""
    return _make(array_module(t.data).ones_like(t.data, dtype=dtype), requires_grad)


def randn(*shape: int | Sequence[int], dtype: npt.DTypeLike = DEFAULT_FLOAT,
          requires_grad: bool = False, device: str | Device | None = None) -> Tensor:
    """Standard normal samples from chainrule's seeded generator."""
    return _make(get_rng().standard_normal(_shape(shape)).astype(dtype), requires_grad, device)


def rand(*shape: int | Sequence[int], dtype: npt.DTypeLike = DEFAULT_FLOAT,
         requires_grad: bool = False, device: str | Device | None = None) -> Tensor:
    """Uniform samples in [0, 1) from chainrule's seeded generator."""
    return _make(get_rng().random(_shape(shape)).astype(dtype), requires_grad, device)


def arange(start: float, stop: float | None = None, step: float = 1,
           dtype: npt.DTypeLike | None = None, device: str | Device | None = None) -> Tensor:
    """Evenly spaced values in ``[start, stop)`` as numpy.arange gives (floats in float32)."""
    arr = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype.kind == "f":
        arr = arr.astype(DEFAULT_FLOAT)
    return Tensor(place(arr, device))
