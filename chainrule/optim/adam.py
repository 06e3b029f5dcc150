"""Adam (Kingma & Ba) and AdamW (decoupled weight decay, Loshchilov & Hutter)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .. import kernels
from ..backend import Array, array_module
from ..kernels import on_gpu
from ._check import in_range, non_negative
from .optimizer import Optimizer, Params, effective_grad


def adam_update(param: Array, grad: Array, exp_avg: Array, exp_avg_sq: Array,
                max_exp_avg_sq: Array | None = None, *, step: int, lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float = 0.0,
                decoupled_weight_decay: bool = False, maximize: bool = False,
                work: tuple[Array, Array] | None = None) -> None:
    """One Adam (or AdamW) step on arrays, in place on ``param`` and the moment buffers.

    The formula is in :class:`Adam`. ``step`` is the 1-based count of this update (for the
    bias correction); ``max_exp_avg_sq`` is given with AMSGrad only.

    Parameters
    ----------
    param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq : ndarray of the same shape
    work : pair of ndarray like param, optional
        Buffers for the intermediate results (bitwise the same result, no temporaries).
    """
    xp = array_module(param)
    if decoupled_weight_decay and weight_decay != 0:
        param *= 1 - lr * weight_decay
        weight_decay = 0.0
    if on_gpu(xp) and max_exp_avg_sq is None:  # the lines below as one fused kernel
        kernels.adam(param, grad, exp_avg, exp_avg_sq, step_size=lr / (1 - beta1**step),
                     bias_correction2_sqrt=math.sqrt(1 - beta2**step), beta1=beta1,
                     beta2=beta2, eps=eps, weight_decay=weight_decay, maximize=maximize)
        return
    s, s2 = work if work is not None else (xp.empty_like(param), None)
    g = effective_grad(param, grad, weight_decay, maximize, out=s2)
    exp_avg *= beta1
    exp_avg += xp.multiply(g, 1 - beta1, out=s)
    exp_avg_sq *= beta2
    exp_avg_sq += xp.multiply(xp.multiply(g, g, out=s), 1 - beta2, out=s)
    v = exp_avg_sq
    if max_exp_avg_sq is not None:
        v = xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    denom = xp.sqrt(v, out=s)
    denom /= math.sqrt(1 - beta2**step)
    denom += eps
    param -= xp.multiply(xp.divide(exp_avg, denom, out=s), lr / (1 - beta1**step), out=s)


class Adam(Optimizer):
    r"""Adam: per-coordinate steps scaled by running moments of the gradient.

    With :math:`\rho` the learning rate, at step :math:`t` with gradient :math:`g`
    (PyTorch's formulation, bias-corrected moments, eps added after the square root):

    .. code-block:: text

        g <- -g                           if maximize
        g <- g + weight_decay * theta     if weight_decay != 0   (L2 penalty)
        m <- beta1 * m + (1 - beta1) * g          (m, v start at 0; t counts the steps)
        v <- beta2 * v + (1 - beta2) * g**2
        v_max <- max(v_max, v), and v_max replaces v below,   if amsgrad
        theta <- theta - rho / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups (dicts) with their own hyper-parameters.
    lr : float, default 1e-3
        Learning rate :math:`\rho`, >= 0.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator for stability, >= 0.
    weight_decay : float, default 0
        L2 penalty coefficient, >= 0 (added to the gradient; see :class:`AdamW`).
    amsgrad : bool, default False
        Use the maximum of the past second moments (Reddi et al.).
    maximize : bool, default False
        Ascend the objective instead of descending it.

    Examples
    --------
    >>> opt = cr.optim.Adam(model.parameters(), lr=3e-4)
    """

    _state_keys = frozenset({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"})
    _decoupled = False

    def __init__(self, params: Params, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, maximize: bool = False,
                 fused: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults, fused=fused)

    def _validate(self, group: Mapping[str, Any]) -> None:
        super()._validate(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"invalid betas: {betas!r} (must be a pair of numbers)")
        in_range("betas[0]", betas[0], 0, 1)
        in_range("betas[1]", betas[1], 0, 1)
        non_negative("eps", group["eps"])
        non_negative("weight_decay", group["weight_decay"])

    def _update(self, param: Array, grad: Array, state: dict[str, Any],
                group: Mapping[str, Any]) -> None:
        xp = array_module(param)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = xp.zeros_like(param)
        state["step"] = int(state["step"]) + 1
        beta1, beta2 = group["betas"]
        adam_update(param, grad, state["exp_avg"], state["exp_avg_sq"],
                    state["max_exp_avg_sq"] if group["amsgrad"] else None,
                    step=state["step"], lr=float(group["lr"]), beta1=float(beta1),
                    beta2=float(beta2), eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]),
                    decoupled_weight_decay=self._decoupled, maximize=bool(group["maximize"]),
                    work=(self._work(param), self._work(param, 1)))


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
    Regularization"): the parameters shrink by ``1 - rho * weight_decay`` at each step
    instead of the decay being added to the gradient, where Adam's scaling would distort it.

    .. code-block:: text

        g <- -g                           if maximize
        theta <- theta * (1 - rho * weight_decay)
        m <- beta1 * m + (1 - beta1) * g          (m, v start at 0; t counts the steps)
        v <- beta2 * v + (1 - beta2) * g**2
        v_max <- max(v_max, v), and v_max replaces v below,   if amsgrad
        theta <- theta - rho / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    params, lr, betas, eps, amsgrad, maximize
        As :class:`Adam`.
    weight_decay : float, default 1e-2
        Decoupled weight decay coefficient, >= 0.

    Examples
    --------
    >>> opt = cr.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    """

    _decoupled = True

    def __init__(self, params: Params, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False,
                 fused: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, fused=fused)
