"""Optimizers, gradient clipping and learning-rate schedulers.

Each optimizer's update is a pure function of arrays (``sgd_update``, ``adam_update``...),
applied in place; the classes hold parameter groups and per-parameter state, and save and
restore it exactly (``state_dict``).

Examples
--------
>>> opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> sched = cr.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
>>> for epoch in range(100):
...     opt.zero_grad(); loss_fn(model(X), y).backward(); opt.step(); sched.step()
"""

from __future__ import annotations

from typing import Any

from . import lr_scheduler, schedules
from ._check import build
from .adagrad import Adagrad, adagrad_update
from .adam import Adam, AdamW, adam_update
from .clip import clip_grad_norm_, clip_grad_value_
from .optimizer import Optimizer, Params
from .rmsprop import RMSprop, rmsprop_update
from .sgd import SGD, sgd_update

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "clip_grad_norm_",
    "clip_grad_value_", "lr_scheduler", "schedules", "get_optimizer", "sgd_update",
    "adam_update", "rmsprop_update", "adagrad_update",
]

_OPTIMIZERS: dict[str, tuple[type[Optimizer], dict[str, Any]]] = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adam": (Adam, {}),
    "adamw": (AdamW, {}),
    "rmsprop": (RMSprop, {}),
    "adagrad": (Adagrad, {}),
}


def get_optimizer(name: str, params: Params, lr: float, **kwargs: Any) -> Optimizer:
    """Build an optimizer by name (for the command line and configuration files).

    Parameters
    ----------
    name : str
        'sgd', 'momentum' (SGD with momentum 0.9), 'nesterov' (SGD with Nesterov momentum
        0.9), 'adam', 'adamw', 'rmsprop' or 'adagrad'.
    params : iterable of Tensor or of dict
    lr : float
    **kwargs
        The class's other arguments; an unknown one raises ``ValueError``.

    Examples
    --------
    >>> opt = get_optimizer("nesterov", model.parameters(), lr=0.05, weight_decay=1e-4)
    """
    return build(_OPTIMIZERS, "optimizer", name, params, lr=lr, **kwargs)
