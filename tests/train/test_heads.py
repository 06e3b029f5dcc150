"""Output heads and nn.MLP: structure, target encodings, probabilities, losses, validation."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import chainrule as cr
from chainrule import nn
from chainrule.train import (
    BinaryHead,
    OneVsAllHead,
    RegressionHead,
    SoftmaxHead,
    head_from_config,
    make_head,
)

LOGITS = np.array([[2.0, -1.0, 0.5],
                   [-3.0, 4.0, 0.0],
                   [0.1, 0.2, 0.3],
                   [50.0, -50.0, 0.0]], dtype=np.float32)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def _bce_logits(z, t):
    """Per-element BCE of logits, in the stable softplus form (float64)."""
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))


def _linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


# ------------------------------------------------------------------ nn.MLP
def test_mlp_layers_shapes_and_forward():
    model = nn.MLP(5, [8, 4], 3, activation="tanh")
    kinds = [type(m) for m in model]
    assert kinds == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    assert [(m.in_features, m.out_features) for m in _linears(model)] == [(5, 8), (8, 4), (4, 3)]
    # PyTorch layout: weight is (out_features, in_features)
    assert [m.weight.shape for m in _linears(model)] == [(8, 5), (4, 8), (3, 4)]
    x = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    out = model(cr.tensor(x))
    assert out.shape == (7, 3)
    # the forward pass is Linear -> tanh -> Linear -> tanh -> Linear
    h = x
    for lin in _linears(model)[:-1]:
        h = np.tanh(h @ lin.weight.numpy().T + lin.bias.numpy())
    last = _linears(model)[-1]
    assert_allclose(out.numpy(), h @ last.weight.numpy().T + last.bias.numpy(), rtol=1e-5,
                    atol=1e-6)


def test_mlp_without_hidden_layers_is_linear():
    model = nn.MLP(4, [], 2)
    assert [type(m) for m in model] == [nn.Linear]
    assert model[0].weight.shape == (2, 4)


def test_mlp_batch_norm_and_dropout_positions():
    model = nn.MLP(3, [6, 5], 2, activation="relu", dropout=0.25, batch_norm=True)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout,
                     nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout, nn.Linear]
    assert [m.num_features for m in model if isinstance(m, nn.BatchNorm1d)] == [6, 5]
    assert all(m.p == 0.25 for m in model if isinstance(m, nn.Dropout))
    # dropout is random in training mode and the identity in evaluation mode
    x = cr.tensor(np.random.default_rng(1).normal(size=(16, 3)).astype(np.float32))
    model.eval()
    a, b = model(x).numpy(), model(x).numpy()
    assert_array_equal(a, b)
    model.train()
    assert not np.allclose(model(x).numpy(), model(x).numpy())


def test_mlp_no_dropout_or_batch_norm_by_default():
    model = nn.MLP(3, [4], 1)
    assert not any(isinstance(m, (nn.Dropout, nn.BatchNorm1d)) for m in model.modules())


def test_mlp_residual_wraps_only_equal_widths():
    model = nn.MLP(4, [8, 8, 8, 3], 2, residual=True)
    kinds = [type(m) for m in model]
    # 4 -> 8 cannot skip; 8 -> 8 twice are residual blocks; 8 -> 3 cannot skip
    assert kinds == [nn.Linear, nn.ReLU, nn.Residual, nn.Residual, nn.Linear, nn.ReLU,
                     nn.Linear]
    block = model[2]
    x = cr.tensor(np.random.default_rng(2).normal(size=(5, 8)).astype(np.float32))
    assert_allclose(block(x).numpy(), x.numpy() + block.block(x).numpy(), rtol=1e-6)
    plain = nn.MLP(4, [8, 8, 8, 3], 2)
    assert not any(isinstance(m, nn.Residual) for m in plain.modules())
    # the same parameters either way (the skip adds none)
    assert sum(p.size for p in model.parameters()) == sum(p.size for p in plain.parameters())


def test_mlp_every_activation():
    from chainrule.nn.mlp import ACTIVATIONS

    for name, cls in ACTIVATIONS.items():
        model = nn.MLP(2, [3], 1, activation=name)
        assert isinstance(model[1], cls), name


def test_mlp_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation must be one of .*relu.*got 'swishy'"):
        nn.MLP(2, [3], 1, activation="swishy")


# ------------------------------------------------------------------ softmax head
def test_softmax_head_encode_proba_predict():
    head = SoftmaxHead(3)
    assert (head.task, head.n_classes, head.n_outputs) == ("classification", 3, 3)
    y = np.array([0, 2, 1, 0])
    assert_array_equal(head.encode(y), y)
    p = head.proba(LOGITS)
    assert p.shape == (4, 3)
    e = np.exp(LOGITS.astype(np.float64) - LOGITS.max(axis=1, keepdims=True))
    assert_allclose(p, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
    assert np.all(np.isfinite(p))  # logits of +-50 do not overflow
    assert_array_equal(head.predict(LOGITS), [0, 1, 2, 0])
    assert_array_equal(head.predict(LOGITS), p.argmax(axis=1))


def test_softmax_head_loss_is_cross_entropy():
    head = SoftmaxHead(3)
    y = np.array([0, 2, 1, 0])
    loss = head.loss_module()(cr.tensor(LOGITS), head.encode(y)).item()
    logp = np.log(head.proba(LOGITS).astype(np.float64))
    assert_allclose(loss, -logp[np.arange(4), y].mean(), rtol=1e-5)


# ------------------------------------------------------------------ one-vs-all head
def test_ovr_head_encode_is_one_hot():
    head = OneVsAllHead(3)
    assert (head.task, head.n_classes, head.n_outputs) == ("classification", 3, 3)
    enc = head.encode(np.array([2, 0, 1]))
    assert enc.dtype == np.float32
    assert_array_equal(enc, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])


def test_ovr_head_proba_and_predict():
    head = OneVsAllHead(3)
    p = head.proba(LOGITS)
    assert p.shape == (4, 3)
    s = _sigmoid(LOGITS)
    assert_allclose(p, s / s.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
    assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    # arg-max over the independent sigmoids
    assert_array_equal(head.predict(LOGITS), [0, 1, 2, 0])


def test_ovr_loss_sums_the_binary_losses_of_each_class():
    head = OneVsAllHead(3)
    y = np.array([0, 2, 1, 0])
    t = head.encode(y).astype(np.float64)
    s = _sigmoid(LOGITS)
    per_sample = _bce_logits(LOGITS, t).sum(axis=1)
    logits = cr.tensor(LOGITS, requires_grad=True)
    loss = head.loss_module()(logits, head.encode(y))
    assert_allclose(loss.item(), per_sample.mean(), rtol=1e-5)
    loss.backward()
    # each class is its own logistic regression: gradient (sigmoid - t) / batch, not / (batch*N)
    assert_allclose(logits.grad, (s - t) / len(y), rtol=1e-4, atol=1e-7)


def test_ovr_loss_with_sample_weight():
    head = OneVsAllHead(3)
    y = np.array([0, 2, 1, 0])
    w = np.array([1.0, 2.0, 0.0, 3.0], dtype=np.float32)
    t = head.encode(y).astype(np.float64)
    per_sample = _bce_logits(LOGITS, t).sum(axis=1)
    loss = head.loss_module()(cr.tensor(LOGITS), head.encode(y), sample_weight=w).item()
    assert_allclose(loss, (w * per_sample).sum() / w.sum(), rtol=1e-5)


# ------------------------------------------------------------------ binary head
def test_binary_head_encode_proba_predict():
    head = BinaryHead()
    assert (head.task, head.n_classes, head.n_outputs) == ("classification", 2, 1)
    enc = head.encode(np.array([0, 1, 1]))
    assert enc.shape == (3, 1) and enc.dtype == np.float32
    assert_array_equal(enc.ravel(), [0, 1, 1])
    out = np.array([[-2.0], [0.5], [30.0], [-30.0]], dtype=np.float32)
    p = head.proba(out)
    assert p.shape == (4, 2)
    s = _sigmoid(out.ravel())
    assert_allclose(p[:, 1], s, rtol=1e-5)
    assert_allclose(p[:, 0], 1 - s, rtol=1e-5, atol=1e-7)
    assert_array_equal(head.predict(out), [0, 1, 1, 0])
    assert head.predict(out).dtype == np.int64
    assert_array_equal(head.predict(out), p.argmax(axis=1))


def test_binary_head_loss_is_bce_with_logits():
    head = BinaryHead()
    out = np.array([[-2.0], [0.5], [3.0]], dtype=np.float32)
    y = np.array([0, 1, 0])
    loss = head.loss_module()(cr.tensor(out), head.encode(y)).item()
    assert_allclose(loss, _bce_logits(out.ravel(), y).mean(), rtol=1e-5)


# ------------------------------------------------------------------ regression head
@pytest.mark.parametrize("loss, ref", [
    ("squared_error", lambda d: (d ** 2).mean()),
    ("absolute_error", lambda d: np.abs(d).mean()),
    ("huber", lambda d: np.where(np.abs(d) <= 1, 0.5 * d ** 2, np.abs(d) - 0.5).mean()),
])
def test_regression_head_losses(loss, ref):
    head = RegressionHead(1, loss=loss)
    assert head.task == "regression" and head.n_outputs == 1
    y = np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32)
    out = np.array([[1.5], [0.0], [0.4], [-1.0]], dtype=np.float32)
    enc = head.encode(y)
    assert enc.shape == (4, 1)
    value = head.loss_module()(cr.tensor(out), enc).item()
    assert_allclose(value, ref(out.ravel().astype(np.float64) - y), rtol=1e-5)
    assert_array_equal(head.predict(out), out)


def test_regression_head_several_outputs():
    head = RegressionHead(2)
    y = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert_array_equal(head.encode(y), y)
    assert head.config() == {"head": "regression", "n_outputs": 2, "loss": "squared_error"}


def test_regression_head_rejects_unknown_loss():
    with pytest.raises(ValueError, match="loss must be one of .*squared_error.*got 'hinge'"):
        RegressionHead(1, loss="hinge")


# ------------------------------------------------------------------ make_head / config
def test_make_head_picks_the_head():
    assert isinstance(make_head("classification", n_classes=3), SoftmaxHead)
    assert isinstance(make_head("classification", n_classes=4, head="ovr"), OneVsAllHead)
    assert make_head("classification", n_classes=4, head="ovr").n_outputs == 4
    # two classes: one logit + BCE, whatever the multi-class strategy
    assert isinstance(make_head("classification", n_classes=2), BinaryHead)
    assert isinstance(make_head("classification", n_classes=2, head="ovr"), BinaryHead)
    reg = make_head("regression", n_outputs=3, loss="huber")
    assert isinstance(reg, RegressionHead) and reg.n_outputs == 3 and reg.loss == "huber"


@pytest.mark.parametrize("kwargs, match", [
    ({"task": "ranking", "n_classes": 3}, "task must be 'classification' or 'regression'"),
    ({"task": "classification", "n_classes": 3, "head": "tree"},
     r"head must be one of \['softmax', 'ovr'\], got 'tree'"),
    ({"task": "classification", "n_classes": 1}, "at least 2 classes, got 1"),
    ({"task": "classification", "n_classes": None}, "at least 2 classes, got None"),
    ({"task": "regression", "loss": "hinge"}, "loss must be one of"),
])
def test_make_head_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_head(**kwargs)


@pytest.mark.parametrize("head", [SoftmaxHead(4), OneVsAllHead(5), BinaryHead(),
                                  RegressionHead(2, "absolute_error")])
def test_head_config_round_trip(head):
    again = head_from_config(head.config())
    assert type(again) is type(head)
    assert again.n_outputs == head.n_outputs
    assert again.config() == head.config()
    out = np.random.default_rng(0).normal(size=(6, head.n_outputs)).astype(np.float32)
    assert_array_equal(again.predict(out), head.predict(out))


def test_head_from_config_rejects_unknown_head():
    with pytest.raises(ValueError, match="unknown head 'svm'"):
        head_from_config({"head": "svm", "n_outputs": 2})


# ------------------------------------------------------------------ found by mutation testing
def test_make_head_and_config_defaults():
    head = make_head("regression")
    assert (head.n_outputs, head.loss) == (1, "squared_error")
    assert make_head("classification", n_classes=3).n_outputs == 3
    old = head_from_config({"head": "regression", "n_outputs": 2})  # a file without "loss"
    assert (old.n_outputs, old.loss) == (2, "squared_error")
    assert RegressionHead().n_outputs == 1


def test_binary_head_predicts_0_at_a_logit_of_exactly_0():
    # h = 1/2 is not > 1/2
    assert_array_equal(BinaryHead().predict(np.array([[0.0], [1e-30], [-0.0]])), [0, 1, 0])


def test_ovr_probabilities_sum_to_1_when_every_sigmoid_is_small():
    p = OneVsAllHead(3).proba(np.array([[-9.0, -8.0, -10.0]]))
    assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    s = _sigmoid([-9.0, -8.0, -10.0])
    assert_allclose(p[0], s / s.sum(), rtol=1e-12)


def test_ovr_loss_sum_reduction():
    head = OneVsAllHead(3)
    y = np.array([0, 2, 1, 0])
    loss = head.loss_module()
    loss.reduction = "sum"
    per_sample = _bce_logits(LOGITS, head.encode(y).astype(np.float64)).sum(axis=1)
    assert_allclose(loss(cr.tensor(LOGITS), head.encode(y)).item(), per_sample.sum(), rtol=1e-5)


def test_class_weights():
    from chainrule.train.heads import class_weights

    y = np.array([0, 0, 0, 1, 2, 2])
    assert class_weights(None, y, 4) is None
    w = class_weights("balanced", y, 4)  # n / (n_present * count); class 3 is absent: 1
    assert w.dtype == np.float32
    assert_allclose(w, [6 / 9, 6 / 3, 6 / 6, 1.0], rtol=1e-6)
    assert class_weights("balanced", y.astype(np.float64), 4, dtype=np.float64).dtype \
        == np.float64
    w = class_weights({1: 5.0, 3: 0.5}, y, 4)
    assert w.dtype == np.float32
    assert_array_equal(w, [1.0, 5.0, 1.0, 0.5])
    assert_array_equal(class_weights({"b": 2.0}, y, 3, labels=["a", "b", "c"]), [1, 2, 1])
    assert_array_equal(class_weights({0: 3.0}, y, 1), [3.0])
    for bad, match in (("auto", "must be a dict or 'balanced', got 'auto'"),
                       ([1.0], "must be a dict or 'balanced', got list"),
                       ({4: 1.0}, r"class 4 is not in 0\.\.3"),
                       ({-1: 1.0}, r"class -1 is not in 0\.\.3")):
        with pytest.raises(ValueError, match=match):
            class_weights(bad, y, 4)
    with pytest.raises(ValueError, match=r"labels \['z'\] are not in classes_"):
        class_weights({"z": 1.0, "a": 2.0}, y, 3, labels=["a", "b", "c"])
