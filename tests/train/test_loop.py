"""The fit loop: History, sample and class weights, full-batch GD, output, compile (the
convergence test and the NaN guard: test_stopping.py)."""

import sys

import numpy as np
import pytest
from helpers import linear_data, weights_of
from numpy.testing import assert_allclose, assert_array_equal

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.train import (
    BinaryHead,
    LambdaCallback,
    RegressionHead,
    SoftmaxHead,
    Trainer,
    fit,
)
from chainrule.train.progress import Progress


def _blobs(n=60, k=3, seed=0):
    """k well separated Gaussian blobs in 2-D, float32 features, int64 labels 0..k-1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centres = np.stack([np.cos(2 * np.pi * np.arange(k) / k),
                        np.sin(2 * np.pi * np.arange(k) / k)], axis=1) * 3
    X = centres[y] + rng.normal(scale=0.5, size=(n, 2))
    return X.astype(np.float32), y.astype(np.int64)


# ------------------------------------------------------------------ History
def test_history_classification_with_validation():
    X, y = _blobs()
    Xv, yv = _blobs(30, seed=1)
    cr.manual_seed(0)
    model = nn.MLP(2, [8], 3)
    batches = []
    record = LambdaCallback(on_batch_end=lambda t, step, logs: batches.append(logs["loss"]))
    trainer = Trainer(model, optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
                      head=SoftmaxHead(3), callbacks=[record])
    h = trainer.fit((X, y), (Xv, yv), epochs=4, batch_size=20, seed=0)
    assert h is trainer.history and h.epochs == len(h) == 4
    for key in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "val_f1_macro", "lr",
                "time"):
        assert len(h[key]) == 4, key
    assert h["epoch"] == [1, 2, 3, 4]
    assert h["lr"] == [0.1] * 4
    assert "r2" not in h.history and "val_r2" not in h.history
    assert all(0 <= a <= 1 for a in h["accuracy"] + h["val_accuracy"])
    # 3 equal batches per epoch: the epoch's loss is the mean of its batch losses
    assert trainer.step == 12 and len(batches) == 12
    assert_allclose(h["loss"], np.mean(np.reshape(batches, (4, 3)), axis=1), rtol=1e-6)
    # the last validation entries are those of the final model
    final = trainer.evaluate((Xv, yv))
    assert_allclose(h["val_loss"][-1], final["loss"], rtol=1e-6)
    assert h["val_accuracy"][-1] == final["accuracy"]
    assert h["loss"][-1] < h["loss"][0]  # it learns
    assert h.last()["epoch"] == 4 and h.rows[0]["epoch"] == 1


def test_history_regression_keys():
    X, y = linear_data()
    cr.manual_seed(0)
    model = nn.MLP(3, [4], 1)
    h = Trainer(model, optimizer=cr.optim.SGD(model.parameters(), lr=0.05),
                head=RegressionHead()).fit((X, y), (X, y), epochs=2, batch_size=10, seed=0)
    assert {"loss", "val_loss", "val_mse", "val_rmse", "val_mae", "val_r2", "lr"} <= set(h.history)
    assert "accuracy" not in h.history and "val_accuracy" not in h.history
    assert_allclose(h["val_mse"], h["val_loss"], rtol=1e-5)  # squared error is the loss
    assert_allclose(h["val_rmse"], np.sqrt(h["val_mse"]), rtol=1e-6)


def test_fit_function_with_a_plain_loss():
    X, y = linear_data()
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    h = fit(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.1), (X, y),
            epochs=3, batch_size=8)
    assert set(h.history) == {"epoch", "loss", "lr", "time"}
    assert h.epochs == 3 and h["loss"][-1] < h["loss"][0]


def test_fit_accepts_a_dataloader():
    X, y = linear_data()
    loader = cr.data.DataLoader(cr.data.ArrayDataset(X, y), batch_size=16, seed=0)
    model = cr.nn.Linear(3, 1)
    steps = []
    fit(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.1), loader, epochs=2,
        callbacks=[LambdaCallback(on_batch_end=lambda t, s, logs: steps.append(s))])
    assert steps == list(range(1, 7))  # 40 rows in batches of 16: 3 per epoch


# ------------------------------------------------------------------ full-batch GD
def test_full_batch_gradient_descent_matches_numpy():
    X, y = linear_data()
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    w = model.weight.numpy().astype(np.float64).ravel().copy()
    b = float(model.bias.numpy()[0])
    lr, epochs = 0.1, 6
    steps = []
    h = fit(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=lr), (X, y),
            epochs=epochs, batch_size=None,
            callbacks=[LambdaCallback(on_batch_end=lambda t, s, logs: steps.append(s))])
    assert steps == list(range(1, epochs + 1))  # one step per epoch
    Xd, yd = X.astype(np.float64), y.ravel().astype(np.float64)
    losses = []
    for _ in range(epochs):
        r = Xd @ w + b - yd
        losses.append((r ** 2).mean())
        w -= lr * 2 * Xd.T @ r / len(yd)
        b -= lr * 2 * r.mean()
    assert_allclose(model.weight.numpy().ravel(), w, rtol=1e-4, atol=1e-6)
    assert_allclose(model.bias.numpy(), [b], rtol=1e-4, atol=1e-6)
    assert_allclose(h["loss"], losses, rtol=1e-4)


def test_trainer_and_fit_validation():
    model = cr.nn.Linear(2, 1)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="optimizer is required"):
        Trainer(model, cr.nn.MSELoss())
    with pytest.raises(ValueError, match="give loss_fn or head"):
        Trainer(model, optimizer=opt)
    with pytest.raises(ValueError, match="tol must be >= 0"):
        Trainer(model, cr.nn.MSELoss(), opt, tol=-1)
    with pytest.raises(ValueError, match="n_iter_no_change must be >= 1"):
        Trainer(model, cr.nn.MSELoss(), opt, n_iter_no_change=0)
    X = np.zeros((4, 2), np.float32)
    y = np.zeros((4, 1), np.float32)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="epochs must be a non-negative integer"):
            Trainer(model, cr.nn.MSELoss(), opt).fit((X, y), epochs=bad)
    with pytest.raises(ValueError, match="sample_weight has shape"):
        Trainer(model, cr.nn.MSELoss(), opt).fit((X, y, np.ones(3)), epochs=1)


# ------------------------------------------------------------------ sample and class weights
def _train_linear_softmax(data, epochs=5, class_weight=None, lr=0.5):
    cr.manual_seed(0)
    model = cr.nn.Linear(2, 3)
    trainer = Trainer(model, optimizer=cr.optim.SGD(model.parameters(), lr=lr),
                      head=SoftmaxHead(3), class_weight=class_weight)
    h = trainer.fit(data, epochs=epochs, batch_size=None)
    return weights_of(model), h, trainer


def _assert_same_weights(a, b):
    for k in a:
        assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_integer_sample_weights_equal_repeated_rows():
    X, y = _blobs(12)
    w = np.array([1, 2, 3, 1, 1, 2, 1, 1, 3, 1, 2, 1])
    weighted, hw, _ = _train_linear_softmax((X, y, w.astype(np.float32)))
    repeated, hr, _ = _train_linear_softmax((np.repeat(X, w, axis=0), np.repeat(y, w)))
    unweighted, _, _ = _train_linear_softmax((X, y))
    _assert_same_weights(weighted, repeated)
    assert_allclose(hw["loss"], hr["loss"], rtol=1e-5)
    assert not np.allclose(weighted["weight"], unweighted["weight"], atol=1e-4)


def test_zero_sample_weights_drop_rows():
    X, y = _blobs(12)
    keep = np.arange(12) % 4 != 0
    weighted, _, _ = _train_linear_softmax((X, y, keep.astype(np.float32)))
    subset, _, _ = _train_linear_softmax((X[keep], y[keep]))
    _assert_same_weights(weighted, subset)


def test_class_weight_balanced():
    X, y = _blobs(12)
    y = np.array([0] * 8 + [1] * 2 + [2] * 2)
    balanced, _, trainer = _train_linear_softmax((X, y), class_weight="balanced")
    expected = len(y) / (3 * np.bincount(y))  # scikit-learn's n_samples / (n_classes * count)
    assert_allclose(trainer._class_weights, expected, rtol=1e-6)
    explicit, _, _ = _train_linear_softmax((X, y, expected[y].astype(np.float32)))
    plain, _, _ = _train_linear_softmax((X, y))
    _assert_same_weights(balanced, explicit)
    assert not np.allclose(balanced["weight"], plain["weight"], atol=1e-4)


def test_class_weight_dict_and_sample_weights_multiply():
    X, y = _blobs(12)
    sw = np.linspace(0.5, 2.0, 12).astype(np.float32)
    cw = {1: 4.0, 2: 0.5}
    got, _, _ = _train_linear_softmax((X, y, sw), class_weight=cw)
    per_class = np.array([1.0, 4.0, 0.5])
    expected, _, _ = _train_linear_softmax((X, y, (per_class[y] * sw).astype(np.float32)))
    _assert_same_weights(got, expected)


def test_class_weight_binary_head():
    X, y3 = _blobs(20)
    y = (y3 == 0).astype(np.int64)  # 7 positives, 13 negatives
    cr.manual_seed(0)
    model = cr.nn.Linear(2, 1)
    trainer = Trainer(model, optimizer=cr.optim.SGD(model.parameters(), lr=0.5),
                      head=BinaryHead(), class_weight="balanced")
    trainer.fit((X, y), epochs=3, batch_size=None)
    assert_allclose(trainer._class_weights, 20 / (2 * np.bincount(y)), rtol=1e-6)


def test_class_weight_errors():
    X, y = _blobs(12)
    model = cr.nn.Linear(2, 3)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="dict or 'balanced'"):
        Trainer(model, optimizer=opt, head=SoftmaxHead(3), class_weight="auto").fit((X, y))
    with pytest.raises(ValueError, match="class 5 is not in 0..2"):
        Trainer(model, optimizer=opt, head=SoftmaxHead(3), class_weight={5: 2.0}).fit((X, y))
    with pytest.raises(ValueError, match="needs a classification head"):
        Trainer(model, cr.nn.MSELoss(), opt, class_weight="balanced").fit(
            (X, np.zeros((12, 3), np.float32)))


def test_weighted_validation_loss():
    X, y = _blobs(12)
    w = np.linspace(0.0, 2.0, 12).astype(np.float32)
    model = cr.nn.Linear(2, 3)
    trainer = Trainer(model, optimizer=cr.optim.SGD(model.parameters(), lr=0.0),
                      head=SoftmaxHead(3))
    h = trainer.fit((X, y), (X, y, w), epochs=1, batch_size=None)
    logp = F.log_softmax(model(cr.tensor(X)), axis=-1).numpy().astype(np.float64)
    nll = -logp[np.arange(12), y]
    assert_allclose(h["val_loss"][0], (w * nll).sum() / w.sum(), rtol=1e-5)


# ------------------------------------------------------------------ output: bar or lines
def test_verbose_prints_one_line_per_epoch_when_not_a_terminal(capsys):
    X, y = _blobs()
    model = cr.nn.Linear(2, 3)
    Trainer(model, optimizer=cr.optim.SGD(model.parameters(), lr=0.1), head=SoftmaxHead(3),
            verbose=1).fit((X, y), (X, y), epochs=3, batch_size=16)
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert line.startswith(f"epoch {i + 1} ")
        assert "loss" in line and "val_loss" in line and "val_accuracy" in line
    assert "\r" not in captured.err  # no progress bar redraws


def test_silent_when_not_verbose(capsys):
    X, y = _blobs()
    model = cr.nn.Linear(2, 3)
    Trainer(model, optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
            head=SoftmaxHead(3)).fit((X, y), epochs=2)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


class _FakeTerminal:
    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass


def test_progress_bar_only_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys, "stderr", _FakeTerminal())
    bar = Progress(total=5, epoch=0, epochs=2)
    assert bar._bar is not None
    for _ in range(5):
        bar.update(0.5)
    assert bar._bar.n == 5
    bar.close()
    assert bar._bar is None
    assert "epoch 1/2" in "".join(sys.stderr.text)
    assert Progress(total=5, epoch=0, epochs=2, enabled=False)._bar is None


def test_no_progress_bar_without_a_terminal(monkeypatch):
    class Pipe(_FakeTerminal):
        def isatty(self):
            return False

    monkeypatch.setattr(sys, "stderr", Pipe())
    bar = Progress(total=5, epoch=0, epochs=2)
    assert bar._bar is None
    bar.update(1.0)
    bar.close()
    assert sys.stderr.text == []


# ------------------------------------------------------------------ options the estimators use
def test_a_minibatch_of_zero_weight_makes_no_step():
    X, y = _blobs(12)
    w = np.zeros(12, np.float32)
    before = _train_linear_softmax((X, y, w), epochs=0)[0]
    after, h, trainer = _train_linear_softmax((X, y, w), epochs=2)
    _assert_same_weights(before, after)
    assert trainer.step == 0 and trainer.samples_seen == 24 and h["loss"] == [0.0, 0.0]


def test_convergence_on_a_maximised_metric_and_after_backward_hook():
    X, y = _blobs(30)
    cr.manual_seed(0)
    model = cr.nn.Linear(2, 3)
    seen = []
    bump = LambdaCallback(on_after_backward=lambda t, logs: (
        seen.append((logs["n"], logs["weight"])), logs.__setitem__("loss", 100.0)))
    trainer = Trainer(model, optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
                      head=SoftmaxHead(3), callbacks=[bump], tol=10.0, n_iter_no_change=2,
                      monitor="val_score", mode="max", val_loss=False,
                      metrics={"score": lambda yt, out, w: float((out.argmax(1) == yt).mean())})
    h = trainer.fit((X, y), val_data=(X, y), epochs=20, batch_size=10, seed=0)
    # the score can never beat the first epoch's by tol=10: stops after 2 more epochs
    assert h.epochs == 3 and trainer.converged and "val_score" in h.history
    assert "val_loss" not in h.history and h["loss"] == [100.0] * 3
    assert seen[0] == (10, 10) and len(seen) == 9


# ---------------------------------------------------------------- compile=True
def _twin_fits(make_model, head, X, y, compile_kw, sample_weight=None, **fit_kw):
    """Train the same model with and without step capture; return both (model, history)."""
    runs = []
    for compiled in (False, True):
        model = make_model()
        opt = cr.optim.Adam(model.parameters(), lr=0.01)
        trainer = Trainer(model, optimizer=opt, head=head, compile=compiled, **compile_kw)
        data = (X, y) if sample_weight is None else (X, y, sample_weight)
        history = trainer.fit(data, epochs=3, batch_size=16, seed=0, **fit_kw)
        runs.append((model, history, trainer))
    return runs


def _mlp(d_in, d_out, dtype="float32"):
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(d_in, 8, dtype=dtype), nn.ReLU(),
                         nn.Linear(8, d_out, dtype=dtype))


@pytest.mark.parametrize("case", ["softmax", "binary", "regression", "weighted", "float64"])
def test_compile_trains_bitwise_as_the_engine(case):
    X, y = _blobs(n=50)
    head, d_out, dtype, w = SoftmaxHead(3), 3, "float32", None
    if case == "binary":
        y, head, d_out = (y > 0).astype(np.int64), BinaryHead(), 1
    elif case == "regression":
        y, head, d_out = X[:, :1] * 2 - X[:, 1:], RegressionHead(1), 1
    elif case == "weighted":  # sample weights: the engine path, still the same training
        w = np.linspace(0.5, 2.0, len(y))
    elif case == "float64":
        X, dtype = X.astype(np.float64), "float64"
    (m1, h1, _), (m2, h2, t2) = _twin_fits(lambda: _mlp(2, d_out, dtype), head, X, y, {},
                                           sample_weight=w)
    for (name, p), q in zip(m1.named_parameters(), m2.parameters()):
        assert_array_equal(q.data, p.data, err_msg=name)
    assert h1["loss"] == h2["loss"]
    if head.task == "classification":
        assert h1["accuracy"] == h2["accuracy"]
    assert t2._captured.captured is (case != "weighted"), t2._captured.reason


def test_compile_falls_back_for_a_model_it_does_not_capture():
    X, y = _blobs(n=30)

    def make():
        cr.manual_seed(0)
        return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))

    (m1, h1, _), (m2, h2, t2) = _twin_fits(make, SoftmaxHead(3), X, y, {})
    assert not t2._captured.captured and "Tanh" in t2._captured.reason
    assert h1["loss"] == h2["loss"]
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert_array_equal(q.data, p.data)
