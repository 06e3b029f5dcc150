"""chainrule.sklearn: scikit-learn's estimator checks, and the estimators' own behaviour."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_methods_subset_invariance,
    check_sample_weight_equivalence_on_dense_data,
    parametrize_with_checks,
)
from sklearn_cases import TINY, blobs, fast, regression  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.optim import SGD, Adagrad, Adam, AdamW, RMSprop  # noqa: E402
from chainrule.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# The default dtype=None follows the input (float64 here, as scikit-learn's checks pass):
# every check passes, none is expected to fail.
@parametrize_with_checks([NeuralNetClassifier(**TINY), NeuralNetRegressor(**TINY)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------- sklearn tooling
def test_pipeline_gridsearch_cross_val_score():
    X, y = blobs()
    pipe = make_pipeline(StandardScaler(), fast(NeuralNetClassifier))
    grid = GridSearchCV(pipe, {"neuralnetclassifier__alpha": [1e-4, 1e-2],
                               "neuralnetclassifier__hidden_layer_sizes": [(4,), (8,)]}, cv=3)
    grid.fit(X, y)
    assert grid.best_score_ > 0.8
    assert set(grid.best_params_) == {"neuralnetclassifier__alpha",
                                      "neuralnetclassifier__hidden_layer_sizes"}
    scores = cross_val_score(fast(NeuralNetRegressor), *regression(), cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.5


def test_clone_and_pickle_round_trip():
    X, y = blobs()
    est = fast(NeuralNetClassifier, multi_class="ovr").fit(X, y)
    fresh = clone(est)
    assert not hasattr(fresh, "model_") and fresh.get_params() == est.get_params()
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
    # a fresh fit of the clone with the same random_state reproduces the model
    np.testing.assert_array_equal(fresh.fit(X, y).predict_proba(X), est.predict_proba(X))
    # training continues after unpickling (the optimizer state travels too)
    restored.partial_fit(X, y)
    est.partial_fit(X, y)
    np.testing.assert_array_equal(restored.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_dtype_follows_the_input_or_the_parameter(cls):
    X, y = blobs(n=60)
    kw = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    for given, X_in, want in [(None, X.astype(np.float32), np.float32),
                              (None, X, np.float64), (None, X.astype(np.float16), np.float64),
                              (None, np.round(X).astype(np.int64), np.float64),
                              ("float32", X, np.float32), (np.float32, X, np.float32),
                              (np.dtype("float64"), X.astype(np.float32), np.float64)]:
        est = cls(**kw, dtype=given).fit(X_in, y)
        assert all(p.dtype == want for p in est.coefs_ + est.intercepts_), (given, X_in.dtype)
        # predicting converts to the network's dtype, whatever the input
        assert est.predict(X.astype(np.float32)).shape[0] == len(X)
        assert clone(est).get_params()["dtype"] == given


def test_import_chainrule_does_not_import_sklearn():
    code = ("import sys, chainrule; "
            "assert 'sklearn' not in sys.modules and 'chainrule.sklearn' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------- classification
@pytest.mark.parametrize("multi_class", ["softmax", "ovr"])
def test_softmax_and_ovr_learn_iris(multi_class):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    est = NeuralNetClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.02, max_iter=100,
                              multi_class=multi_class, random_state=0).fit(X, y)
    assert est.score(X, y) > 0.93
    proba = est.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(est.predict(X), proba.argmax(axis=1))
    assert est.decision_function(X).shape == (150, 3)
    assert est.out_activation_ == ("softmax" if multi_class == "softmax" else "logistic")
    assert [c.shape for c in est.coefs_] == [(4, 16), (16, 3)]
    assert [b.shape for b in est.intercepts_] == [(16,), (3,)]


def test_string_labels_binary_and_multiclass():
    X, y = blobs(classes=3)
    names = np.array(["cat", "dog", "emu"])
    est = fast(NeuralNetClassifier).fit(X, names[y])
    np.testing.assert_array_equal(est.classes_, names)
    assert set(est.predict(X)) <= set(names) and est.score(X, names[y]) > 0.8
    binary = fast(NeuralNetClassifier).fit(X[y < 2], names[y[y < 2]])
    assert binary.out_activation_ == "logistic" and binary.n_outputs_ == 1
    assert binary.decision_function(X).shape == (len(X),)
    assert binary.predict_proba(X).shape == (len(X), 2)
    np.testing.assert_array_equal(binary.predict(X),
                                  names[(binary.decision_function(X) > 0).astype(int)])


def test_class_weight_balanced_shifts_toward_minority():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (270, 2)), rng.normal(1.2, 1, (30, 2))]
    y = np.r_[np.zeros(270, int), np.ones(30, int)]
    kw = dict(hidden_layer_sizes=(8,), max_iter=60, learning_rate_init=0.02, random_state=0)
    plain = NeuralNetClassifier(**kw).fit(X, y)
    balanced = NeuralNetClassifier(**kw, class_weight="balanced").fit(X, y)
    assert balanced.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean() + 0.1
    assert (balanced.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()
    # a dict keyed by the labels does the same
    as_dict = NeuralNetClassifier(**kw, class_weight={0: 300 / 540, 1: 300 / 60}).fit(X, y)
    np.testing.assert_allclose(as_dict.predict_proba(X), balanced.predict_proba(X), rtol=1e-4,
                               atol=1e-6)


def test_multilabel_is_rejected_clearly():
    X, _ = blobs()
    Y = np.random.default_rng(0).integers(0, 2, (len(X), 3))
    with pytest.raises(ValueError, match="multilabel"):
        fast(NeuralNetClassifier).fit(X, Y)


# ---------------------------------------------------------------------- regression
def test_multi_output_regression():
    X, Y = regression(outputs=3)
    est = NeuralNetRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=150,
                             random_state=0).fit(X, Y)
    assert est.predict(X).shape == (len(X), 3) and est.predict(X).dtype == np.float64
    assert est.score(X, Y) > 0.9 and est.n_outputs_ == 3
    single = fast(NeuralNetRegressor).fit(X, Y[:, 0])
    assert single.predict(X).shape == (len(X),)


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error", "huber"])
def test_regression_losses(loss):
    X, y = regression()
    est = NeuralNetRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100,
                             loss=loss, random_state=0).fit(X, y)
    assert est.score(X, y) > 0.8


# ---------------------------------------------------------------------- scikit-learn semantics
@pytest.mark.parametrize("cls, mlp", [(NeuralNetClassifier, MLPClassifier),
                                      (NeuralNetRegressor, MLPRegressor)])
def test_one_sgd_step_matches_sklearn_with_l2(cls, mlp):
    """From the same weights, one full-batch SGD epoch with alpha gives sklearn's weights:
    alpha / (2 n) ||W||^2 on the weights only, and sklearn's (half) squared error."""
    X, y = blobs(n=60) if cls is NeuralNetClassifier else regression(n=60)
    kw = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, alpha=0.3,
              learning_rate_init=0.1, batch_size=60, shuffle=False, random_state=0)
    ours = cls(**kw, dtype="float64").partial_fit(X, y, **(
        {"classes": np.unique(y)} if cls is NeuralNetClassifier else {}))
    theirs = mlp(**kw).partial_fit(X, y, **(
        {"classes": np.unique(y)} if cls is NeuralNetClassifier else {}))
    for a, b in zip(theirs.coefs_ + theirs.intercepts_, ours.coefs_ + ours.intercepts_):
        a[...] = b  # sklearn's arrays, updated in place by its optimizer
    ours.partial_fit(X, y)
    theirs.partial_fit(X, y)
    for a, b in zip(theirs.coefs_ + theirs.intercepts_, ours.coefs_ + ours.intercepts_):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-10)


