"""cr.gradcheck: passes correct gradients, catches wrong ones, leaves its inputs alone."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule.tensor import apply


def _square_with_wrong_backward(a):
    def backward(g, needs):
        return (g * a,)  # should be 2 a g

    return a * a, backward


def _square_with_wrong_broadcast(a, b):
    def backward(g, needs):
        return g, g  # forgets to sum back to b's shape

    return a + b, backward


def test_passes_correct_gradients():
    x = cr.tensor(np.array([[0.5, -1.0], [2.0, 0.3]]), requires_grad=True)
    w = cr.tensor(np.array([1.5, -0.5]), requires_grad=True)
    assert cr.gradcheck(lambda x, w: (x @ w).tanh(), x, w) is True


def test_catches_a_wrong_gradient_and_names_it():
    x = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with pytest.raises(AssertionError, match=r"input 0 \(shape \(3,\)\)"):
        cr.gradcheck(lambda t: apply(_square_with_wrong_backward, t), x)


def _square_with_nan_backward(a):
    def backward(g, needs):
        grad = 2 * a * g
        grad[0] = np.nan  # e.g. 0 * inf somewhere in a backward
        return (grad,)

    return a * a, backward


def test_catches_a_nan_gradient():
    # NaN compares False with everything: a check written as "error > tol" would pass it
    x = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with pytest.raises(AssertionError, match=r"input 0 .* element \(0,\): backprop gives nan"):
        cr.gradcheck(lambda t: apply(_square_with_nan_backward, t), x)


def test_catches_a_wrong_gradient_of_the_second_input_only():
    a = cr.tensor(np.ones((2, 3)), requires_grad=False)
    b = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(AssertionError, match=r"input 1 \(shape \(3,\)\).*\(2, 3\)"):
        cr.gradcheck(lambda a, b: apply(_square_with_wrong_broadcast, a, b), a, b)


def test_checks_every_output_element():
    # an op whose gradient is wrong only through its second output element
    def op(a):
        def backward(g, needs):
            return (g * [1.0, 0.0],)

        return a * 1.0, backward

    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(AssertionError, match=r"element \(1,\)"):
        cr.gradcheck(lambda t: apply(op, t), x)


def test_works_in_float64_on_float32_inputs_and_leaves_them_alone():
    data = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    x = cr.tensor(data, requires_grad=True)
    seen = []

    def fn(t):
        seen.append(t.dtype)
        return (t * t).sum()

    assert cr.gradcheck(fn, x)
    assert set(seen) == {np.dtype(np.float64)}
    np.testing.assert_array_equal(x.numpy(), data)
    assert x.grad is None and x.dtype == np.float32


def test_non_contiguous_input():
    base = cr.tensor(np.arange(12.0).reshape(3, 4) / 10)
    x = base.T.detach().requires_grad_()  # a transposed view of another array
    assert not x.data.flags.c_contiguous
    assert cr.gradcheck(lambda t: (t * t).sum(axis=0), x)


def test_scalar_output_and_non_tensor_arguments():
    x = cr.tensor(np.array([0.2, 0.4]), requires_grad=True)
    assert cr.gradcheck(lambda t, k: (t**k).sum(), x, 3)
    assert cr.gradcheck(lambda t, y: F.cross_entropy(t.reshape(1, 2), y), x, np.array([1]))


def test_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="requires grad"):
        cr.gradcheck(lambda t: t * 2, cr.tensor(np.ones(2)))


def test_fn_must_return_a_tensor():
    with pytest.raises(TypeError, match="Tensor"):
        cr.gradcheck(lambda t: 1.0, cr.tensor(np.ones(2), requires_grad=True))
