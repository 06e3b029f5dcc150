"""scikit-learn estimators: :class:`NeuralNetClassifier` and :class:`NeuralNetRegressor`.

Drop-in replacements for scikit-learn's ``MLPClassifier`` and ``MLPRegressor``
(same hyper-parameters where the concept exists, same fitted attributes, same
stopping rules), trained by chainrule's modules, losses, optimizers and
schedulers in a minibatch loop that follows scikit-learn's rules, plus
chainrule's own options: every optimizer and learning-rate schedule, a
one-vs-all output, dropout, batch normalisation, class weights, robust
regression losses. They follow scikit-learn's estimator rules, so they work in
``Pipeline``, ``GridSearchCV``, ``cross_val_score``, ``clone`` and pickle.

Needs scikit-learn (``pip install chainrule[sklearn]``); ``import chainrule``
does not import this module.

How scikit-learn's hyper-parameters map onto chainrule
------------------------------------------------------
- ``alpha``: scikit-learn adds ``alpha / (2 sum(w_B)) ||W||^2`` to the loss of a
  minibatch B (``sum(w_B)`` its sample-weight total, its size without weights),
  for the weights W only. Its gradient ``alpha / sum(w_B) * W`` is applied as
  the optimizer's ``weight_decay`` on a parameter group holding the weights
  alone, set for each minibatch; the penalty's value is added to the reported
  loss (``loss_curve_``), as scikit-learn does.
- ``solver``: 'sgd' is scikit-learn's (momentum ``momentum``, Nesterov when
  ``nesterovs_momentum``), 'adam' uses ``beta_1, beta_2, epsilon``; chainrule's
  'momentum' (classical), 'nesterov', 'adamw', 'rmsprop' and 'adagrad' are the
  optimizers of :func:`chainrule.optim.get_optimizer`.
- ``learning_rate`` ('constant', 'invscaling', 'adaptive') applies to the SGD
  solvers ('sgd', 'momentum', 'nesterov') as in scikit-learn; ``lr_schedule``
  names any chainrule scheduler (stepped once per epoch) for any solver.
- ``tol`` / ``n_iter_no_change`` / ``early_stopping``: scikit-learn's rules,
  epoch by epoch (training loss, or the validation score with early stopping).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d

from . import nn
from .backend import get_rng_state, manual_seed, set_rng_state
from .errors import ModelFileError
from .io import load_with_metadata, save
from .ops.activation import stable_sigmoid
from .ops.softmax import log_softmax_array, softmax_array
from .optim import get_optimizer
from .optim.lr_scheduler import _SCHEDULERS, ReduceLROnPlateau, get_scheduler
from .tensor import Tensor, no_grad
from .train import RegressionHead, build_mlp, make_head
from .train.heads import REGRESSION_LOSSES

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6
    def validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]

_SGD_SOLVERS = ("sgd", "momentum", "nesterov")
_SOLVERS = _SGD_SOLVERS + ("adam", "adamw", "rmsprop", "adagrad")
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
                "sigmoid": "sigmoid", "gelu": "gelu", "elu": "elu", "leaky_relu": "leaky_relu"}
_MIN_ADAPTIVE_LR = 1e-6  # scikit-learn's floor for learning_rate='adaptive'


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


_COMMON_CONSTRAINTS = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(_ACTIVATIONS))],
    "solver": [StrOptions(set(_SOLVERS))],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "batch_norm": ["boolean"],
    "lr_schedule": [StrOptions(set(_SCHEDULERS)), None],
    "lr_schedule_kwargs": [dict, None],
    "restore_best_weights": ["boolean"],
    "dtype": [StrOptions({"float32", "float64"})],
    "device": [StrOptions({"cpu"})],
}

_COMMON_PARAMS_DOC = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Width of each hidden layer (``()``: no hidden layer, a linear model).
    activation : {'relu', 'tanh', 'logistic', 'identity', 'sigmoid', 'gelu', 'elu', \
'leaky_relu'}, default='relu'
        Hidden activation; 'logistic' is scikit-learn's name for the sigmoid.
    solver : {'adam', 'sgd', 'momentum', 'nesterov', 'adamw', 'rmsprop', 'adagrad'}, \
default='adam'
        'sgd' and 'adam' as in scikit-learn ('sgd' uses ``momentum`` and
        ``nesterovs_momentum``); the others are chainrule's optimizers
        ('momentum': classical momentum ``momentum``; 'nesterov': Nesterov momentum).
    alpha : float, default=1e-4
        L2 penalty: ``alpha / (2 sum(w_B)) ||W||^2`` is added to the loss of each
        minibatch B, for the weights only (not the biases), as in scikit-learn.
        With 'adamw' its gradient is applied as decoupled weight decay.
    batch_size : int or 'auto', default='auto'
        Minibatch size; 'auto' is ``min(200, n_samples)``. Clipped to n_samples.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        For the SGD solvers only, as in scikit-learn: 'invscaling' sets the
        learning rate to ``learning_rate_init / (t + 1) ** power_t`` after each
        epoch (t: samples seen); 'adaptive' divides it by 5 whenever the loss
        (or validation score) stalls for ``n_iter_no_change`` epochs and stops
        when it falls below 1e-6.
    learning_rate_init : float, default=1e-3
        Initial learning rate.
    power_t : float, default=0.5
        Exponent of 'invscaling'.
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Reshuffle the samples at each epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, dropout, the minibatch order and the
        validation split; an int makes fits reproducible.
    tol : float, default=1e-4
        Training stops when the training loss (or, with early stopping, the
        validation score) has not improved by ``tol`` for more than
        ``n_iter_no_change`` consecutive epochs.
    verbose : bool, default=False
        Print the loss after each epoch.
    warm_start : bool, default=False
        Continue from the previous fit's weights instead of starting afresh.
    momentum : float, default=0.9
        Momentum of 'sgd', 'momentum' and 'nesterov', in [0, 1].
    nesterovs_momentum : bool, default=True
        Nesterov momentum for 'sgd' (when momentum > 0).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for
        classification) and stop when its score (accuracy or R^2) stalls.
    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Moment decay rates of 'adam' and 'adamw', in [0, 1).
    epsilon : float, default=1e-8
        Numerical stability term of 'adam', 'adamw', 'rmsprop' and 'adagrad'.
    n_iter_no_change : int, default=10
        Epochs without improvement by ``tol`` tolerated before stopping.
    dropout : float, default=0.0
        Drop probability after each hidden activation.
    batch_norm : bool, default=False
        Batch normalisation before each hidden activation.
    lr_schedule : str or None, default=None
        A chainrule scheduler name (``chainrule.optim.lr_scheduler.get_scheduler``:
        'cosine', 'step', 'exponential', 'onecycle', 'plateau'...), stepped
        once per epoch, for any solver. Cannot be combined with a
        ``learning_rate`` other than 'constant' for the SGD solvers.
    lr_schedule_kwargs : dict or None, default=None
        The scheduler's arguments. 'cosine' defaults ``T_max`` to ``max_iter``,
        'onecycle' ``max_lr`` to ``learning_rate_init`` and ``total_steps`` to
        ``max_iter``.
    restore_best_weights : bool, default=True
        With early stopping, end with the weights of the best validation score.
    dtype : {'float32', 'float64'}, default='float32'
        Precision of the network and of the computations.
    device : {'cpu'}, default='cpu'
        Where the network lives (only the CPU for now)."""

