"""ReduceLROnPlateau: cut the learning rate when a monitored metric stops improving."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._check import choice, in_range, integer, non_negative
from ._scheduler import _Scheduler
from .optimizer import Optimizer


class ReduceLROnPlateau(_Scheduler):
    """Multiply the learning rate by ``factor`` after ``patience`` steps without improvement.

    Call ``step(metric)`` with the monitored value (a validation loss, say) once per
    evaluation. Semantics are PyTorch's: a value improves on the best one when it is
    below ``best * (1 - threshold)`` (mode 'min', threshold_mode 'rel'), below
    ``best - threshold`` ('abs'), or above ``best * (1 + threshold)`` / ``best +
    threshold`` in mode 'max'. After ``patience + 1`` steps in a row without improvement,
    every group's lr becomes ``max(lr * factor, min_lr)`` (unless that changes it by less
    than ``eps``), and the count waits ``cooldown`` steps before starting again.

    Parameters
    ----------
    optimizer : Optimizer
    mode : {'min', 'max'}, default 'min'
    factor : float, default 0.1
        In [0, 1).
    patience : int, default 10
    threshold : float, default 1e-4
    threshold_mode : {'rel', 'abs'}, default 'rel'
    cooldown : int, default 0
    min_lr : float or list of float, default 0
        Lower bound, one for all groups or one per group.
    eps : float, default 1e-8

    Examples
    --------
    >>> opt = cr.optim.SGD(model.parameters(), lr=0.1)
    >>> sched = ReduceLROnPlateau(opt, factor=0.5, patience=2)
    >>> for validation_loss in [1.0, 0.8, 0.8, 0.8, 0.8]:   # no progress after the second
    ...     sched.step(validation_loss)
    >>> opt.param_groups[0]["lr"]
    0.05
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0, eps: float = 1e-8
                 ) -> None:
        super().__init__(optimizer)
        n = len(optimizer.param_groups)
        min_lrs: list[Any] = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(min_lrs) != n:
            raise ValueError(f"invalid min_lr: {len(min_lrs)} values for {n} parameter groups")
        self.min_lrs = [non_negative("min_lr", v) for v in min_lrs]
        self.mode = choice("mode", mode, ("min", "max"))
        self.factor = in_range("factor", factor, 0, 1)
        self.patience = integer("patience", patience, 0)
        self.threshold = non_negative("threshold", threshold)
        self.threshold_mode = choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = integer("cooldown", cooldown, 0)
        self.eps = non_negative("eps", eps)
        self.best: float | None = None  # None until a first value (PyTorch's +-inf, kept JSON-safe)
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def is_better(self, value: float, best: float | None) -> bool:
        """Whether ``value`` improves on ``best`` (None: nothing seen yet)."""
        if best is None:
            best = math.inf if self.mode == "min" else -math.inf
        if self.mode == "min":
            bound = best * (1 - self.threshold) if self.threshold_mode == "rel" \
                else best - self.threshold
            return value < bound
        bound = best * (1 + self.threshold) if self.threshold_mode == "rel" \
            else best + self.threshold
        return value > bound

    def step(self, metric: float) -> None:
        """Record one value of the monitored metric and reduce the lr if it has plateaued."""
        current = float(metric)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs do not count during the cooldown
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=False):
                new_lr = max(float(group["lr"]) * self.factor, min_lr)
                if float(group["lr"]) - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
