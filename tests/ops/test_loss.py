"""Losses: values against NumPy definitions, gradchecks, fused heads, extremes, errors."""

import numpy as np
import pytest
from helpers import (
    check_op,
    host,
    np_cross_entropy,
    np_log_softmax,
    np_reduce,
    np_sigmoid,
    rng,
    shapes,
    uniform,
)
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F
from chainrule import ops

REDUCTIONS = ["mean", "sum", "none"]
reductions = st.sampled_from(REDUCTIONS)
batch = st.integers(1, 4)
classes = st.integers(1, 5)


def _probabilities(n, c, seed):
    e = np.exp(rng(seed).normal(size=(n, c)))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- cross_entropy
@given(batch, classes, reductions, st.booleans(), st.sampled_from([0.0, 0.1]))
def test_cross_entropy_class_indices(n, c, reduction, weighted, smoothing):
    t = rng(1).integers(0, c, n)
    w = rng(2).uniform(0.5, 2.0, c) if weighted else None
    check_op(lambda z: F.cross_entropy(z, t, weight=w, reduction=reduction,
                                       label_smoothing=smoothing),
             lambda z: np_cross_entropy(z, t, reduction, w, smoothing), (n, c))


@given(batch, classes, reductions, st.booleans(), st.sampled_from([0.0, 0.2]))
def test_cross_entropy_probability_targets(n, c, reduction, weighted, smoothing):
    t = _probabilities(n, c, 1)
    w = rng(2).uniform(0.5, 2.0, c) if weighted else None
    check_op(lambda z: F.cross_entropy(z, t, weight=w, reduction=reduction,
                                       label_smoothing=smoothing),
             lambda z: np_cross_entropy(z, t, reduction, w, smoothing), (n, c))


def test_cross_entropy_known_value():
    # uniform logits over 4 classes: loss = log 4 whatever the target
    loss = F.cross_entropy(cr.tensor(np.zeros((3, 4))), [0, 1, 3])
    np.testing.assert_allclose(loss.item(), np.log(4.0), rtol=1e-12)


@given(batch, st.integers(2, 5))
def test_cross_entropy_equals_nll_of_log_softmax_and_its_definition(n, c):
    z = uniform((n, c), seed=3)
    t = rng(4).integers(0, c, n)
    onehot = np.eye(c)[t]
    x = cr.tensor(z)
    fused = F.cross_entropy(x, t).item()
    unfused = F.nll_loss(F.log_softmax(x), t).item()
    by_definition = (-(cr.tensor(onehot) * F.softmax(x).log()).sum() / n).item()
    np.testing.assert_allclose(fused, unfused, rtol=1e-12)
    np.testing.assert_allclose(fused, by_definition, rtol=1e-12)
    # same with probability targets
    y = _probabilities(n, c, 5)
    np.testing.assert_allclose(F.cross_entropy(x, y).item(),
                               (-(cr.tensor(y) * F.log_softmax(x)).sum() / n).item(),
                               rtol=1e-12)


@given(batch, st.integers(2, 5))
def test_cross_entropy_gradient_is_p_minus_onehot_over_n(n, c):
    z = uniform((n, c), seed=6)
    t = rng(7).integers(0, c, n)
    x = cr.tensor(z, requires_grad=True)
    F.cross_entropy(x, t).backward()
    p = np.exp(np_log_softmax(z))
    np.testing.assert_allclose(x.grad, (p - np.eye(c)[t]) / n, rtol=1e-12, atol=1e-15)
    # and the unfused graph agrees
    x2 = cr.tensor(z, requires_grad=True)
    F.nll_loss(F.log_softmax(x2), t).backward()
    np.testing.assert_allclose(x2.grad, x.grad, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_extreme_logits_are_finite(reduction):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3], [1e4, 1e4, -1e4]], dtype=np.float32)
    t = np.array([1, 1, 2])
    x = cr.tensor(z, requires_grad=True)
    loss = F.cross_entropy(x, t, reduction=reduction)
    loss.backward(np.ones(loss.shape, dtype=np.float32))
    assert np.all(np.isfinite(loss.numpy())) and np.all(np.isfinite(host(x.grad)))
    per = [2e4, 0.0, 2e4 + np.log(2.0)]
    np.testing.assert_allclose(loss.numpy(), np_reduce(np.array(per), reduction), rtol=1e-6)
    # probability targets and label smoothing take the other branch
    x = cr.tensor(z, requires_grad=True)
    F.cross_entropy(x, np.eye(3)[t], label_smoothing=0.1).backward()
    assert np.all(np.isfinite(host(x.grad)))


