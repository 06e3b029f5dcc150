"""Every stable function at |x| up to 1e4, forward and backward, with overflow as an error.

NumPy only warns when ``exp(1000)`` overflows to inf, and a saturated result can still
look right (``1 / (1 + inf)`` is 0): a naive ``sigmoid = 1 / (1 + exp(-x))`` passes a
test that checks values only. So each check here runs under
``np.errstate(over='raise', invalid='raise', divide='raise')`` (an overflow, a NaN or a
division by zero anywhere in the forward or the backward is an error), and compares both
passes with a reference written differently (``np.logaddexp``), in float32 and float64.
Underflow (``exp(-1e4) == 0``) is the expected, harmless saturation and stays allowed.
"""

import numpy as np
import pytest
from helpers import host

import chainrule as cr
import chainrule.functional as F

X = np.array([-1e4, -1e3, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e3, 1e4])
ROWS = np.array([[1e4, -1e4, 0.0, 5.0],
                 [-1e4, -1e4, -1e4, -1e4],
                 [1e4, 1e4, -1e4, 0.0],
                 [1e4, 1e4 - 1.0, 1e4 - 2.0, -1e3],
                 [-30.0, 0.0, 30.0, 1e3]])
TARGET = np.array([1, 0, 2, 3, 0])
DTYPES = [np.float32, np.float64]
# |actual - expected| <= RTOL |expected| + ATOL: relative where values are large (a loss
# of 1e4), absolute near 0, where 1 - sigmoid(30) or a cancelling softplus cannot keep
# their relative precision in any formula that works in this dtype.
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
ATOL = {np.float32: 1e-6, np.float64: 1e-14}
RAISE = dict(over="raise", invalid="raise", divide="raise")


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return np.exp(-_softplus(-x))


def _lse(x, axis=-1):
    return np.logaddexp.reduce(x, axis=axis, keepdims=True)


def _run(fn, x, dtype, upstream):
    """fn's value and the gradient of sum(fn(x) * upstream), all under errstate raise."""
    with np.errstate(**RAISE):
        t = cr.tensor(x.astype(dtype), requires_grad=True)
        out = fn(t)
        out.backward(np.asarray(upstream, dtype=dtype).reshape(out.shape))
    assert out.dtype == dtype and t.grad.dtype == dtype
    return out.numpy().astype(np.float64), host(t.grad).astype(np.float64)


def _check(fn, ref, dref, x, dtype, upstream=None):
    """Forward and backward against references on the dtype-rounded input.

    The references run in extended precision (``np.longdouble``): ``x - logsumexp(x)``
    at |x| ~ 1e4 would lose 1e-12 in float64 itself.
    """
    xl = x.astype(dtype).astype(np.longdouble)
    with np.errstate(under="ignore"):
        expected = np.asarray(ref(xl), dtype=np.float64)
        g = np.ones(expected.shape) if upstream is None else upstream
        expected_grad = np.asarray(dref(xl, np.asarray(g, dtype=np.longdouble)),
                                   dtype=np.float64)
    value, grad = _run(fn, x, dtype, g)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, expected, rtol=RTOL[dtype], atol=ATOL[dtype])
    np.testing.assert_allclose(grad, expected_grad, rtol=RTOL[dtype], atol=ATOL[dtype])


