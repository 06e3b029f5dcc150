"""Learning-rate schedules as pure functions of the step count.

Each returns the factor that multiplies the base learning rate (or, for the ones that
need it, the learning rate itself, from ``base_lr``). The classes of
:mod:`chainrule.optim.lr_scheduler` wrap them and write the result into the optimizer.
``step`` counts from 0 (the learning rate before the first ``scheduler.step()``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence


def constant(step: int) -> float:
    """Factor 1: the base learning rate throughout."""
    return 1.0


def step_decay(step: int, step_size: int, gamma: float = 0.1) -> float:
    """``gamma ** (step // step_size)``: multiply by gamma every ``step_size`` steps."""
    return gamma ** (step // step_size)


def multistep_decay(step: int, milestones: Sequence[int], gamma: float = 0.1) -> float:
    """``gamma ** (number of milestones <= step)``; ``milestones`` sorted increasingly."""
    return gamma ** bisect.bisect_right(milestones, step)


def exponential_decay(step: int, gamma: float) -> float:
    """``gamma ** step``."""
    return gamma**step


def inverse_time_decay(step: int, decay_rate: float, decay_steps: float = 1) -> float:
    """``1 / (1 + k * step)`` with ``k = decay_rate / decay_steps``.

    The learning rate is then :math:`\\rho(\\tau) = \\rho_0 / (1 + k\\tau)`.
    """
    return 1.0 / (1.0 + decay_rate / decay_steps * step)


def cosine_annealing(step: int, base_lr: float, T_max: int, eta_min: float = 0.0) -> float:
    """The learning rate ``eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2``.

    The closed form of SGDR without restarts (Loshchilov & Hutter): base_lr at 0, eta_min at
    T_max, and back up after (periodic, as PyTorch's CosineAnnealingLR).
    """
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * step / T_max)) / 2


def linear_warmup(step: int, warmup_steps: int, start_factor: float = 0.0) -> float:
    """``start_factor`` at 0, rising linearly to 1 at ``warmup_steps``, then 1."""
    if step >= warmup_steps:
        return 1.0
    return start_factor + (1.0 - start_factor) * step / warmup_steps


def _anneal(start: float, end: float, pct: float, strategy: str) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def one_cycle(step: int, max_lr: float, total_steps: int, pct_start: float = 0.3,
              anneal_strategy: str = "cos", div_factor: float = 25.0,
              final_div_factor: float = 1e4) -> float:
    """The 1cycle learning rate (Smith & Topin), as PyTorch's OneCycleLR.

    It rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    ``total_steps``, then anneals to ``max_lr / div_factor / final_div_factor`` at step
    ``total_steps - 1``; ``anneal_strategy`` is ``'cos'`` or ``'linear'``.
    """
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    warm_end = float(pct_start * total_steps) - 1
    if step <= warm_end:
        start, end, lo, hi = initial_lr, max_lr, 0.0, warm_end
    else:
        start, end, lo, hi = max_lr, min_lr, warm_end, total_steps - 1
    pct = (step - lo) / (hi - lo) if hi != lo else 1.0  # a phase of length 0 is complete
    return _anneal(start, end, pct, anneal_strategy)
