"""Shape and indexing: reshape, transpose, .T, expand, indexing, concat, stack."""

import numpy as np
import pytest
from helpers import check_op, rng, shapes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import basic_indices

import chainrule as cr
import chainrule.functional as F


@given(shapes())
def test_reshape(shape):
    size = int(np.prod(shape))
    check_op(lambda a: a.reshape(-1), lambda a: a.reshape(-1), shape)
    check_op(lambda a: a.reshape(shape[::-1]), lambda a: a.reshape(shape[::-1]), shape)
    check_op(lambda a: a.reshape(1, size, 1), lambda a: a.reshape(1, size, 1), shape)
    check_op(lambda a: a.view((size,)), lambda a: a.reshape(size), shape)


@given(st.data())
def test_transpose(data):
    shape = data.draw(shapes(min_dims=1))
    axes = data.draw(st.permutations(range(len(shape))))
    negative = [a - len(shape) for a in axes]
    check_op(lambda a: a.transpose(*axes), lambda a: a.transpose(axes), shape)
    check_op(lambda a: a.transpose(negative), lambda a: a.transpose(negative), shape)
    check_op(lambda a: a.transpose(), lambda a: a.transpose(), shape)


@given(shapes())
def test_T(shape):
    check_op(lambda a: a.T, lambda a: a.T, shape)


def test_transpose_gradient_has_input_shape():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w = np.arange(6.0).reshape(3, 2)
    (x.transpose(-1, 0) * w).sum().backward()
    np.testing.assert_array_equal(x.grad, w.T)


@given(st.data())
def test_expand(data):
    shape = data.draw(shapes(max_dims=2))
    lead = data.draw(st.lists(st.integers(1, 3), max_size=1))
    target = tuple(lead) + tuple(data.draw(st.sampled_from([1, 3])) if n == 1 else n
                                 for n in shape)
    check_op(lambda a: a.expand(target), lambda a: np.broadcast_to(a, target), shape)
    check_op(lambda a: a.expand(*target), lambda a: np.broadcast_to(a, target), shape)


def test_expand_sums_gradient_of_copies():
    x = cr.tensor([[1.0], [2.0]], requires_grad=True)
    x.expand(3, 2, 4).sum().backward()
    np.testing.assert_array_equal(x.grad, [[12.0], [12.0]])


@given(st.data())
def test_getitem_basic(data):
    shape = data.draw(shapes(min_dims=1))
    index = data.draw(basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    if np.empty(shape)[index].size == 0:
        index = ...
    check_op(lambda a: a[index], lambda a: a[index], shape)


@given(shapes(min_dims=1))
def test_getitem_integer_array_with_repeats(shape):
    n = shape[0]
    # n + 3 indices among n rows: some row is picked more than once.
    idx = rng(1).integers(0, n, n + 3)
    check_op(lambda a: a[idx], lambda a: a[idx], shape)
    check_op(lambda a: a[cr.tensor(idx)], lambda a: a[idx], shape)
    check_op(lambda a: a[list(idx)], lambda a: a[idx], shape)
    if len(shape) > 1:
        cols = rng(2).integers(0, shape[1], shape[1] + 2)
        check_op(lambda a: a[:, cols], lambda a: a[:, cols], shape)
        check_op(lambda a: a[:, list(cols)], lambda a: a[:, cols], shape)
        check_op(lambda a: a[idx[:2], cols[:2]], lambda a: a[idx[:2], cols[:2]], shape)


def test_repeated_indices_scatter_add():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])
    y = cr.tensor(np.ones((3, 2)), requires_grad=True)
    y[[1, 1], :].sum().backward()
    np.testing.assert_array_equal(y.grad, [[0.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
    z = cr.tensor(np.ones((2, 3)), requires_grad=True)
    (z[:, [2, 2, 2]] * cr.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(z.grad, [[0.0, 0.0, 6.0], [0.0, 0.0, 6.0]])


@given(shapes(min_dims=1))
def test_getitem_boolean_mask(shape):
    mask = rng(3).random(shape) < 0.6
    check_op(lambda a: a[mask], lambda a: a[mask], shape)
    check_op(lambda a: a[cr.tensor(mask)], lambda a: a[mask], shape)
    rows = rng(4).random(shape[0]) < 0.6
    check_op(lambda a: a[rows], lambda a: a[rows], shape)


def test_boolean_mask_gradient():
    x = cr.tensor([1.0, -2.0, 3.0, -4.0], requires_grad=True)
    x[x > 0].sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0, 0.0])
    x.grad = None
    x[[False, True, True, False]].sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 0.0])
    y = cr.tensor(np.ones((3, 4)), requires_grad=True)
    y[np.array([True, False, True]), [1, 1]].sum().backward()  # mask and integer array
    np.testing.assert_array_equal(y.grad, [[0, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]])


