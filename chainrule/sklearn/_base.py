"""The base of both estimators: scikit-learn's rules around chainrule's minibatch loop.

How the hyper-parameters map onto chainrule is in the package docstring
(:mod:`chainrule.sklearn`).
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
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from .. import nn
from ..backend import get_rng_state, manual_seed, set_rng_state
from ..errors import ModelFileError
from ..io import load_with_metadata, save
from ..nn import MLP
from ..optim import get_optimizer
from ..optim.lr_scheduler import ReduceLROnPlateau, get_scheduler
from ..tensor import Tensor, no_grad
from ._params import (
    _ACTIVATIONS,
    _COMMON_CONSTRAINTS,
    _MIN_ADAPTIVE_LR,
    _SGD_SOLVERS,
)

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


def _forward(model, X, batch=8192):
    """The network's outputs for X, in evaluation mode and without a graph."""
    model.eval()
    with no_grad():
        return np.concatenate([model(Tensor(X[i:i + batch])).data
                               for i in range(0, len(X), batch)])


def _l2_penalty(weights):
    """``sum ||W||^2`` over the weight matrices."""
    return sum(float(np.vdot(p.data, p.data)) for p in weights)


class _Stopping:
    """scikit-learn's end-of-epoch rules: the loss curve, tol / n_iter_no_change, the
    'invscaling' and 'adaptive' learning rates, the validation score and best weights."""

    def __init__(self, est, n_samples, val):
        self.est, self.n_samples, self.val = est, n_samples, val
        self.converged = False
        self.best_state = None

    def epoch_end(self, loss, optimizer):
        """Record an epoch of mean training loss ``loss``; True when training should stop."""
        est = self.est
        est.n_iter_ += 1
        est.t_ += self.n_samples
        est.loss_ = loss
        est.loss_curve_.append(loss)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        if self.val is not None:
            score = est._validation_score(*self.val)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                self.best_state = est.model_.state_dict()
        else:
            if loss > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, loss)
        sgd_rates = est.solver in _SGD_SOLVERS and est.lr_schedule is None
        if sgd_rates and est.learning_rate == "invscaling":
            _set_lr(optimizer, est.learning_rate_init / (est.t_ + 1) ** est.power_t)
        if est._no_improvement_count <= est.n_iter_no_change:
            return False
        lr = float(optimizer.param_groups[0]["lr"])
        if sgd_rates and est.learning_rate == "adaptive" and lr > _MIN_ADAPTIVE_LR:
            _set_lr(optimizer, lr / 5.0)
            est._no_improvement_count = 0
            if est.verbose:
                print(f"Setting learning rate to {lr / 5.0:f}")
            return False
        if est.verbose:
            what = "Validation score" if self.val is not None else "Training loss"
            print(f"{what} did not improve more than tol={est.tol:f} for "
                  f"{est.n_iter_no_change} consecutive epochs. Stopping.")
        self.converged = True
        return True

    def train_end(self):
        if self.best_state is not None and self.est.restore_best_weights:
            self.est.model_.load_state_dict(self.best_state)


def _set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr


