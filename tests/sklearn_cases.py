"""Small data sets and fast estimator settings shared by the scikit-learn estimator tests
(import after ``pytest.importorskip("sklearn")``)."""

from __future__ import annotations

from sklearn.datasets import make_blobs, make_regression
from sklearn.preprocessing import StandardScaler

TINY = dict(hidden_layer_sizes=(8,), max_iter=20, learning_rate_init=0.05, random_state=0)


def blobs(n=120, classes=3, seed=0):
    X, y = make_blobs(n_samples=n, centers=classes, n_features=4, random_state=seed,
                      cluster_std=1.5)
    return StandardScaler().fit_transform(X), y


def regression(n=120, outputs=1, seed=0):
    X, y = make_regression(n_samples=n, n_features=5, n_targets=outputs, noise=0.1,
                           random_state=seed)
    return X, y / y.std()


def fast(cls, **kw):
    return cls(**{**TINY, "max_iter": 30, **kw})
