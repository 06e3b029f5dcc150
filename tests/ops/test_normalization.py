"""Fused normalisation: layer_norm and batch_norm (training and evaluation)."""

import numpy as np
import pytest
from helpers import check_op, rng, shapes, uniform
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F

EPS = 1e-5


def _np_normalize(x, axes, w=None, b=None):
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + EPS)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


@given(st.data())
def test_layer_norm(data):
    shape = data.draw(shapes(min_dims=1, max_side=5))
    k = data.draw(st.integers(1, len(shape)))
    norm_shape = shape[len(shape) - k:]
    axes = tuple(range(len(shape) - k, len(shape)))
    affine = data.draw(st.sampled_from(["none", "weight", "bias", "both"]))
    shp = [shape]
    if affine in ("weight", "both"):
        shp.append(norm_shape)
    if affine in ("bias", "both"):
        shp.append(norm_shape)

    def fn(x, *p):
        w = p[0] if affine in ("weight", "both") else None
        b = p[-1] if affine in ("bias", "both") else None
        return F.layer_norm(x, norm_shape, w, b)

    def ref(x, *p):
        w = p[0] if affine in ("weight", "both") else None
        b = p[-1] if affine in ("bias", "both") else None
        return _np_normalize(x, axes, w, b)

    check_op(fn, ref, *shp)


def test_layer_norm_output_has_zero_mean_unit_variance():
    x = cr.tensor(uniform((4, 6), -5, 5))
    y = F.layer_norm(x, 6).numpy()
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, rtol=1e-3)


def test_layer_norm_bias_only_gradient():
    x = cr.tensor(uniform((3, 4)), requires_grad=True)
    b = cr.tensor(np.zeros(4), requires_grad=True)
    (F.layer_norm(x, 4, bias=b) * cr.tensor(np.arange(12.0).reshape(3, 4))).sum().backward()
    np.testing.assert_array_equal(b.grad, np.arange(12.0).reshape(3, 4).sum(axis=0))


def test_layer_norm_shape_mismatch():
    with pytest.raises(ValueError, match=r"layer_norm.*\(2, 3\).*\(4,\)"):
        F.layer_norm(cr.tensor(np.ones((2, 3))), 4)


@given(st.integers(2, 5), st.integers(1, 3), st.sampled_from([None, 1, 3]),
       st.sampled_from(["none", "weight", "bias", "both"]))
def test_batch_norm_training(n, c, length, affine):
    shape = (n, c) if length is None else (n, c, length)
    axes = (0,) if length is None else (0, 2)
    pshape = (c,) if length is None else (c, 1)
    shp = [shape]
    if affine in ("weight", "both"):
        shp.append((c,))
    if affine in ("bias", "both"):
        shp.append((c,))

    def fn(x, *p):
        w = p[0] if affine in ("weight", "both") else None
        b = p[-1] if affine in ("bias", "both") else None
        return F.batch_norm(x, weight=w, bias=b, training=True)

    def ref(x, *p):
        w = p[0].reshape(pshape) if affine in ("weight", "both") else None
        b = p[-1].reshape(pshape) if affine in ("bias", "both") else None
        return _np_normalize(x, axes, w, b)

    check_op(fn, ref, *shp)


@pytest.mark.parametrize("shape", [(8, 3), (5, 3, 4)])
def test_batch_norm_updates_running_statistics(shape):
    x = uniform(shape, -3, 3, seed=2).astype(np.float32)
    axes = (0,) if len(shape) == 2 else (0, 2)
    n = x.size // shape[1]
    rm = np.zeros(3, dtype=np.float32)
    rv = np.ones(3, dtype=np.float32)
    F.batch_norm(cr.tensor(x), rm, rv, training=True, momentum=0.1)
    np.testing.assert_allclose(rm, 0.1 * x.mean(axis=axes), rtol=1e-5)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(axis=axes) * n / (n - 1), rtol=1e-5)


def test_batch_norm_evaluation_uses_running_statistics():
    x = uniform((4, 3), seed=3)
    rm, rv = np.array([0.5, -1.0, 0.0]), np.array([4.0, 1.0, 0.25])
    w, b = rng(4).uniform(0.5, 2, 3), rng(5).uniform(-1, 1, 3)
    xt = cr.tensor(x, requires_grad=True)
    y = F.batch_norm(xt, rm, rv, cr.tensor(w), cr.tensor(b), training=False)
    np.testing.assert_allclose(y.numpy(), (x - rm) / np.sqrt(rv + EPS) * w + b, rtol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(xt.grad, np.broadcast_to(w / np.sqrt(rv + EPS), (4, 3)),
                               rtol=1e-12)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="batch_norm"):
        F.batch_norm(cr.tensor(np.ones((1, 3))), training=True)
    with pytest.raises(ValueError, match="batch_norm"):
        F.batch_norm(cr.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="running"):
        F.batch_norm(cr.tensor(np.ones((2, 3))), training=False)


def test_op_defaults_last_axis_and_eps():
    from chainrule import ops

    x = rng(3).normal(0.0, 0.01, (4, 2, 3))  # variance ~1e-4: eps 1e-5 shows
    out, _ = ops.normalization.layer_norm(x)  # the last axis only
    m, v = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    np.testing.assert_allclose(out, (x - m) / np.sqrt(v + 1e-5), rtol=1e-10)
    out, *_ = ops.normalization.batch_norm_train(x)  # N and L, per channel
    m, v = x.mean(axis=(0, 2), keepdims=True), x.var(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - m) / np.sqrt(v + 1e-5), rtol=1e-10)
