"""Finite-difference gradient checking of any function of tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .device import device_of, to_device, to_host
from .tensor import Tensor, no_grad


def _as_float64(t: Tensor) -> np.ndarray:
    return t.data.astype(np.float64, order="C")  # C order: reshape(-1) must be a view


def gradcheck(fn: Callable[..., Tensor], *tensors: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> bool:
    """Compare backpropagated gradients with central differences, in float64.

    ``fn(*tensors)`` must return a Tensor. The inputs that require grad are
    copied to float64; the output is reduced to a scalar as ``sum(out * r)``
    with a fixed random ``r``, so every output element is checked.

    Returns
    -------
    True
        When every gradient element satisfies ``|analytic - numeric| <= atol + rtol * |numeric|``.

    Raises
    ------
    AssertionError
        Naming the input (by position), the worst element, both values.
    """
    inputs = [Tensor(_as_float64(t), True) if isinstance(t, Tensor) and t.requires_grad else t
              for t in tensors]
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    r = np.random.default_rng(seed).standard_normal(out.shape)
    r = to_device(r, device_of(out.data))  # the projection lives where the output does

    def scalar() -> float:
        with no_grad():
            return float((fn(*inputs).data * r).sum())

    (out * Tensor(r)).sum().backward()
    for i in checked:
        t = inputs[i]
        analytic = np.zeros(t.shape) if t.grad is None else to_host(t.grad)
        if analytic.shape != t.shape:
            raise AssertionError(f"gradcheck: input {i} (shape {t.shape}) got a gradient of "
                                 f"shape {analytic.shape}")
        numeric = np.zeros(t.shape, dtype=t.dtype)
        flat = t.data.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            hi = scalar()
            flat[j] = orig - eps
            lo = scalar()
            flat[j] = orig
            numeric.reshape(-1)[j] = (hi - lo) / (2 * eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        # NOTE: a NaN (in either gradient) fails too: NaN > 0 is False, so test err <= 0.
        err = np.where(err <= 0, err, np.inf)
        if err.size and err.max() > 0:
            k = np.unravel_index(int(np.argmax(err)), err.shape)
            raise AssertionError(
                f"gradcheck: input {i} (shape {t.shape}) element {tuple(int(v) for v in k)}: "
                f"backprop gives {analytic[k]:.8g}, finite differences give {numeric[k]:.8g}"
            )
    return True
