"""chainrule.train.metrics against scikit-learn's implementations on random data."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import chainrule as cr
from chainrule.train import metrics as M

skm = pytest.importorskip("sklearn.metrics")


def _classes(seed, n=200, k_true=3, k_pred=3, weighted=False):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k_true, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k_pred, n))
    y_pred = np.minimum(y_pred, k_pred - 1)
    w = rng.random(n) * 3 if weighted else None
    return y_true, y_pred, w


# binary; multi-class with class 3 never predicted; class 4 predicted but never true
CASES = {
    "binary": _classes(0, k_true=2, k_pred=2),
    "multiclass_absent_pred": _classes(1, k_true=4, k_pred=3),
    "multiclass_absent_true": _classes(2, k_true=4, k_pred=5),
    "weighted": _classes(3, k_true=4, k_pred=3, weighted=True),
}


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request):
    y_true, y_pred, w = CASES[request.param]
    if request.param == "multiclass_absent_pred":
        assert 3 in y_true and 3 not in y_pred  # the case is what it says
    return CASES[request.param]


def _sk(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning on classes absent somewhere
        return fn(*args, **kwargs)


def test_accuracy_balanced_accuracy_confusion_matrix(case):
    y_true, y_pred, w = case
    assert_allclose(M.accuracy(y_true, y_pred, w), skm.accuracy_score(y_true, y_pred,
                                                                      sample_weight=w))
    assert_allclose(M.balanced_accuracy(y_true, y_pred, w),
                    _sk(skm.balanced_accuracy_score, y_true, y_pred, sample_weight=w))
    assert_allclose(M.confusion_matrix(y_true, y_pred, sample_weight=w),
                    skm.confusion_matrix(y_true, y_pred, sample_weight=w))


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_precision_recall_f1(case, average):
    y_true, y_pred, w = case
    expected = _sk(skm.precision_recall_fscore_support, y_true, y_pred, average=average,
                   sample_weight=w, zero_division=0)[:3]
    got = M.precision_recall_f1(y_true, y_pred, average, sample_weight=w)
    assert isinstance(got, tuple) and len(got) == 3
    for g, e in zip(got, expected, strict=True):
        assert_allclose(g, e, rtol=1e-12)
    if average is not None:
        assert all(isinstance(g, float) for g in got)
    assert_allclose(M.precision(y_true, y_pred, average, sample_weight=w), expected[0])
    assert_allclose(M.recall(y_true, y_pred, average, sample_weight=w), expected[1])
    assert_allclose(M.f1(y_true, y_pred, average, sample_weight=w), expected[2])


def test_macro_scores_are_sklearn_defaults_and_absent_class_counts_zero():
    y_true, y_pred, _ = CASES["multiclass_absent_pred"]
    assert_allclose(M.f1(y_true, y_pred), _sk(skm.f1_score, y_true, y_pred, average="macro"))
    p, r, f = M.precision_recall_f1(y_true, y_pred, None)
    assert p[3] == 0 and r[3] == 0 and f[3] == 0  # never predicted: zero_division=0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning from chainrule
        M.precision(y_true, y_pred)


def test_binary_average_and_pos_label():
    y_true, y_pred, w = CASES["binary"]
    for pos in (0, 1):
        expected = skm.precision_recall_fscore_support(y_true, y_pred, average="binary",
                                                       pos_label=pos, sample_weight=w)[:3]
        assert_allclose(M.precision_recall_f1(y_true, y_pred, "binary", pos_label=pos),
                        expected)
    with pytest.raises(ValueError, match="at most two classes"):
        M.f1([0, 1, 2], [0, 1, 2], average="binary")
    with pytest.raises(ValueError, match="pos_label"):
        M.f1(["a", "b"], ["a", "b"], average="binary")
    with pytest.raises(ValueError, match="average"):
        M.f1([0, 1], [0, 1], average="samples")


def test_string_labels_and_explicit_labels():
    rng = np.random.default_rng(4)
    names = np.array(["cat", "dog", "eel"])
    y_true, y_pred = names[rng.integers(0, 3, 50)], names[rng.integers(0, 3, 50)]
    assert_allclose(M.f1(y_true, y_pred, None), skm.f1_score(y_true, y_pred, average=None))
    labels = ["eel", "cat"]  # custom order, a subset: rows/columns follow it
    assert_array_equal(M.confusion_matrix(y_true, y_pred, labels=labels),
                       skm.confusion_matrix(y_true, y_pred, labels=labels))
    assert_allclose(M.precision_recall_f1(y_true, y_pred, "macro", labels=labels),
                    skm.precision_recall_fscore_support(y_true, y_pred, average="macro",
                                                        labels=labels)[:3])


def test_confusion_matrix_dtype_and_layout():
    cm = M.confusion_matrix([0, 0, 1, 2], [0, 1, 1, 0])
    assert cm.dtype == np.int64
    assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 0]])  # rows: true, columns: predicted
    assert M.confusion_matrix([0, 1], [0, 1], sample_weight=[0.5, 2.0]).dtype == np.float64


def _proba(seed, n, k):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def test_log_loss_multiclass_binary_and_weights():
    y_true, _, w = CASES["weighted"]
    proba = _proba(5, len(y_true), 4)
    assert_allclose(M.log_loss(y_true, proba), skm.log_loss(y_true, proba), rtol=1e-12)
    assert_allclose(M.log_loss(y_true, proba, sample_weight=w),
                    skm.log_loss(y_true, proba, sample_weight=w), rtol=1e-12)
    yb, _, _ = CASES["binary"]
    pos = _proba(6, len(yb), 2)[:, 1]
    assert_allclose(M.log_loss(yb, pos), skm.log_loss(yb, pos), rtol=1e-12)
    assert_allclose(M.log_loss(yb, np.stack([1 - pos, pos], 1)), skm.log_loss(yb, pos))


def test_log_loss_labels_and_clipping():
    y = np.array(["b", "a", "c", "a"])
    proba = _proba(7, 4, 3)
    assert_allclose(M.log_loss(y, proba, labels=["a", "b", "c"]), skm.log_loss(y, proba))
    # a validation set missing class 2: columns are classes 0..k-1
    y_int = np.array([0, 1, 1, 0, 1])
    p3 = _proba(8, 5, 3)
    assert_allclose(M.log_loss(y_int, p3), skm.log_loss(y_int, p3, labels=[0, 1, 2]))
    # a certain wrong answer is clipped to a finite loss, as sklearn does
    hard = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert_allclose(M.log_loss([1, 1], hard), skm.log_loss([1, 1], hard, labels=[0, 1]))
    assert np.isfinite(M.log_loss([1, 1], hard))
    assert_allclose(M.log_loss([1], [[1.0, 0.0]], eps=1e-3), -np.log(1e-3))
    with pytest.raises(ValueError, match="3 classes but proba has 2"):
        M.log_loss(["a", "b", "c"], _proba(9, 3, 2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.log_loss([0, 1], [[1.5, -0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="not in labels"):
        M.log_loss(["a", "z"], _proba(10, 2, 2), labels=["a", "b"])


def _regression(seed, n=80, outputs=None):
    rng = np.random.default_rng(seed)
    shape = (n,) if outputs is None else (n, outputs)
    y_true = rng.normal(size=shape) * np.arange(1, 1 + (outputs or 1))
    return y_true, y_true + rng.normal(size=shape) * 0.7, rng.random(n)


REGRESSION = [
    ("mse", skm.mean_squared_error),
    ("rmse", skm.root_mean_squared_error),
    ("mae", skm.mean_absolute_error),
    ("r2", skm.r2_score),
]


@pytest.mark.parametrize("name,sk_fn", REGRESSION, ids=[r[0] for r in REGRESSION])
@pytest.mark.parametrize("outputs", [None, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression(name, sk_fn, outputs, weighted):
    y_true, y_pred, w = _regression(11, outputs=outputs)
    w = w if weighted else None
    fn = getattr(M, name)
    assert_allclose(fn(y_true, y_pred, w), sk_fn(y_true, y_pred, sample_weight=w), rtol=1e-12)
    assert_allclose(fn(y_true, y_pred, w, multioutput="raw_values"),
                    sk_fn(y_true, y_pred, sample_weight=w, multioutput="raw_values"),
                    rtol=1e-12)
    if outputs:
        mw = [0.2, 0.3, 0.5]
        assert_allclose(fn(y_true, y_pred, w, multioutput=mw),
                        sk_fn(y_true, y_pred, sample_weight=w, multioutput=mw), rtol=1e-12)


def test_rmse_averages_roots_not_root_of_average():
    y_true = np.zeros((2, 2))
    y_pred = np.array([[1.0, 3.0], [1.0, 3.0]])
    assert_allclose(M.rmse(y_true, y_pred), 2.0)  # mean(1, 3), not sqrt(mean(1, 9))
    assert_allclose(M.rmse(y_true, y_pred), skm.root_mean_squared_error(y_true, y_pred))


def test_r2_constant_target_and_single_sample():
    y = np.array([[2.0, 1.0], [2.0, 2.0], [2.0, 3.0]])
    exact, off = y.copy(), y.copy()
    off[0, 0] += 1.0
    assert_allclose(M.r2(y, exact), skm.r2_score(y, exact))
    assert_allclose(M.r2(y, off, multioutput="raw_values"),
                    skm.r2_score(y, off, multioutput="raw_values"))
    assert np.isnan(M.r2([1.0], [2.0]))


ALL_PAIRWISE = ["accuracy", "balanced_accuracy", "confusion_matrix", "precision_recall_f1",
                "precision", "recall", "f1", "mse", "rmse", "mae", "r2"]


@pytest.mark.parametrize("name", ALL_PAIRWISE + ["log_loss"])
def test_length_mismatch_names_both_lengths(name):
    second = [[0.5, 0.5]] * 4 if name == "log_loss" else [0, 1, 0, 1]
    with pytest.raises(ValueError, match=r"different lengths: 5 and 4") as info:
        getattr(M, name)([0, 1, 0, 1, 0], second)
    assert name in str(info.value)


@pytest.mark.parametrize("name", ["accuracy", "balanced_accuracy", "f1", "mse", "r2"])
def test_sample_weight_length_and_empty_input(name):
    with pytest.raises(ValueError, match="sample_weight.*3 and 2"):
        getattr(M, name)([0, 1, 1], [0, 1, 0], sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="at least one sample"):
        getattr(M, name)([], [])


def test_accepts_tensors_and_column_vectors():
    y_true, y_pred, _ = CASES["multiclass_absent_pred"]
    expected = skm.accuracy_score(y_true, y_pred)
    assert M.accuracy(cr.tensor(y_true), cr.tensor(y_pred)) == expected
    assert M.accuracy(y_true[:, None], y_pred) == expected
    with pytest.raises(ValueError, match="shape"):
        M.accuracy(np.zeros((4, 2)), np.zeros((4, 2)))


def test_compute_metrics_classification_and_regression():
    y_true, y_pred, _ = CASES["multiclass_absent_pred"]
    proba = _proba(12, len(y_true), 4)
    m = M.compute_metrics("classification", y_true, y_pred, proba)
    assert set(m) == {"accuracy", "balanced_accuracy", "f1_macro", "precision_macro",
                      "recall_macro", "log_loss"}
    assert all(type(v) is float for v in m.values())
    expected = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "f1_macro": _sk(skm.f1_score, y_true, y_pred, average="macro"),
        "precision_macro": _sk(skm.precision_score, y_true, y_pred, average="macro"),
        "recall_macro": _sk(skm.recall_score, y_true, y_pred, average="macro"),
        "log_loss": skm.log_loss(y_true, proba),
    }
    for key, value in expected.items():
        assert_allclose(m[key], value, rtol=1e-12, err_msg=key)
    assert "log_loss" not in M.compute_metrics("classification", y_true, y_pred)

    yt, yp, _ = _regression(13, outputs=2)
    r = M.compute_metrics("regression", yt, yp)
    assert set(r) == {"mse", "rmse", "mae", "r2"}
    assert_allclose(r["rmse"], skm.root_mean_squared_error(yt, yp))
    assert_allclose(r["r2"], skm.r2_score(yt, yp))
    with pytest.raises(ValueError, match="task"):
        M.compute_metrics("ranking", yt, yp)
    with pytest.raises(ValueError, match="proba"):
        M.compute_metrics("regression", yt, yp, proba=yp)


def test_registry_directions_agree_with_the_metrics():
    y_true, y_pred, _ = CASES["multiclass_absent_pred"]
    yt, yp, _ = _regression(14)
    good_proba = np.eye(4)[y_true] * 0.9 + 0.025
    bad_proba = _proba(15, len(y_true), 4)
    assert M.PROBA_METRICS <= set(M.METRICS)
    for name, (fn, kind, greater_is_better) in M.METRICS.items():
        assert kind in ("classification", "regression")
        if name in M.PROBA_METRICS:
            perfect, worse = fn(y_true, good_proba), fn(y_true, bad_proba)
        elif kind == "classification":
            perfect, worse = fn(y_true, y_true), fn(y_true, y_pred)
        else:
            perfect, worse = fn(yt, yt), fn(yt, yp)
        assert (perfect > worse) == greater_is_better, name
    assert set(M.compute_metrics("classification", y_true, y_pred, good_proba)) == {
        n for n, m in M.METRICS.items() if m.kind == "classification"}
