"""Learning-rate schedulers: each wraps a pure schedule and writes every group's ``'lr'``.

Call ``scheduler.step()`` once after each ``optimizer.step()`` (per batch or per epoch, as
the schedule's counts mean). Schedules are closed forms of the step count
(:mod:`chainrule.optim.schedules`), so a restored scheduler continues exactly, and two
schedules are combined by composition (:class:`LinearWarmup` ``after=``) rather than by
stacking schedulers on one optimizer.

Examples
--------
>>> opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> sched = LinearWarmup(opt, 100, after=CosineAnnealingLR(opt, T_max=900))
>>> for xb, yb in loader:
...     opt.zero_grad(); loss_fn(model(xb), yb).backward(); opt.step(); sched.step()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from . import schedules
from ._check import build, choice, in_range, integer, non_negative, positive
from ._scheduler import _Scheduler
from .optimizer import Optimizer
from .plateau import ReduceLROnPlateau

__all__ = [
    "LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR", "InverseTimeLR",
    "CosineAnnealingLR", "LinearWarmup", "OneCycleLR", "ReduceLROnPlateau", "get_scheduler",
]


class LRScheduler(_Scheduler):
    """Base of the step-based schedulers: ``lr = schedule(base_lr, last_epoch)`` per group.

    The base learning rates are the groups' ``'initial_lr'`` (set to their ``'lr'`` by
    the first scheduler attached). Construction applies step 0, so ``last_epoch`` is 0
    and the groups hold the schedule's first learning rate.

    Attributes
    ----------
    base_lrs : list of float
    last_epoch : int
        Number of ``step()`` calls since construction.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        super().__init__(optimizer)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def _lr(self, i: int, base_lr: float, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def lr_at(self, step: int) -> list[float]:
        """The learning rate of every group at ``step`` (pure: changes nothing)."""
        return [self._lr(i, base, step) for i, base in enumerate(self.base_lrs)]

    def get_lr(self) -> list[float]:
        """The learning rates of the current step."""
        return self.lr_at(self.last_epoch)

    def _sync(self, step: int) -> None:
        self.last_epoch = step
        self._last_lr = self.lr_at(step)

    def step(self) -> None:
        """Advance one step and write the new learning rate into every group."""
        self._sync(self.last_epoch + 1)
        self._write(self._last_lr)


class LambdaLR(LRScheduler):
    """``lr = base_lr * lr_lambda(step)``; ``lr_lambda`` one callable or one per group.

    The callables are not part of :meth:`state_dict`: rebuild the scheduler with them,
    then load the state.
    """

    _exclude = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]]) -> None:
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        fns: list[Any] = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) \
            else [lr_lambda] * n
        if len(fns) != n or not all(callable(f) for f in fns):
            raise ValueError(f"invalid lr_lambda: expected a callable or a list of {n} "
                             f"callables (one per parameter group)")
        self.lr_lambdas = fns
        super().__init__(optimizer)

    def _lr(self, i: int, base_lr: float, step: int) -> float:
        return base_lr * self.lr_lambdas[i](step)


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (step // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = integer("step_size", step_size, 1)
        self.gamma = positive("gamma", gamma)
        super().__init__(optimizer)

    def _lr(self, i: int, base_lr: float, step: int) -> float:
        return base_lr * schedules.step_decay(step, self.step_size, self.gamma)


class MultiStepLR(LRScheduler):
    """``lr = base_lr * gamma ** (number of milestones <= step)``."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1
                 ) -> None:
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise ValueError(f"invalid milestones: {milestones!r} (must be a list of steps)")
        self.milestones = sorted(integer("milestones", m, 0) for m in milestones)
        self.gamma = positive("gamma", gamma)
        super().__init__(optimizer)

    def _lr(self, i: int, base_lr: float, step: int) -> float:
        return base_lr * schedules.multistep_decay(step, self.milestones, self.gamma)


class ExponentialLR(LRScheduler):
    """``lr = base_lr * gamma ** step``."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = positive("gamma", gamma)
        super().__init__(optimizer)

    def _lr(self, i: int, base_lr: float, step: int) -> float:
        return base_lr * schedules.exponential_decay(step, self.gamma)


class InverseTimeLR(LRScheduler):
    r"""Inverse-time decay :math:`\rho(\tau) = \rho_0 / (1 + k\tau)`, ``k = decay_rate /
    decay_steps``: the rate of the Robbins-Monro conditions (its sum diverges, the sum of
    its squares converges)."""

    def __init__(self, optimizer: Optimizer, decay_rate: float, decay_steps: float = 1) -> None:
        self.decay_rate = non_negative("decay_rate", decay_rate)
        self.decay_steps = positive("decay_steps", decay_steps)
        super().__init__(optimizer)

    def _lr(self, i: int, base_lr: float, step: int) -> float:
        return base_lr * schedules.inverse_time_decay(step, self.decay_rate, self.decay_steps)


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2`` (closed form)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = integer("T_max", T_max, 1)
        self.eta_min = non_negative("eta_min", eta_min)
        super().__init__(optimizer)

    def _lr(self, i: int, base_lr: float, step: int) -> float:
        return schedules.cosine_annealing(step, base_lr, self.T_max, self.eta_min)


class LinearWarmup(LRScheduler):
    """Ramp linearly from ``start_factor * base_lr`` to ``base_lr`` over ``warmup_steps``.

    Then hand over to ``after`` (another step-based scheduler on the same optimizer,
    built before this one), which runs from its own step 0: at step ``warmup_steps + k``
    the learning rate is ``after``'s at step k. Without ``after`` it stays at base_lr.

    Parameters
    ----------
    optimizer : Optimizer
    warmup_steps : int
        Length of the ramp, >= 0.
    start_factor : float, default 0.0
        Fraction of the base learning rate at step 0, in [0, 1].
    after : LRScheduler, optional
        The schedule that follows the warmup; its state is part of this one's state_dict.

    Examples
    --------
    >>> sched = LinearWarmup(opt, 500, after=CosineAnnealingLR(opt, T_max=9500))
    """

    _exclude = ("optimizer", "after")

    def __init__(self, optimizer: Optimizer, warmup_steps: int, start_factor: float = 0.0,
                 after: LRScheduler | None = None) -> None:
        self.warmup_steps = integer("warmup_steps", warmup_steps, 0)
        self.start_factor = in_range("start_factor", start_factor, 0, 1, hi_closed=True)
        if after is not None and not isinstance(after, LRScheduler):
            raise ValueError(f"invalid after: {type(after).__name__} (must be a step-based "
                             f"scheduler such as CosineAnnealingLR, or None)")
        if after is not None and after.optimizer is not optimizer:
            raise ValueError("invalid after: it schedules a different optimizer")
        self.after = after
        super().__init__(optimizer)

    def lr_at(self, step: int) -> list[float]:
        if self.after is not None and step >= self.warmup_steps:
            return self.after.lr_at(step - self.warmup_steps)
        return super().lr_at(step)

    def _lr(self, i: int, base_lr: float, step: int) -> float:
        return base_lr * schedules.linear_warmup(step, self.warmup_steps, self.start_factor)

    def _sync(self, step: int) -> None:
        super()._sync(step)
        if self.after is not None and step >= self.warmup_steps:
            self.after._sync(step - self.warmup_steps)

    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        sd["after"] = None if self.after is None else self.after.state_dict()
        return sd

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        sd = dict(state_dict)
        inner = sd.pop("after", None)
        if (inner is None) != (self.after is None):
            raise ValueError("invalid after: the state_dict and this scheduler disagree on "
                             "whether a schedule follows the warmup")
        self._check_state(sd)
        if inner is not None and self.after is not None:
            self.after.load_state_dict(inner)
        super().load_state_dict(sd)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin): warm up to ``max_lr``, then anneal far below.

    The learning rate goes from ``max_lr / div_factor`` up to ``max_lr`` over the first
    ``pct_start * total_steps`` steps, then down to ``max_lr / div_factor /
    final_div_factor`` at step ``total_steps - 1``, as PyTorch's OneCycleLR; the groups'
    own lr is ignored. Stepping past ``total_steps`` raises ``ValueError``.

    Parameters
    ----------
    optimizer : Optimizer
    max_lr : float or list of float
        Peak learning rate, one for all groups or one per group.
    total_steps : int
        Number of steps in the cycle.
    pct_start : float, default 0.3
        Fraction of the cycle spent increasing the learning rate, in [0, 1].
    anneal_strategy : {'cos', 'linear'}, default 'cos'
    div_factor : float, default 25
    final_div_factor : float, default 1e4
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 1e4) -> None:
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        lrs: list[Any] = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * n
        if len(lrs) != n:
            raise ValueError(f"invalid max_lr: {len(lrs)} values for {n} parameter groups")
        self.max_lrs = [positive("max_lr", v) for v in lrs]
        self.total_steps = integer("total_steps", total_steps, 1)
        self.pct_start = in_range("pct_start", pct_start, 0, 1, hi_closed=True)
        self.anneal_strategy = choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.div_factor = positive("div_factor", div_factor)
        self.final_div_factor = positive("final_div_factor", final_div_factor)
        super().__init__(optimizer)

    def _lr(self, i: int, base_lr: float, step: int) -> float:
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR stepped {step} times, past total_steps="
                             f"{self.total_steps}")
        return schedules.one_cycle(step, self.max_lrs[i], self.total_steps, self.pct_start,
                                   self.anneal_strategy, self.div_factor,
                                   self.final_div_factor)