@given(st.data())
def test_concat(data):
    shape = data.draw(shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    parts = []
    for k in sizes:
        s = list(shape)
        s[axis] = k
        parts.append(tuple(s))
    check_op(lambda *ts: F.concat(ts, axis=axis),
             lambda *xs: np.concatenate(xs, axis=axis), *parts)


@given(st.data())
def test_stack(data):
    shape = data.draw(shapes())
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    n = data.draw(st.integers(1, 3))
    check_op(lambda *ts: F.stack(ts, axis=axis), lambda *xs: np.stack(xs, axis=axis),
             *[shape] * n)


def test_concat_with_a_constant():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    out = F.concat([a, np.array([5.0, 6.0, 7.0], dtype=np.float32), a], axis=0)
    (out * cr.tensor(np.arange(7.0, dtype=np.float32))).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0 + 5.0, 1.0 + 6.0])


@given(shapes(min_dims=1))
def test_flatten_squeeze_unsqueeze(shape):
    check_op(lambda a: a.flatten(), lambda a: a.reshape(-1), shape)
    check_op(lambda a: a.unsqueeze(0).squeeze(0), lambda a: a, shape)
    check_op(lambda a: a.unsqueeze(-1), lambda a: a[..., None], shape)


def test_reshape_bad_size_names_op():
    with pytest.raises(ValueError, match="reshape"):
        cr.tensor(np.ones((2, 3))).reshape(4, 2)


def test_pad_in_pytorch_order_and_its_gradient():
    from chainrule import ops

    a = np.arange(6.0).reshape(2, 3)
    out, backward = ops.shape.pad(a, (1, 2))  # last axis: 1 before, 2 after; value 0
    np.testing.assert_array_equal(out, np.pad(a, ((0, 0), (1, 2))))
    g = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(backward(g, (True,))[0], g[:, 1:4])
    out, _ = ops.shape.pad(a, [0, 1, 2, 0], value=-1.0)  # last axis (0, 1), first (2, 0)
    np.testing.assert_array_equal(out, np.pad(a, ((2, 0), (0, 1)), constant_values=-1.0))
    assert out.dtype == a.dtype
    x = cr.tensor(a, requires_grad=True)
    w = np.arange(20.0).reshape(4, 5)[:3]
    (F.pad(x, (1, 1, 1, 0)) * cr.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad, w[1:3, 1:4])
    for bad in ((1,), (1, 1, 1, 1, 1, 1), (-1, 0), (True, 0), (1.0, 0)):
        with pytest.raises(ValueError, match=r"^pad: pad must be an even-length tuple"):
            ops.shape.pad(a, bad)
    assert ops.shape.pad(a, (0, 0, 0, 0))[0].shape == (2, 3)  # every axis, zero widths


def test_concat_and_stack_default_to_axis_0_and_getitem_keeps_float32():
    from chainrule import ops

    a, b = np.ones((3, 4), np.float32), np.zeros((3, 4), np.float32)
    assert ops.shape.concat(a, b)[0].shape == (6, 4)
    assert ops.shape.stack(a, b)[0].shape == (2, 3, 4)
    assert ops.shape.pad(a, (1, 1))[0].dtype == np.float32
    for index in (np.array([0, 0]), (slice(None), 1)):
        _, backward = ops.shape.getitem(a, index)
        g = np.ones(a[index].shape, np.float32)
        assert backward(g, (True,))[0].dtype == np.float32
