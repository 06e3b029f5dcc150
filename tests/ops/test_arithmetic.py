"""Elementwise arithmetic: add, sub, mul, div, pow, neg, abs, clip, maximum, minimum, where."""

import numpy as np
import pytest
from helpers import broadcast_shapes, check_op, nonzero, positive, rng, shapes
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F


@given(broadcast_shapes())
def test_add(bs):
    check_op(lambda a, b: a + b, np.add, *bs.input_shapes)


@given(broadcast_shapes())
def test_sub(bs):
    check_op(lambda a, b: a - b, np.subtract, *bs.input_shapes)


@given(broadcast_shapes())
def test_mul(bs):
    check_op(lambda a, b: a * b, np.multiply, *bs.input_shapes)


@given(broadcast_shapes())
def test_div(bs):
    a, b = bs.input_shapes
    check_op(lambda a, b: a / b, np.divide, inputs=[nonzero(a, seed=1), nonzero(b, seed=2)])


@given(broadcast_shapes())
def test_pow_tensor_exponent(bs):
    a, b = bs.input_shapes
    check_op(lambda a, b: a**b, np.power, inputs=[positive(a, seed=1), rng(2).uniform(-2, 2, b)])


@given(shapes(), st.sampled_from([2, 3, 0.5, -1.5, 2.5]))
def test_pow_scalar_exponent(shape, e):
    check_op(lambda a: a**e, lambda a: a**e, shape, make=positive)


@given(shapes())
def test_rpow(shape):
    check_op(lambda a: 2.0**a, lambda a: 2.0**a, shape)


@given(shapes())
def test_neg(shape):
    check_op(lambda a: -a, np.negative, shape)


@given(shapes())
def test_abs(shape):
    check_op(lambda a: a.abs(), np.abs, shape, make=nonzero)
    check_op(abs, np.abs, shape, make=nonzero)


def test_abs_gradient_at_zero_is_zero():
    x = cr.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad, [-1.0, 0.0, 1.0])


@given(shapes())
def test_reflected_scalar_ops(shape):
    check_op(lambda a: 3.0 - a, lambda a: 3.0 - a, shape)
    check_op(lambda a: 2.0 + a * 0.5, lambda a: 2.0 + a * 0.5, shape)
    check_op(lambda a: 1.0 / a, lambda a: 1.0 / a, shape, make=nonzero)


def _clip_input(shape, seed=0):
    # values away from the bounds -0.5 and 0.5, where clip has kinks
    x = nonzero(shape, low=0.1, high=1.5, seed=seed)
    return np.where(np.abs(np.abs(x) - 0.5) < 0.1, x * 1.5, x)


@given(shapes())
def test_clip(shape):
    check_op(lambda a: a.clip(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), shape,
             make=_clip_input)
    check_op(lambda a: F.clip(a, lo=-0.5), lambda a: np.maximum(a, -0.5), shape,
             make=_clip_input)
    check_op(lambda a: a.clamp(hi=0.5), lambda a: np.minimum(a, 0.5), shape, make=_clip_input)


def test_clip_gradient_masks_outside():
    x = cr.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], requires_grad=True)
    x.clip(-0.5, 0.5).sum().backward()
    # NOTE: the gradient passes on the bounds, as PyTorch's clamp does.
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0])


def _grid(shape, offset, seed):
    # a on the grid 0.2k, b on 0.2k + 0.1: |a - b| >= 0.1 wherever they meet.
    return rng(seed).integers(-10, 10, shape) * 0.2 + offset


@given(broadcast_shapes())
def test_maximum(bs):
    a, b = bs.input_shapes
    check_op(F.maximum, np.maximum, inputs=[_grid(a, 0.0, 1), _grid(b, 0.1, 2)])


@given(broadcast_shapes())
def test_minimum(bs):
    a, b = bs.input_shapes
    check_op(F.minimum, np.minimum, inputs=[_grid(a, 0.0, 1), _grid(b, 0.1, 2)])