_UP = np.linspace(-1.0, 2.0, X.size)  # a non-uniform upstream gradient
_UP_ROWS = np.linspace(-1.0, 2.0, ROWS.size).reshape(ROWS.shape)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid(dtype):
    _check(F.sigmoid, _sigmoid,
           lambda x, g: g * np.exp(-_softplus(-x) - _softplus(x)), X, dtype, _UP)
    _check(lambda t: t.sigmoid(), _sigmoid,
           lambda x, g: g * np.exp(-_softplus(-x) - _softplus(x)), X, dtype, _UP)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh(dtype):
    _check(F.tanh, np.tanh, lambda x, g: g / np.cosh(np.clip(x, -300, 300)) ** 2, X, dtype, _UP)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", [0.0, 1.0, 0.25])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_binary_cross_entropy_with_logits(dtype, target, reduction):
    # loss = t softplus(-x) + (1 - t) softplus(x), gradient sigmoid(x) - t
    t = np.full(X.shape, target)
    n = 1.0 if reduction == "none" else X.size

    def ref(x):
        per = target * _softplus(-x) + (1 - target) * _softplus(x)
        return per if reduction == "none" else per.mean()

    _check(lambda z: F.binary_cross_entropy_with_logits(z, t.astype(dtype), reduction=reduction),
           ref, lambda x, g: g * (_sigmoid(x) - target) / n, X, dtype,
           _UP if reduction == "none" else None)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_with_logits_pos_weight_and_weight(dtype):
    t = (np.arange(X.size) % 2).astype(np.float64)
    w = np.linspace(0.5, 1.5, X.size)
    pw = 3.0

    def ref(x):
        return (w * (pw * t * _softplus(-x) + (1 - t) * _softplus(x))).sum()

    def dref(x, g):
        return g * w * ((1 - t) * _sigmoid(x) - pw * t * _sigmoid(-x))

    _check(lambda z: F.binary_cross_entropy_with_logits(
        z, t.astype(dtype), weight=w.astype(dtype), reduction="sum",
        pos_weight=cr.tensor(np.asarray(pw, dtype=dtype))), ref, dref, X, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_of_saturated_probabilities(dtype):
    # sigmoid(+-1e4) is exactly 0 or 1: log(0) is clamped at -100, the gradient stays finite.
    t = (np.arange(X.size) % 2).astype(np.float64)
    with np.errstate(**RAISE):
        z = cr.tensor(X.astype(dtype), requires_grad=True)
        loss = F.binary_cross_entropy(F.sigmoid(z), t.astype(dtype), reduction="sum")
        loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(host(z.grad)))
    p = _sigmoid(X.astype(dtype).astype(np.float64))
    with np.errstate(divide="ignore"):  # the reference's own log(0), clamped as documented
        clamp = np.maximum(np.log(np.where(t == 1, p, 1 - p)), -100)
    np.testing.assert_allclose(loss.item(), -clamp.sum(), rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, None])
def test_logsumexp(dtype, axis):
    def ref(x):
        return np.logaddexp.reduce(x.ravel() if axis is None else x, axis=0 if axis is None
                                   else axis)

    def dref(x, g):
        lse = ref(x)
        p = np.exp(x - (lse if axis is None else np.expand_dims(lse, axis)))
        return (g if axis is None else np.expand_dims(g, axis)) * p

    up = None if axis is None else np.linspace(-1, 2, ROWS.shape[1 - axis])
    _check(lambda t: F.logsumexp(t, axis=axis), ref, dref, ROWS, dtype, up)
    _check(lambda t: t.logsumexp(axis=axis), ref, dref, ROWS, dtype, up)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1])
def test_softmax(dtype, axis):
    def ref(x):
        return np.exp(x - _lse(x, axis))

    def dref(x, g):
        p = ref(x)
        return p * (g - (g * p).sum(axis=axis, keepdims=True))

    _check(lambda t: F.softmax(t, axis=axis), ref, dref, ROWS, dtype, _UP_ROWS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1])
def test_log_softmax(dtype, axis):
    def ref(x):
        return x - _lse(x, axis)

    def dref(x, g):
        return g - np.exp(ref(x)) * g.sum(axis=axis, keepdims=True)

    _check(lambda t: F.log_softmax(t, axis=axis), ref, dref, ROWS, dtype, _UP_ROWS)