def _constant(optimizer: Optimizer) -> LambdaLR:
    return LambdaLR(optimizer, schedules.constant)


_SCHEDULERS: dict[str, tuple[Callable[..., _Scheduler], dict[str, Any]]] = {
    "constant": (_constant, {}),
    "step": (StepLR, {}),
    "multistep": (MultiStepLR, {}),
    "exponential": (ExponentialLR, {}),
    "inverse-time": (InverseTimeLR, {}),
    "cosine": (CosineAnnealingLR, {}),
    "onecycle": (OneCycleLR, {}),
    "plateau": (ReduceLROnPlateau, {}),
    "warmup": (LinearWarmup, {}),
}


def get_scheduler(name: str, optimizer: Optimizer, **kwargs: Any) -> _Scheduler:
    """Build a scheduler by name (for the command line and configuration files).

    Parameters
    ----------
    name : str
        One of 'constant', 'step', 'multistep', 'exponential', 'inverse-time', 'cosine',
        'onecycle', 'plateau', 'warmup'.
    optimizer : Optimizer
    **kwargs
        The class's arguments. For 'warmup', ``after`` may also be a name, its arguments
        given as the dict ``after_kwargs``.

    Examples
    --------
    >>> sched = get_scheduler("warmup", opt, warmup_steps=100, after="cosine",
    ...                       after_kwargs={"T_max": 900})
    """
    after_kwargs = kwargs.pop("after_kwargs", None)
    if isinstance(kwargs.get("after"), str):
        kwargs["after"] = get_scheduler(kwargs["after"], optimizer, **(after_kwargs or {}))
    elif after_kwargs is not None:
        raise ValueError("after_kwargs is only used with after=<scheduler name>")
    return build(_SCHEDULERS, "scheduler", name, optimizer, **kwargs)

