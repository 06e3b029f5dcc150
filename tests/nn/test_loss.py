"""Loss modules against NumPy definitions, for every reduction; the lecture's 1/2 (y - t)^2;
sample weights."""

import numpy as np
import pytest
from helpers import (
    check_op,
    host,
    np_cross_entropy,
    np_log_softmax,
    np_reduce,
    np_sigmoid,
    positive,
    rng,
    uniform,
)

import chainrule as cr
from chainrule import nn

REDUCTIONS = ["mean", "sum", "none"]


TARGET = uniform((4, 3), seed=10)


# ---------------------------------------------------------------- regression losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(reduction):
    check_op(lambda x: nn.MSELoss(reduction)(x, TARGET),
             lambda x: np_reduce((x - TARGET) ** 2, reduction), (4, 3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_half(reduction):
    check_op(lambda x: nn.MSELoss(reduction, half=True)(x, TARGET),
             lambda x: np_reduce(0.5 * (x - TARGET) ** 2, reduction), (4, 3))


def test_mse_half_is_the_lectures_error_and_its_gradient_is_y_minus_t():
    # E(y, t) = 1/2 (y - t)^2  =>  dE/dy = y - t, exactly.
    y_np = rng(1).normal(size=(6, 2))
    t_np = rng(2).normal(size=(6, 2))
    y = cr.tensor(y_np, requires_grad=True)
    loss = nn.MSELoss(reduction="sum", half=True)(y, cr.tensor(t_np))
    assert loss.dtype == np.float64
    assert loss.item() == pytest.approx(0.5 * ((y_np - t_np) ** 2).sum(), rel=1e-14)
    loss.backward()
    np.testing.assert_array_equal(y.grad, y_np - t_np)
    # The default (half=False) doubles it: the constant is the only difference.
    y.grad = None
    nn.MSELoss(reduction="sum")(y, t_np).backward()
    np.testing.assert_array_equal(y.grad, 2 * (y_np - t_np))
    # 'mean' averages the gradient over the elements.
    y.grad = None
    nn.MSELoss(half=True)(y, t_np).backward()
    np.testing.assert_allclose(y.grad, (y_np - t_np) / y_np.size, rtol=1e-14)


def test_mse_loss_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        nn.MSELoss()(cr.tensor(np.zeros((4, 1))), np.zeros(4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_loss(reduction):
    # Inputs 0.5 away from the target at least: no kink under the finite differences.
    x = TARGET + np.where(uniform((4, 3), seed=3) > 0, 1.0, -1.0) * positive((4, 3), seed=4)
    check_op(lambda x: nn.L1Loss(reduction)(x, TARGET),
             lambda x: np_reduce(np.abs(x - TARGET), reduction), inputs=[x])


@pytest.mark.parametrize("delta", [1.0, 0.5])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_huber_loss(reduction, delta):
    x = TARGET + np.array([[-2.0, -0.7, -0.3], [0.2, 0.6, 1.8], [3.0, -0.1, 0.45],
                           [-0.8, 1.2, 0.05]])

    def ref(x):
        d = np.abs(x - TARGET)
        return np_reduce(np.where(d < delta, 0.5 * d**2, delta * (d - 0.5 * delta)), reduction)

    check_op(lambda x: nn.HuberLoss(reduction, delta=delta)(x, TARGET), ref, inputs=[x])


# ---------------------------------------------------------------- binary losses
BIN_T = (uniform((5, 2), seed=11) > 0).astype(np.float64)
BIN_W = positive((5, 2), seed=12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_loss(reduction, weighted):
    w = BIN_W if weighted else None

    def ref(p):
        per = -(BIN_T * np.log(p) + (1 - BIN_T) * np.log(1 - p))
        return np_reduce(per * (1 if w is None else w), reduction)

    check_op(lambda p: nn.BCELoss(weight=w, reduction=reduction)(p, BIN_T), ref,
             inputs=[uniform((5, 2), 0.05, 0.95, seed=5)])


def test_bce_loss_rejects_logits():
    with pytest.raises(ValueError, match="probabilities"):
        nn.BCELoss()(cr.tensor([0.5, 1.5]), [1.0, 0.0])


@pytest.mark.parametrize("pos_weight", [None, np.array([3.0, 0.5])])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_loss(reduction, weighted, pos_weight):
    w = BIN_W if weighted else None

    def ref(x):
        p = np_sigmoid(x)
        pw = 1 if pos_weight is None else pos_weight
        per = -(pw * BIN_T * np.log(p) + (1 - BIN_T) * np.log(1 - p))
        return np_reduce(per * (1 if w is None else w), reduction)

    check_op(lambda x: nn.BCEWithLogitsLoss(weight=w, reduction=reduction,
                                            pos_weight=pos_weight)(x, BIN_T),
             ref, (5, 2))


def test_bce_with_logits_equals_sigmoid_then_bce():
    x = rng(3).normal(size=(8, 1)) * 3
    t = (rng(4).uniform(size=(8, 1)) > 0.5).astype(np.float64)
    a = cr.tensor(x, requires_grad=True)
    b = cr.tensor(x, requires_grad=True)
    la = nn.BCEWithLogitsLoss()(a, t)
    lb = nn.BCELoss()(nn.Sigmoid()(b), t)
    assert la.item() == pytest.approx(lb.item(), rel=1e-12)
    la.backward()
    lb.backward()
    np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10)
    np.testing.assert_allclose(a.grad, (np_sigmoid(x) - t) / 8, rtol=1e-12)  # (p - y) / n


def test_bce_with_logits_is_stable_for_huge_logits():
    x = cr.tensor(np.array([-1000.0, 1000.0, -1000.0, 1000.0]), requires_grad=True)
    loss = nn.BCEWithLogitsLoss(reduction="sum")(x, [0.0, 1.0, 1.0, 0.0])
    assert loss.item() == pytest.approx(2000.0)
    loss.backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, -1.0, 1.0])


# ---------------------------------------------------------------- multi-class losses
CE_T = np.array([0, 2, 1, 2, 3])
CE_W = np.array([0.5, 2.0, 1.0, 1.5])


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_loss_class_indices(reduction, weighted, smoothing):
    w = CE_W if weighted else None
    check_op(lambda z: nn.CrossEntropyLoss(weight=w, reduction=reduction,
                                           label_smoothing=smoothing)(z, CE_T),
             lambda z: np_cross_entropy(z, CE_T, reduction, w, smoothing), (5, 4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_loss_probability_targets(reduction):
    e = np.exp(rng(6).normal(size=(5, 4)))
    t = e / e.sum(axis=1, keepdims=True)
    check_op(lambda z: nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.1)(z, t),
             lambda z: np_cross_entropy(z, t, reduction, label_smoothing=0.1), (5, 4))


def test_cross_entropy_gradient_is_p_minus_y_over_n():
    z = rng(7).normal(size=(5, 4))
    zt = cr.tensor(z, requires_grad=True)
    nn.CrossEntropyLoss()(zt, CE_T).backward()
    p = np.exp(np_log_softmax(z))
    np.testing.assert_allclose(zt.grad, (p - np.eye(4)[CE_T]) / 5, rtol=1e-12, atol=1e-15)


def test_cross_entropy_equals_log_softmax_then_nll():
    z = cr.tensor(rng(8).normal(size=(5, 4)))
    a = nn.CrossEntropyLoss(weight=CE_W)(z, CE_T).item()
    b = nn.NLLLoss(weight=CE_W)(nn.LogSoftmax(dim=1)(z), CE_T).item()
    assert a == pytest.approx(b, rel=1e-12)


def test_cross_entropy_rejects_bad_targets():
    z = cr.tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="out of range"):
        nn.CrossEntropyLoss()(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="target"):
        nn.CrossEntropyLoss()(z, np.array([0, 1]))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction, weighted):
    w = CE_W if weighted else None

    def ref(logp):
        ww = np.ones(4) if w is None else w
        per = -logp[np.arange(5), CE_T] * ww[CE_T]
        return np_reduce(per, reduction, ww[CE_T].sum())

    check_op(lambda lp: nn.NLLLoss(weight=w, reduction=reduction)(lp, CE_T), ref, (5, 4))


@pytest.mark.parametrize("reduction", ["bad", None])
def test_bad_reduction_is_rejected(reduction):
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction=reduction)