@pytest.mark.parametrize("solver, cls, extra", [
    ("sgd", SGD, {"momentum": 0.9, "nesterov": True}),
    ("momentum", SGD, {"momentum": 0.9, "nesterov": False}),
    ("nesterov", SGD, {"momentum": 0.9, "nesterov": True}),
    ("adam", Adam, {"betas": (0.9, 0.999)}),
    ("adamw", AdamW, {}),
    ("rmsprop", RMSprop, {}),
    ("adagrad", Adagrad, {}),
])
def test_solvers(solver, cls, extra):
    X, y = blobs()
    est = fast(NeuralNetClassifier, solver=solver).fit(X, y)
    opt = est._optimizer
    assert type(opt) is cls
    for key, value in extra.items():
        assert opt.param_groups[0][key] == value
    # the L2 penalty decays the weights only, never the biases
    assert opt.param_groups[0]["weight_decay"] > 0 and opt.param_groups[1]["weight_decay"] == 0
    assert est.score(X, y) > 0.9


@pytest.mark.parametrize("kw", [
    dict(solver="sgd", learning_rate="invscaling", power_t=0.4, tol=0.0, max_iter=7),
    # a tol too large to ever improve: 'adaptive' divides the rate by 5 every
    # n_iter_no_change + 1 epochs until it is under 1e-6, then stops
    dict(solver="sgd", learning_rate="adaptive", tol=100.0, n_iter_no_change=1),
    dict(solver="sgd", learning_rate="adaptive", tol=100.0, n_iter_no_change=2,
         early_stopping=True),
    dict(solver="sgd", tol=100.0, n_iter_no_change=3),
    dict(solver="adam", tol=100.0, n_iter_no_change=4, early_stopping=True),
])
def test_learning_rate_and_stopping_rules_match_sklearn(kw):
    X, y = blobs()
    common = dict(hidden_layer_sizes=(4,), learning_rate_init=0.1, random_state=0)
    kw = {"max_iter": 1000, **kw}
    ours = NeuralNetClassifier(**common, **kw).fit(X, y)
    theirs = MLPClassifier(**common, **kw).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    if kw["solver"] == "sgd":
        lr = ours._optimizer.param_groups[0]["lr"]
        assert lr == pytest.approx(theirs._optimizer.learning_rate, rel=1e-12)
    assert (ours.best_loss_ is None) == (theirs.best_loss_ is None)
    assert len(ours.loss_curve_) == ours.n_iter_


