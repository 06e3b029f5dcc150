"""Gradient clipping, in place on the parameters' ``.grad`` (PyTorch's semantics)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..backend import Array, array_module
from ..tensor import Tensor
from ._check import is_real, non_negative


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Array]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float | str = 2.0, error_if_nonfinite: bool = False) -> float:
    r"""Rescale the gradients so that their joint norm is at most ``max_norm``.

    The norm is taken over all the gradients together, as if concatenated into one
    vector. When it exceeds ``max_norm`` every gradient is multiplied, in place, by
    ``max_norm / (total_norm + 1e-6)``; otherwise they are left as they are.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        Tensors whose ``.grad`` is clipped (those with ``grad`` None are ignored).
    max_norm : float
        Largest allowed norm, >= 0.
    norm_type : float or 'inf', default 2.0
        The p of the p-norm (> 0), or ``inf`` for the largest absolute value.
    error_if_nonfinite : bool, default False
        Raise ``RuntimeError`` when the total norm is NaN or infinite.

    Returns
    -------
    float
        The total norm of the gradients before clipping.

    Examples
    --------
    >>> loss.backward()
    >>> norm = cr.optim.clip_grad_norm_(model.parameters(), max_norm=1.0)
    >>> opt.step()
    """
    non_negative("max_norm", max_norm)
    if norm_type in ("inf", "Inf"):
        norm_type = math.inf
    if not is_real(norm_type) or not norm_type > 0:
        raise ValueError(f"invalid norm_type: {norm_type!r} (must be a number > 0 or inf)")
    norm_type = float(norm_type)
    grads = _grads(parameters)
    if not any(g.size for g in grads):
        return 0.0
    xp = array_module(grads[0])
    norms = xp.stack([xp.linalg.norm(g.ravel(), ord=norm_type) for g in grads if g.size])
    total = float(xp.linalg.norm(norms.astype(xp.float64), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is "
                           f"{total}; set error_if_nonfinite=False to clip anyway")
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient element, in place, into ``[-clip_value, clip_value]``.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        Tensors whose ``.grad`` is clipped (those with ``grad`` None are ignored).
    clip_value : float
        The bound, >= 0.

    Examples
    --------
    >>> cr.optim.clip_grad_value_(model.parameters(), 0.5)
    """
    non_negative("clip_value", clip_value)
    for g in _grads(parameters):
        xp = array_module(g)
        xp.clip(g, -clip_value, clip_value, out=g)
