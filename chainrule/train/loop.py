"""The training loop: stochastic gradient descent with backpropagation.

For epoch after epoch, for each random minibatch B drawn by the loader:

    loss  = (1/|B|) sum_{i in B} L(f_theta(x_i), y_i)     forward pass
    grads = d loss / d theta                                backward pass (backprop)
    theta <- theta - rho(tau) * grads                       optimizer.step()

until ``epochs`` run out or the monitored loss stops improving by ``tol`` for
``n_iter_no_change`` epochs (the lecture's "until convergence", as in
scikit-learn's MLP).
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time

import numpy as np

from ..backend import array_module, get_rng_state, set_rng_state
from ..errors import ChainruleError
from ..optim.lr_scheduler import ReduceLROnPlateau
from ..tensor import Tensor, no_grad
from .callbacks import Callback
from .history import History
from .metrics import compute_metrics

_SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy", "val_r2", "lr")


class TrainingDiverged(ChainruleError):
    """The loss became NaN or infinite; the weights were left at their last finite values."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training at the end of a step (after writing a checkpoint, if enabled)."""


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


def _all_finite(a):
    # NOTE: one sum is cheaper than isfinite(a).all(); a sum of finite values that
    # overflows is rechecked element by element.
    xp = array_module(a)
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(xp.isfinite(a.sum())) or bool(xp.isfinite(a).all())


def _as_loader(data, batch_size, shuffle, seed):
    from ..data import ArrayDataset, DataLoader

    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)):
        if not 2 <= len(data) <= 3:
            raise ValueError(f"training data must be a tuple (X, y[, sample_weight]), got "
                             f"{len(data)} arrays")
        X, y, *w = (getattr(a, "data", a) for a in data)
        data = ArrayDataset(X, y)
        if w:  # ArrayDataset holds (X, y); the weights ride along as a third array
            w = np.asarray(w[0])
            if w.shape != (len(data),):
                raise ValueError(f"sample_weight has shape {w.shape}, expected ({len(data)},)")
            data.arrays = data.arrays + (w,)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)


def _arrays(data):
    """Validation data as (X, y[, w]) arrays."""
    if isinstance(data, (tuple, list)):
        return tuple(np.asarray(getattr(a, "data", a)) for a in data)
    ds = getattr(data, "dataset", data)
    if hasattr(ds, "arrays"):
        return tuple(ds.arrays)
    raise TypeError(f"validation data must be a tuple (X, y) or an ArrayDataset, "
                    f"got {type(data).__name__}")


