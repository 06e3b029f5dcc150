"""scikit-learn's MLPClassifier, and chainrule.sklearn.NeuralNetClassifier when it exists.

One ``fit`` with ``max_iter=1`` is one epoch of plain mini-batch SGD at batch
128 (no momentum, no L2, no shuffling, no early stopping); the timed call is
the whole ``fit``, which includes the estimator's own set-up (label
binarisation, weight init), a few milliseconds.
"""

from __future__ import annotations

import inspect
import warnings

import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

HIDDEN = (256, 256)


def info():
    return {"sklearn": sklearn.__version__}


def mlp_classifier(batch=128, lr=0.01):
    return MLPClassifier(hidden_layer_sizes=HIDDEN, activation="relu", solver="sgd",
                         learning_rate_init=lr, learning_rate="constant", momentum=0.0,
                         nesterovs_momentum=False, batch_size=batch, max_iter=1, shuffle=False,
                         alpha=0.0, tol=0.0, n_iter_no_change=10**9, early_stopping=False,
                         random_state=0)


# Keyword names a NeuralNetClassifier may use for the same configuration; only the
# names its __init__ accepts are passed (recorded in the result).
_CHAINRULE_CANDIDATES = {
    "hidden_layer_sizes": HIDDEN, "activation": "relu", "solver": "sgd", "optimizer": "sgd",
    "learning_rate_init": 0.01, "lr": 0.01, "momentum": 0.0, "nesterovs_momentum": False,
    "batch_size": 128, "max_iter": 1, "epochs": 1, "max_epochs": 1, "shuffle": False,
    "alpha": 0.0, "weight_decay": 0.0, "tol": 0.0, "n_iter_no_change": 10**9,
    "early_stopping": False, "validation_fraction": 0.0, "verbose": False, "verbose_": 0,
    "random_state": 0,
}


def chainrule_classifier():
    """(estimator factory, kwargs passed) or raise ImportError when the class does not exist."""
    from chainrule.sklearn import NeuralNetClassifier

    params = inspect.signature(NeuralNetClassifier.__init__).parameters
    kwargs = {k: v for k, v in _CHAINRULE_CANDIDATES.items() if k in params}
    return (lambda: NeuralNetClassifier(**kwargs)), kwargs


def fit_fn(make, x, y):
    def fit():
        est = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            est.fit(x, y)
        return est

    return fit
