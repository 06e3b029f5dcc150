"""The base of both estimators: scikit-learn's rules, trained by :class:`chainrule.train.Trainer`.

The estimators hold no epoch or minibatch loop: they validate the data, build the
network, the optimizer and a DataLoader, and hand them to the Trainer with
scikit-learn's rules as Trainer options and callbacks (``tol`` /
``n_iter_no_change`` as the Trainer's convergence test, ``alpha`` as
:class:`~chainrule.train.L2Penalty`, 'invscaling' and 'adaptive' as
:class:`~chainrule.train.InverseScalingLR` and :class:`~chainrule.train.AdaptiveLR`).

How the hyper-parameters map onto chainrule is in the package docstring
(:mod:`chainrule.sklearn`); the estimators' files (``save``, ``load``, ``to_onnx``)
are in ``_persistence.py``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from .. import nn
from ..backend import get_rng_state, manual_seed, set_rng_state
from ..data import ArrayDataset
from ..device import DeviceError, device, to_host
from ..train import (
    AdaptiveLR,
    Callback,
    InverseScalingLR,
    L2Penalty,
    SchedulerCallback,
    Trainer,
    TrainingDiverged,
)
from ..train.evaluate import predict_outputs
from ..train.recipe import (
    LoaderSpec,
    OptimizerSpec,
    Recipe,
    ScheduleSpec,
    build_loader,
    build_model,
    build_optimizer,
    build_scheduler,
)
from ._params import (
    _ACTIVATIONS,
    _COMMON_CONSTRAINTS,
    _MIN_ADAPTIVE_LR,
    _SGD_SOLVERS,
)
from ._persistence import _PersistenceMixin

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6
    def validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)


@contextlib.contextmanager
def _seeded(seed):
    """Seed chainrule's generator (init, dropout) for the block, then restore its state."""
    state = get_rng_state()
    manual_seed(seed)
    try:
        yield
    finally:
        set_rng_state(state)


def _glorot_init(model, activation):
    """scikit-learn's MLP init: U(-b, b), b = sqrt(6 / (fan_in + fan_out)), 2 for logistic."""
    factor = 2.0 if activation == "sigmoid" else 6.0
    for m in model.modules():
        if isinstance(m, nn.Linear):
            bound = math.sqrt(factor / (m.in_features + m.out_features))
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.uniform_(m.bias, -bound, bound)


def _outputs(model, X):
    """The network's outputs for X (already in the model's dtype), in evaluation mode."""
    return predict_outputs(model, X, batch_size=8192)


class _Record(Callback):
    """The estimator's side of each epoch: the fitted attributes scikit-learn documents
    (``loss_curve_``, ``validation_scores_``...), its verbose messages and the best
    validation weights."""

    def __init__(self, est, validation):
        self.est, self.validation = est, validation
        self.best = est.best_validation_score_ if validation else None
        self.best_state = None

    def on_epoch_end(self, trainer, epoch, logs):
        est = self.est
        loss = logs["loss"]
        est.loss_ = loss
        est.loss_curve_.append(loss)
        if est.verbose:
            print(f"Iteration {epoch + 1}, loss = {loss:.8f}")
        if self.validation:
            score = logs["val_score"]
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score > self.best:
                self.best = score
                self.best_state = trainer.model.state_dict()

    def on_train_end(self, trainer):
        est = self.est
        if trainer.converged and est.verbose:
            what = "Validation score" if self.validation else "Training loss"
            print(f"{what} did not improve more than tol={est.tol:f} for "
                  f"{est.n_iter_no_change} consecutive epochs. Stopping.")
        if self.best_state is not None and est.restore_best_weights:
            trainer.model.load_state_dict(self.best_state)


