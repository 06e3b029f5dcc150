"""When training stops before its last epoch: divergence and convergence.

Divergence: a loss, gradient or weight that is NaN or infinite, or a finite training loss
that has grown to more than :data:`DIVERGENCE_FACTOR` times the run's first one, ends
training with :class:`TrainingDiverged` before the update and before anything is written
(the finite-value guard, :func:`check_loss` and :func:`guarded_step`). Convergence: the
monitored epoch value has not improved by ``tol`` for ``n_iter_no_change`` epochs ("until
convergence", as in scikit-learn's MLP). The Trainer (:mod:`chainrule.train.loop`) calls both.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import array_module
from ..errors import ChainruleError

__all__ = ["TrainingDiverged", "loss_diverged", "check_loss", "all_finite", "guarded_step",
           "check_convergence", "DIVERGENCE_FACTOR", "DIVERGENCE_FLOOR"]

# NOTE: the divergence rule. A step's training loss above
#     DIVERGENCE_FACTOR * max(|first loss|, DIVERGENCE_FLOOR)
# is divergence, the first loss being that of the run's first step (the weights as given,
# before any update). Healthy runs stay far below it: at most 1x the first loss in the
# default digits and regression-table runs, 6-7x for an aggressive Adam (lr 0.05) or
# small batches with lr 0.03 (measured per step), while a too-large learning rate sends
# it up 1e20-fold within a few steps, the weights still finite (adam --lr 1e9 on digits).
# A ratio is unit-free, so a regression loss in the target's units (an MSE of 1e10 for
# prices in dollars) needs no scale of its own. The floor keeps a near-zero first loss
# (a model that already fits its data) from turning a harmless rise into an error: the
# rule never fires below 1e4 * 1e-2 = 100, a cross-entropy or a standardised MSE that
# only a diverged network reaches. The check compares two Python floats: the step's loss
# is already on the host (the NaN test needs it), so it adds no device sync.
#: A training loss more than this many times the first one is divergence.
DIVERGENCE_FACTOR = 1e4
#: The first loss counts as at least this much (see the note above).
DIVERGENCE_FLOOR = 1e-2


class TrainingDiverged(ChainruleError):
    """The training loss became NaN or infinite, or grew by orders of magnitude (more than
    :data:`DIVERGENCE_FACTOR` times its first value); training stopped before that update."""


def loss_diverged(value: float, epoch: int, step: int, first: float | None = None
                  ) -> TrainingDiverged:
    """The error for a diverged training loss ``value`` (raised before the update).

    Parameters
    ----------
    value : float
        NaN, infinite, or finite and over :data:`DIVERGENCE_FACTOR` times ``first``.
    epoch, step : int
        The epochs and optimizer steps completed so far (the message counts from 1).
    first : float, optional
        The run's first training loss, for a finite ``value``.

    Returns
    -------
    TrainingDiverged
    """
    if math.isfinite(value):
        return TrainingDiverged(
            f"the training loss became {value:.3g} at epoch {epoch + 1}, step {step + 1}, "
            f"more than {DIVERGENCE_FACTOR:g} times its first value ({first:.3g}): training "
            f"diverged and stopped before that update (try a lower learning rate)")
    return TrainingDiverged(
        f"the training loss became {value} at epoch {epoch + 1}, step {step + 1}; training "
        f"stopped before that update, so the weights are the last finite ones (try a lower "
        f"learning rate)")


def check_loss(trainer, value: float, epoch: int) -> None:
    """Stop ``trainer`` before its update when the step's training loss ``value`` diverged.

    NaN or infinity diverged; so did a finite loss over :data:`DIVERGENCE_FACTOR` times
    ``max(|first loss|, DIVERGENCE_FLOOR)``. The first loss is the first value this
    trainer checked, kept on it; a trainer resumed from a checkpoint takes the larger of
    its first value and the first epoch's mean loss in its history.

    Parameters
    ----------
    trainer : Trainer
        Reads ``step`` and ``history``.
    value : float
        The step's loss (the global batch's in a distributed run, so that every rank
        decides alike).
    epoch : int
        The epochs completed so far.

    Raises
    ------
    TrainingDiverged
    """
    if not math.isfinite(value):
        raise loss_diverged(value, epoch, trainer.step)
    first = getattr(trainer, "_first_loss", None)
    if first is None:
        first = abs(value)
        rows = trainer.history.rows
        if rows and rows[0].get("loss") is not None:  # resumed: its first step came earlier
            first = max(first, abs(float(rows[0]["loss"])))
        trainer._first_loss = first
    if value > DIVERGENCE_FACTOR * max(first, DIVERGENCE_FLOOR):
        raise loss_diverged(value, epoch, trainer.step, first)


def all_finite(a) -> bool:
    """True when the array ``a`` holds no NaN and no infinity."""
    # NOTE: one sum is cheaper than isfinite(a).all(); a sum of finite values that
    # overflows is rechecked element by element.
    xp = array_module(a)
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(xp.isfinite(a.sum())) or bool(xp.isfinite(a).all())


def guarded_step(model, optimizer, epoch: int, step: int) -> None:
    """``optimizer.step()``, refused when a gradient holds a NaN or an infinity.

    A finite loss can still have a non-finite gradient (an op at a singular
    point); checking the gradients before the update keeps the weights finite
    without copying them at every step. An update that overflows finite
    gradients into infinite weights (a learning rate near 1e38) is caught
    right after the step, before any checkpoint or model file is written.

    Parameters
    ----------
    model : Module
        Names the parameter in the message.
    optimizer : Optimizer
    epoch, step : int
        The epoch and the optimizer steps completed so far (counted from 0; the
        message counts from 1).

    Raises
    ------
    TrainingDiverged
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None and not all_finite(p.grad):
                name = next((n for n, q in model.named_parameters() if q is p), "?")
                raise TrainingDiverged(
                    f"the gradient of {name!r} became NaN or infinite at epoch "
                    f"{epoch + 1}, step {step + 1}; training stopped before that "
                    f"update, so the weights are the last finite ones (try a lower "
                    f"learning rate)")
    optimizer.step()
    for name, p in model.named_parameters():
        if not all_finite(p.data):
            raise TrainingDiverged(
                f"the update at epoch {epoch + 1}, step {step + 1} overflowed: "
                f"{name!r} is no longer finite; training stopped before writing "
                f"anything (try a lower learning rate)")