def test_lr_schedule():
    X, y = blobs()
    est = fast(NeuralNetClassifier, lr_schedule="cosine", max_iter=10, tol=0.0,
                n_iter_no_change=100).fit(X, y)
    assert est._optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    est = fast(NeuralNetClassifier, lr_schedule="step", max_iter=6, tol=0.0,
                lr_schedule_kwargs={"step_size": 2, "gamma": 0.5}).fit(X, y)
    assert est._optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * 0.5**3)
    with pytest.raises(ValueError, match="lr_schedule_kwargs"):
        fast(NeuralNetClassifier, lr_schedule="step").fit(X, y)
    with pytest.raises(ValueError, match="learning_rate='constant'"):
        fast(NeuralNetClassifier, solver="sgd", learning_rate="adaptive",
              lr_schedule="cosine").fit(X, y)


def test_convergence_and_warning():
    X, y = blobs()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        fast(NeuralNetClassifier, max_iter=3).fit(X, y)
    est = fast(NeuralNetClassifier, max_iter=500, tol=1e-2, n_iter_no_change=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)
    assert est.n_iter_ < 500 and len(est.loss_curve_) == est.n_iter_
    assert est.validation_scores_ is None and est.best_loss_ == min(est.loss_curve_)


def test_early_stopping_restores_best_weights():
    X, y = blobs(n=200)
    kw = dict(hidden_layer_sizes=(16,), learning_rate_init=0.1, early_stopping=True,
              validation_fraction=0.2, n_iter_no_change=5, tol=0.0, max_iter=200,
              random_state=0)
    est = NeuralNetClassifier(**kw).fit(X, y)
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ and est.best_loss_ is None
    assert est.best_validation_score_ == max(scores)
    best = int(np.argmax(scores))  # the first epoch with the best score
    assert est.n_iter_ > best + 1  # it trained past the best epoch ...
    # ... and ended with that epoch's weights: a run stopped right there has the same ones
    at_best = NeuralNetClassifier(**{**kw, "max_iter": best + 1}).fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, at_best.coefs_ + at_best.intercepts_):
        np.testing.assert_array_equal(a, b)
    kept = NeuralNetClassifier(**kw, restore_best_weights=False).fit(X, y)
    assert not all(np.array_equal(a, b) for a, b in zip(kept.coefs_, est.coefs_))
    reg = fast(NeuralNetRegressor, early_stopping=True, max_iter=15).fit(*regression())
    assert len(reg.validation_scores_) == reg.n_iter_


