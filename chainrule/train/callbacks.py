"""Callbacks: code that runs at fixed points of :meth:`Trainer.fit`.

A callback may read the trainer (``trainer.model``, ``trainer.history``...)
and set ``trainer.stop_training = True``. Callbacks with state implement
``state_dict``/``load_state_dict`` so a resumed run continues exactly.

Besides the general ones (EarlyStopping, MetricLogger, SchedulerCallback,
LambdaCallback), three carry scikit-learn's MLP rules, which the estimators
train with: :class:`L2Penalty` (``alpha``), :class:`InverseScalingLR`
(``learning_rate='invscaling'``) and :class:`AdaptiveLR`
(``learning_rate='adaptive'``).
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

from ..backend import array_module
from ..optim.lr_scheduler import ReduceLROnPlateau


class Callback:
    """Base class; every hook is optional."""

    def on_train_begin(self, trainer):
        """Called once before the first epoch (also when a run resumes)."""
        pass

    def on_epoch_begin(self, trainer, epoch):
        """Called before each epoch; ``epoch`` counts from 1."""
        pass

    def on_after_backward(self, trainer, logs):
        """After ``loss.backward()``, before ``optimizer.step()``.

        ``logs`` holds ``loss`` (the minibatch's loss, which the callback may change:
        the epoch's reported loss sums these), ``n`` (its samples) and
        ``weight`` (its total sample weight, ``n`` without weights).
        """

    def on_batch_end(self, trainer, step, logs):
        """Called after each optimizer step; ``logs`` holds the batch's ``loss``."""
        pass

    def on_epoch_end(self, trainer, epoch, logs):
        """Called after each epoch with its ``logs`` (``loss``, ``val_loss``, metrics, ``lr``).

        Setting ``trainer.stop_training = True`` ends training after this epoch.
        """
        pass

    def on_train_end(self, trainer):
        """Called once after the last epoch."""
        pass

    def state_dict(self):
        """The callback's state for a checkpoint (JSON-able values and arrays)."""
        return {}

    def load_state_dict(self, state):
        """Restore the state returned by :meth:`state_dict` (when resuming)."""
        pass


class SchedulerCallback(Callback):
    """Step a learning-rate scheduler after every optimizer step or at every epoch end.

    ``ReduceLROnPlateau`` is stepped with the monitored value (validation loss
    when there is validation data, else training loss).
    """

    def __init__(self, scheduler, interval="epoch", monitor="val_loss"):
        if interval not in ("epoch", "step"):
            raise ValueError(f"SchedulerCallback: interval must be 'epoch' or 'step', "
                             f"got {interval!r}")
        self.scheduler = scheduler
        self.interval = interval
        self.monitor = monitor

    def _plateau(self):
        return isinstance(self.scheduler, ReduceLROnPlateau)

    def on_batch_end(self, trainer, step, logs):
        if self.interval == "step" and not self._plateau():
            self.scheduler.step()

    def on_epoch_end(self, trainer, epoch, logs):
        if self._plateau():
            key = self.monitor if self.monitor in logs else "loss"
            self.scheduler.step(logs[key])
        elif self.interval == "epoch":
            self.scheduler.step()

    def state_dict(self):
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state["scheduler"])


def _mode_for(monitor):
    higher = ("acc", "f1", "r2", "precision", "recall")
    return "max" if any(h in monitor for h in higher) else "min"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default 'val_loss'
        A key of the epoch logs; falls back to 'loss' (and says so) when there is
        no validation data.
    patience : int, default 10
    min_delta : float, default 0
    mode : {'auto', 'min', 'max'}
        'auto' maximises accuracy-like metrics and minimises the rest.
    restore_best_weights : bool, default True
        At the end of training, however it ends, load the weights of the best epoch.
    """

    def __init__(self, monitor="val_loss", patience=10, min_delta=0.0, mode="auto",
                 restore_best_weights=True, verbose=True):
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.verbose = verbose
        self._reset()

    def _reset(self):
        self.best = None
        self.best_epoch = None
        self.wait = 0
        self.best_weights = None
        self.stopped_epoch = None

    def on_train_begin(self, trainer):
        if self.monitor.startswith("val_") and not trainer.has_validation:
            if self.verbose and getattr(trainer, "is_main", True):
                print(f"EarlyStopping: no validation data, monitoring 'loss' instead of "
                      f"{self.monitor!r}", file=sys.stderr)
            self.monitor = self.monitor[4:]

    def _improved(self, value):
        if self.best is None:
            return True
        mode = _mode_for(self.monitor) if self.mode == "auto" else self.mode
        if mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping: monitored value {self.monitor!r} is not among "
                             f"the logged values {sorted(logs)}")
        value = float(logs[self.monitor])
        if math.isnan(value):
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = trainer.model.state_dict()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                trainer.stop_training = True
                trainer.stop_reason = (f"early stopping: {self.monitor} did not improve for "
                                       f"{self.patience} epochs (best {self.best:.6g} at epoch "
                                       f"{self.best_epoch + 1})")

    def on_train_end(self, trainer):
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)
            if self.verbose and trainer.verbose:
                print(f"EarlyStopping: restored the weights of epoch {self.best_epoch + 1} "
                      f"({self.monitor} = {self.best:.6g})", file=sys.stderr)

    def state_dict(self):
        return {"monitor": self.monitor, "best": self.best, "best_epoch": self.best_epoch,
                "wait": self.wait, "best_weights": self.best_weights}

    def load_state_dict(self, state):
        self.monitor = state["monitor"]
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_weights = state["best_weights"]


class MetricLogger(Callback):
    """Append each epoch's logs to a CSV (``.csv``) or JSON-lines (``.jsonl``) file.

    The file is rewritten atomically at every epoch, so it is never half-written.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not self.path.endswith((".csv", ".jsonl")):
            raise ValueError(f"MetricLogger: path must end in .csv or .jsonl, got {self.path!r}")

    def on_epoch_end(self, trainer, epoch, logs):
        if not getattr(trainer, "is_main", True):  # one rank of a distributed run writes
            return
        from ..io.atomic import atomic_write

        if self.path.endswith(".csv"):
            trainer.history.to_csv(self.path)
        else:
            text = "".join(json.dumps(r) + "\n" for r in trainer.history.rows)
            atomic_write(self.path, text)


