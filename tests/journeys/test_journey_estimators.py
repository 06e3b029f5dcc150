"""Journey 5: the scikit-learn estimators at ``hidden_layer_sizes=(256, 128)`` (otherwise
their defaults): fit, then keep the fitted estimator the three ways a user does, chainrule's
safe model file (``save`` / ``load``), pickle and joblib, and predict the same after each."""

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

import joblib  # noqa: E402  (scikit-learn's own dependency)
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

SIZES = (256, 128)


def _digits():
    X, y = load_digits(return_X_y=True)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    return train_test_split(X / 16, names[y], test_size=0.25, random_state=0)


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


def _outputs(est, X):
    """What a user reads from a fitted estimator."""
    out = {"predict": est.predict(X)}
    if hasattr(est, "predict_proba"):
        out["predict_proba"] = est.predict_proba(X)
    return out


def _round_trips(est, tmp_path):
    """The estimator back from each way of keeping it, by name."""
    est.save(tmp_path / "est.safetensors")
    safe = type(est).load(tmp_path / "est.safetensors")
    joblib.dump(est, tmp_path / "est.joblib")
    joblib.dump(safe, tmp_path / "safe.joblib")
    return {"safe file": safe, "pickle": pickle.loads(pickle.dumps(est)),
            "joblib": joblib.load(tmp_path / "est.joblib"),
            "safe file, then joblib": joblib.load(tmp_path / "safe.joblib")}


def _assert_same(est, X, tmp_path):
    want = _outputs(est, X)
    for how, back in _round_trips(est, tmp_path).items():
        assert back is not est and back.get_params() == est.get_params(), how
        got = _outputs(back, X)
        np.testing.assert_array_equal(got["predict"], want["predict"], err_msg=how)
        if "predict_proba" in want:
            np.testing.assert_array_equal(got["predict_proba"], want["predict_proba"],
                                          err_msg=how)


def _widths(est):
    return [m.out_features for m in est.model_.modules() if isinstance(m, cr.nn.Linear)]


def test_classifier_fit_then_every_round_trip(tmp_path):
    X_train, X_test, y_train, y_test = _digits()
    est = NeuralNetClassifier(hidden_layer_sizes=SIZES, random_state=0).fit(X_train, y_train)
    assert _widths(est) == [256, 128, 10]
    assert est.score(X_test, y_test) >= 0.95
    _assert_same(est, X_test, tmp_path)


# the default max_iter=200 leaves the regressor short of its tolerance on raw diabetes
# targets, as scikit-learn's MLPRegressor: its warning is not this journey's subject
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_regressor_fit_then_every_round_trip(tmp_path):
    X_train, X_test, y_train, y_test = _diabetes()
    est = NeuralNetRegressor(hidden_layer_sizes=SIZES, random_state=0).fit(X_train, y_train)
    assert _widths(est) == [256, 128, 1]
    assert est.score(X_test, y_test) >= 0.3
    _assert_same(est, X_test, tmp_path)