def test_cross_entropy_class_index_out_of_range():
    z = cr.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"cross_entropy.*class index 3"):
        F.cross_entropy(z, [0, 3])
    with pytest.raises(ValueError, match=r"cross_entropy.*class index -1"):
        F.cross_entropy(z, [-1, 0])
    with pytest.raises(ValueError, match=r"nll_loss.*class index 7"):
        F.nll_loss(z, [7, 0])


def test_cross_entropy_bad_arguments():
    z = cr.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"cross_entropy.*\(2, 4\).*\(2, 3\)"):
        F.cross_entropy(z, np.ones((2, 4)) / 4)
    with pytest.raises(ValueError, match=r"cross_entropy.*\(2, 3\).*\(3,\)"):
        F.cross_entropy(z, [0, 1, 2])
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(z, [0, 1], reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(z, [0, 1], label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(z, [0, 1], weight=np.ones(2))


# ---------------------------------------------------------------- nll_loss
def test_nll_loss_refuses_float_targets_by_name():
    logp = cr.tensor(np.log(np.full((2, 3), 1 / 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"^nll_loss: target must hold class indices, got "
                                         r"dtype float64$"):
        F.nll_loss(logp, np.array([0.0, 1.0]))


@given(batch, classes, reductions, st.booleans())
def test_nll_loss(n, c, reduction, weighted):
    t = rng(1).integers(0, c, n)
    w = rng(2).uniform(0.5, 2.0, c) if weighted else None

    def ref(logp):
        ww = np.ones(c) if w is None else w
        return np_reduce(-logp[np.arange(n), t] * ww[t], reduction, ww[t].sum())

    check_op(lambda x: F.nll_loss(x, t, weight=w, reduction=reduction), ref, (n, c))


def test_nll_loss_rejects_float_target():
    with pytest.raises(ValueError, match="nll_loss"):
        F.nll_loss(cr.tensor(np.zeros((2, 3))), np.array([0.0, 1.0]))


# ---------------------------------------------------------------- binary cross-entropy
def _np_bce_logits(x, t, reduction="mean", weight=None, pos_weight=None):
    pw = 1.0 if pos_weight is None else pos_weight
    per = -(pw * t * np.log(np_sigmoid(x)) + (1 - t) * np.log(1 - np_sigmoid(x)))
    if weight is not None:
        per = per * weight
    return np_reduce(per, reduction)


@given(batch, classes, reductions, st.booleans(), st.booleans())
def test_bce_with_logits(n, c, reduction, weighted, pos_weighted):
    t = (rng(1).random((n, c)) < 0.5).astype(np.float64)
    w = rng(2).uniform(0.5, 2.0, (n, c)) if weighted else None
    pw = rng(3).uniform(0.5, 3.0, c) if pos_weighted else None
    check_op(lambda x: F.binary_cross_entropy_with_logits(x, t, weight=w, reduction=reduction,
                                                          pos_weight=pw),
             lambda x: _np_bce_logits(x, t, reduction, w, pw), (n, c))


@given(shapes(), reductions)
def test_bce_with_logits_soft_targets(shape, reduction):
    t = rng(1).random(shape)
    check_op(lambda x: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
             lambda x: _np_bce_logits(x, t, reduction), shape)


@given(shapes())
def test_bce_with_logits_equals_bce_of_sigmoid_and_gradient_is_p_minus_y(shape):
    z = uniform(shape, -4, 4, seed=4)
    y = (rng(5).random(shape) < 0.5).astype(np.float64)
    x = cr.tensor(z, requires_grad=True)
    fused = F.binary_cross_entropy_with_logits(x, y)
    fused.backward()
    x2 = cr.tensor(z, requires_grad=True)
    unfused = F.binary_cross_entropy(F.sigmoid(x2), y)
    unfused.backward()
    np.testing.assert_allclose(fused.item(), unfused.item(), rtol=1e-12)
    n = z.size
    np.testing.assert_allclose(x.grad, (np_sigmoid(z) - y) / n, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(x2.grad, x.grad, rtol=1e-9, atol=1e-15)


def test_logistic_regression_gradient_matches_the_lecture():
    # h = sigmoid(X w + b); dJ/dw = X^T (h - y) / m, dJ/db = sum(h - y) / m
    r = rng(8)
    X = r.normal(size=(20, 3))
    y = (r.random(20) < 0.5).astype(np.float64)
    w = cr.tensor(r.normal(size=3), requires_grad=True)
    b = cr.tensor(np.array(0.3), requires_grad=True)
    F.binary_cross_entropy_with_logits(cr.tensor(X) @ w + b, y).backward()
    h = np_sigmoid(X @ w.numpy() + 0.3)
    np.testing.assert_allclose(w.grad, X.T @ (h - y) / 20, rtol=1e-12)
    np.testing.assert_allclose(b.grad, (h - y).sum() / 20, rtol=1e-12)
    # through the probability form as well
    w2 = cr.tensor(w.numpy(), requires_grad=True)
    F.binary_cross_entropy((cr.tensor(X) @ w2 + 0.3).sigmoid(), y).backward()
    np.testing.assert_allclose(w2.grad, X.T @ (h - y) / 20, rtol=1e-9)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_extreme_logits_are_finite(reduction):
    z = np.array([1e4, 1e4, -1e4, -1e4], dtype=np.float32)
    t = np.array([1.0, 0.0, 1.0, 0.0])
    x = cr.tensor(z, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction=reduction,
                                              pos_weight=np.array([2.0]))
    loss.backward(np.ones(loss.shape, dtype=np.float32))
    assert np.all(np.isfinite(loss.numpy())) and np.all(np.isfinite(host(x.grad)))
    per = np.array([0.0, 1e4, 2e4, 0.0])
    np.testing.assert_allclose(loss.numpy(), np_reduce(per, reduction), rtol=1e-6)
    scale = 1.0 if reduction != "mean" else 0.25
    np.testing.assert_allclose(x.grad, np.array([0.0, 1.0, -2.0, 0.0]) * scale, atol=1e-7)


@given(batch, classes, reductions, st.booleans())
def test_bce(n, c, reduction, weighted):
    t = rng(1).random((n, c))
    w = rng(2).uniform(0.5, 2.0, (n, c)) if weighted else None

    def ref(p):
        per = -(t * np.log(p) + (1 - t) * np.log(1 - p))
        return np_reduce(per if w is None else per * w, reduction)

    check_op(lambda p: F.binary_cross_entropy(p, t, weight=w, reduction=reduction), ref,
             (n, c), make=lambda s, seed: rng(seed).uniform(0.05, 0.95, s))


def test_bce_probabilities_exactly_zero_and_one():
    p = cr.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
    t = [0.0, 1.0, 1.0, 0.0]
    loss = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [0.0, 0.0, 100.0, 100.0])  # logs clamped
    loss.sum().backward()
    assert np.all(np.isfinite(host(p.grad)))
    np.testing.assert_array_equal(p.grad[:2], [0.0, 0.0])
    assert p.grad[2] < 0 < p.grad[3]


def test_bce_rejects_logits():
    with pytest.raises(ValueError, match="binary_cross_entropy"):
        F.binary_cross_entropy(cr.tensor([0.5, 1.5]), [0.0, 1.0])


# ---------------------------------------------------------------- regression losses
@given(shapes(), reductions, st.booleans())
def test_mse_loss(shape, reduction, half):
    t = uniform(shape, seed=9)
    c = 0.5 if half else 1.0
    check_op(lambda x: F.mse_loss(x, t, reduction=reduction, half=half),
             lambda x: np_reduce(c * (x - t) ** 2, reduction), shape)


def test_mse_half_gradient_is_exactly_y_minus_t():
    y = np.array([[0.5, -1.25], [2.0, 3.5]], dtype=np.float32)
    t = np.array([[1.0, 0.75], [-2.0, 3.0]], dtype=np.float32)
    x = cr.tensor(y, requires_grad=True)
    F.mse_loss(x, t, reduction="sum", half=True).backward()
    np.testing.assert_array_equal(x.grad, y - t)
    x = cr.tensor(y, requires_grad=True)
    F.mse_loss(x, t, half=True).backward()
    np.testing.assert_array_equal(x.grad, (y - t) / 4)
    x = cr.tensor(y, requires_grad=True)
    F.mse_loss(x, t, reduction="sum").backward()
    np.testing.assert_array_equal(x.grad, 2 * (y - t))


def test_mse_loss_gradient_reaches_a_target_that_requires_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    t = cr.tensor([0.0, 4.0], requires_grad=True)
    F.mse_loss(x, t, reduction="sum").backward()
    np.testing.assert_array_equal(x.grad, [2.0, -4.0])
    np.testing.assert_array_equal(t.grad, [-2.0, 4.0])


def _away_from(t, gaps, seed):
    """Inputs t + d with |d| in [0.2, 2] avoiding the kinks at |d| in ``gaps``."""
    d = rng(seed).uniform(0.2, 2.0, t.shape) * rng(seed + 1).choice([-1.0, 1.0], t.shape)
    for gap in gaps:
        d = np.where(np.abs(np.abs(d) - gap) < 0.1, d * 1.3, d)
    return t + d


@given(shapes(), reductions)
def test_l1_loss(shape, reduction):
    t = uniform(shape, seed=10)
    check_op(lambda x: F.l1_loss(x, t, reduction=reduction),
             lambda x: np_reduce(np.abs(x - t), reduction), inputs=[_away_from(t, [], 11)])


@given(shapes(), reductions, st.sampled_from([1.0, 0.5]))
def test_huber_loss(shape, reduction, delta):
    t = uniform(shape, seed=12)

    def ref(x):
        d = np.abs(x - t)
        return np_reduce(np.where(d < delta, 0.5 * d**2, delta * (d - 0.5 * delta)), reduction)

    check_op(lambda x: F.huber_loss(x, t, reduction=reduction, delta=delta), ref,
             inputs=[_away_from(t, [delta], 13)])


def test_huber_loss_bad_delta():
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(cr.tensor([1.0]), [0.0], delta=0.0)


# ---------------------------------------------------------------- shared rules
ELEMENTWISE = [F.mse_loss, F.l1_loss, F.huber_loss, F.binary_cross_entropy,
               F.binary_cross_entropy_with_logits]


@pytest.mark.parametrize("loss", ELEMENTWISE, ids=lambda f: f.__name__)
def test_input_and_target_shape_mismatch_names_both(loss):
    x = cr.tensor(np.full((2, 3), 0.5))
    with pytest.raises(ValueError) as e:
        loss(x, np.full((3, 2), 0.5))
    msg = str(e.value)
    assert loss.__name__ in msg and "(2, 3)" in msg and "(3, 2)" in msg


@pytest.mark.parametrize("loss", ELEMENTWISE + [F.cross_entropy, F.nll_loss],
                         ids=lambda f: f.__name__)
def test_unknown_reduction_raises(loss):
    target = [0, 1] if loss in (F.cross_entropy, F.nll_loss) else np.full((2, 3), 0.5)
    with pytest.raises(ValueError, match=r"reduction.*'avg'"):
        loss(cr.tensor(np.full((2, 3), 0.5)), target, reduction="avg")


@pytest.mark.parametrize("loss", ELEMENTWISE + [F.cross_entropy, F.nll_loss],
                         ids=lambda f: f.__name__)
def test_losses_keep_float32(loss):
    target = [0, 1] if loss in (F.cross_entropy, F.nll_loss) else np.full((2, 3), 0.25)
    x = cr.tensor(np.full((2, 3), 0.5), dtype=np.float32, requires_grad=True)
    out = loss(x, target)
    assert out.dtype == np.float32 and out.shape == ()
    out.backward()
    assert x.grad.dtype == np.float32


# ---------------------------------------------------------------- found by mutation testing
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_with_class_weights_every_reduction(reduction):
    # hypothesis's dozen examples of test_nll_loss need not draw weights *and* 'mean'
    logp = np.log(np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]]))
    t = np.array([1, 2, 2])
    w = np.array([1.0, 3.0, 0.5])
    per = -logp[np.arange(3), t] * w[t]
    expected = {"none": per, "sum": per.sum(), "mean": per.sum() / w[t].sum()}[reduction]
    x = cr.tensor(logp, requires_grad=True)
    out = F.nll_loss(x, t, weight=w, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    out.backward(np.ones(out.shape))
    d = np.zeros((3, 3))
    d[np.arange(3), t] = -w[t] / (w[t].sum() if reduction == "mean" else 1.0)
    np.testing.assert_allclose(x.grad, d, rtol=1e-12)


_P = np.array([[0.2, 0.5, 0.9], [0.6, 0.1, 0.4]])  # in (0, 1), not constant
LOSS_OPS = {  # name: (op, input, target)
    "mse_loss": (ops.loss.mse_loss, _P, _P[::-1]),
    "l1_loss": (ops.loss.l1_loss, _P, _P[::-1]),
    "huber_loss": (ops.loss.huber_loss, _P * 4, np.full((2, 3), 0.25)),
    "binary_cross_entropy": (ops.loss.binary_cross_entropy, _P, _P[::-1]),
    "binary_cross_entropy_with_logits": (ops.loss.binary_cross_entropy_with_logits, _P * 3,
                                         _P[::-1]),
    "cross_entropy": (ops.loss.cross_entropy, _P * 3, np.array([0, 2])),
    "nll_loss": (ops.loss.nll_loss, np.log(_P), np.array([0, 2])),
}


@pytest.mark.parametrize("name", list(LOSS_OPS))
def test_loss_op_defaults_and_gradient_dtype(name):
    op, x, t = LOSS_OPS[name]
    x32 = x.astype(np.float32)
    t32 = t.astype(np.float32) if t.dtype.kind == "f" else t
    out, backward = op(x32, t32)  # the op's own defaults are F's (which passes them all)
    with cr.no_grad():
        np.testing.assert_array_equal(out, getattr(F, name)(cr.tensor(x32), t32).numpy())
    assert np.shape(out) == () and out.dtype == np.float32
    gx = backward(np.float32(1.0), (True, False))[0]
    assert gx.dtype == np.float32 and gx.shape == x.shape  # no silent float64 gradient
    per, backward = op(x32, t32, reduction="none")
    gx = backward(np.ones(per.shape, np.float32), (True, False))[0]
    assert gx.dtype == np.float32


@pytest.mark.parametrize("name", list(LOSS_OPS))
def test_loss_errors_start_with_the_loss_name(name):
    _, x, t = LOSS_OPS[name]
    fn = getattr(F, name)
    with pytest.raises(ValueError) as e:
        fn(cr.tensor(x), t, reduction="avg")
    assert str(e.value) == (f"{name}: reduction must be 'mean', 'sum' or 'none', "
                            f"got 'avg'")
    if t.dtype.kind == "f":
        with pytest.raises(ValueError) as e:
            fn(cr.tensor(x), t[:1])
        assert str(e.value).startswith(f"{name}: input shape (2, 3) and target shape (1, 3)")
    else:
        with pytest.raises(ValueError) as e:
            fn(cr.tensor(x), np.array([0, 3]))
        assert str(e.value) == f"{name}: class index 3 is out of range for 3 classes " \
                               f"(valid: 0..2)"


def test_bce_of_logits_names_the_fix():
    with pytest.raises(ValueError) as e:
        F.binary_cross_entropy(cr.tensor([0.5, 1.5]), [0.0, 1.0])
    assert str(e.value) == ("binary_cross_entropy: input must hold probabilities in [0, 1]; "
                            "use binary_cross_entropy_with_logits for logits")


def test_cross_entropy_edge_cases_and_messages():
    z = np.zeros((2, 3))
    # an empty batch is fine
    assert F.cross_entropy(cr.tensor(np.zeros((0, 3))), np.zeros(0, np.int64),
                           reduction="sum").item() == 0.0
    # label_smoothing may be 1 (the uniform target), as in PyTorch
    np.testing.assert_allclose(F.cross_entropy(cr.tensor(z), [0, 1], label_smoothing=1.0)
                               .item(), np.log(3.0), rtol=1e-12)
    with pytest.raises(ValueError) as e:
        F.cross_entropy(cr.tensor(np.zeros((2, 3, 1))), [0, 1])
    assert str(e.value) == "cross_entropy: input must have shape (batch, classes), got (2, 3, 1)"
    with pytest.raises(ValueError) as e:
        F.cross_entropy(cr.tensor(z), [0, 1, 2])
    assert str(e.value) == ("cross_entropy: input shape (2, 3) needs a target of shape (2,), "
                            "got (3,)")
    with pytest.raises(ValueError) as e:
        ops.loss.cross_entropy(z, np.array([True, False]))  # F reads bools as probabilities
    assert str(e.value) == ("cross_entropy: target must hold class indices (integers) or "
                            "probabilities (floats), got dtype bool")


@pytest.mark.parametrize("kw", [dict(weight=np.float32([1, 2, 3])), dict(label_smoothing=0.1),
                                dict(target="probabilities")], ids=str)
def test_cross_entropy_general_path_keeps_float32_gradients(kw):
    z = np.float32([[0.5, -1.0, 2.0], [0.1, 0.2, 0.3]])
    t = np.float32([[0.2, 0.3, 0.5], [1, 0, 0]]) if kw.pop("target", None) else np.array([2, 0])
    for reduction in REDUCTIONS:
        out, backward = ops.loss.cross_entropy(z, t, reduction=reduction, **kw)
        g = np.ones(np.shape(out), np.float32)
        gz = backward(g, (True, False))[0]
        assert out.dtype == np.float32 and gz.dtype == np.float32 and gz.shape == z.shape