class LambdaCallback(Callback):
    """Wrap plain functions as a callback: ``LambdaCallback(on_epoch_end=f)``."""

    def __init__(self, **hooks):
        for name, fn in hooks.items():
            if not hasattr(Callback, name):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


def _set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr


class L2Penalty(Callback):
    """scikit-learn's ``alpha``: ``alpha / (2 W_B) ||theta||^2`` on each minibatch B.

    ``W_B`` is the minibatch's total sample weight (its size without weights) and
    theta the parameters of one optimizer group (the estimators put the weight
    matrices there, not the biases). The gradient ``alpha / W_B * theta`` is applied
    as that group's ``weight_decay``, set before every step; the penalty's value is
    added to the minibatch's reported loss.

    Parameters
    ----------
    alpha : float
    group : int, default 0
        Index of the optimizer's parameter group.
    """

    def __init__(self, alpha, group=0):
        self.alpha = float(alpha)
        self.group = group

    def on_after_backward(self, trainer, logs):
        group = trainer.optimizer.param_groups[self.group]
        decay = self.alpha / logs["weight"]
        group["weight_decay"] = decay
        params = group["params"]
        xp = array_module(params[0].data)
        squares = 0.0
        for p in params:
            squares += float(xp.vdot(p.data, p.data))
        logs["loss"] += 0.5 * decay * squares


class InverseScalingLR(Callback):
    """scikit-learn's ``learning_rate='invscaling'``: after each epoch the learning rate
    becomes ``initial_lr / (t + 1) ** power_t``, t the training samples seen so far.

    Parameters
    ----------
    initial_lr : float
    power_t : float, default 0.5
    samples_before : int, default 0
        Samples seen by earlier fits of the same model (scikit-learn's ``t_``).
    """

    def __init__(self, initial_lr, power_t=0.5, samples_before=0):
        self.initial_lr = float(initial_lr)
        self.power_t = float(power_t)
        self.samples_before = int(samples_before)

    def on_epoch_end(self, trainer, epoch, logs):
        t = self.samples_before + trainer.samples_seen
        _set_lr(trainer.optimizer, self.initial_lr / (t + 1) ** self.power_t)


class AdaptiveLR(Callback):
    """scikit-learn's ``learning_rate='adaptive'``: when the Trainer's convergence test
    would stop training, divide the learning rate by ``factor`` and go on instead,
    until the learning rate is no more than ``min_lr``.

    Parameters
    ----------
    factor : float, default 5.0
    min_lr : float, default 1e-6
    verbose : bool, default False
        Print each new learning rate (scikit-learn's message).
    """

    def __init__(self, factor=5.0, min_lr=1e-6, verbose=False):
        self.factor = float(factor)
        self.min_lr = float(min_lr)
        self.verbose = verbose

    def on_epoch_end(self, trainer, epoch, logs):
        if not trainer.converged:
            return
        lr = float(trainer.optimizer.param_groups[0]["lr"])
        if lr <= self.min_lr:
            return
        _set_lr(trainer.optimizer, lr / self.factor)
        trainer.no_improvement_count = 0
        trainer.converged = trainer.stop_training = False
        trainer.stop_reason = None
        if self.verbose:
            print(f"Setting learning rate to {lr / self.factor:f}")


def to_jsonable(x):
    """Python scalars for NumPy scalars (for logs written as JSON)."""
    if isinstance(x, np.generic):
        return x.item()
    return x