_COMMON_ATTRS_DOC = """
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen during fit (only when X has string column names).
    model_ : chainrule.nn.Sequential
        The trained network; save it with ``cr.save(est.model_, path)``.
    coefs_ : list of ndarray of shape (n_in, n_out)
        Weight matrix of each Linear layer, transposed to scikit-learn's layout
        (views of the network's weights).
    intercepts_ : list of ndarray of shape (n_out,)
        Bias of each Linear layer.
    loss_ : float
        Training loss of the last epoch (including the L2 penalty).
    loss_curve_ : list of float
        Training loss of each epoch.
    validation_scores_ : list of float or None
        Validation score of each epoch with early stopping, else None.
    best_validation_score_ : float or None
        Best validation score with early stopping, else None.
    best_loss_ : float or None
        Lowest training loss (None with early stopping).
    n_iter_ : int
        Epochs run by the last call of fit (1 for partial_fit).
    t_ : int
        Training samples seen by the solver over all fits.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of network outputs.
    out_activation_ : str
        Output function: 'softmax', 'logistic' or 'identity'."""


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
        model = build_mlp(n_features, hidden, n_outputs, activation, self.dropout,
                          self.batch_norm)
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
        opt = get_optimizer(s, groups, lr=self.learning_rate_init, **kw)
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


