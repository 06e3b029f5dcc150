"""Dropout: inverted scaling, fixed generators, evaluation mode, gradients."""

import numpy as np
import pytest
from helpers import shapes, uniform
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F


def _mask(shape, p, seed, dtype=np.float32):
    keep = np.random.default_rng(seed).random(shape, dtype=dtype)
    return (keep >= p) / (1 - p)


@given(shapes(), st.sampled_from([0.2, 0.5, 0.9]))
def test_dropout_with_fixed_generator(shape, p):
    # the generator is re-created at each call, so every call draws the same mask
    def fn(x):
        return F.dropout(x, p, generator=np.random.default_rng(7))

    for dtype in (np.float32, np.float64):  # uniforms are drawn in the input's precision
        x = cr.tensor(uniform(shape), dtype=dtype, requires_grad=True)
        y = fn(x)
        mask = _mask(shape, p, 7, dtype)
        assert y.dtype == dtype
        np.testing.assert_allclose(y.numpy(), x.numpy() * mask, rtol=1e-6)
        y.backward(np.ones(shape))
        assert x.grad.dtype == dtype
        np.testing.assert_allclose(x.grad, np.broadcast_to(mask, shape), rtol=1e-6)
    assert cr.gradcheck(fn, cr.tensor(uniform(shape), requires_grad=True))


def test_dropout_rate_and_scale():
    x = cr.ones(200, 200)
    y = F.dropout(x, 0.3, generator=np.random.default_rng(0)).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert abs(y.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation


def test_dropout_uses_the_seeded_global_generator():
    x = cr.ones(50, 50)
    cr.manual_seed(3)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    cr.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), a)
    assert not np.array_equal(a, b)


def test_dropout_identity_cases():
    x = cr.tensor(uniform((3, 4)), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.numpy(), np.zeros((3, 4)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((3, 4)))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(cr.ones(3), p)
