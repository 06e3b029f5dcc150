"""Hyper-parameters shared by both estimators: constraints, names and their documentation."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from ..optim.lr_scheduler import _SCHEDULERS

_SGD_SOLVERS = ("sgd", "momentum", "nesterov")
_SOLVERS = _SGD_SOLVERS + ("adam", "adamw", "rmsprop", "adagrad")
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
                "sigmoid": "sigmoid", "gelu": "gelu", "elu": "elu", "leaky_relu": "leaky_relu"}
_MIN_ADAPTIVE_LR = 1e-6  # scikit-learn's floor for learning_rate='adaptive'


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
    "dtype": [StrOptions({"float32", "float64"}), Options(type, {np.float32, np.float64}),
              Options(np.dtype, {np.dtype(np.float32), np.dtype(np.float64)}), None],
    "device": [str],  # 'cpu', 'cuda', 'cuda:N', 'auto': checked by chainrule.device in fit
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
    dtype : {'float32', 'float64'}, numpy float type or None, default=None
        Precision of the network and of the computations. None follows the
        input, as scikit-learn's MLP does: float32 X trains in float32, any
        other X in float64. ``np.float32`` / ``np.float64`` are accepted.
    device : str, default='cpu'
        Where the network trains: 'cpu', 'cuda', 'cuda:N' or 'auto' (a GPU when
        CuPy sees one). Fitted attributes and predictions are NumPy arrays
        whatever the device."""

_COMMON_ATTRS_DOC = """
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen during fit (only when X has string column names).
    model_ : chainrule.nn.MLP
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


