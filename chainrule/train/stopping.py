"""When training stops before its last epoch: divergence and convergence.

Divergence: a loss, gradient or weight that is NaN or infinite ends training with
:class:`TrainingDiverged` before anything is written, the weights left at their last
finite values (the finite-value guard). Convergence: the monitored epoch value has not
improved by ``tol`` for ``n_iter_no_change`` epochs ("until convergence", as in
scikit-learn's MLP). The Trainer (:mod:`chainrule.train.loop`) calls both.
"""

from __future__ import annotations

import numpy as np

from ..backend import array_module
from ..errors import ChainruleError

__all__ = ["TrainingDiverged", "loss_diverged", "all_finite", "guarded_step",
           "check_convergence"]


class TrainingDiverged(ChainruleError):
    """The loss became NaN or infinite; the weights were left at their last finite values."""


def loss_diverged(value: float, epoch: int, step: int) -> TrainingDiverged:
    """The error for a training loss ``value`` that is NaN or infinite (raised before the update).

    ``epoch`` and ``step`` count the epochs and optimizer steps completed so far.
    """
    return TrainingDiverged(
        f"the training loss became {value} at epoch {epoch + 1}, step {step + 1}; training "
        f"stopped before that update, so the weights are the last finite ones (try a lower "
        f"learning rate)")


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