def test_loss_repr():
    assert repr(nn.MSELoss()) == "MSELoss(reduction='mean')"
    assert repr(nn.CrossEntropyLoss(reduction="sum")) == "CrossEntropyLoss(reduction='sum')"


# ---------------------------------------------------------------- sample_weight
COUNTS = np.array([2, 0, 1, 3, 1])


def _weighted_vs_repeated(loss_fn, x, t, counts=COUNTS):
    """loss(x, t, sample_weight=counts) and loss on the samples repeated ``counts`` times."""
    xa = cr.tensor(x, requires_grad=True)
    weighted = loss_fn(xa, t, sample_weight=counts)
    xb = cr.tensor(np.repeat(x, counts, axis=0), requires_grad=True)
    repeated = loss_fn(xb, np.repeat(t, counts, axis=0))
    return xa, weighted, xb, repeated


SAMPLE_WEIGHT_CASES = [
    ("mse_2d", lambda r: nn.MSELoss(reduction=r), (5, 3), rng(20).normal(size=(5, 3))),
    ("mse_1d", lambda r: nn.MSELoss(reduction=r, half=True), (5,), rng(21).normal(size=5)),
    ("l1", lambda r: nn.L1Loss(reduction=r), (5, 2), rng(22).normal(size=(5, 2))),
    ("huber", lambda r: nn.HuberLoss(reduction=r), (5, 2), 3 * rng(23).normal(size=(5, 2))),
    ("bce_logits", lambda r: nn.BCEWithLogitsLoss(reduction=r), (5, 2), BIN_T),
    ("bce", lambda r: nn.BCELoss(reduction=r), "prob", BIN_T),
    ("cross_entropy", lambda r: nn.CrossEntropyLoss(reduction=r), (5, 4), CE_T),
    ("cross_entropy_weighted", lambda r: nn.CrossEntropyLoss(weight=CE_W, reduction=r),
     (5, 4), CE_T),
    ("cross_entropy_smoothed", lambda r: nn.CrossEntropyLoss(weight=CE_W, reduction=r,
                                                              label_smoothing=0.1), (5, 4), CE_T),
    ("nll_weighted", lambda r: nn.NLLLoss(weight=CE_W, reduction=r), "logp", CE_T),
]


