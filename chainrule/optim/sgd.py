"""Stochastic gradient descent: plain, with (dampened) momentum, and Nesterov momentum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import kernels
from ..backend import Array, array_module
from ..kernels import on_gpu
from ._check import in_range, non_negative
from .optimizer import Optimizer, Params, effective_grad

_ndarray, _np_multiply = np.ndarray, np.multiply


def sgd_update(param: Array, grad: Array, momentum_buffer: Array | None = None, *, lr: float,
               momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False,
               weight_decay: float = 0.0, maximize: bool = False,
               work: tuple[Array, Array] | None = None) -> Array | None:
    """One SGD step on arrays, in place on ``param``; returns the momentum buffer.

    The formula is in :class:`SGD`. ``momentum_buffer`` is None before the first step
    (the buffer then starts as a copy of the gradient) and is updated in place after.

    Parameters
    ----------
    param, grad : ndarray of the same shape
    momentum_buffer : ndarray of param's shape or None
    work : pair of ndarray like param, optional
        Buffers for the intermediate results; without them the step allocates
        temporaries. The result is bitwise the same.

    Returns
    -------
    ndarray or None
        The momentum buffer (None when ``momentum == 0``).
    """
    xp = array_module(param)
    if on_gpu(xp) and (momentum != 0 or not (weight_decay or maximize)):
        # the same formula as below, as one fused kernel (chainrule/kernels.py)
        if momentum == 0:
            kernels.sgd_plain(param, grad, lr)
            return None
        first = momentum_buffer is None
        buf = xp.empty_like(param) if momentum_buffer is None else momentum_buffer
        kernels.sgd_momentum(param, grad, buf, lr=lr, momentum=momentum, dampening=dampening,
                             nesterov=nesterov, weight_decay=weight_decay, maximize=maximize,
                             first=first)
        return buf
    s, s2 = work if work is not None else (xp.empty_like(param), None)
    g = effective_grad(param, grad, weight_decay, maximize, out=s2) \
        if weight_decay or maximize else grad
    if momentum == 0:  # plain (stochastic) gradient descent: theta <- theta - lr * g
        param -= xp.multiply(g, lr, out=s)
        return None
    buf = momentum_buffer
    if buf is None:
        buf = g.astype(param.dtype, copy=True)  # b_1 = g_1, not (1 - dampening) * g_1
    else:
        buf *= momentum
        buf += g if dampening == 0 else xp.multiply(g, 1 - dampening, out=s)
    if nesterov:
        direction = xp.multiply(buf, momentum, out=s)
        direction += g
    else:
        direction = buf
    param -= xp.multiply(direction, lr, out=s)
    return buf


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum (classical or Nesterov).

    With the gradient :math:`g_t` of the (minibatch) loss at step :math:`t`
    (full-batch gradient descent when the batch is the whole data set), and
    :math:`\rho` the learning rate:

    .. code-block:: text

        g <- -g                          if maximize
        g <- g + weight_decay * theta    if weight_decay != 0
        if momentum != 0:
            b <- g                                    at the first step
            b <- momentum * b + (1 - dampening) * g   afterwards
            g <- g + momentum * b   if nesterov  else   g <- b
        theta <- theta - rho * g

    This is PyTorch's formulation (the learning rate multiplies the buffer, the buffer
    starts at the first gradient); with momentum = 0 it is plain (stochastic) gradient
    descent, ``theta <- theta - rho(tau) * grad``.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups (dicts) with their own hyper-parameters.
    lr : float, default 1e-3
        Learning rate :math:`\rho`, >= 0.
    momentum : float, default 0
        Momentum factor, >= 0.
    dampening : float, default 0
        Dampening of the momentum, in [0, 1].
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening = 0).
    weight_decay : float, default 0
        L2 penalty coefficient, >= 0.
    maximize : bool, default False
        Ascend the objective instead of descending it.

    Examples
    --------
    >>> opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    _state_keys = frozenset({"momentum_buffer"})

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, nesterov: bool = False, weight_decay: float = 0,
                 maximize: bool = False, fused: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, fused=fused)

    def _validate(self, group: Mapping[str, Any]) -> None:
        super()._validate(group)
        non_negative("momentum", group["momentum"])
        in_range("dampening", group["dampening"], 0, 1, hi_closed=True)
        non_negative("weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("invalid nesterov: Nesterov momentum requires momentum > 0 "
                             "and dampening = 0")

    def _hyper(self, group: Mapping[str, Any]) -> dict[str, Any]:
        return dict(lr=float(group["lr"]), momentum=float(group["momentum"]),
                    dampening=float(group["dampening"]), nesterov=bool(group["nesterov"]),
                    weight_decay=float(group["weight_decay"]), maximize=bool(group["maximize"]))

    def _update(self, param: Array, grad: Array, state: dict[str, Any],
                hyper: Mapping[str, Any]) -> None:
        if hyper["momentum"] == 0 and not hyper["weight_decay"] and not hyper["maximize"]:
            # sgd_update's first branch, without the call
            if param.__class__ is not _ndarray and on_gpu(array_module(param)):
                kernels.sgd_plain(param, grad, hyper["lr"])  # one fused launch
                return
            if param.size < 4096:  # a small temporary costs less than finding the buffer
                param -= grad * hyper["lr"]
                return
            work = self._work(param)
            multiply = _np_multiply if work.__class__ is _ndarray \
                else array_module(param).multiply  # CuPy
            param -= multiply(grad, hyper["lr"], out=work)
            return
        pair = (self._work(param), self._work(param, 1))
        buf = sgd_update(param, grad, state.get("momentum_buffer"), work=pair, **hyper)
        if buf is not None:
            state["momentum_buffer"] = buf
