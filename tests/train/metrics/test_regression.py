"""chainrule.train.metrics.regression against scikit-learn's metrics on random data."""

import numpy as np
import pytest
from metric_cases import make_regression
from numpy.testing import assert_allclose

from chainrule.train.metrics import regression as M

skm = pytest.importorskip("sklearn.metrics")


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
    y_true, y_pred, w = make_regression(11, outputs=outputs)
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
