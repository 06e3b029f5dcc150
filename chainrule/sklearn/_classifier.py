"""NeuralNetClassifier: scikit-learn's MLPClassifier interface on chainrule."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ..ops.softmax import log_softmax_array
from ..train import make_head
from ..train.heads import class_weights
from ._base import (
    _BaseNeuralNet,
    validate_data,
)
from ._params import (
    _COMMON_ATTRS_DOC,
    _COMMON_PARAMS_DOC,
)


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
                 dtype=None, device="cpu"):
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
        w = sample_weight
        per_class = class_weights(self.class_weight, target, len(self.classes_),
                                  labels=self.classes_, dtype=self._model_dtype())
        if per_class is not None:
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

    def _score_outputs(self, target, out, w):
        """The early-stopping score: accuracy of the outputs (NaN when not finite)."""
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
        out = self._outputs(X)  # checks that the estimator is fitted
        return self.classes_[self._head().predict(out)]

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
        out = self._outputs(X).astype(np.float64)  # checks that the estimator is fitted
        return self._head().proba(out)

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


