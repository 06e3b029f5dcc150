"""cr.compile (chainrule/compiler/capture.py): the captured step is bitwise the normal
engine's step, and falls back to it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import check_fast_training

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim

N, BATCH = 50, 16  # an epoch of 4 batches, the last one partial (a second plan)


def _mlp(sizes=(6, 8, 7, 3), dtype="float32", bias=True, relu=nn.ReLU):
    cr.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias or i == 0, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(relu())
    return nn.Sequential(*layers)


def _data(dtype=np.float32, d=6, c=3):
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, d)).astype(dtype), rng.integers(0, c, N)


def _engine_step(model, loss_fn, opt, x, y):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def _compare(model, make_opt, loss_fn=F.cross_entropy, dtype=np.float32, epochs=2,
             expect_captured=True):
    twin = copy.deepcopy(model)
    opt_a, opt_b = make_opt(model.parameters()), make_opt(twin.parameters())
    step = cr.compile(twin, loss_fn, opt_b)
    x, y = _data(dtype)
    for _ in range(epochs):
        for s in range(0, N, BATCH):
            want = _engine_step(model, loss_fn, opt_a, x[s:s + BATCH], y[s:s + BATCH])
            got = step(cr.as_tensor(x[s:s + BATCH]), y[s:s + BATCH])
            assert step.captured is expect_captured, step.reason
            assert got == want
            for (name, p), q in zip(model.named_parameters(), twin.parameters()):
                assert p.data.dtype == q.data.dtype
                np.testing.assert_array_equal(q.data, p.data, err_msg=name)
                np.testing.assert_array_equal(q.grad, p.grad, err_msg=name)
    return step


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "nesterov-wd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                        weight_decay=1e-3),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adam-fused": lambda ps: optim.Adam(ps, lr=0.01, fused=True),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_bitwise_equal_to_the_engine(name):
    _compare(_mlp(), OPTIMIZERS[name])


@pytest.mark.parametrize("loss_fn", [nn.CrossEntropyLoss(), F.cross_entropy])
def test_float64_without_bias_and_with_the_loss_module(loss_fn):
    _compare(_mlp(dtype="float64", bias=False), OPTIMIZERS["sgd"], loss_fn, dtype=np.float64)


def test_single_linear_layer_and_a_c_ordered_weight():
    model = nn.Sequential(nn.Linear(6, 3))
    model[0].weight.data = np.ascontiguousarray(model[0].weight.data)
    _compare(model, OPTIMIZERS["adam"])


@pytest.mark.parametrize(("make", "why"), [
    (lambda: _mlp(relu=nn.Tanh), "Tanh"),
    (lambda: nn.Sequential(nn.Linear(6, 3), nn.ReLU()), "ends with ReLU"),
])
def test_unsupported_models_run_the_engine(make, why):
    step = _compare(make(), OPTIMIZERS["sgd"], expect_captured=False, epochs=1)
    assert why in step.reason


def test_unsupported_losses_and_inputs_run_the_engine():
    step = _compare(_mlp(), OPTIMIZERS["sgd"], nn.CrossEntropyLoss(label_smoothing=0.1),
                    expect_captured=False, epochs=1)
    assert "label smoothing" in step.reason
    model = _mlp()
    step = cr.compile(model, F.cross_entropy, OPTIMIZERS["sgd"](model.parameters()))
    x, y = _data(np.float64)
    step(x[:BATCH], y[:BATCH])  # float64 input, float32 weights: the engine promotes
    assert not step.captured and "dtype" in step.reason
    model[0].weight.requires_grad = False
    step(x[:BATCH].astype(np.float32), y[:BATCH])
    assert not step.captured and "grad" in step.reason


def test_a_bad_target_raises_the_engine_error():
    model = _mlp()
    step = cr.compile(model, F.cross_entropy, OPTIMIZERS["sgd"](model.parameters()))
    x, y = _data()
    with pytest.raises(ValueError, match="class index 3 is out of range"):
        step(x[:4], np.array([0, 1, 3, 2]))


def _plain_loss(x, t, params):
    """The same network written with unfused ops: matmul, add, relu, log_softmax, indexing."""
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i].T + params[i + 1]
        if i + 2 < len(params):
            h = h.relu()
    return -(h.log_softmax(axis=-1)[np.arange(len(t)), t]).mean()


def test_captured_gradients_match_the_plain_composition_in_float64():
    model = _mlp(dtype="float64")
    x, y = _data(np.float64)
    step = cr.compile(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.0))
    step(x[:BATCH], y[:BATCH])
    assert step.captured
    params = [cr.tensor(p.data, requires_grad=True) for p in model.parameters()]
    xt = cr.tensor(x[:BATCH])
    _plain_loss(xt, y[:BATCH], params).backward()
    for p, q in zip(model.parameters(), params):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-10, atol=1e-12)
    assert cr.gradcheck(lambda *ps: _plain_loss(xt, y[:BATCH], ps), *params)


def _float_targets(kind, dtype, c=3):
    """MSE targets (any floats) or BCE targets (0/1), one column per output."""
    rng = np.random.default_rng(1)
    if kind == "bce":
        return (rng.random((N, c)) < 0.5).astype(dtype)
    return rng.standard_normal((N, c)).astype(dtype)


FLOAT_LOSSES = {
    "mse": (nn.MSELoss(), "mse"),
    "mse-half-sum": (nn.MSELoss(reduction="sum", half=True), "mse"),
    "mse-functional": (F.mse_loss, "mse"),
    "bce": (nn.BCEWithLogitsLoss(), "bce"),
    "bce-sum": (nn.BCEWithLogitsLoss(reduction="sum"), "bce"),
    "bce-functional": (F.binary_cross_entropy_with_logits, "bce"),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FLOAT_LOSSES)
def test_mse_and_bce_steps_are_bitwise_the_engine_steps(name, dtype):
    loss_fn, kind = FLOAT_LOSSES[name]
    x = _data(dtype)[0]
    t = _float_targets(kind, dtype)
    batches = [(x[s:s + BATCH], t[s:s + BATCH]) for s in range(0, N, BATCH)] * 2
    steps = []

    def setup(compiled):
        model = _mlp(dtype=np.dtype(dtype).name)
        opt = optim.Adam(model.parameters(), lr=0.01)
        if compiled:
            step = cr.compile(model, loss_fn, opt)
            steps.append(step)
            return model, step
        return model, lambda xb, tb: _engine_step(model, loss_fn, opt, cr.as_tensor(xb), tb)

    check_fast_training(lambda: setup(True), lambda: setup(False), batches)
    assert steps[0].captured, steps[0].reason


def test_weighted_bce_and_mse_none_run_the_engine():
    for loss_fn, why in ((nn.BCEWithLogitsLoss(pos_weight=np.ones(3)), "BCEWithLogitsLoss"),
                         (nn.MSELoss(reduction="none"), "MSELoss")):
        model = _mlp()
        step = cr.compile(model, loss_fn, OPTIMIZERS["sgd"](model.parameters()))
        assert step.gradients(_data()[0][:BATCH], _float_targets("bce", np.float32)) is None
        assert why in step.reason
    model = _mlp()
    step = cr.compile(model, nn.MSELoss(), OPTIMIZERS["sgd"](model.parameters()))
    x = _data()[0][:BATCH]
    assert step.gradients(x, np.zeros((BATCH, 2), np.float32)) is None  # not the outputs' shape
    assert "target" in step.reason


def test_outputs_give_the_engine_predictions():
    model = _mlp()
    x, y = _data()
    step = cr.compile(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.0))
    assert step.outputs is None
    with cr.no_grad():
        logits = model(cr.as_tensor(x[:BATCH])).numpy()
    step.gradients(x[:BATCH], y[:BATCH])
    np.testing.assert_allclose(step.outputs, logits - logits.max(axis=1, keepdims=True),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(step.outputs.argmax(1), logits.argmax(1))


@pytest.mark.parametrize("name", ["sgd", "nesterov-wd", "adam"])
def test_captured_training_matches_the_plain_composition_in_float64(name):
    # helpers.check_fast_training: after every step of an epoch (two plans: full and
    # partial batches), the captured step's parameters and gradients against the same
    # network written with unfused ops (_plain_loss, gradient-checked above)
    def captured():
        model = _mlp(dtype="float64")
        step = cr.compile(model, F.cross_entropy, OPTIMIZERS[name](model.parameters()))

        def run(x, y):
            step(x, y)
            assert step.captured, step.reason
        return model, run

    def plain():
        model = _mlp(dtype="float64")
        opt, params = OPTIMIZERS[name](model.parameters()), list(model.parameters())

        def run(x, y):
            opt.zero_grad()
            _plain_loss(cr.tensor(x), y, params).backward()
            opt.step()
        return model, run

    x, y = _data(np.float64)
    check_fast_training(captured, plain, [(x[s:s + BATCH], y[s:s + BATCH])
                                          for s in range(0, N, BATCH)],
                        exact=False, rtol=1e-10, atol=1e-12)
