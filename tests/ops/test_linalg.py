"""Matrix products: matmul (2-D, batched, 1-D rules) and F.linear."""

import numpy as np
import pytest
from helpers import check_op, uniform
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import chainrule as cr
import chainrule.functional as F

sides = st.integers(1, 4)


def _matmul(a, b):
    return a @ b


@given(sides, sides, sides)
def test_matmul_2d(m, k, n):
    check_op(_matmul, np.matmul, (m, k), (k, n))


@given(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
       sides, sides, sides)
def test_matmul_batched_broadcasts_batch_dims(batch, m, k, n):
    a, b = batch.input_shapes
    check_op(_matmul, np.matmul, a + (m, k), b + (k, n))


@given(sides, sides)
def test_matmul_1d_2d(k, n):
    check_op(_matmul, np.matmul, (k,), (k, n))


@given(sides, sides)
def test_matmul_2d_1d(m, k):
    check_op(_matmul, np.matmul, (m, k), (k,))


@given(sides)
def test_matmul_1d_1d(k):
    check_op(_matmul, np.matmul, (k,), (k,))


@given(sides, sides, sides)
def test_matmul_batched_with_1d(b, m, k):
    check_op(_matmul, np.matmul, (b, m, k), (k,))
    check_op(_matmul, np.matmul, (k,), (b, k, m))


def test_matmul_with_array_operand():
    w = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    x = cr.tensor(np.ones((3, 2)), dtype=np.float32, requires_grad=True)
    (w @ x).sum().backward()
    np.testing.assert_array_equal(x.grad, w.T @ np.ones((2, 2)))


def test_matmul_gradient_by_hand():
    a = cr.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    b = cr.tensor(np.array([[5.0], [6.0]]), requires_grad=True)
    (a @ b).sum().backward()
    np.testing.assert_array_equal(a.grad, [[5.0, 6.0], [5.0, 6.0]])
    np.testing.assert_array_equal(b.grad, [[4.0], [6.0]])


@pytest.mark.parametrize("a, b", [((2, 3), (2, 3)), ((3,), (4,)), ((2, 2, 3), (4, 2))])
def test_matmul_shape_mismatch(a, b):
    with pytest.raises(ValueError, match=r"matmul") as e:
        cr.tensor(np.ones(a)) @ cr.tensor(np.ones(b))
    assert str(a).replace(" ", "") in str(e.value).replace(" ", "")
    assert str(b).replace(" ", "") in str(e.value).replace(" ", "")


def test_matmul_batch_mismatch_names_op():
    with pytest.raises(ValueError, match="matmul"):
        cr.tensor(np.ones((2, 2, 3))) @ cr.tensor(np.ones((3, 3, 4)))


def test_matmul_of_scalar_raises():
    with pytest.raises(ValueError, match="matmul"):
        cr.tensor(np.ones(3)) @ cr.tensor(2.0)


def _np_linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


@given(st.lists(sides, min_size=0, max_size=2), sides, sides, st.booleans())
def test_linear(lead, n_in, n_out, bias):
    shapes = [tuple(lead) + (n_in,), (n_out, n_in)] + ([(n_out,)] if bias else [])
    check_op(F.linear, _np_linear, *shapes)


def test_linear_gradients_by_hand():
    x = cr.tensor(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), requires_grad=True)
    w = cr.tensor(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), requires_grad=True)
    b = cr.tensor(np.zeros(3), requires_grad=True)
    F.linear(x, w, b).sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((3, 3)) @ w.numpy())
    np.testing.assert_array_equal(w.grad, np.ones((3, 3)).T @ x.numpy())
    np.testing.assert_array_equal(b.grad, [3.0, 3.0, 3.0])


def test_linear_shape_mismatch():
    x, w = cr.tensor(uniform((4, 3))), cr.tensor(uniform((5, 2)))
    with pytest.raises(ValueError, match=r"linear.*\(4, 3\).*\(5, 2\)"):
        F.linear(x, w)
    with pytest.raises(ValueError, match=r"linear.*bias.*\(4,\)"):
        F.linear(cr.tensor(uniform((4, 3))), cr.tensor(uniform((5, 3))),
                 cr.tensor(uniform((4,))))


# ---------------------------------------------------------------- found by mutation testing
def test_only_the_inputs_that_need_a_gradient_get_one():
    # a frozen weight (no grad) must still pass the gradient on to the input, and back
    x = cr.tensor(uniform((2, 3)), requires_grad=True)
    w = cr.tensor(uniform((4, 3), seed=1))
    b = cr.tensor(uniform((4,), seed=2))
    g = uniform((2, 4), seed=3)
    F.linear(x, w, b).backward(g)
    np.testing.assert_allclose(x.grad, g @ w.numpy(), rtol=1e-12)
    x2 = cr.tensor(uniform((2, 3)))
    w2 = cr.tensor(uniform((4, 3), seed=1), requires_grad=True)
    F.linear(x2, w2).backward(g)
    np.testing.assert_allclose(w2.grad, g.T @ x2.numpy(), rtol=1e-12)
    a = cr.tensor(uniform((2, 3)), requires_grad=True)
    m = cr.tensor(uniform((3, 4), seed=4))
    (a @ m).backward(g)
    np.testing.assert_allclose(a.grad, g @ m.numpy().T, rtol=1e-12)
    a2 = cr.tensor(uniform((2, 3)))
    m2 = cr.tensor(uniform((3, 4), seed=4), requires_grad=True)
    (a2 @ m2).backward(g)
    np.testing.assert_allclose(m2.grad, a2.numpy().T @ g, rtol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, message", [
    ((2, 3), (3,), "linear: input of shape (2, 3) does not match weight of shape (3,) "
                   "(expected input (..., 3))"),
    ((), (2, 3), "linear: input of shape () does not match weight of shape (2, 3) "
                 "(expected input (..., 3))"),
])
def test_linear_bad_shapes_are_one_value_error(x_shape, w_shape, message):
    with pytest.raises(ValueError) as e:
        F.linear(cr.tensor(np.ones(x_shape)), cr.tensor(np.ones(w_shape)))
    assert str(e.value) == message


def test_matmul_message_is_exact():
    with pytest.raises(ValueError) as e:
        cr.tensor(np.ones((2, 3))) @ cr.tensor(np.ones((2, 3)))
    assert str(e.value) == "matmul: shapes (2, 3) and (2, 3) are not aligned (3 != 2)"
