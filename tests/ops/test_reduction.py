"""Reductions: sum, mean, max, min, var, logsumexp with axis (int, tuple, None) and keepdims."""

import numpy as np
import pytest
from helpers import check_op, distinct, host, shapes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import valid_tuple_axes

import chainrule as cr
import chainrule.functional as F


@st.composite
def shape_axis(draw, min_side=1):
    """A shape and an axis for it: None, an int (maybe negative) or a tuple of ints."""
    shape = draw(shapes(min_side=min_side))
    ndim = len(shape)
    choices = [st.none(), valid_tuple_axes(ndim)]
    if ndim:
        choices.append(st.integers(-ndim, ndim - 1))
    return shape, draw(st.one_of(*choices)), draw(st.booleans())


def _np_logsumexp(a, axis=None, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


@given(shape_axis())
def test_sum(sak):
    shape, axis, keepdims = sak
    check_op(lambda a: a.sum(axis=axis, keepdims=keepdims),
             lambda a: np.sum(a, axis=axis, keepdims=keepdims), shape)


@given(shape_axis())
def test_mean(sak):
    shape, axis, keepdims = sak
    check_op(lambda a: a.mean(axis=axis, keepdims=keepdims),
             lambda a: np.mean(a, axis=axis, keepdims=keepdims), shape)


@given(shape_axis())
def test_max(sak):
    shape, axis, keepdims = sak
    check_op(lambda a: a.max(axis=axis, keepdims=keepdims),
             lambda a: np.max(a, axis=axis, keepdims=keepdims), shape, make=distinct)


@given(shape_axis())
def test_min(sak):
    shape, axis, keepdims = sak
    check_op(lambda a: a.min(axis=axis, keepdims=keepdims),
             lambda a: np.min(a, axis=axis, keepdims=keepdims), shape, make=distinct)


@given(shape_axis(min_side=2), st.sampled_from([0, 1]))
def test_var(sak, correction):
    shape, axis, keepdims = sak
    if shape == ():
        shape = (3,)
    if axis == ():  # reducing over no axis leaves one value: n - correction may be 0
        axis = None
    check_op(lambda a: a.var(axis=axis, keepdims=keepdims, correction=correction),
             lambda a: np.var(a, axis=axis, keepdims=keepdims, ddof=correction), shape)


@given(shape_axis())
def test_logsumexp(sak):
    shape, axis, keepdims = sak
    check_op(lambda a: a.logsumexp(axis=axis, keepdims=keepdims),
             lambda a: _np_logsumexp(a, axis=axis, keepdims=keepdims), shape)
    check_op(lambda a: F.logsumexp(a, axis=axis, keepdims=keepdims),
             lambda a: _np_logsumexp(a, axis=axis, keepdims=keepdims), shape)


def test_list_axis_is_a_tuple():
    x = cr.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    y = x.sum(axis=[0, 2])
    np.testing.assert_array_equal(y.numpy(), np.arange(24.0).reshape(2, 3, 4).sum(axis=(0, 2)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 3, 4)))


def test_max_shares_gradient_among_ties():
    x = cr.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


def test_mean_gradient_is_one_over_n():
    x = cr.tensor(np.ones((4, 5)), requires_grad=True)
    x.mean(axis=0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((4, 5), 0.25))


@pytest.mark.parametrize("v", [1e4, -1e4])
def test_logsumexp_extreme_inputs_are_finite(v):
    x = cr.tensor([[v, 0.0, -v], [v, v, v]], requires_grad=True)
    y = x.logsumexp(axis=1)
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), [abs(v), v + np.log(3.0)], rtol=1e-6)
    assert np.all(np.isfinite(host(x.grad)))
    np.testing.assert_allclose(x.grad.sum(axis=1), [1.0, 1.0], rtol=1e-6)


def test_logsumexp_of_minus_inf_entries():
    # an all -inf slice gives -inf (not NaN); a -inf entry gets no gradient
    with np.errstate(divide="ignore"):  # log(0) = -inf for the all -inf row is the subject
        y = cr.tensor([[0.0, -np.inf], [-np.inf, -np.inf]]).logsumexp(axis=1)
    np.testing.assert_array_equal(y.numpy(), [0.0, -np.inf])
    x = cr.tensor([[0.0, -np.inf], [1.0, 1.0]], requires_grad=True)
    y = x.logsumexp(axis=1)
    np.testing.assert_allclose(y.numpy(), [0.0, 1.0 + np.log(2.0)], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [[1.0, 0.0], [0.5, 0.5]])


def test_axis_out_of_range_raises():
    with pytest.raises((ValueError, np.exceptions.AxisError)):
        cr.tensor(np.ones((2, 3))).sum(axis=2)


def test_op_defaults_reduce_every_axis_without_keepdims():
    from chainrule import ops

    a = np.array([[1.0, 4.0, 2.0], [3.0, 0.5, 2.5]])
    for name, ref in (("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min),
                      ("logsumexp", lambda x: np.log(np.exp(x).sum())),
                      ("var", lambda x: np.var(x, ddof=1))):  # correction 1 by default
        out, _ = getattr(ops.reduction, name)(a)
        assert out.shape == (), name
        np.testing.assert_allclose(out, ref(a), rtol=1e-12, err_msg=name)


def test_max_backward_keeps_float32_at_the_op_level():
    from chainrule import ops

    a = np.array([[1.0, 3.0, 3.0]], np.float32)
    for name in ("max", "min"):
        _, backward = getattr(ops.reduction, name)(a, axis=1)
        (g,) = backward(np.ones(1, np.float32), (True,))
        assert g.dtype == np.float32
