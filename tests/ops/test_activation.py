"""Activations: tanh, sigmoid, relu, leaky_relu, elu, gelu (exact and tanh)."""

import math

import numpy as np
import pytest
from helpers import check_op, host, nonzero, np_sigmoid, shapes
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F
from chainrule import ops

_erf = np.vectorize(math.erf)


@given(shapes())
def test_tanh(shape):
    check_op(lambda a: a.tanh(), np.tanh, shape)
    check_op(F.tanh, np.tanh, shape)


@given(shapes())
def test_sigmoid(shape):
    check_op(lambda a: a.sigmoid(), np_sigmoid, shape)
    check_op(F.sigmoid, np_sigmoid, shape, make=lambda s, seed: nonzero(s, 1, 8, seed))


@given(shapes())
def test_relu(shape):
    check_op(lambda a: a.relu(), lambda a: np.maximum(a, 0), shape, make=nonzero)
    check_op(F.relu, lambda a: np.maximum(a, 0), shape, make=nonzero)


def test_relu_gradient_at_zero_is_zero():
    x = cr.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


@given(shapes(), st.sampled_from([0.01, 0.2]))
def test_leaky_relu(shape, slope):
    check_op(lambda a: F.leaky_relu(a, slope), lambda a: np.where(a > 0, a, slope * a), shape,
             make=nonzero)


@given(shapes(), st.sampled_from([1.0, 0.5]))
def test_elu(shape, alpha):
    check_op(lambda a: F.elu(a, alpha), lambda a: np.where(a > 0, a, alpha * np.expm1(a)),
             shape, make=nonzero)


@given(shapes())
def test_gelu_exact(shape):
    # erf is a rational approximation with absolute error below 1.5e-7.
    check_op(F.gelu, lambda a: a * 0.5 * (1 + _erf(a / math.sqrt(2))), shape,
             make=lambda s, seed: np.random.default_rng(seed).uniform(-4, 4, s),
             tol64=(0, 5e-7))


@given(shapes())
def test_gelu_tanh(shape):
    def ref(a):
        return 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)))

    check_op(lambda a: F.gelu(a, approximate="tanh"), ref, shape,
             make=lambda s, seed: np.random.default_rng(seed).uniform(-4, 4, s))


def test_gelu_rejects_unknown_mode():
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(cr.tensor([1.0]), approximate="sigmoid")


def test_gelu_known_values():
    # GELU(1) = Phi(1) = 0.8413447..., GELU(-1) = -(1 - Phi(1))
    y = F.gelu(cr.tensor(np.array([1.0, -1.0, 0.0])))
    np.testing.assert_allclose(y.numpy(), [0.8413447461, -0.1586552539, 0.0], atol=3e-7)


@pytest.mark.parametrize("x", [1e4, -1e4, 3e38, -3e38])
def test_sigmoid_extreme_logits_are_finite(x):
    t = cr.tensor([x], requires_grad=True)
    y = t.sigmoid()
    y.sum().backward()
    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(host(t.grad)))
    np.testing.assert_array_equal(y.numpy(), [1.0 if x > 0 else 0.0])
    np.testing.assert_array_equal(t.grad, [0.0])


def test_tanh_gradient_known_values():
    # d tanh = 1 - tanh^2 at a few known points
    x = cr.tensor(np.array([0.0, 1.0, -2.0]), requires_grad=True)
    x.tanh().sum().backward()
    np.testing.assert_allclose(x.grad, 1 - np.tanh([0.0, 1.0, -2.0]) ** 2, rtol=1e-12)


# ---------------------------------------------------------------- found by mutation testing
def test_op_defaults_are_the_documented_ones():
    # the ops' own defaults (used when an op is called directly) match F's
    a = np.array([-2.0, -0.5, 0.5, 2.0])
    np.testing.assert_array_equal(ops.activation.leaky_relu(a)[0],
                                  ops.activation.leaky_relu(a, 0.01)[0])
    np.testing.assert_array_equal(ops.activation.elu(a)[0], ops.activation.elu(a, 1.0)[0])
    np.testing.assert_array_equal(ops.activation.gelu(a)[0],
                                  ops.activation.gelu(a, approximate="none")[0])


def test_leaky_relu_and_elu_gradients_at_zero_take_the_negative_side():
    # as PyTorch: x > 0 is the positive side, so at exactly 0 the slope is the negative one
    x = cr.tensor([0.0], requires_grad=True)
    F.leaky_relu(x, 0.2).sum().backward()
    np.testing.assert_array_equal(x.grad, np.float32([0.2]))
    x = cr.tensor([0.0], requires_grad=True)
    F.elu(x, alpha=2.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0])  # alpha * exp(0)


@pytest.mark.parametrize("name", ["relu", "linear_relu"])
def test_relu_masks_an_owned_gradient_in_place_and_copies_a_shared_one(name):
    a = np.array([[-1.0, 2.0], [3.0, -4.0]])
    if name == "relu":
        out, backward = ops.activation.relu(a)
    else:
        out, backward = ops.linalg.linear_relu(a, np.eye(2))
    owned = np.ones((2, 2))
    got = backward(owned, (True, True, False))[0]
    if name == "relu":
        assert got is owned  # no new array: the engine said the gradient is ours
    else:
        np.testing.assert_array_equal(owned, out > 0)  # masked in place before the GEMM
    np.testing.assert_array_equal(got, (out > 0) * 1.0)
    shared = np.ones((2, 2))
    shared.flags.writeable = False
    got = backward(shared, (True, True, False))[0]
    np.testing.assert_array_equal(shared, 1.0)  # untouched
    np.testing.assert_array_equal(got, (out > 0) * 1.0)