class _BaseNeuralNet(_PersistenceMixin, BaseEstimator):
    """Shared fit machinery; see NeuralNetClassifier and NeuralNetRegressor."""

    _parameter_constraints: dict = dict(_COMMON_CONSTRAINTS)

    # -------------------------------------------------------------- fitted attributes
    @property
    def coefs_(self):
        return [to_host(m.weight.data).T for m in self._linears()]

    @property
    def intercepts_(self):
        return [to_host(m.bias.data) for m in self._linears()]

    def _linears(self):
        check_is_fitted(self, "model_")
        return [m for m in self.model_.modules() if isinstance(m, nn.Linear)]

    # -------------------------------------------------------------- fitting
    def fit(self, X, y, sample_weight=None):
        """Train the network on (X, y) for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classification) or targets (regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss (integer weights act as repeated rows).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_hidden(self):
        h = self.hidden_layer_sizes
        h = list(h) if hasattr(h, "__iter__") else [h]
        if not all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in h):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {h}.")
        return [int(v) for v in h]

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        hidden = self._check_hidden()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        sgd = self.solver in _SGD_SOLVERS
        if self.lr_schedule is not None and sgd and self.learning_rate != "constant":
            raise ValueError(f"lr_schedule={self.lr_schedule!r} and learning_rate="
                             f"{self.learning_rate!r} both schedule the learning rate; set "
                             f"learning_rate='constant' to use lr_schedule")
        if self.solver == "nesterov" and self.momentum == 0:
            raise ValueError("solver='nesterov' needs momentum > 0")
        first = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        X, y = self._validate_xy(X, y, reset=first,
                                 dtype=self._input_dtype() if first else self._model_dtype())
        dtype = X.dtype
        target, n_outputs = self._encode_targets(y, first, classes)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=dtype)
        rs = check_random_state(self.random_state)
        seed = int(rs.randint(np.iinfo(np.int32).max))
        with _seeded(seed):
            if first:
                self._initialize(X.shape[1], hidden, n_outputs, dtype)
            elif n_outputs != self.n_outputs_:
                raise ValueError(f"y has {n_outputs} outputs but the network was fitted with "
                                 f"{self.n_outputs_}; use warm_start=False to refit")
            if not incremental or not hasattr(self, "_optimizer"):
                self._optimizer, self._scheduler = self._make_optimizer()
            self._train(X, target, sample_weight, rs, incremental)
        self.model_.eval()
        return self

    def _recipe(self, hidden=None, batch_size=None):
        """The estimator's hyper-parameters as a run recipe (model, optimizer, schedule,
        loader, stopping rules): what the CLI's arguments also become."""
        s, kw = self.solver, {}
        if s in _SGD_SOLVERS:
            nesterov = s == "nesterov" or (s == "sgd" and self.nesterovs_momentum)
            kw = {"momentum": self.momentum, "nesterov": bool(nesterov and self.momentum > 0)}
            s = "sgd"
        elif s in ("adam", "adamw"):
            kw = {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon}
        else:
            kw = {"eps": self.epsilon}
        schedule = ScheduleSpec()
        if self.lr_schedule is not None:
            kwargs = dict(self.lr_schedule_kwargs or {})
            if self.lr_schedule == "cosine":
                kwargs.setdefault("T_max", self.max_iter)
            elif self.lr_schedule == "onecycle":
                kwargs.setdefault("max_lr", self.learning_rate_init)
                kwargs.setdefault("total_steps", self.max_iter)
            schedule = ScheduleSpec(self.lr_schedule, kwargs)
        return Recipe(
            model={"kind": "mlp", "hidden": list(hidden or []),
                   "activation": _ACTIVATIONS[self.activation], "dropout": self.dropout,
                   "batch_norm": self.batch_norm},
            # fused: one update per group on flat buffers (bitwise the same as per
            # parameter); on these small layers the per-parameter calls cost more
            optimizer=OptimizerSpec(s, self.learning_rate_init, 0.0, kw, fused=True),
            schedule=schedule,
            # NOTE: prefetch off: a background gather costs more than it saves on batches
            # of in-memory rows this small.
            loader=LoaderSpec(batch_size=batch_size, shuffle=self.shuffle, prefetch=False),
            epochs=self.max_iter, tol=self.tol, patience=self.n_iter_no_change,
            class_weight=getattr(self, "class_weight", None))

    def _device(self):
        try:
            return device(self.device)
        except DeviceError as e:  # named as scikit-learn names a bad hyper-parameter
            raise InvalidParameterError(
                f"The 'device' parameter of {type(self).__name__} must be 'cpu', 'cuda', "
                f"'cuda:N' or 'auto'. Got {self.device!r} instead ({e}).") from None

    def _initialize(self, n_features, hidden, n_outputs, dtype):
        recipe = self._recipe(hidden)
        model = build_model(recipe.model, n_features, n_outputs)
        _glorot_init(model, recipe.model["activation"])
        self.model_ = model.to(self._device(), dtype)
        self.n_layers_ = len(hidden) + 2
        self.n_outputs_ = n_outputs
        self.out_activation_ = self._out_activation(n_outputs)
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf
        for name in ("_optimizer", "_scheduler"):
            self.__dict__.pop(name, None)

    def _make_optimizer(self):
        weights = [m.weight for m in self.model_.modules() if isinstance(m, nn.Linear)]
        ids = {id(p) for p in weights}
        others = [p for p in self.model_.parameters() if id(p) not in ids]
        groups = [{"params": weights, "weight_decay": 0.0}]  # group 0: see L2Penalty
        if others:
            groups.append({"params": others, "weight_decay": 0.0})
        recipe = self._recipe()
        opt = build_optimizer(recipe.optimizer, groups)
        try:
            return opt, build_scheduler(recipe.schedule, opt)
        except ValueError as e:
            raise ValueError(f"lr_schedule={self.lr_schedule!r}: {e}; give its arguments in "
                             f"lr_schedule_kwargs") from None

    def _train(self, X, target, sample_weight, rs, incremental):
        val = None
        if self.early_stopping:
            stratify = target if self._stratify else None
            arrays = (X, target) if sample_weight is None else (X, target, sample_weight)
            parts = train_test_split(*arrays, random_state=rs, stratify=stratify,
                                     test_size=self.validation_fraction)
            X, target = parts[0], parts[2]
            sample_weight = parts[4] if len(parts) > 4 else None
            val = (parts[1], parts[3], parts[5] if len(parts) > 4 else None)
            if len(val[0]) < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
        weights = self._train_weights(target, sample_weight, incremental)
        n = X.shape[0]
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` larger than the sample size. It is going to "
                              "be clipped")
            batch = min(self.batch_size, n)
        head = self._head()
        recipe = self._recipe(batch_size=batch)
        # one generator drawing a permutation an epoch, as scikit-learn's MLP shuffles
        order = np.random.default_rng(rs.randint(np.iinfo(np.int32).max))
        loader = build_loader(recipe.loader, ArrayDataset(X, target, weights), seed=0,
                              generator=order)
        record = _Record(self, val is not None)
        trainer = Trainer(
            self.model_, self._loss_module(head), self._optimizer, head=head,
            callbacks=self._rules() + [record], tol=recipe.tol,
            # scikit-learn stops after *more than* n_iter_no_change epochs without progress
            n_iter_no_change=recipe.patience + 1,
            monitor="val_score" if val else "loss", mode="max" if val else "min",
            metrics={"score": self._score_outputs} if val else None, val_loss=False,
            check_finite=False, train_metrics=False, compile=True)
        trainer.best_monitored = self.best_validation_score_ if val else self.best_loss_
        trainer.no_improvement_count = self._no_improvement_count
        try:
            trainer.fit(loader, val, epochs=1 if incremental else recipe.epochs)
        except TrainingDiverged as e:
            value = str(e).split("became ", 1)[-1].split(" ", 1)[0]
            raise ValueError(f"The training loss became {value} at epoch {trainer.epoch + 1}; "
                             f"the input data may contain large values and need to be "
                             f"preprocessed, or learning_rate_init is too high.") from None
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        self.n_iter_ = trainer.epoch
        self.t_ += trainer.samples_seen
        self._no_improvement_count = trainer.no_improvement_count
        if val:
            self.best_validation_score_ = trainer.best_monitored
        else:
            self.best_loss_ = trainer.best_monitored
        if not incremental and not trainer.converged and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          f"and the optimization hasn't converged yet.", ConvergenceWarning)

    def _rules(self):
        """scikit-learn's per-step and per-epoch rules, as Trainer callbacks."""
        rules = []
        if self._scheduler is not None:  # stepped once per epoch, a plateau on the loss
            rules.append(SchedulerCallback(self._scheduler, "epoch", monitor="loss"))
        if self.alpha:
            rules.append(L2Penalty(self.alpha, group=0))  # group 0: the weights
        if self.solver in _SGD_SOLVERS and self.lr_schedule is None:
            if self.learning_rate == "invscaling":
                rules.append(InverseScalingLR(self.learning_rate_init, self.power_t, self.t_))
            elif self.learning_rate == "adaptive":
                rules.append(AdaptiveLR(5.0, _MIN_ADAPTIVE_LR, verbose=self.verbose))
        return rules

    def _train_weights(self, target, sample_weight, incremental):
        return sample_weight

    def _loss_module(self, head):
        return head.loss_module()

    # -------------------------------------------------------------- predicting
    def _outputs(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self._model_dtype())
        return _outputs(self.model_, X)

    def _input_dtype(self):
        """The dtype(s) validate_data converts X to: the ``dtype`` parameter, or with
        ``dtype=None`` float32 for float32 input and float64 for anything else."""
        if self.dtype is None:
            return [np.float64, np.float32]
        return np.dtype(self.dtype)

    def _model_dtype(self):
        return next(iter(self.model_.parameters())).data.dtype