def test_partial_fit():
    X, y = blobs()
    est = fast(NeuralNetClassifier)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    est.partial_fit(X[:40], y[:40], classes=[0, 1, 2])
    first = est.score(X, y)
    for _ in range(30):
        est.partial_fit(X, y)
    assert est.n_iter_ == 1 and est.t_ == 40 + 30 * len(X)
    assert len(est.loss_curve_) == 31 and est.score(X, y) > max(first, 0.8)
    with pytest.raises(ValueError, match="not in classes_"):
        est.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="early_stopping"):
        fast(NeuralNetClassifier, early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    reg = fast(NeuralNetRegressor)
    for _ in range(3):
        reg.partial_fit(*regression())
    assert reg.t_ == 360


def test_warm_start_continues_training():
    X, y = blobs()
    est = fast(NeuralNetClassifier, warm_start=True, max_iter=5, tol=0.0).fit(X, y)
    w = est.coefs_[0].copy()
    est.fit(X, y)
    assert len(est.loss_curve_) == 10 and est.n_iter_ == 5 and est.t_ == 10 * len(X)
    assert est.loss_curve_[5] < est.loss_curve_[0]  # continued from trained weights
    assert not np.array_equal(est.coefs_[0], w)
    cold = fast(NeuralNetClassifier, max_iter=5, tol=0.0).fit(X, y)
    cold.fit(X, y)
    assert len(cold.loss_curve_) == 5


def test_sample_weight_integer_weights_equal_repeated_rows():
    X, y = regression(n=40)
    w = np.random.default_rng(0).integers(0, 3, len(X))
    kw = dict(hidden_layer_sizes=(6,), max_iter=15, learning_rate_init=0.05, random_state=0,
              dtype="float64")
    weighted = NeuralNetRegressor(**kw).fit(X, y, sample_weight=w)
    repeated = NeuralNetRegressor(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-9)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-9)
    # scikit-learn's own checks, in float64
    for est in (NeuralNetClassifier(**TINY, dtype="float64"),
                NeuralNetRegressor(**TINY, dtype="float64")):
        check_sample_weight_equivalence_on_dense_data(type(est).__name__, est)
        check_methods_subset_invariance(type(est).__name__, est)


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_float32_predictions_do_not_depend_on_the_batch(cls):
    # Row by row or all at once, a float32 prediction differs at most by float32
    # rounding (BLAS may sum a row's products in another order for another batch size).
    X, y = blobs() if cls is NeuralNetClassifier else regression()
    X = X.astype(np.float32)
    est = fast(cls, dtype="float32").fit(X, y)
    method = est.predict_proba if cls is NeuralNetClassifier else est.predict
    full = method(X)
    rows = np.concatenate([method(x[None]) for x in X])
    np.testing.assert_allclose(rows, full, rtol=1e-6, atol=1e-6)
    if cls is NeuralNetClassifier:  # labels are the same; a regressor's values are `rows`
        np.testing.assert_array_equal(np.concatenate([est.predict(x[None]) for x in X[:20]]),
                                      est.predict(X[:20]))


def test_reproducible_and_leaves_global_generator_alone():
    X, y = blobs()
    cr.manual_seed(123)
    before = cr.get_rng().bit_generator.state
    kw = dict(dropout=0.2, batch_norm=True, multi_class="ovr")
    a = fast(NeuralNetClassifier, **kw).fit(X, y).predict_proba(X)
    b = fast(NeuralNetClassifier, **kw).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert cr.get_rng().bit_generator.state == before
    c = fast(NeuralNetClassifier, **{**kw, "random_state": 1}).fit(X, y).predict_proba(X)
    assert not np.array_equal(a, c)


def test_verbose_prints_the_loss(capsys):
    X, y = blobs()
    fast(NeuralNetClassifier, max_iter=2, verbose=True).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out


# ---------------------------------------------------------------------- errors
def test_bad_input_errors():
    X, y = blobs()
    est = fast(NeuralNetClassifier)
    with pytest.raises(NotFittedError):
        est.predict(X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad, y)
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        est.fit(bad, y)
    est.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :2])
    with pytest.raises(ValueError, match="one class"):
        fast(NeuralNetClassifier).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        fast(NeuralNetClassifier).fit(X, np.linspace(0, 1, len(X)))
    # the divergence is the subject: the estimator reports it, not NumPy's overflow warning
    with pytest.raises(ValueError, match="became"), np.errstate(all="ignore"):
        NeuralNetRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e6,
                           max_iter=50, random_state=0).fit(X * 1e3, y * 1e3)


@pytest.mark.parametrize("param, value", [
    ("solver", "lbfgs"), ("activation", "softplus"), ("alpha", -1.0), ("batch_size", 0),
    ("learning_rate", "cyclic"), ("learning_rate_init", 0.0), ("max_iter", 0),
    ("momentum", 1.5), ("validation_fraction", 1.0), ("beta_1", 1.0), ("epsilon", 0.0),
    ("n_iter_no_change", 0), ("multi_class", "multinomial"), ("dropout", 1.0),
    ("class_weight", "auto"), ("lr_schedule", "linear"), ("dtype", "float16"),
    ("device", "tpu"), ("hidden_layer_sizes", "wide"),
])
def test_invalid_hyper_parameters_name_the_parameter(param, value):
    X, y = blobs()
    est = fast(NeuralNetClassifier).set_params(**{param: value})
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter"):
        est.fit(X, y)


def test_invalid_values_found_at_fit():
    X, y = blobs()
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        fast(NeuralNetClassifier, hidden_layer_sizes=(8, 0)).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'loss' parameter"):
        fast(NeuralNetRegressor, loss="poisson").fit(*regression())
    with pytest.raises(ValueError, match="momentum > 0"):
        fast(NeuralNetClassifier, solver="nesterov", momentum=0.0).fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        fast(NeuralNetClassifier, class_weight={7: 2.0}).fit(X, y)
    with pytest.raises(ValueError, match="balanced"):
        fast(NeuralNetClassifier, class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])
