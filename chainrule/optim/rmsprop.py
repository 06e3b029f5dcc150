"""RMSprop (Hinton's lecture 6e): steps divided by a running RMS of the gradient."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..backend import Array, array_module
from ._check import in_range, non_negative
from .optimizer import Optimizer, Params, effective_grad


def rmsprop_update(param: Array, grad: Array, square_avg: Array, grad_avg: Array | None = None,
                   momentum_buffer: Array | None = None, *, lr: float, alpha: float,
                   eps: float, weight_decay: float = 0.0, momentum: float = 0.0,
                   centered: bool = False, maximize: bool = False,
                   work: tuple[Array, Array] | None = None) -> None:
    """One RMSprop step on arrays, in place on ``param`` and the buffers.

    The formula is in :class:`RMSprop`. ``grad_avg`` is needed when ``centered``,
    ``momentum_buffer`` when ``momentum > 0`` (both start at zeros).

    Parameters
    ----------
    param, grad, square_avg, grad_avg, momentum_buffer : ndarray of the same shape
    work : pair of ndarray like param, optional
        Buffers for the intermediate results (bitwise the same result, no temporaries).
    """
    if centered and grad_avg is None:
        raise ValueError("rmsprop_update: centered=True needs grad_avg")
    if momentum > 0 and momentum_buffer is None:
        raise ValueError("rmsprop_update: momentum > 0 needs momentum_buffer")
    xp = array_module(param)
    s, s2 = work if work is not None else (xp.empty_like(param), None)
    g = effective_grad(param, grad, weight_decay, maximize, out=s2)
    square_avg *= alpha
    square_avg += xp.multiply(xp.multiply(g, g, out=s), 1 - alpha, out=s)
    if grad_avg is not None and centered:
        grad_avg *= alpha
        grad_avg += xp.multiply(g, 1 - alpha, out=s)
        # NOTE: v - gbar**2 is a variance, >= 0 up to rounding (PyTorch does the same).
        avg = xp.sqrt(xp.subtract(square_avg, xp.multiply(grad_avg, grad_avg, out=s), out=s),
                      out=s)
    else:
        avg = xp.sqrt(square_avg, out=s)
    avg += eps
    ratio = xp.divide(g, avg, out=s)
    if momentum_buffer is not None and momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += ratio
        ratio = momentum_buffer
    param -= xp.multiply(ratio, lr, out=s)


class RMSprop(Optimizer):
    r"""RMSprop: divide the gradient by a running root mean square of its recent values.

    With :math:`\rho` the learning rate and :math:`g` the gradient (PyTorch's
    formulation; v, gbar and b start at 0):

    .. code-block:: text

        g <- -g                           if maximize
        g <- g + weight_decay * theta     if weight_decay != 0
        v <- alpha * v + (1 - alpha) * g**2
        if centered:  gbar <- alpha * gbar + (1 - alpha) * g;   d <- sqrt(v - gbar**2) + eps
        else:         d <- sqrt(v) + eps
        if momentum > 0:  b <- momentum * b + g / d;   theta <- theta - rho * b
        else:             theta <- theta - rho * g / d

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups (dicts) with their own hyper-parameters.
    lr : float, default 1e-2
        Learning rate :math:`\rho`, >= 0.
    alpha : float, default 0.99
        Smoothing constant of the squared-gradient average, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator for stability, >= 0.
    weight_decay : float, default 0
        L2 penalty coefficient, >= 0.
    momentum : float, default 0
        Momentum factor, >= 0.
    centered : bool, default False
        Normalise by an estimate of the gradient's variance instead of its second moment.
    maximize : bool, default False
        Ascend the objective instead of descending it.

    Examples
    --------
    >>> opt = cr.optim.RMSprop(model.parameters(), lr=1e-3, centered=True)
    """

    _state_keys = frozenset({"step", "square_avg", "grad_avg", "momentum_buffer"})

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 maximize: bool = False, fused: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults, fused=fused)

    def _validate(self, group: Mapping[str, Any]) -> None:
        super()._validate(group)
        in_range("alpha", group["alpha"], 0, 1)
        non_negative("eps", group["eps"])
        non_negative("weight_decay", group["weight_decay"])
        non_negative("momentum", group["momentum"])

    def _update(self, param: Array, grad: Array, state: dict[str, Any],
                group: Mapping[str, Any]) -> None:
        xp = array_module(param)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = xp.zeros_like(param)
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = xp.zeros_like(param)
        state["step"] = int(state["step"]) + 1
        rmsprop_update(param, grad, state["square_avg"], state.get("grad_avg"),
                       state.get("momentum_buffer"), lr=float(group["lr"]),
                       alpha=float(group["alpha"]), eps=float(group["eps"]),
                       weight_decay=float(group["weight_decay"]),
                       momentum=float(group["momentum"]), centered=bool(group["centered"]),
                       maximize=bool(group["maximize"]),
                       work=(self._work(param), self._work(param, 1)))
