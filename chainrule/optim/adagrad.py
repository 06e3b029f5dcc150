"""Adagrad (Duchi, Hazan & Singer): steps divided by the root of the summed squared gradients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..backend import Array, array_module
from ._check import non_negative
from .optimizer import Optimizer, Params, effective_grad


def adagrad_update(param: Array, grad: Array, state_sum: Array, *, step: int, lr: float,
                   lr_decay: float = 0.0, weight_decay: float = 0.0, eps: float = 1e-10,
                   maximize: bool = False, work: tuple[Array, Array] | None = None) -> None:
    """One Adagrad step on arrays, in place on ``param`` and ``state_sum``.

    The formula is in :class:`Adagrad`; ``step`` is the 1-based count of this update.

    Parameters
    ----------
    param, grad, state_sum : ndarray of the same shape
    work : pair of ndarray like param, optional
        Buffers for the intermediate results (bitwise the same result, no temporaries).
    """
    xp = array_module(param)
    s, s2 = work if work is not None else (xp.empty_like(param), None)
    g = effective_grad(param, grad, weight_decay, maximize, out=s2)
    state_sum += xp.multiply(g, g, out=s)
    denom = xp.sqrt(state_sum, out=s)
    denom += eps
    clr = lr / (1 + (step - 1) * lr_decay)
    param -= xp.multiply(xp.divide(g, denom, out=s), clr, out=s)


class Adagrad(Optimizer):
    r"""Adagrad: per-coordinate learning rates that shrink with the gradients seen so far.

    With :math:`\rho` the learning rate and :math:`g` the gradient at step t = 1, 2, ...
    (PyTorch's formulation; the sum starts at ``initial_accumulator_value``):

    .. code-block:: text

        g <- -g                           if maximize
        g <- g + weight_decay * theta     if weight_decay != 0
        rho_t <- rho / (1 + (t - 1) * lr_decay)
        s <- s + g**2
        theta <- theta - rho_t * g / (sqrt(s) + eps)

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups (dicts) with their own hyper-parameters.
    lr : float, default 1e-2
        Learning rate :math:`\rho`, >= 0.
    lr_decay : float, default 0
        Inverse-time decay of the learning rate, >= 0.
    weight_decay : float, default 0
        L2 penalty coefficient, >= 0.
    initial_accumulator_value : float, default 0
        Starting value of the sum of squared gradients, >= 0.
    eps : float, default 1e-10
        Added to the denominator for stability, >= 0.
    maximize : bool, default False
        Ascend the objective instead of descending it.

    Examples
    --------
    >>> opt = cr.optim.Adagrad(model.parameters(), lr=0.1)
    """

    _state_keys = frozenset({"step", "sum"})

    def __init__(self, params: Params, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, maximize: bool = False, fused: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults, fused=fused)

    def _validate(self, group: Mapping[str, Any]) -> None:
        super()._validate(group)
        non_negative("lr_decay", group["lr_decay"])
        non_negative("weight_decay", group["weight_decay"])
        non_negative("initial_accumulator_value", group["initial_accumulator_value"])
        non_negative("eps", group["eps"])

    def _update(self, param: Array, grad: Array, state: dict[str, Any],
                group: Mapping[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["sum"] = array_module(param).full_like(
                param, float(group["initial_accumulator_value"]))
        state["step"] = int(state["step"]) + 1
        adagrad_update(param, grad, state["sum"], step=state["step"], lr=float(group["lr"]),
                       lr_decay=float(group["lr_decay"]),
                       weight_decay=float(group["weight_decay"]), eps=float(group["eps"]),
                       maximize=bool(group["maximize"]),
                       work=(self._work(param), self._work(param, 1)))