class _BaseNeuralNet(BaseEstimator):
    """Shared fit machinery; see NeuralNetClassifier and NeuralNetRegressor."""

    _parameter_constraints: dict = dict(_COMMON_CONSTRAINTS)

    # -------------------------------------------------------------- fitted attributes
    @property
    def coefs_(self):
        return [m.weight.data.T for m in self._linears()]

    @property
    def intercepts_(self):
        return [m.bias.data for m in self._linears()]

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
        dtype = np.dtype(self.dtype)
        X, y = self._validate_xy(X, y, reset=first, dtype=dtype)
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

    def _initialize(self, n_features, hidden, n_outputs, dtype):
        activation = _ACTIVATIONS[self.activation]
        model = MLP(n_features, hidden, n_outputs, activation, self.dropout, self.batch_norm)
        _glorot_init(model, activation)
        self.model_ = model.to(dtype)
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
        groups = [{"params": weights, "weight_decay": 0.0}]
        if others:
            groups.append({"params": others, "weight_decay": 0.0})
        s, kw = self.solver, {}
        if s in _SGD_SOLVERS:
            nesterov = s == "nesterov" or (s == "sgd" and self.nesterovs_momentum)
            kw = {"momentum": self.momentum, "nesterov": bool(nesterov and self.momentum > 0)}
            s = "sgd"
        elif s in ("adam", "adamw"):
            kw = {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon}
        else:
            kw = {"eps": self.epsilon}
        # fused: one update per group on flat buffers (bitwise the same as per parameter);
        # on these small layers the per-parameter array calls cost more than the arithmetic
        opt = get_optimizer(s, groups, lr=self.learning_rate_init, fused=True, **kw)
        if self.lr_schedule is None:
            return opt, None
        kwargs = dict(self.lr_schedule_kwargs or {})
        if self.lr_schedule == "cosine":
            kwargs.setdefault("T_max", self.max_iter)
        elif self.lr_schedule == "onecycle":
            kwargs.setdefault("max_lr", self.learning_rate_init)
            kwargs.setdefault("total_steps", self.max_iter)
        try:
            return opt, get_scheduler(self.lr_schedule, opt, **kwargs)
        except TypeError as e:
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
        loss_fn = self._loss_module(head)
        enc = head.encode(target)
        if enc.dtype.kind == "f":
            enc = enc.astype(X.dtype, copy=False)
        order = np.random.default_rng(rs.randint(np.iinfo(np.int32).max))
        stopping = _Stopping(self, n, val)
        self.n_iter_ = 0
        try:
            for _ in range(1 if incremental else self.max_iter):
                if self.shuffle:
                    # one gather per epoch; the minibatches are then contiguous views
                    perm = order.permutation(n)
                    arrays = (X[perm], enc[perm], None if weights is None else weights[perm])
                else:
                    arrays = (X, enc, weights)
                loss = self._epoch(*arrays, batch, loss_fn)
                stop = stopping.epoch_end(loss, self._optimizer)
                if self._scheduler is not None:
                    if isinstance(self._scheduler, ReduceLROnPlateau):
                        self._scheduler.step(loss)
                    else:
                        self._scheduler.step()
                if stop:
                    break
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        stopping.train_end()
        if not incremental and not stopping.converged and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          f"and the optimization hasn't converged yet.", ConvergenceWarning)

    def _epoch(self, X, target, weights, batch, loss_fn):
        """One pass of minibatch SGD over (X, target[, weights]); returns the mean loss.

        NOTE: the gradient of the L2 penalty alpha / (2 sum(w_B)) ||W||^2 is applied by the
        optimizer as the weight group's weight_decay alpha / sum(w_B) (set per minibatch),
        not built into the graph; its value is added to the reported loss.
        """
        model, opt, alpha = self.model_, self._optimizer, self.alpha
        group = opt.param_groups[0]  # the weights (see _make_optimizer)
        model.train()
        total = 0.0
        for start in range(0, X.shape[0], batch):
            stop = start + batch
            out = model(Tensor(X[start:stop]))
            tb = target[start:stop]
            if weights is None:
                sw = float(tb.shape[0])
                loss = loss_fn(out, tb)
            else:
                wb = weights[start:stop]
                sw = float(wb.sum())
                if sw <= 0:  # a minibatch of zero weight: nothing to learn from
                    continue
                loss = loss_fn(out, tb, sample_weight=wb)
            value = loss.item()
            if not math.isfinite(value):
                raise ValueError(f"The training loss became {value} at epoch "
                                 f"{self.n_iter_ + 1}; the input data may contain large values "
                                 f"and need to be preprocessed, or learning_rate_init is too "
                                 f"high.")
            if alpha:
                group["weight_decay"] = alpha / sw
                value += 0.5 * alpha / sw * _l2_penalty(group["params"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += value * tb.shape[0]
        return total / X.shape[0]

    def _train_weights(self, target, sample_weight, incremental):
        return sample_weight

    def _loss_module(self, head):
        return head.loss_module()

    # -------------------------------------------------------------- predicting
    def _outputs(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.dtype(self.dtype))
        return _forward(self.model_, X)

    # -------------------------------------------------------------- saving
    def save(self, path):
        """Save the network and what predicting needs to a chainrule model file.

        The file is ``cr.save(self.model_, path)`` (safetensors + JSON, no pickle)
        with the estimator's parameters, ``classes_``, ``n_features_in_`` and
        ``feature_names_in_`` as metadata; :meth:`load` reads it back.

        Parameters
        ----------
        path : str or PathLike
        """
        check_is_fitted(self)
        params = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                  for k, v in self.get_params().items()}
        if not isinstance(params["random_state"], (int, type(None))):
            params["random_state"] = None
        if isinstance(params.get("class_weight"), dict):
            params["class_weight"] = [[k, v] for k, v in params["class_weight"].items()]
        meta = {"estimator": type(self).__name__, "params": params,
                "n_features_in": int(self.n_features_in_), "n_outputs": int(self.n_outputs_),
                "n_iter": int(self.n_iter_), "t": int(self.t_),
                "loss_curve": [float(v) for v in self.loss_curve_]}
        if hasattr(self, "feature_names_in_"):
            meta["feature_names_in"] = [str(v) for v in self.feature_names_in_]
        if hasattr(self, "classes_"):
            meta["classes"] = {"values": self.classes_.tolist(), "dtype": self.classes_.dtype.str}
        save(self.model_, path, metadata=meta)

    @classmethod
    def load(cls, path):
        """Rebuild an estimator written by :meth:`save`, ready to predict.

        Training further (``partial_fit``, ``warm_start``) starts a fresh optimizer state.

        Parameters
        ----------
        path : str or PathLike

        Returns
        -------
        estimator : NeuralNetClassifier or NeuralNetRegressor
        """
        model, meta = load_with_metadata(path)
        try:
            return cls._from_metadata(model, meta)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            if isinstance(e, ModelFileError):
                raise
            raise ModelFileError(f"{path}: not a valid {cls.__name__} file "
                                 f"({type(e).__name__}: {str(e)[:120]})") from None

    @classmethod
    def _from_metadata(cls, model, meta):
        # NOTE: every value below comes from the file: only known parameter names are
        # accepted, they are validated by scikit-learn's constraints, and the class
        # labels' dtype must be a plain number or string type.
        if meta.get("estimator") != cls.__name__:
            raise ValueError(f"it holds a {meta.get('estimator')!r}, not a {cls.__name__}")
        params = dict(meta["params"])
        unknown = set(params) - set(cls().get_params())
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)[:5]}")
        if isinstance(params.get("class_weight"), list):
            params["class_weight"] = {k: v for k, v in params["class_weight"]}
        est = cls(**params)
        est._validate_params()
        est.model_ = model
        est.n_features_in_ = int(meta["n_features_in"])
        est.n_outputs_ = int(meta["n_outputs"])
        est.n_layers_ = len(est._check_hidden()) + 2
        est.out_activation_ = est._out_activation(est.n_outputs_)
        est.n_iter_, est.t_ = int(meta["n_iter"]), int(meta["t"])
        est.loss_curve_ = [float(v) for v in meta["loss_curve"]]
        est.loss_ = est.loss_curve_[-1] if est.loss_curve_ else None
        est._no_improvement_count = 0
        est.validation_scores_ = [] if est.early_stopping else None
        est.best_validation_score_ = -np.inf if est.early_stopping else None
        est.best_loss_ = None if est.early_stopping else min(est.loss_curve_, default=np.inf)
        if "feature_names_in" in meta:
            est.feature_names_in_ = np.asarray([str(v) for v in meta["feature_names_in"]],
                                               dtype=object)
        if "classes" in meta:
            c = meta["classes"]
            dtype = np.dtype(str(c["dtype"])[:8])
            if dtype.kind not in "biufU" or dtype.itemsize > 1024:
                raise ValueError(f"unsupported class label dtype {dtype}")
            est.classes_ = np.asarray(list(c["values"]), dtype=dtype)
        return est


