"""Stable softmax and log-softmax: values, gradients, extreme logits, -inf masks."""

import numpy as np
import pytest
from helpers import check_op, host, np_log_softmax, np_softmax, shapes
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F


@st.composite
def shape_and_axis(draw):
    shape = draw(shapes(min_dims=1))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


@given(shape_and_axis())
def test_softmax(sa):
    shape, axis = sa
    check_op(lambda a: a.softmax(axis), lambda a: np_softmax(a, axis), shape)
    check_op(lambda a: F.softmax(a, axis=axis), lambda a: np_softmax(a, axis), shape)


@given(shape_and_axis())
def test_log_softmax(sa):
    shape, axis = sa
    check_op(lambda a: a.log_softmax(axis), lambda a: np_log_softmax(a, axis), shape)
    check_op(lambda a: F.log_softmax(a, axis=axis), lambda a: np_log_softmax(a, axis), shape)


def test_softmax_rows_sum_to_one_and_default_axis_is_last():
    x = cr.tensor(np.random.default_rng(0).normal(size=(3, 5)))
    np.testing.assert_allclose(F.softmax(x).numpy().sum(axis=-1), np.ones(3), rtol=1e-12)
    np.testing.assert_allclose(x.softmax(0).numpy().sum(axis=0), np.ones(5), rtol=1e-12)


def test_softmax_is_shift_invariant():
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(F.softmax(x + 1000.0).numpy(), F.softmax(x).numpy(), rtol=1e-6)


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_extreme_logits_stay_finite(scale):
    logits = np.array([[1.0, -1.0, 0.5], [1.0, 1.0, -1.0]], dtype=np.float32) * scale
    for fn in (F.softmax, F.log_softmax):
        x = cr.tensor(logits, requires_grad=True)
        y = fn(x)
        (y * cr.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))).sum().backward()
        assert np.all(np.isfinite(y.numpy())), fn.__name__
        assert np.all(np.isfinite(host(x.grad))), fn.__name__
    p = F.softmax(cr.tensor(logits)).numpy()
    np.testing.assert_allclose(p.sum(axis=-1), [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(p, np_softmax(logits.astype(np.float64)), atol=1e-6)
    logp = F.log_softmax(cr.tensor(logits)).numpy()
    np.testing.assert_allclose(logp, np_log_softmax(logits.astype(np.float64)), rtol=1e-6)


def test_minus_inf_mask():
    logits = np.array([[1.0, -np.inf, 2.0], [-np.inf, -np.inf, 0.5]], dtype=np.float32)
    x = cr.tensor(logits, requires_grad=True)
    p = F.softmax(x)
    p[:, 2].sum().backward()
    expected = np.array([[np.exp(-1.0) / (1 + np.exp(-1.0)), 0.0, 1 / (1 + np.exp(-1.0))],
                         [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-6)
    assert np.all(np.isfinite(host(x.grad)))
    np.testing.assert_array_equal(x.grad[logits == -np.inf], 0.0)

    x = cr.tensor(logits, requires_grad=True)
    logp = F.log_softmax(x)
    finite = np.isfinite(logits)
    np.testing.assert_array_equal(logp.numpy()[~finite], -np.inf)
    np.testing.assert_allclose(logp.numpy()[finite], np.log(expected[finite]), rtol=1e-6)
    logp[:, 2].sum().backward()
    assert np.all(np.isfinite(host(x.grad)))
    np.testing.assert_array_equal(x.grad[~finite], 0.0)
    np.testing.assert_allclose(x.grad[finite], (np.eye(3)[2] - expected)[finite], rtol=1e-6)


def test_softmax_gradient_is_jacobian_product():
    a = np.array([0.3, -1.2, 2.0])
    g = np.array([1.0, 2.0, -0.5])
    x = cr.tensor(a, requires_grad=True)
    F.softmax(x).backward(g)
    p = np_softmax(a)
    jacobian = np.diag(p) - np.outer(p, p)
    np.testing.assert_allclose(x.grad, jacobian @ g, rtol=1e-12)
