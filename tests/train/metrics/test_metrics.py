"""chainrule.train.metrics: the input checks every metric shares, the registry and
compute_metrics."""

import numpy as np
import pytest
from metric_cases import CASES, make_proba, make_regression, quiet
from numpy.testing import assert_allclose

from chainrule.train import metrics as M

skm = pytest.importorskip("sklearn.metrics")


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


def test_compute_metrics_classification_and_regression():
    y_true, y_pred, _ = CASES["multiclass_absent_pred"]
    proba = make_proba(12, len(y_true), 4)
    m = M.compute_metrics("classification", y_true, y_pred, proba)
    assert set(m) == {"accuracy", "balanced_accuracy", "f1_macro", "precision_macro",
                      "recall_macro", "log_loss"}
    assert all(type(v) is float for v in m.values())
    expected = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "f1_macro": quiet(skm.f1_score, y_true, y_pred, average="macro"),
        "precision_macro": quiet(skm.precision_score, y_true, y_pred, average="macro"),
        "recall_macro": quiet(skm.recall_score, y_true, y_pred, average="macro"),
        "log_loss": skm.log_loss(y_true, proba),
    }
    for key, value in expected.items():
        assert_allclose(m[key], value, rtol=1e-12, err_msg=key)
    assert "log_loss" not in M.compute_metrics("classification", y_true, y_pred)

    yt, yp, _ = make_regression(13, outputs=2)
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
    yt, yp, _ = make_regression(14)
    good_proba = np.eye(4)[y_true] * 0.9 + 0.025
    bad_proba = make_proba(15, len(y_true), 4)
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
