"""chainrule.train.metrics.classification against scikit-learn's metrics on random data."""

import warnings

import numpy as np
import pytest
from metric_cases import CASES, make_proba, quiet
from numpy.testing import assert_allclose, assert_array_equal

import chainrule as cr
from chainrule.train.metrics import classification as M

skm = pytest.importorskip("sklearn.metrics")


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request):
    y_true, y_pred, w = CASES[request.param]
    if request.param == "multiclass_absent_pred":
        assert 3 in y_true and 3 not in y_pred  # the case is what it says
    return CASES[request.param]


def test_accuracy_balanced_accuracy_confusion_matrix(case):
    y_true, y_pred, w = case
    assert_allclose(M.accuracy(y_true, y_pred, w), skm.accuracy_score(y_true, y_pred,
                                                                      sample_weight=w))
    assert_allclose(M.balanced_accuracy(y_true, y_pred, w),
                    quiet(skm.balanced_accuracy_score, y_true, y_pred, sample_weight=w))
    assert_allclose(M.confusion_matrix(y_true, y_pred, sample_weight=w),
                    skm.confusion_matrix(y_true, y_pred, sample_weight=w))


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_precision_recall_f1(case, average):
    y_true, y_pred, w = case
    expected = quiet(skm.precision_recall_fscore_support, y_true, y_pred, average=average,
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
    assert_allclose(M.f1(y_true, y_pred), quiet(skm.f1_score, y_true, y_pred, average="macro"))
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


def test_log_loss_multiclass_binary_and_weights():
    y_true, _, w = CASES["weighted"]
    proba = make_proba(5, len(y_true), 4)
    assert_allclose(M.log_loss(y_true, proba), skm.log_loss(y_true, proba), rtol=1e-12)
    assert_allclose(M.log_loss(y_true, proba, sample_weight=w),
                    skm.log_loss(y_true, proba, sample_weight=w), rtol=1e-12)
    yb, _, _ = CASES["binary"]
    pos = make_proba(6, len(yb), 2)[:, 1]
    assert_allclose(M.log_loss(yb, pos), skm.log_loss(yb, pos), rtol=1e-12)
    assert_allclose(M.log_loss(yb, np.stack([1 - pos, pos], 1)), skm.log_loss(yb, pos))


def test_log_loss_labels_and_clipping():
    y = np.array(["b", "a", "c", "a"])
    proba = make_proba(7, 4, 3)
    assert_allclose(M.log_loss(y, proba, labels=["a", "b", "c"]), skm.log_loss(y, proba))
    # a validation set missing class 2: columns are classes 0..k-1
    y_int = np.array([0, 1, 1, 0, 1])
    p3 = make_proba(8, 5, 3)
    assert_allclose(M.log_loss(y_int, p3), skm.log_loss(y_int, p3, labels=[0, 1, 2]))
    # a certain wrong answer is clipped to a finite loss, as sklearn does
    hard = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert_allclose(M.log_loss([1, 1], hard), skm.log_loss([1, 1], hard, labels=[0, 1]))
    assert np.isfinite(M.log_loss([1, 1], hard))
    assert_allclose(M.log_loss([1], [[1.0, 0.0]], eps=1e-3), -np.log(1e-3))
    with pytest.raises(ValueError, match="3 classes but proba has 2"):
        M.log_loss(["a", "b", "c"], make_proba(9, 3, 2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.log_loss([0, 1], [[1.5, -0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="not in labels"):
        M.log_loss(["a", "z"], make_proba(10, 2, 2), labels=["a", "b"])


def test_accepts_tensors_and_column_vectors():
    y_true, y_pred, _ = CASES["multiclass_absent_pred"]
    expected = skm.accuracy_score(y_true, y_pred)
    assert M.accuracy(cr.tensor(y_true), cr.tensor(y_pred)) == expected
    assert M.accuracy(y_true[:, None], y_pred) == expected
    with pytest.raises(ValueError, match="shape"):
        M.accuracy(np.zeros((4, 2)), np.zeros((4, 2)))