class NeuralNetClassifier(ClassifierMixin, _BaseNeuralNet):
    __doc__ = f"""A multi-layer perceptron classifier trained with chainrule.

    A drop-in for scikit-learn's ``MLPClassifier`` (stochastic solvers): softmax
    + cross-entropy for several classes (or ``multi_class='ovr'``: one sigmoid
    output per class, each a binary classifier), one sigmoid output for two.

    Parameters
    ----------{_COMMON_PARAMS_DOC}
    multi_class : {{'softmax', 'ovr'}}, default='softmax'
        Output for more than two classes: one softmax distribution, or N
        independent "class k or not" sigmoids (one-vs-all), predicting the arg-max.
    class_weight : dict, 'balanced' or None, default=None
        Weight of each class in the loss (``{{label: weight}}``); 'balanced' uses
        ``n_samples / (n_classes * np.bincount(y))``. Multiplies ``sample_weight``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.{_COMMON_ATTRS_DOC}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from chainrule.sklearn import NeuralNetClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NeuralNetClassifier(hidden_layer_sizes=(32,), max_iter=300,
    ...                           random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        **_BaseNeuralNet._parameter_constraints,
        "multi_class": [StrOptions({"softmax", "ovr"})],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    _stratify = True

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=1e-4, batch_size="auto", learning_rate="constant",
                 learning_rate_init=1e-3, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 multi_class="softmax", dropout=0.0, batch_norm=False, class_weight=None,
                 lr_schedule=None, lr_schedule_kwargs=None, restore_best_weights=True,
                 dtype="float32", device="cpu"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.multi_class = multi_class
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.class_weight = class_weight
        self.lr_schedule = lr_schedule
        self.lr_schedule_kwargs = lr_schedule_kwargs
        self.restore_best_weights = restore_best_weights
        self.dtype = dtype
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multilabel": False}

    # -------------------------------------------------------------- targets
    def _validate_xy(self, X, y, reset, dtype):
        X, y = validate_data(self, X, y, reset=reset, dtype=dtype, multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        elif y.ndim == 2:
            raise ValueError(f"{type(self).__name__} does not support multilabel or "
                             f"multi-output targets (y has shape {y.shape}); train one "
                             f"classifier per output (sklearn.multioutput.MultiOutputClassifier)")
        check_classification_targets(y)
        return X, y

    def _encode_targets(self, y, first, classes):
        if first:
            self.classes_ = np.unique(y if classes is None else np.asarray(classes))
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes, "
                                 f"but the data contain only one class: {self.classes_[0]!r}")
        idx = np.searchsorted(self.classes_, y)
        bad = (idx >= len(self.classes_)) | (self.classes_[np.minimum(idx, len(self.classes_) - 1)]
                                             != y)
        if bad.any():
            raise ValueError(f"y contains labels {np.unique(y[bad]).tolist()} that are not in "
                             f"classes_ {self.classes_.tolist()} (given to the first partial_fit "
                             f"or seen by the fit that warm_start continues)")
        k = len(self.classes_)
        return idx.astype(np.int64), (1 if k == 2 else k)

    def _train_weights(self, target, sample_weight, incremental):
        """sample_weight times the class weights; None when every weight is 1."""
        w, cw = sample_weight, self.class_weight
        dtype = np.dtype(self.dtype)
        if cw is not None:
            if isinstance(cw, dict):
                unknown = [c for c in cw if c not in self.classes_]
                if unknown:
                    raise ValueError(f"class_weight: labels {unknown} are not in classes_ "
                                     f"{self.classes_.tolist()}")
                per_class = np.array([cw.get(c, 1.0) for c in self.classes_], dtype=dtype)
            else:
                present = np.unique(target)
                per_class = np.ones(len(self.classes_), dtype=dtype)
                per_class[present] = compute_class_weight("balanced", classes=present, y=target)
            w = per_class[target] if w is None else w * per_class[target]
        if w is not None and not incremental and np.count_nonzero(
                np.bincount(target, weights=w) > 0) < 2:
            raise ValueError("the sample weights leave samples of only one class with a "
                             "positive weight; a classifier needs at least 2 classes")
        return w

    def _head(self):
        return make_head("classification", len(self.classes_), head=self.multi_class)

    def _out_activation(self, n_outputs):
        if n_outputs == 1:
            return "logistic"
        return "softmax" if self.multi_class == "softmax" else "logistic"

    def _validation_score(self, X, target, w):
        out = _forward(self.model_, X)
        if not np.isfinite(out).all():
            return np.nan
        return float(accuracy_score(target, self._head().predict(out), sample_weight=w))

    # -------------------------------------------------------------- public API
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the network with one epoch over (X, y).

        One pass with the current optimizer state (scikit-learn's convention);
        the first call initialises the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array-like of shape (n_classes,), default=None
            Every class label; required on the first call, ignored afterwards.

        Returns
        -------
        self : object
        """
        self._validate_params()
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if self.class_weight == "balanced":
            raise ValueError("class_weight='balanced' is not supported by partial_fit (it needs "
                             "every label at once); give a dict of class weights")
        return self._fit(X, y, sample_weight, incremental=True,
                         classes=classes if first else None)

    def decision_function(self, X):
        """The network's raw outputs (logits).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) for two classes, else (n_samples, n_classes)
            The logit of ``classes_[1]`` for two classes, one logit per class otherwise.
        """
        out = self._outputs(X).astype(np.float64)
        return out.ravel() if out.shape[1] == 1 else out

    def predict(self, X):
        """The most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        out = self._outputs(X)
        idx = (out[:, 0] > 0).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)
        return self.classes_[idx]

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns follow ``classes_``. With ``multi_class='ovr'``
            the N sigmoid outputs, normalised.
        """
        out = self._outputs(X).astype(np.float64)
        if out.shape[1] == 1:
            p = stable_sigmoid(out[:, 0])
            return np.stack([1 - p, p], axis=1)
        if self.multi_class == "softmax":
            return softmax_array(out, axis=1)
        p = stable_sigmoid(out)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably from the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        out = self._outputs(X).astype(np.float64)
        if out.shape[1] == 1:
            z = out[:, 0]
            return np.stack([-np.logaddexp(0, z), -np.logaddexp(0, -z)], axis=1)
        if self.multi_class == "softmax":
            return log_softmax_array(out, axis=1)
        logp = -np.logaddexp(0, -out)
        return logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))