def check_convergence(trainer, logs: dict) -> None:
    """The convergence test at an epoch's end: stop ``trainer`` once its value stalls.

    Reads ``trainer.tol`` (None: no test), ``monitor`` (default 'val_loss' when
    ``logs`` has it, else 'loss'), ``mode`` and ``n_iter_no_change``; updates
    ``best_monitored`` and ``no_improvement_count``, and sets ``stop_training``,
    ``converged`` and ``stop_reason`` when the value has improved by less than
    ``tol`` on the best so far for ``n_iter_no_change`` consecutive epochs.
    """
    if trainer.tol is None:
        return
    key = trainer.monitor or ("val_loss" if "val_loss" in logs else "loss")
    value, best = logs[key], trainer.best_monitored
    if trainer.mode == "min":
        stalled, trainer.best_monitored = value > best - trainer.tol, min(best, value)
    else:
        stalled, trainer.best_monitored = value < best + trainer.tol, max(best, value)
    trainer.no_improvement_count = trainer.no_improvement_count + 1 if stalled else 0
    if trainer.no_improvement_count >= trainer.n_iter_no_change:
        trainer.stop_training = trainer.converged = True
        trainer.stop_reason = (f"converged: {key} improved by less than tol={trainer.tol} "
                               f"for {trainer.n_iter_no_change} consecutive epochs")