class Trainer:
    """Runs the training loop; :func:`fit` is the one-call form.

    Parameters
    ----------
    model : Module
    loss_fn : callable
        ``loss_fn(output, target[, sample_weight])`` returning a scalar Tensor.
        Optional when ``head`` is given (the head's loss is used).
    optimizer : Optimizer
    head : Head, optional
        Maps targets to the loss's encoding and outputs to predictions (see
        :mod:`chainrule.train.heads`); enables classification metrics.
    scheduler : lr scheduler, optional
        Stepped per ``scheduler_interval`` ('epoch' or 'step').
    callbacks : list of Callback
    tol : float or None
        Convergence: stop when the monitored loss (validation loss if there is
        validation data, else training loss) has not improved by ``tol`` for
        ``n_iter_no_change`` epochs. ``None`` disables the test.
    n_iter_no_change : int, default 10
    class_weight : dict or 'balanced', optional
        Per-class weights for the training loss (classification heads).
    checkpoint : CheckpointManager, optional
        Writes checkpoints (see :mod:`chainrule.train.checkpoint`).
    verbose : int
        0 silent, 1 a progress bar on a terminal (a line per epoch otherwise).
    """

    def __init__(self, model, loss_fn=None, optimizer=None, *, head=None, scheduler=None,
                 scheduler_interval="epoch", callbacks=(), tol=None, n_iter_no_change=10,
                 class_weight=None, checkpoint=None, verbose=0):
        if optimizer is None:
            raise ValueError("Trainer: an optimizer is required")
        if loss_fn is None:
            if head is None:
                raise ValueError("Trainer: give loss_fn or head")
            loss_fn = head.loss_module()
        if tol is not None and tol < 0:
            raise ValueError(f"Trainer: tol must be >= 0, got {tol}")
        if n_iter_no_change < 1:
            raise ValueError(f"Trainer: n_iter_no_change must be >= 1, got {n_iter_no_change}")
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.head = head
        self.callbacks = list(callbacks)
        if scheduler is not None:
            self.callbacks.insert(0, SchedulerCallback(scheduler, scheduler_interval))
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self._class_weights = None
        self.checkpoint = checkpoint
        self.verbose = verbose
        self.history = History()
        self.epoch = 0  # completed epochs
        self.step = 0  # optimizer steps taken
        self.stop_training = False
        self.stop_reason = None
        self.has_validation = False
        self._acc = self._fresh_accumulators()
        self._best_loss = math.inf
        self._no_improve = 0
        self._interrupt = False
        self.loader = None

    # ------------------------------------------------------------------ state
    @staticmethod
    def _fresh_accumulators():
        return {"loss_sum": 0.0, "n": 0, "correct": 0, "lr": None, "start": None}

    def state_dict(self):
        """Everything a resumed run needs (arrays and JSON-able values only)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": get_rng_state(),
            "loader": self.loader.state_dict() if self.loader is not None else None,
            "epoch": self.epoch,
            "step": self.step,
            "acc": {k: v for k, v in self._acc.items() if k != "start"},
            "history": self.history.state_dict(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "convergence": {"best": self._best_loss, "no_improve": self._no_improve},
            "stop": {"stop_training": self.stop_training, "reason": self.stop_reason},
        }

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        if state["loader"] is not None and self.loader is not None:
            self.loader.load_state_dict(state["loader"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self._acc = dict(state["acc"], start=None)
        self.history.load_state_dict(state["history"])
        if len(state["callbacks"]) != len(self.callbacks):
            raise ChainruleError(f"resume: the checkpoint has {len(state['callbacks'])} "
                                 f"callback states, this run has {len(self.callbacks)} callbacks")
        for cb, s in zip(self.callbacks, state["callbacks"]):
            cb.load_state_dict(s)
        self._best_loss = float(state["convergence"]["best"])
        self._no_improve = int(state["convergence"]["no_improve"])
        # a run that early stopping (or convergence) ended stays ended when resumed
        stop = state.get("stop") or {}
        self.stop_training = bool(stop.get("stop_training", False))
        self.stop_reason = stop.get("reason")

    def _resume_state(self, resume):
        """The state ``fit(resume=...)`` designates (see :meth:`fit`), or None."""
        from .checkpoint import latest_checkpoint, load_checkpoint

        if resume is None or resume is False:
            return None
        if resume is True:
            if self.checkpoint is None:
                raise ValueError("fit: resume=True needs checkpoint=CheckpointManager(...)")
            return latest_checkpoint(self.checkpoint.directory)[1]
        if isinstance(resume, dict):
            return resume
        if isinstance(resume, (str, os.PathLike)):
            if os.path.isdir(resume):
                path, state = latest_checkpoint(resume)
                if state is None:
                    raise ChainruleError(f"{os.fspath(resume)}: no valid checkpoint to resume "
                                         f"from")
                return state
            return load_checkpoint(resume)
        raise TypeError(f"fit: resume must be a state dict, a checkpoint file or directory, "
                        f"True or None, got {type(resume).__name__}")

    # ------------------------------------------------------------------ helpers
    def _sample_weights(self, yb, wb):
        if self.class_weight is None:
            return wb
        if self._class_weights is None:
            raise ChainruleError("class_weight needs the class labels; call fit() first")
        w = self._class_weights[yb]
        return w if wb is None else w * wb

    def _prepare_class_weights(self, loader):
        if self.class_weight is None:
            return
        if self.head is None or self.head.task != "classification":
            raise ValueError("class_weight needs a classification head")
        k = self.head.n_classes
        if isinstance(self.class_weight, str):
            if self.class_weight != "balanced":
                raise ValueError(f"class_weight must be a dict or 'balanced', got "
                                 f"{self.class_weight!r}")
            y = np.asarray(loader.dataset.arrays[1]).astype(np.int64)
            counts = np.bincount(y, minlength=k).astype(np.float64)
            w = np.where(counts > 0, len(y) / (k * np.maximum(counts, 1)), 0.0)
        else:
            w = np.ones(k)
            for c, v in self.class_weight.items():
                if not 0 <= int(c) < k:
                    raise ValueError(f"class_weight: class {c} is not in 0..{k - 1}")
                w[int(c)] = v
        self._class_weights = w.astype(np.float32)

    def _lr(self):
        return float(self.optimizer.param_groups[0]["lr"])

    def _on_sigint(self, signum, frame):
        if self._interrupt:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self._interrupt = True
        print("\nInterrupted: stopping at the end of this step (Ctrl-C again to abort now)",
              file=sys.stderr)

    # ------------------------------------------------------------------ evaluation
    def predict_outputs(self, X, batch_size=4096):
        """Network outputs for ``X`` in evaluation mode, without a graph."""
        was_training = self.model.training
        self.model.eval()
        outs = []
        try:
            with no_grad():
                for i in range(0, len(X), batch_size):
                    xb = np.asarray(X[i:i + batch_size])
                    outs.append(self.model(Tensor(xb)).numpy())
        finally:
            self.model.train(was_training)
        if not outs:
            return np.zeros((0, self.head.n_outputs if self.head else 0), dtype=np.float32)
        return np.concatenate(outs)

    def evaluate(self, data, prefix=""):
        """Loss and metrics on ``data`` ((X, y) arrays or an ArrayDataset)."""
        arrays = _arrays(data)
        X, y = arrays[0], arrays[1]
        w = arrays[2] if len(arrays) > 2 else None
        out = self.predict_outputs(X)
        target = self.head.encode(y) if self.head is not None else y
        with no_grad():
            if w is None:
                loss = self.loss_fn(Tensor(out), target)
            else:
                loss = self.loss_fn(Tensor(out), target, sample_weight=w)
        logs = {prefix + "loss": float(loss.item())}
        if self.head is not None:
            if self.head.task == "classification":
                # the loss already is the log-loss of the head's probabilities
                m = compute_metrics("classification", y, self.head.predict(out))
            else:
                m = compute_metrics("regression", y.reshape(out.shape), out)
            logs.update({prefix + k: float(v) for k, v in m.items()})
        return logs

    # ------------------------------------------------------------------ fit
    def fit(self, train_data, val_data=None, epochs=10, batch_size=32, shuffle=True, seed=None,
            resume=None):
        """Train for ``epochs`` epochs (or until convergence / a callback stops it).

        Parameters
        ----------
        train_data : DataLoader, ArrayDataset or tuple (X, y[, sample_weight])
        val_data : ArrayDataset or tuple (X, y[, sample_weight]), optional
        epochs : int
        batch_size, shuffle, seed :
            Used when ``train_data`` is not already a DataLoader.
        resume : dict, str, PathLike or bool, optional
            Continue a run: a state from :meth:`state_dict` or
            :func:`~chainrule.train.checkpoint.load_checkpoint`, a checkpoint
            file, or a checkpoint directory (its newest valid checkpoint; a
            damaged newest one is skipped with a warning). ``True`` resumes from
            the ``checkpoint`` manager's directory when it holds a checkpoint
            and starts afresh otherwise. The model, optimizer, scheduler,
            callbacks and loader must be built as for the original run; the
            continuation is then bit-for-bit the one the original run would
            have taken.

        Returns
        -------
        History
        """
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        self.loader = _as_loader(train_data, batch_size, shuffle, seed)
        self.has_validation = val_data is not None
        self._prepare_class_weights(self.loader)
        self.stop_training = False
        self.stop_reason = None
        state = self._resume_state(resume)
        if state is not None:
            self.load_state_dict(state)
        use_signal = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._on_sigint) if use_signal else None
        self._interrupt = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            while self.epoch < epochs and not self.stop_training:
                self._run_epoch(val_data, epochs)
                if self._interrupt:  # Ctrl-C during the epoch's evaluation
                    self._stop_on_interrupt()
        finally:
            if use_signal:
                signal.signal(signal.SIGINT, previous)
            for cb in self.callbacks:
                cb.on_train_end(self)
        if self.verbose and self.stop_reason:
            print(f"Stopped after epoch {self.epoch}: {self.stop_reason}", file=sys.stderr)
        return self.history

    def _run_epoch(self, val_data, epochs):
        from .progress import Progress

        epoch = self.epoch
        for cb in self.callbacks:
            cb.on_epoch_begin(self, epoch)
        acc = self._acc
        acc["start"] = time.perf_counter()
        model, loss_fn, optimizer, head = self.model, self.loss_fn, self.optimizer, self.head
        classify = head is not None and head.task == "classification"
        model.train()
        bar = Progress(len(self.loader), epoch, epochs, enabled=bool(self.verbose))
        batches = self.loader
        if acc["n"] and self.loader.batch_in_epoch >= len(self.loader):
            # NOTE: resumed from a checkpoint written after the epoch's last step but before
            # its end: no batch is left (iterating would start the loader's next epoch).
            batches = ()
            self.loader.set_epoch(self.loader.epoch + 1)
        try:
            for batch in batches:
                xb, yb = batch[0], batch[1]
                wb = batch[2].data if len(batch) > 2 else None
                y = yb.data
                target = head.encode(y) if head is not None else yb
                wb = self._sample_weights(y, wb)
                out = model(xb)
                loss = loss_fn(out, target) if wb is None else loss_fn(out, target,
                                                                        sample_weight=wb)
                value = loss.item()
                if not math.isfinite(value):
                    raise TrainingDiverged(
                        f"the training loss became {value} at epoch {epoch + 1}, step "
                        f"{self.step + 1}; training stopped before that update, so the weights "
                        f"are the last finite ones (try a lower learning rate)")
                optimizer.zero_grad()
                loss.backward()
                # the lr of the epoch's last update (a per-step schedule moves it); kept in
                # the accumulators so that a checkpoint carries it
                acc["lr"] = self._lr()
                self._guarded_step(epoch)
                n = len(y)
                acc["loss_sum"] += value * n
                acc["n"] += n
                if classify:
                    acc["correct"] += int((head.predict(out.data) == y).sum())
                self.step += 1
                logs = {"loss": value}
                for cb in self.callbacks:
                    cb.on_batch_end(self, self.step, logs)
                bar.update(acc["loss_sum"] / acc["n"])
                if self.checkpoint is not None:
                    self.checkpoint.after_step(self)
                if self._interrupt:
                    self._stop_on_interrupt()
        finally:
            bar.close()
        self._end_epoch(val_data, classify, acc.get("lr"))

    def _guarded_step(self, epoch):
        """``optimizer.step()``, refused when a gradient holds a NaN or an infinity.

        A finite loss can still have a non-finite gradient (an op at a singular
        point); checking the gradients before the update keeps the weights finite
        without copying them at every step. An update that overflows finite
        gradients into infinite weights (a learning rate near 1e38) is caught
        right after the step, before any checkpoint or model file is written.
        """
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None and not _all_finite(p.grad):
                    name = next((n for n, q in self.model.named_parameters() if q is p), "?")
                    raise TrainingDiverged(
                        f"the gradient of {name!r} became NaN or infinite at epoch "
                        f"{epoch + 1}, step {self.step + 1}; training stopped before that "
                        f"update, so the weights are the last finite ones (try a lower "
                        f"learning rate)")
        self.optimizer.step()
        for name, p in self.model.named_parameters():
            if not _all_finite(p.data):
                raise TrainingDiverged(
                    f"the update at epoch {epoch + 1}, step {self.step + 1} overflowed: "
                    f"{name!r} is no longer finite; training stopped before writing "
                    f"anything (try a lower learning rate)")

    def _stop_on_interrupt(self):
        where = f"epoch {self.epoch + 1}, step {self.step}"
        if self.checkpoint is not None:
            done = self.checkpoint.save_on_interrupt(self)
            msg = (f"Training interrupted at {where}; {done}. Resume with: "
                   f"{self.checkpoint.resume_hint()}")
        else:
            msg = f"Training interrupted at {where} (no checkpointing was enabled)"
        raise TrainingInterrupted(msg)

    def _end_epoch(self, val_data, classify, lr=None):
        acc = self._acc
        logs = {"epoch": self.epoch + 1, "loss": acc["loss_sum"] / max(acc["n"], 1)}
        if classify:
            logs["accuracy"] = acc["correct"] / max(acc["n"], 1)
        if val_data is not None:
            logs.update(self.evaluate(val_data, prefix="val_"))
        logs["lr"] = self._lr() if lr is None else lr
        logs["time"] = time.perf_counter() - acc["start"]
        self.epoch += 1
        self._acc = self._fresh_accumulators()
        self.history.append(logs)
        if self.verbose:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items() if k in _SHOWN)
            print(f"epoch {logs['epoch']}  {shown}  ({logs['time']:.2f}s)", file=sys.stderr)
        self._check_convergence(logs)
        for cb in self.callbacks:
            cb.on_epoch_end(self, self.epoch - 1, logs)
        if self.checkpoint is not None:
            self.checkpoint.after_epoch(self)

    def _check_convergence(self, logs):
        if self.tol is None:
            return
        key = "val_loss" if "val_loss" in logs else "loss"
        value = logs[key]
        if value > self._best_loss - self.tol:
            self._no_improve += 1
        else:
            self._no_improve = 0
        self._best_loss = min(self._best_loss, value)
        if self._no_improve >= self.n_iter_no_change:
            self.stop_training = True
            self.stop_reason = (f"converged: {key} improved by less than tol={self.tol} for "
                                f"{self.n_iter_no_change} consecutive epochs")


def fit(model, loss_fn, optimizer, train_data, val_data=None, epochs=10, **kwargs):
    """Train ``model`` with ``optimizer`` on ``loss_fn``; returns the :class:`History`.

    Keyword arguments go to :class:`Trainer` (head, scheduler, callbacks, tol,
    n_iter_no_change, class_weight, checkpoint, verbose) or to
    :meth:`Trainer.fit` (batch_size, shuffle, seed, resume).

    Examples
    --------
    >>> model = cr.nn.Sequential(cr.nn.Linear(2, 16), cr.nn.ReLU(), cr.nn.Linear(16, 1))
    >>> opt = cr.optim.SGD(model.parameters(), lr=0.1)
    >>> history = fit(model, cr.nn.MSELoss(), opt, (X, y), epochs=20, batch_size=32)
    """
    fit_keys = {"batch_size", "shuffle", "seed", "resume"}
    fit_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in fit_keys}
    trainer = Trainer(model, loss_fn, optimizer, **kwargs)
    return trainer.fit(train_data, val_data, epochs, **fit_kw)