class NeuralNetRegressor(RegressorMixin, _BaseNeuralNet):
    __doc__ = f"""A multi-layer perceptron regressor trained with chainrule.

    A drop-in for scikit-learn's ``MLPRegressor`` (stochastic solvers): linear
    outputs, one per target, with squared, absolute or Huber error.

    Parameters
    ----------{_COMMON_PARAMS_DOC}
    loss : {{'squared_error', 'absolute_error', 'huber'}}, default='squared_error'
        Training loss. 'squared_error' is half the mean squared error, as in
        scikit-learn's MLPRegressor; 'absolute_error' the mean absolute error;
        'huber' the Huber loss with delta 1 (robust to outliers).

    Attributes
    ----------{_COMMON_ATTRS_DOC}

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from chainrule.sklearn import NeuralNetRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = make_pipeline(StandardScaler(), NeuralNetRegressor(learning_rate_init=0.01,
    ...                                                          random_state=0)).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **_BaseNeuralNet._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
    }
    _stratify = False

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=1e-4, batch_size="auto", learning_rate="constant",
                 learning_rate_init=1e-3, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 loss="squared_error", dropout=0.0, batch_norm=False, lr_schedule=None,
                 lr_schedule_kwargs=None, restore_best_weights=True, dtype="float32",
                 device="cpu"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.loss = loss
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.lr_schedule = lr_schedule
        self.lr_schedule_kwargs = lr_schedule_kwargs
        self.restore_best_weights = restore_best_weights
        self.dtype = dtype
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}

    def _validate_xy(self, X, y, reset, dtype):
        X, y = validate_data(self, X, y, reset=reset, dtype=dtype, multi_output=True,
                             y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y.astype(dtype, copy=False)

    def _encode_targets(self, y, first, classes):
        return y, (1 if y.ndim == 1 else y.shape[1])

    def _head(self):
        return RegressionHead(self.n_outputs_, self.loss)

    def _loss_module(self, head):
        # NOTE: scikit-learn's squared error is half the mean squared error (gradient
        # p - y); halving keeps learning_rate_init and alpha on scikit-learn's scale.
        return nn.MSELoss(half=True) if self.loss == "squared_error" else head.loss_module()

    def _out_activation(self, n_outputs):
        return "identity"

    def _validation_score(self, X, y, w):
        out = _forward(self.model_, X)
        if not np.isfinite(out).all():
            return np.nan
        return float(r2_score(y, out.reshape(y.shape), sample_weight=w))

    def partial_fit(self, X, y, sample_weight=None):
        """Update the network with one epoch over (X, y).

        One pass with the current optimizer state (scikit-learn's convention);
        the first call initialises the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            One column per output; 1-D for a single output.
        """
        out = self._outputs(X).astype(np.float64)
        return out.ravel() if out.shape[1] == 1 else out

