"""Activation modules against NumPy definitions (forward in float32 and float64, gradcheck)."""

import math

import numpy as np
import pytest
from helpers import check_op, host, nonzero, np_log_softmax, np_sigmoid, np_softmax, uniform

import chainrule as cr
from chainrule import nn

_erf = np.vectorize(math.erf)


CASES = [
    ("relu", nn.ReLU(), lambda x: np.maximum(x, 0)),
    ("leaky_relu", nn.LeakyReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),
    ("leaky_relu_0.2", nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    ("elu", nn.ELU(), lambda x: np.where(x > 0, x, np.expm1(x))),
    ("elu_0.5", nn.ELU(alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    ("gelu", nn.GELU(), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    ("gelu_tanh", nn.GELU("tanh"),
     lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    ("sigmoid", nn.Sigmoid(), np_sigmoid),
    ("tanh", nn.Tanh(), np.tanh),
    ("softmax", nn.Softmax(dim=-1), lambda x: np_softmax(x, -1)),
    ("softmax_dim0", nn.Softmax(dim=0), lambda x: np_softmax(x, 0)),
    ("log_softmax", nn.LogSoftmax(dim=-1), lambda x: np_log_softmax(x, -1)),
    ("log_softmax_dim1", nn.LogSoftmax(dim=1), lambda x: np_log_softmax(x, 1)),
]


@pytest.mark.parametrize("name,module,ref", CASES, ids=[c[0] for c in CASES])
def test_activation_matches_numpy(name, module, ref):
    # Values kept away from 0, where relu-like kinks make central differences meaningless.
    # Exact GELU uses a rational erf (absolute error below 1.5e-7), even in float64.
    check_op(module, ref, (3, 4, 5), make=nonzero,
             tol64=(0, 5e-7) if name == "gelu" else None)


@pytest.mark.parametrize("name,module,ref", CASES, ids=[c[0] for c in CASES])
def test_activation_has_no_parameters_and_same_in_eval(name, module, ref):
    assert list(module.parameters()) == []
    x = cr.tensor(uniform((4, 3)))
    y = module(x).numpy()
    np.testing.assert_array_equal(module.eval()(x).numpy(), y)
    module.train()


def test_softmax_rows_sum_to_one_and_are_stable():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -1000.0], [0.0, 0.0, 50.0]])
    p = nn.Softmax()(cr.tensor(x)).numpy()
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p[0], np_softmax(np.array([0.0, 1.0, 2.0]), -1), rtol=1e-12)
    np.testing.assert_allclose(p[1], 1 / 3, rtol=1e-12)
    lp = nn.LogSoftmax()(cr.tensor(x)).numpy()
    assert np.all(np.isfinite(lp))
    np.testing.assert_allclose(lp, np_log_softmax(x, -1), rtol=1e-12)


def test_sigmoid_and_tanh_saturate_without_overflow():
    x = cr.tensor(np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0]), requires_grad=True)
    s = nn.Sigmoid()(x)
    np.testing.assert_allclose(s.numpy(), [0.0, np_sigmoid(-40.0), 0.5, np_sigmoid(40.0), 1.0],
                               rtol=1e-12, atol=0)
    s.sum().backward()
    assert np.all(np.isfinite(host(x.grad)))
    np.testing.assert_array_equal(nn.Tanh()(x).numpy(), np.tanh(x.numpy()))


def test_relu_gradient_is_the_step_function():
    x = cr.tensor(np.array([-2.0, -0.5, 0.5, 2.0]), requires_grad=True)
    nn.ReLU()(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0, 1.0])


def test_activation_modules_in_a_network():
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 4), nn.ELU(),
                          nn.Linear(4, 3), nn.LogSoftmax(dim=1))
    out = model(cr.tensor(uniform((5, 3)).astype(np.float32)))
    assert out.shape == (5, 3) and out.dtype == np.float32
    np.testing.assert_allclose(np.exp(out.numpy()).sum(axis=1), 1.0, rtol=1e-5)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("erf")


def test_activation_repr():
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
