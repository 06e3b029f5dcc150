"""ReLU against a shared zeros array: bitwise what ``maximum(x, 0)`` gives, gradient checked."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_fast_path, nonzero

import chainrule as cr
import chainrule.functional as F
from chainrule import ops
from chainrule.ops._util import zeros_like_shared


@pytest.mark.parametrize("rows", [9, 90])  # below and above the size of the zeros path
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_linear_relu_are_bitwise_the_scalar_formula(dtype, rows):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 60)).astype(dtype)
    x[0, :4] = [-0.0, 0.0, np.nan, -np.inf]
    out, _ = ops.activation.relu(x)
    assert np.array_equal(out.view(np.uint8), np.maximum(x, 0).view(np.uint8))
    w = rng.standard_normal((50, 60)).astype(dtype)
    b = rng.standard_normal(50).astype(dtype)
    fused, _ = ops.linalg.linear_relu(x[1:], w, b)
    plain = x[1:] @ w.T
    plain += b
    assert np.array_equal(fused.view(np.uint8), np.maximum(plain, 0).view(np.uint8))


def test_shared_zeros_are_read_only_and_reused():
    a = np.ones((3, 2), np.float32)
    z = zeros_like_shared(a)
    assert z is zeros_like_shared(np.empty((3, 2), np.float32))
    assert not z.flags.writeable and not z.any()
    assert zeros_like_shared(a.astype(np.float64)).dtype == np.float64


def test_fused_linear_relu_gradient_matches_the_plain_composition():
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.uniform(-2, 2, (4, 3)), requires_grad=True)
    w = cr.tensor(rng.uniform(-2, 2, (5, 3)), requires_grad=True)
    b = cr.tensor(rng.uniform(-2, 2, 5), requires_grad=True)
    fused = cr.autograd.apply(ops.linalg.linear_relu, x, w, b)
    plain = (x @ w.T + b).relu()
    np.testing.assert_array_equal(fused.numpy(), plain.numpy())
    assert cr.gradcheck(lambda x, w, b: cr.autograd.apply(ops.linalg.linear_relu, x, w, b),
                        x, w, b)
    assert cr.gradcheck(lambda x: x.relu(), x)


def _plain_relu(x):
    # relu from plain ops (abs, add, multiply): (|x| + x) / 2 is exactly x or 0
    return (x.abs() + x) * 0.5


def test_relu_on_the_zeros_path_through_the_fast_path_helper():
    # 64 x 64 = 4096 elements: the smallest input that takes the zeros path
    assert 64 * 64 == ops.activation._ZEROS_FROM
    check_fast_path(lambda x: x.relu(), _plain_relu, (64, 64), make=nonzero)


def test_linear_relu_on_the_zeros_path_through_the_fast_path_helper():
    # a (64, 64) output: linear_relu's zeros path
    check_fast_path(F.linear_relu, lambda x, w, b: _plain_relu(x @ w.T + b), (64, 3),
                    (64, 3), (64,), make=nonzero)