def _sample_weight_input(shape):
    if shape == "prob":
        return uniform((5, 2), 0.1, 0.9, seed=24)
    if shape == "logp":
        return np_log_softmax(rng(25).normal(size=(5, 4)))
    return rng(26).normal(size=shape)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name,make,shape,target", SAMPLE_WEIGHT_CASES,
                         ids=[c[0] for c in SAMPLE_WEIGHT_CASES])
def test_integer_sample_weight_equals_repeated_samples(name, make, shape, target, reduction):
    xa, weighted, xb, repeated = _weighted_vs_repeated(make(reduction),
                                                       _sample_weight_input(shape), target)
    assert weighted.item() == pytest.approx(repeated.item(), rel=1e-12)
    weighted.backward()
    repeated.backward()
    # The gradient of a sample is the sum of its copies' gradients.
    starts = np.concatenate([[0], np.cumsum(COUNTS)[:-1]])
    summed = np.stack([host(xb.grad)[s:s + c].sum(axis=0) for s, c in zip(starts, COUNTS)])
    np.testing.assert_allclose(xa.grad, summed, rtol=1e-10, atol=1e-14)


def test_sample_weight_none_reduction_scales_each_sample():
    x = rng(27).normal(size=(5, 3))
    t = rng(28).normal(size=(5, 3))
    w = np.array([0.5, 1.0, 2.0, 0.0, 3.0])
    out = nn.MSELoss(reduction="none")(cr.tensor(x), t, sample_weight=w)
    np.testing.assert_allclose(out.numpy(), w[:, None] * (x - t) ** 2, rtol=1e-12)
    ce = nn.CrossEntropyLoss(reduction="none")(cr.tensor(x), np.array([0, 1, 2, 0, 1]),
                                               sample_weight=cr.tensor(w))
    np.testing.assert_allclose(ce.numpy(), w * -np_log_softmax(x)[np.arange(5), [0, 1, 2, 0, 1]],
                               rtol=1e-12)


def test_fractional_sample_weight_mean_is_the_weighted_average():
    x = rng(29).normal(size=4)
    t = np.zeros(4)
    w = np.array([0.1, 0.2, 0.3, 0.4])
    loss = nn.MSELoss()(cr.tensor(x), t, sample_weight=w)
    assert loss.item() == pytest.approx((w * x**2).sum() / w.sum(), rel=1e-12)


def test_uniform_sample_weight_changes_nothing():
    z = cr.tensor(rng(30).normal(size=(5, 4)))
    for fn in (nn.CrossEntropyLoss(), nn.CrossEntropyLoss(weight=CE_W)):
        assert fn(z, CE_T, sample_weight=np.full(5, 2.5)).item() == pytest.approx(
            fn(z, CE_T).item(), rel=1e-12)


def test_sample_weight_shape_mismatch():
    with pytest.raises(ValueError, match="sample_weight"):
        nn.MSELoss()(cr.tensor(np.zeros((4, 2))), np.zeros((4, 2)), sample_weight=np.ones(3))
