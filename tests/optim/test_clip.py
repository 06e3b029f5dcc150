"""Gradient clipping by global norm and by value (PyTorch's semantics)."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim


def params_with_grads(*grads, dtype=np.float64):
    ps = []
    for g in grads:
        p = cr.tensor(np.zeros(np.shape(g), dtype=dtype), requires_grad=True)
        p.grad = None if g is None else np.array(g, dtype=dtype)
        ps.append(p)
    return ps


def test_clip_norm_scales_all_gradients_together():
    ps = params_with_grads([3.0, 0.0], [[0.0, 4.0], [12.0, 0.0]])
    before = [p.grad for p in ps]
    total = optim.clip_grad_norm_(ps, max_norm=1.0)
    assert total == pytest.approx(13.0, rel=1e-15) and isinstance(total, float)
    coef = 1.0 / (13.0 + 1e-6)
    np.testing.assert_allclose(ps[0].grad, np.array([3.0, 0.0]) * coef, rtol=1e-15)
    np.testing.assert_allclose(ps[1].grad, np.array([[0.0, 4.0], [12.0, 0.0]]) * coef,
                               rtol=1e-15)
    assert all(p.grad is b for p, b in zip(ps, before, strict=True))  # in place
    joint = math.sqrt(sum(float((p.grad**2).sum()) for p in ps))
    assert joint == pytest.approx(1.0, rel=1e-6)


def test_clip_norm_just_above_the_bound():
    ps = params_with_grads([0.9, -1.2])
    assert optim.clip_grad_norm_(ps, max_norm=1.0) == pytest.approx(1.5)
    np.testing.assert_allclose(ps[0].grad, [0.6, -0.8], rtol=1e-6)


def test_clip_norm_leaves_small_gradients_untouched():
    ps = params_with_grads([0.3, -0.4])
    assert optim.clip_grad_norm_(ps, max_norm=1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(ps[0].grad, [0.3, -0.4])


@pytest.mark.parametrize("norm_type, want", [(1, 8.0), (1.0, 8.0), (math.inf, 4.0),
                                             ("inf", 4.0), ("Inf", 4.0),
                                             (3, (27 + 1 + 64) ** (1 / 3))])
def test_clip_norm_other_norms(norm_type, want):
    ps = params_with_grads([3.0, -1.0], [-4.0])  # each gradient's own norm is of that order
    total = optim.clip_grad_norm_(ps, max_norm=2.0, norm_type=norm_type)
    assert total == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(ps[1].grad, [-4.0 * 2.0 / (want + 1e-6)], rtol=1e-12)


def test_clip_norm_skips_missing_gradients_and_accepts_one_tensor():
    ps = params_with_grads([6.0, 8.0], None)
    assert optim.clip_grad_norm_(ps, 5.0) == pytest.approx(10.0)
    assert ps[1].grad is None
    np.testing.assert_allclose(ps[0].grad, [3.0, 4.0], rtol=1e-6)
    (p,) = params_with_grads([6.0, 8.0])
    assert optim.clip_grad_norm_(p, 5.0) == pytest.approx(10.0)
    assert optim.clip_grad_norm_(params_with_grads(None), 1.0) == 0.0


def test_clip_norm_keeps_float32():
    ps = params_with_grads([30.0, 40.0], dtype=np.float32)
    optim.clip_grad_norm_(ps, 1.0)
    assert ps[0].grad.dtype == np.float32
    np.testing.assert_allclose(ps[0].grad, [0.6, 0.8], rtol=1e-6)


# an infinite gradient is the subject: its norm is inf and inf / inf warns on the way
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_clip_norm_nonfinite():
    ps = params_with_grads([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="norm"):
        optim.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    assert math.isinf(optim.clip_grad_norm_(ps, 1.0))


def test_clip_value_in_place():
    ps = params_with_grads([-3.0, 0.5, 2.0], None)
    g = ps[0].grad
    optim.clip_grad_value_(ps, 1.0)
    assert ps[0].grad is g
    np.testing.assert_array_equal(g, [-1.0, 0.5, 1.0])
    assert ps[1].grad is None


@pytest.mark.parametrize("call, name", [
    (lambda ps: optim.clip_grad_norm_(ps, -1.0), "max_norm"),
    (lambda ps: optim.clip_grad_norm_(ps, 1.0, norm_type=0), "norm_type"),
    (lambda ps: optim.clip_grad_norm_(ps, 1.0, norm_type="l2"), "norm_type"),
    (lambda ps: optim.clip_grad_value_(ps, -0.5), "clip_value"),
])
def test_invalid_arguments(call, name):
    with pytest.raises(ValueError, match=f"^invalid {name}: "):
        call(params_with_grads([1.0]))
