"""Every fused op and fast path against its plain composition (``helpers.check_fast_path``).

Each check compares values and gradients (with an owned and with a shared upstream
gradient, so both branches of an in-place backward run) in float64 and float32, then
gradient-checks the fast path by central differences. A new fast path gets one line here.
"""

import os

import numpy as np
import pytest
from helpers import check_fast_path, nonzero, uniform

import chainrule as cr
import chainrule.functional as F
from chainrule import nn

N, K, M = 5, 4, 3  # batch, in features, out features (classes)


def _plain_log_softmax(z):
    # the composition the fused losses replace: shift, exp, sum, log
    shifted = z - cr.tensor(z.numpy().max(axis=-1, keepdims=True))
    return shifted - shifted.exp().sum(axis=-1, keepdims=True).log()


def _onehot(t, c, dtype=np.float64):
    return np.eye(c, dtype=dtype)[t]


# ---------------------------------------------------------------- linear, linear_relu
@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    if bias:
        check_fast_path(F.linear, lambda x, w, b: x @ w.T + b, (N, K), (M, K), (M,))
    else:
        check_fast_path(F.linear, lambda x, w: x @ w.T, (N, K), (M, K))


@pytest.mark.parametrize("bias", [True, False])
def test_linear_relu(bias):
    # nonzero inputs keep the pre-activations away from relu's kink at 0
    if bias:
        check_fast_path(F.linear_relu, lambda x, w, b: (x @ w.T + b).relu(),
                        (N, K), (M, K), (M,), make=nonzero)
    else:
        check_fast_path(F.linear_relu, lambda x, w: (x @ w.T).relu(), (N, K), (M, K),
                        make=nonzero)


def test_linear_on_a_batch_of_sequences():
    check_fast_path(F.linear, lambda x, w, b: x @ w.T + b, (2, N, K), (M, K), (M,))
    check_fast_path(F.linear_relu, lambda x, w, b: (x @ w.T + b).relu(), (2, N, K), (M, K),
                    (M,), make=nonzero)


@pytest.mark.skipif(bool(os.environ.get("CHAINRULE_TEST_DEVICE")),
                    reason="memory order is a property of NumPy (host) arrays")
def test_linear_layer_with_its_fortran_order_weight():
    # nn.Linear keeps its weight in Fortran order (x @ w.T is then a plain GEMM) and the
    # weight's gradient follows that layout: another code path in the backward.
    cr.manual_seed(0)
    for fused in (False, True):
        layer = nn.Sequential(nn.Linear(K, M), nn.ReLU()) if fused else nn.Linear(K, M)
        layer.double()
        lin = layer[0] if fused else layer
        assert lin.weight.data.flags.f_contiguous and not lin.weight.data.flags.c_contiguous
        x = nonzero((N, K))
        r = np.random.default_rng(1).standard_normal((N, M))
        layer(cr.tensor(x)).backward(r)
        w = cr.tensor(lin.weight.numpy(), requires_grad=True)  # a C-order copy
        b = cr.tensor(lin.bias.numpy(), requires_grad=True)
        out = cr.tensor(x) @ w.T + b
        (out.relu() if fused else out).backward(r)
        np.testing.assert_allclose(lin.weight.grad, w.grad, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(lin.bias.grad, b.grad, rtol=1e-12, atol=1e-14)
        assert lin.weight.grad.flags.f_contiguous  # the optimizer updates like with like


def _slots(model):
    """(module, attribute name) of every parameter, to stand tensors in for them."""
    return [(m, name) for _, m in model.named_modules()
            for name, v in vars(m).items() if isinstance(v, nn.Parameter)]


def test_sequential_runs_linear_relu_fused_and_matches_the_unfused_layers():
    # Sequential(Linear, ReLU) takes the fused op; its plain composition is written out.
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(K, M), nn.ReLU(), nn.Linear(M, 2), nn.ReLU())
    slots = _slots(model)
    params = [getattr(m, name).numpy().astype(np.float64) for m, name in slots]

    def fast(x, *ps):
        for (m, name), p in zip(slots, ps):
            object.__setattr__(m, name, p)  # temporary stand-ins, as in gradcheck_module
        return model(x)

    def plain(x, w1, b1, w2, b2):
        return ((x @ w1.T + b1).relu() @ w2.T + b2).relu()

    check_fast_path(fast, plain, inputs=[nonzero((N, K)), *params])


# ---------------------------------------------------------------- fused losses
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_class_indices(reduction):
    t = np.array([0, 2, 1, 2, 0])

    def plain(z):
        per = -(_plain_log_softmax(z) * cr.tensor(_onehot(t, M, z.dtype))).sum(axis=1)
        return {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]

    check_fast_path(lambda z: F.cross_entropy(z, t, reduction=reduction), plain, (N, M))


@pytest.mark.parametrize("kw", [dict(weight=np.array([0.5, 2.0, 1.0])),
                                dict(label_smoothing=0.2),
                                dict(weight=np.array([0.5, 2.0, 1.0]), label_smoothing=0.1)],
                         ids=["weight", "smoothing", "both"])