@pytest.mark.parametrize("fn, ga, gb", [
    (F.maximum, [0.5, 0.0, 1.0], [0.5, 1.0, 0.0]),
    (F.minimum, [0.5, 1.0, 0.0], [0.5, 0.0, 1.0]),
])
def test_maximum_and_minimum_split_ties(fn, ga, gb):
    a = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = cr.tensor([1.0, 3.0, 2.0], requires_grad=True)
    fn(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, ga)
    np.testing.assert_array_equal(b.grad, gb)


@given(broadcast_shapes(num_shapes=3))
def test_where(bs):
    c, a, b = bs.input_shapes
    cond = rng(3).random(c) < 0.5
    check_op(lambda a, b: F.where(cond, a, b), lambda a, b: np.where(cond, a, b), a, b)


def test_where_routes_gradient_to_the_branch_taken():
    a = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = cr.tensor([10.0, 20.0, 30.0], requires_grad=True)
    F.where(cr.tensor([True, False, True]), a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad, [0.0, 1.0, 0.0])


@pytest.mark.parametrize("fn", [
    lambda x: x * 2.0, lambda x: x / 3, lambda x: x**2, lambda x: 2.0 * x, lambda x: 1 - x,
    lambda x: x + np.float64(1.5), lambda x: 2**x, lambda x: x.clip(-1.5, 1.5),
    lambda x: F.maximum(x, 0), lambda x: F.minimum(1, x), lambda x: F.where(x > 1.5, x, 0),
    lambda x: F.where(x > 1.5, 0.5, x),
])
def test_python_scalars_keep_float32(fn):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("fn, dtype", [
    (lambda i, f: F.maximum(i, f), np.float32),     # int tensor, float32 tensor
    (lambda i, f: F.minimum(2.5, i), np.float32),   # Python float, int tensor
    (lambda i, f: F.where(i > 1, i, f), np.float32),
    (lambda i, f: F.maximum(i, 2), np.int64),       # integers stay integers
])
def test_functional_pairs_promote_as_the_operators(fn, dtype):
    assert fn(cr.tensor([1, 3]), cr.tensor([2.0, 2.0])).dtype == dtype


def test_broadcast_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add.*\(2, ?3\).*\(4,\)"):
        cr.tensor(np.ones((2, 3))) + cr.tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"mul"):
        cr.tensor(np.ones((2, 3))) * cr.tensor(np.ones((3, 2)))


@pytest.mark.parametrize("fn", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
                                lambda a, b: a / b, F.maximum, F.minimum,
                                lambda a, b: F.where(a > 0.5, a, b)],
                         ids=["add", "sub", "mul", "div", "maximum", "minimum", "where"])
def test_one_input_needing_a_gradient_gets_the_same_one(fn):
    av, bv = np.array([0.3, 1.7, -2.0]), np.array([1.1, 0.9, -2.5])
    both = [cr.tensor(av, requires_grad=True), cr.tensor(bv, requires_grad=True)]
    fn(*both).sum().backward()
    for i in (0, 1):
        one = [cr.tensor(av, requires_grad=i == 0), cr.tensor(bv, requires_grad=i == 1)]
        fn(*one).sum().backward()
        np.testing.assert_array_equal(one[i].grad, both[i].grad)
        assert one[1 - i].grad is None


@pytest.mark.parametrize("op", ["maximum", "minimum", "where"])
def test_backward_of_the_op_keeps_float32(op):
    # at the op level: the engine would cast a float64 gradient back at the leaf
    from chainrule import ops

    a = np.array([1.0, 2.0, 3.0], np.float32)
    b = np.array([1.0, 3.0, 2.0], np.float32)
    args = (a, b, a > 1.5) if op == "where" else (a, b)
    _, backward = getattr(ops.arithmetic, op)(*args)
    grads = backward(np.ones(3, np.float32), (True, True))
    assert [g.dtype for g in grads] == [np.float32, np.float32]
