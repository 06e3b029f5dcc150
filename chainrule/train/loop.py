"""The training loop: stochastic gradient descent with backpropagation.

For epoch after epoch, for each random minibatch B drawn by the loader:

    loss  = (1/|B|) sum_{i in B} L(f_theta(x_i), y_i)     forward pass
    grads = d loss / d theta                                backward pass (backprop)
    theta <- theta - rho(tau) * grads                       optimizer.step()

until ``epochs`` run out or the monitored loss stops improving by ``tol`` for
``n_iter_no_change`` epochs ("until convergence", as in scikit-learn's MLP).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time

import numpy as np

from ..backend import get_rng_state, set_rng_state
from ..device import module_device, to_device, to_host
from ..errors import ChainruleError
from ..tensor import Tensor
from .callbacks import Callback, SchedulerCallback
from .checkpoint import resume_state
from .evaluate import as_arrays, evaluate, predict_outputs
from .heads import class_weights
from .history import History
from .parallel import data_parallel
from .progress import Progress
from .stopping import TrainingDiverged, check_convergence, check_loss, guarded_step

__all__ = ["Trainer", "fit", "TrainingDiverged", "TrainingInterrupted"]

_SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy", "val_r2", "lr")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training at the end of a step (after writing a checkpoint, if enabled)."""


def _as_loader(data, batch_size, shuffle, seed):
    from ..data import ArrayDataset, DataLoader

    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)):
        if not 2 <= len(data) <= 3:
            raise ValueError(f"training data must be a tuple (X, y[, sample_weight]), got "
                             f"{len(data)} arrays")
        X, y, *w = (getattr(a, "data", a) for a in data)
        if w and np.shape(w[0]) != (len(X),):
            raise ValueError(f"sample_weight has shape {np.shape(w[0])}, expected ({len(X)},)")
        data = ArrayDataset(X, y, w[0] if w else None)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)