def test_cross_entropy_with_weights_and_smoothing(kw):
    t = np.array([0, 2, 1, 2, 0])
    w = kw.get("weight", np.ones(M))
    eps = kw.get("label_smoothing", 0.0)
    q = (_onehot(t, M) * (1 - eps) + eps / M) * w
    denom = w[t].sum() if "weight" in kw else N  # PyTorch's 'mean' with class weights

    def plain(z):
        return -(_plain_log_softmax(z) * cr.tensor(q.astype(z.dtype))).sum() / denom

    def fast(z):
        return F.cross_entropy(z, t, **{k: (v.astype(z.dtype) if isinstance(v, np.ndarray)
                                            else v) for k, v in kw.items()})

    check_fast_path(fast, plain, (N, M))


def test_cross_entropy_with_probability_targets():
    q = np.random.default_rng(3).dirichlet(np.ones(M), size=N)

    def plain(z):
        return -(_plain_log_softmax(z) * cr.tensor(q.astype(z.dtype))).sum() / N

    check_fast_path(lambda z: F.cross_entropy(z, q.astype(z.dtype)), plain, (N, M))


def test_nll_of_log_softmax():
    t = np.array([1, 0, 2, 2, 1])

    def plain(z):
        return -(_plain_log_softmax(z) * cr.tensor(_onehot(t, M, z.dtype))).sum() / N

    check_fast_path(lambda z: F.nll_loss(F.log_softmax(z, axis=1), t), plain, (N, M))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_with_logits(reduction, weighted):
    t = np.random.default_rng(4).uniform(0, 1, (N, M))
    w = np.linspace(0.5, 1.5, N * M).reshape(N, M) if weighted else None

    def plain(x):
        p = x.sigmoid()
        tt = cr.tensor(t.astype(x.dtype))
        per = -(tt * p.log() + (1 - tt) * (1 - p).log())
        if weighted:
            per = per * cr.tensor(w.astype(x.dtype))
        return {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]

    def fast(x):
        return F.binary_cross_entropy_with_logits(
            x, t.astype(x.dtype), reduction=reduction,
            weight=None if w is None else w.astype(x.dtype))

    check_fast_path(fast, plain, (N, M))


def test_binary_cross_entropy_with_logits_pos_weight():
    t = (np.arange(N * M).reshape(N, M) % 2).astype(np.float64)
    pw = np.array([1.0, 3.0, 0.5])

    def plain(x):
        p = x.sigmoid()
        tt = cr.tensor(t.astype(x.dtype))
        return -(cr.tensor(pw.astype(x.dtype)) * tt * p.log() + (1 - tt) * (1 - p).log()).mean()

    check_fast_path(lambda x: F.binary_cross_entropy_with_logits(
        x, t.astype(x.dtype), pos_weight=pw.astype(x.dtype)), plain, (N, M))


def test_binary_cross_entropy_of_probabilities():
    t = np.random.default_rng(5).uniform(0, 1, (N, M))

    def plain(p):
        tt = cr.tensor(t.astype(p.dtype))
        return -(tt * p.log() + (1 - tt) * (1 - p).log()).mean()

    check_fast_path(lambda p: F.binary_cross_entropy(p, t.astype(p.dtype)), plain, (N, M),
                    make=lambda s, seed: uniform(s, 0.1, 0.9, seed))


@pytest.mark.parametrize("half", [False, True])
def test_mse_loss(half):
    t = uniform((N, M), seed=7)
    c = 0.5 if half else 1.0
    check_fast_path(lambda x: F.mse_loss(x, t.astype(x.dtype), half=half),
                    lambda x: ((x - cr.tensor(t.astype(x.dtype))) ** 2).mean() * c, (N, M))


def test_l1_and_huber_loss():
    t = uniform((N, M), seed=7)
    x = t + nonzero((N, M), 0.2, 2.0, seed=8)  # errors away from the kinks at 0 and +-1
    x[np.abs(x - t) > 0.8] += np.sign((x - t)[np.abs(x - t) > 0.8]) * 0.3

    def d(x):
        return x - cr.tensor(t.astype(x.dtype))

    check_fast_path(lambda x: F.l1_loss(x, t.astype(x.dtype)), lambda x: d(x).abs().mean(),
                    inputs=[x])

    def huber(x):
        ad = d(x).abs()
        small = cr.tensor((ad.numpy() < 1.0).astype(x.dtype))
        return (small * 0.5 * d(x) ** 2 + (1 - small) * (ad - 0.5)).mean()

    check_fast_path(lambda x: F.huber_loss(x, t.astype(x.dtype)), huber, inputs=[x])


# ---------------------------------------------------------------- closed-form backwards
def test_softmax_and_log_softmax():
    check_fast_path(lambda z: F.softmax(z, axis=1), lambda z: _plain_log_softmax(z).exp(),
                    (N, M))
    check_fast_path(lambda z: F.log_softmax(z, axis=1), _plain_log_softmax, (N, M))
    check_fast_path(lambda z: F.logsumexp(z, axis=1),
                    lambda z: (z - _plain_log_softmax(z))[:, 0], (N, M))


def test_layer_norm():
    def plain(x, w, b):
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        return (x - mu) / (var + 1e-5).sqrt() * w + b

    check_fast_path(lambda x, w, b: F.layer_norm(x, (K,), w, b), plain, (N, K), (K,), (K,))


def test_batch_norm_in_training_mode():
    def plain(x, w, b):
        mu = x.mean(axis=0, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=0, keepdims=True)
        return (x - mu) / (var + 1e-5).sqrt() * w + b

    check_fast_path(lambda x, w, b: F.batch_norm(x, weight=w, bias=b, training=True), plain,
                    (N, K), (K,), (K,))