_CE = {
    # name: (kwargs, per-row weight of the one-hot target, smoothing)
    "indices": dict(),
    "weight": dict(weight=np.array([0.5, 1.0, 2.0, 1.5])),
    "label_smoothing": dict(label_smoothing=0.1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(_CE))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(dtype, case, reduction):
    kw = _CE[case]
    n, c = ROWS.shape
    eps = kw.get("label_smoothing", 0.0)
    w = kw.get("weight", np.ones(c))
    q = np.full((n, c), eps / c)
    q[np.arange(n), TARGET] += 1 - eps
    q = q * w
    denom = {"mean": w[TARGET].sum() if "weight" in kw else n, "sum": 1.0, "none": 1.0}[reduction]

    def ref(x):
        per = -(q * (x - _lse(x))).sum(axis=1)
        return per if reduction == "none" else per.sum() / denom

    def dref(x, g):
        p = np.exp(x - _lse(x))
        d = p * q.sum(axis=1, keepdims=True) - q
        return (g[:, None] if reduction == "none" else g) * d / denom

    up = np.linspace(-1, 2, n) if reduction == "none" else None
    args = {k: (v.astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    _check(lambda t: F.cross_entropy(t, TARGET, reduction=reduction, **args), ref, dref, ROWS,
           dtype, up)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_with_probability_targets(dtype):
    q = np.abs(np.sin(np.arange(ROWS.size))).reshape(ROWS.shape)
    q /= q.sum(axis=1, keepdims=True)

    def ref(x):
        return -(q * (x - _lse(x))).sum() / ROWS.shape[0]

    def dref(x, g):
        return g * (np.exp(x - _lse(x)) - q) / ROWS.shape[0]

    _check(lambda t: F.cross_entropy(t, q.astype(dtype)), ref, dref, ROWS, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nll_of_log_softmax(dtype):
    n = ROWS.shape[0]

    def ref(x):
        return -(x - _lse(x))[np.arange(n), TARGET].mean()

    def dref(x, g):
        d = np.exp(x - _lse(x))
        d[np.arange(n), TARGET] -= 1
        return g * d / n

    _check(lambda t: F.nll_loss(F.log_softmax(t, axis=1), TARGET), ref, dref, ROWS, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_elu_and_gelu(dtype):
    _check(F.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
           lambda x, g: g * np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))), X, dtype, _UP)
    # x Phi(x): 0 far left, x far right; F.gelu's erf is exact to ~1.5e-7 absolute.
    big = np.abs(X) >= 100
    value, grad = _run(F.gelu, X, dtype, np.ones(X.size))
    np.testing.assert_array_equal(value[big], np.where(X[big] > 0, X[big], 0.0))
    np.testing.assert_array_equal(grad[big], (X[big] > 0) * 1.0)
    value, grad = _run(lambda t: F.gelu(t, approximate="tanh"), X, dtype, np.ones(X.size))
    np.testing.assert_array_equal(value[big], np.where(X[big] > 0, X[big], 0.0))
    np.testing.assert_array_equal(grad[big], (X[big] > 0) * 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_normalization_of_large_inputs(dtype):
    # Values of +-1e4 standardise to +-1 (float32 squares them to 1e8: no overflow).
    x = np.stack([X, X[::-1] * 0.5])
    value, grad = _run(lambda t: F.layer_norm(t, (X.size,)), x, dtype, np.ones(x.shape))
    ref = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(value, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)  # sum of a standardised row is constant
    value, grad = _run(lambda t: F.batch_norm(t, training=True), x.T, dtype, np.ones(x.T.shape))
    np.testing.assert_allclose(value, ((x.T - x.T.mean(0)) / np.sqrt(x.T.var(0) + 1e-5)),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_regression_losses_of_large_errors(dtype):
    t = np.zeros(X.size)
    n = X.size
    _check(lambda z: F.mse_loss(z, t.astype(dtype)), lambda x: (x * x).mean(),
           lambda x, g: g * 2 * x / n, X, dtype)
    _check(lambda z: F.huber_loss(z, t.astype(dtype)),
           lambda x: np.where(np.abs(x) < 1, 0.5 * x * x, np.abs(x) - 0.5).mean(),
           lambda x, g: g * np.clip(x, -1, 1) / n, X, dtype)
    _check(lambda z: F.l1_loss(z, t.astype(dtype)), lambda x: np.abs(x).mean(),
           lambda x, g: g * np.sign(x) / n, X, dtype)