class Trainer:
    """Runs the training loop; :func:`fit` is the one-call form.

    The one place in chainrule that iterates over epochs and minibatches: ``fit``,
    the CLI and the scikit-learn estimators all train through it.

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
        Convergence: stop when the monitored value has not improved by ``tol``
        for ``n_iter_no_change`` epochs. ``None`` disables the test.
    n_iter_no_change : int or inf, default 10
    monitor : str, optional
        The epoch log the convergence test watches; default 'val_loss' when there
        is validation data, else 'loss'.
    mode : {'min', 'max'}, default 'min'
        Whether the monitored value improves by going down or up.
    class_weight : dict or 'balanced', optional
        Per-class weights for the training loss (classification heads); dict keys
        are class indices.
    metrics : mapping of str to callable, optional
        Validation metrics ``{name: fn(y, outputs, sample_weight)}`` logged as
        ``val_<name>``; default: the head's (see :func:`~chainrule.train.evaluate.evaluate`).
    check_finite : bool, default True
        Refuse a step whose gradients are not finite, and stop when an update
        makes a weight infinite (:class:`TrainingDiverged`). The loss is always
        checked.
    train_metrics : bool, default True
        Log the training accuracy of classification heads (``accuracy``).
    val_loss : bool, default True
        Log the validation loss (``val_loss``) beside the validation metrics.
    checkpoint : CheckpointManager, optional
        Writes checkpoints (see :mod:`chainrule.train.checkpoint`).
    verbose : int
        0 silent, 1 a progress bar on a terminal (a line per epoch otherwise).
    distributed : bool, default False
        Data parallel over MPI ranks (``mpiexec -n N``; :mod:`chainrule.train.parallel`):
        ``batch_size`` is the global batch; the weights are one process's to float32
        round-off; rank 0 alone prints and writes. One process trains as usual.
    compile : bool, default False
        Compute each step's gradients through step capture (:func:`chainrule.compile`)
        where the model and loss allow it (an MLP of Linear and ReLU layers with
        cross-entropy, MSE or BCE-with-logits, batches without sample weights), the
        engine otherwise: bitwise the same training, with less Python per step. The
        parameters' ``.grad`` are then buffers that the next step overwrites.

    Attributes
    ----------
    history : History
    epoch, step : int
        Completed epochs and optimizer steps.
    samples_seen : int
        Training samples the steps went through.
    best_monitored, no_improvement_count : float, int
        The convergence test's state (a callback may reset it).
    converged : bool
        True when the convergence test stopped training.
    """

    def __init__(self, model, loss_fn=None, optimizer=None, *, head=None, scheduler=None,
                 scheduler_interval="epoch", callbacks=(), tol=None, n_iter_no_change=10,
                 monitor=None, mode="min", class_weight=None, metrics=None, check_finite=True,
                 train_metrics=True, val_loss=True, checkpoint=None, verbose=0,
                 distributed=False, compile=False):
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
        if mode not in ("min", "max"):
            raise ValueError(f"Trainer: mode must be 'min' or 'max', got {mode!r}")
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.head = head
        self.callbacks = list(callbacks)
        if scheduler is not None:
            self.callbacks.insert(0, SchedulerCallback(scheduler, scheduler_interval))
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.monitor = monitor
        self.mode = mode
        self.class_weight = class_weight
        self._class_weights = None
        self.metrics = metrics
        self.check_finite = check_finite
        self.train_metrics = train_metrics
        self.val_loss = val_loss
        self.checkpoint = checkpoint
        self.verbose = verbose
        self.distributed = bool(distributed)
        self.compile = bool(compile)
        self._captured = None  # the CompiledStep of a fit with compile=True
        self._parallel = None
        self.history = History()
        self.epoch = 0  # completed epochs
        self.step = 0  # optimizer steps taken
        self.samples_seen = 0
        self.stop_training = False
        self.stop_reason = None
        self.converged = False
        self.has_validation = False
        self._acc = self._fresh_accumulators()
        self.best_monitored = math.inf if mode == "min" else -math.inf
        self.no_improvement_count = 0
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
            "samples_seen": self.samples_seen,
            "acc": {k: v for k, v in self._acc.items() if k != "start"},
            "history": self.history.state_dict(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "convergence": {"best": self.best_monitored, "no_improve": self.no_improvement_count},
            "stop": {"stop_training": self.stop_training, "reason": self.stop_reason},
        }

    def load_state_dict(self, state):
        """Restore a run from :meth:`state_dict` (model, optimizer, random state, position)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        if state["loader"] is not None and self.loader is not None:
            self.loader.load_state_dict(state["loader"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.samples_seen = int(state.get("samples_seen", 0))
        self._acc = dict(state["acc"], start=None)
        self.history.load_state_dict(state["history"])
        if len(state["callbacks"]) != len(self.callbacks):
            raise ChainruleError(f"resume: the checkpoint has {len(state['callbacks'])} "
                                 f"callback states, this run has {len(self.callbacks)} callbacks")
        for cb, s in zip(self.callbacks, state["callbacks"]):
            cb.load_state_dict(s)
        self.best_monitored = float(state["convergence"]["best"])
        self.no_improvement_count = int(state["convergence"]["no_improve"])
        # a run that early stopping (or convergence) ended stays ended when resumed
        stop = state.get("stop") or {}
        self.stop_training = bool(stop.get("stop_training", False))
        self.stop_reason = stop.get("reason")

    # ------------------------------------------------------------------ helpers
    def _prepare_class_weights(self, loader):
        if self.class_weight is None:
            return
        if self.head is None or self.head.task != "classification":
            raise ValueError("class_weight needs a classification head")
        y = loader.dataset.arrays[1] if isinstance(self.class_weight, str) else ()
        self._class_weights = class_weights(self.class_weight, y, self.head.n_classes)

    def _lr(self):
        return float(self.optimizer.param_groups[0]["lr"])

    def _on_sigint(self, signum, frame):
        if self._interrupt:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self._interrupt = True
        if self.is_main:
            print("\nInterrupted: stopping at the end of this step (Ctrl-C again to abort now)",
                  file=sys.stderr)

    # ------------------------------------------------------------------ evaluation
    def predict_outputs(self, X, batch_size=4096):
        """Network outputs for ``X`` in evaluation mode, without a graph."""
        return predict_outputs(self.model, X, batch_size,
                               self.head.n_outputs if self.head is not None else 0)

    def evaluate(self, data, prefix=""):
        """Loss and metrics on ``data`` ((X, y[, w]) arrays or an ArrayDataset)."""
        return evaluate(self.model, as_arrays(data), self.head,
                        self.loss_fn if self.val_loss else None, self.metrics, prefix=prefix)

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
        self._parallel = data_parallel(self.loader, self.distributed)
        if not self.is_main:
            self.verbose = 0  # rank 0 prints (callbacks read trainer.verbose too)
        self.has_validation = val_data is not None
        if val_data is not None:
            val_data = as_arrays(val_data)
        self._prepare_class_weights(self.loader)
        if self.compile:
            from ..capture import CompiledStep

            self._captured = CompiledStep(self.model, self.loss_fn, self.optimizer)
        self.stop_training = False
        self.stop_reason = None
        self.converged = False
        if self._parallel is not None and resume not in (None, False) \
                and not isinstance(resume, dict):  # rank 0 picks the file all ranks load
            resume = self._parallel.resume_path(resume, self.checkpoint)
        state = resume_state(resume, self.checkpoint)
        if state is not None:
            self.load_state_dict(state)
        if self._parallel is not None:
            self._parallel.start(self.model, self.optimizer, resumed=state is not None)
        use_signal = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._on_sigint) if use_signal else None
        self._interrupt = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            while self.epoch < epochs and not self.stop_training:
                self._run_epoch(val_data, epochs)
                if self._parallel is not None:  # every rank stops, or none
                    self._interrupt = self._parallel.any(self._interrupt)
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

    def _hooked(self, name):
        """The callbacks that override hook ``name`` (the others are not called per step)."""
        base = getattr(Callback, name)
        return [cb for cb in self.callbacks
                if getattr(type(cb), name, base) is not base or name in vars(cb)]

    def _run_epoch(self, val_data, epochs):
        epoch = self.epoch
        for cb in self.callbacks:
            cb.on_epoch_begin(self, epoch)
        acc = self._acc
        acc["start"] = time.perf_counter()
        model, loss_fn, optimizer, head = self.model, self.loss_fn, self.optimizer, self.head
        classify = head is not None and head.task == "classification"
        count_correct = classify and self.train_metrics
        after_backward, batch_end = self._hooked("on_after_backward"), self._hooked("on_batch_end")
        cw = self._class_weights
        first_group = optimizer.param_groups[0]
        checkpoint = self.checkpoint if self.is_main else None  # rank 0 writes
        guarded = self.check_finite
        model.train()
        parallel = self._parallel
        captured = self._captured
        dev = module_device(model)
        dev = None if dev.type == "cpu" else dev  # batches are copied there, step by step
        bar = Progress(len(self.loader), epoch, epochs, enabled=bool(self.verbose))
        show = bar.active
        if acc["n"] and self.loader.batch_in_epoch >= len(self.loader):
            # NOTE: resumed from a checkpoint written after the epoch's last step but before
            # its end: no batch is left (iterating would start the loader's next epoch).
            batches = ()
            self.loader.set_epoch(self.loader.epoch + 1)
        else:
            batches = self.loader.iter_arrays()
        try:
            for batch in batches:
                xb, y = batch[0], batch[1]
                wb = batch[2] if len(batch) > 2 else None
                if cw is not None:
                    wb = cw[y] if wb is None else cw[y] * wb
                n = len(y)
                weight = n if wb is None else float(wb.sum())
                value, correct = 0.0, 0
                optimizer.zero_grad()
                if weight > 0:
                    target = y if head is None else head.encode(y)
                    if target.dtype.kind == "f" and target.dtype != xb.dtype:
                        target = target.astype(xb.dtype)
                    xd = xb if dev is None else to_device(xb, dev)
                    value = None
                    if captured is not None and wb is None:  # None: not capturable
                        value = captured.gradients(xd, target if dev is None
                                                   else to_device(target, dev))
                        if value is not None and count_correct:
                            out = to_host(captured.outputs)
                            correct = int((head.predict(out) == y).sum())
                    if value is None:
                        out = model(Tensor(xd))
                        loss = loss_fn(out, target) if wb is None else loss_fn(
                            out, target, sample_weight=wb)
                        value = loss.item()
                        if math.isfinite(value):  # else: stop below, before any update
                            loss.backward()
                        if count_correct:
                            correct = int((head.predict(out.numpy()) == y).sum())
                if parallel is not None:
                    # NOTE: one Allreduce of the gradients (weighted: the global batch's), the
                    # loss, counts and Ctrl-C flag; every rank decides from the same sums.
                    value, weight, n, correct, self._interrupt = parallel.reduce_step(
                        weight, value, n, correct, self._interrupt)
                self.samples_seen += n
                if weight <= 0:  # a minibatch of zero total weight: nothing to learn from
                    acc["n"] += n
                    continue
                check_loss(self, value, epoch)  # NaN, inf or a blow-up: stop before the update
                logs = {"loss": value, "n": n, "weight": weight}
                for cb in after_backward:
                    cb.on_after_backward(self, logs)
                # the lr of the epoch's last update (a per-step schedule moves it); kept in
                # the accumulators so that a checkpoint carries it
                acc["lr"] = float(first_group["lr"])
                if guarded:  # refuses non-finite gradients and weights (stopping.py)
                    guarded_step(model, optimizer, epoch, self.step)
                else:
                    optimizer.step()
                acc["loss_sum"] += logs["loss"] * n
                acc["n"] += n
                acc["correct"] += correct
                self.step += 1
                for cb in batch_end:
                    cb.on_batch_end(self, self.step, logs)
                if show:
                    bar.update(acc["loss_sum"] / acc["n"])
                if checkpoint is not None:
                    checkpoint.after_step(self)
                if self._interrupt:
                    self._stop_on_interrupt()
        finally:
            bar.close()
            if batches:  # stop the prefetch thread now, even when an error leaves the loop
                batches.close()
        self._end_epoch(val_data, count_correct, acc.get("lr"))

    @property
    def is_main(self):
        """True where files are written and progress printed: rank 0, or a single process."""
        return self._parallel is None or self._parallel.is_main

    def _stop_on_interrupt(self):
        where = f"epoch {self.epoch + 1}, step {self.step}"
        if self.checkpoint is not None and not self.is_main:
            msg = f"Training interrupted at {where}; rank 0 writes the checkpoint"
        elif self.checkpoint is not None:
            done = self.checkpoint.save_on_interrupt(self)
            msg = (f"Training interrupted at {where}; {done}. Resume with: "
                   f"{self.checkpoint.resume_hint()}")
        else:
            msg = f"Training interrupted at {where} (no checkpointing was enabled)"
        if self._parallel is not None:  # every rank stops here; none leaves before the file
            self._parallel.barrier()
        raise TrainingInterrupted(msg)

    def _end_epoch(self, val_data, count_correct, lr=None):
        acc = self._acc
        logs = {"epoch": self.epoch + 1, "loss": acc["loss_sum"] / max(acc["n"], 1)}
        if count_correct:
            logs["accuracy"] = acc["correct"] / max(acc["n"], 1)
        if val_data is not None and self.is_main:
            logs.update(self.evaluate(val_data, prefix="val_"))
        logs["lr"] = self._lr() if lr is None else lr
        logs["time"] = time.perf_counter() - acc["start"]
        if self._parallel is not None:  # rank 0's validation results decide for every rank
            logs = self._parallel.epoch_logs(logs)
        self.epoch += 1
        self._acc = self._fresh_accumulators()
        self.history.append(logs)
        if self.verbose:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items() if k in _SHOWN)
            print(f"epoch {logs['epoch']}  {shown}  ({logs['time']:.2f}s)", file=sys.stderr)
        check_convergence(self, logs)
        for cb in self.callbacks:
            cb.on_epoch_end(self, self.epoch - 1, logs)
        if self.checkpoint is not None and self.is_main:
            self.checkpoint.after_epoch(self)


def fit(model, loss_fn, optimizer, train_data, val_data=None, epochs=10, **kwargs):
    """Train ``model`` with ``optimizer`` on ``loss_fn``; returns the :class:`History`.

    Keyword arguments go to :class:`Trainer` (head, scheduler, callbacks, tol,
    n_iter_no_change, class_weight, checkpoint, verbose, distributed, compile) or to
    :meth:`Trainer.fit` (batch_size, shuffle, seed, resume).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(256, 2)).astype(np.float32)
    >>> y = X[:, :1] - 2 * X[:, 1:]
    >>> model = cr.nn.Sequential(cr.nn.Linear(2, 16), cr.nn.ReLU(), cr.nn.Linear(16, 1))
    >>> opt = cr.optim.SGD(model.parameters(), lr=0.1)
    >>> history = fit(model, cr.nn.MSELoss(), opt, (X, y), epochs=20, batch_size=32)
    """
    fit_keys = {"batch_size", "shuffle", "seed", "resume"}
    fit_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in fit_keys}
    trainer = Trainer(model, loss_fn, optimizer, **kwargs)
    return trainer.fit(train_data, val_data, epochs, **fit_kw)
