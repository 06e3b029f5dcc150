"""NeuralNetRegressor: scikit-learn's MLPRegressor interface on chainrule."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import column_or_1d

from .. import nn
from ..train import RegressionHead
from ..train.heads import REGRESSION_LOSSES
from ._base import (
    _BaseNeuralNet,
    validate_data,
)
from ._params import (
    _COMMON_ATTRS_DOC,
    _COMMON_PARAMS_DOC,
)


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
                 lr_schedule_kwargs=None, restore_best_weights=True, dtype=None,
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
        return X, y.astype(X.dtype, copy=False)

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

    def _score_outputs(self, y, out, w):
        """The early-stopping score: R^2 of the outputs (NaN when not finite)."""
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


