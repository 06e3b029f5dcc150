"""Random labels, probabilities and targets shared by the metric tests, and a quiet call
of scikit-learn (which warns where a class is absent from y_true or y_pred)."""

import warnings

import numpy as np


def make_classes(seed, n=200, k_true=3, k_pred=3, weighted=False):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k_true, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k_pred, n))
    y_pred = np.minimum(y_pred, k_pred - 1)
    w = rng.random(n) * 3 if weighted else None
    return y_true, y_pred, w


# binary; multi-class with class 3 never predicted; class 4 predicted but never true
CASES = {
    "binary": make_classes(0, k_true=2, k_pred=2),
    "multiclass_absent_pred": make_classes(1, k_true=4, k_pred=3),
    "multiclass_absent_true": make_classes(2, k_true=4, k_pred=5),
    "weighted": make_classes(3, k_true=4, k_pred=3, weighted=True),
}


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning on classes absent somewhere
        return fn(*args, **kwargs)


def make_proba(seed, n, k):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def make_regression(seed, n=80, outputs=None):
    rng = np.random.default_rng(seed)
    shape = (n,) if outputs is None else (n, outputs)
    y_true = rng.normal(size=shape) * np.arange(1, 1 + (outputs or 1))
    return y_true, y_true + rng.normal(size=shape) * 0.7, rng.random(n)
