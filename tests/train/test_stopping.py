"""When training stops early (chainrule/train/stopping.py): the finite-value guard
(TrainingDiverged) and the convergence test."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import assert_weights_equal, linear_data, weights_of

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.errors import ChainruleError
from chainrule.train import LambdaCallback, Trainer, fit
from chainrule.train.loop import TrainingDiverged as LoopTrainingDiverged
from chainrule.train.stopping import (
    TrainingDiverged,
    all_finite,
    check_convergence,
    guarded_step,
    loss_diverged,
)


# ------------------------------------------------------------------ NaN / divergence guard
def _exploding_regression():
    X, y = linear_data(32)
    return X * 10, y * 10


def test_loss_overflow_stops_naming_the_step_with_finite_weights():
    X, y = _exploding_regression()
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    snapshots = {}

    def snap(trainer, step, logs):
        snapshots[step] = weights_of(trainer.model)

    # the overflow is the subject: the guard reports it, not NumPy's warning
    with pytest.raises(TrainingDiverged) as info, np.errstate(all="ignore"):
        fit(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=1.0), (X, y),
            epochs=100, batch_size=None, callbacks=[LambdaCallback(on_batch_end=snap)])
    last = max(snapshots)
    assert 1 < last < 100
    msg = str(info.value)
    assert f"epoch {last + 1}, step {last + 1}" in msg
    assert "last finite" in msg and "learning rate" in msg
    assert all(np.isfinite(v).all() for v in model.state_dict().values())
    assert_weights_equal(model, snapshots[last])


def test_update_that_overflows_the_weights_stops_at_that_step():
    # lr * grad overflows float32 on the first step although loss and gradients are finite
    X, y = _exploding_regression()
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    logged = []
    # the overflow is the subject: the guard reports it, not NumPy's warning
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step 1 overflowed.*'weight'"), \
            np.errstate(all="ignore"):
        fit(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=1e38), (X, y),
            epochs=3, batch_size=None,
            callbacks=[LambdaCallback(on_batch_end=lambda *a: logged.append(a[1]))])
    assert logged == []  # stopped before the step was counted, logged or checkpointed


def test_nan_gradient_with_a_finite_loss_is_caught():
    X, y = linear_data()

    def loss_fn(out, target):  # sqrt'(0) is infinite: a finite loss with NaN gradients
        return F.mse_loss(out, target) + (out * 0).sqrt().sum()

    cr.manual_seed(0)
    model = nn.MLP(3, [4], 1)
    steps = []
    good = {}

    def snap(trainer, step, logs):
        steps.append(step)
        good.update(weights_of(trainer.model))

    good.update(weights_of(model))
    # sqrt(0)'s infinite slope is the subject: the guard reports it, not NumPy's warning
    with pytest.raises(TrainingDiverged, match="step 1"), np.errstate(all="ignore"):
        fit(model, loss_fn, cr.optim.SGD(model.parameters(), lr=0.01), (X, y), epochs=2,
            batch_size=8, callbacks=[LambdaCallback(on_batch_end=snap)])
    assert steps == []
    assert_weights_equal(model, good)


def test_training_diverged_is_a_chainrule_error():
    assert issubclass(TrainingDiverged, ChainruleError)
    assert issubclass(TrainingDiverged, ValueError)


def test_training_diverged_is_still_importable_from_the_loop():
    assert LoopTrainingDiverged is TrainingDiverged is cr.train.TrainingDiverged


def test_all_finite_rechecks_a_sum_that_overflows():
    big = np.full(4, np.finfo(np.float32).max, dtype=np.float32)
    with np.errstate(over="raise", invalid="raise"):  # the check itself raises nothing
        assert all_finite(big)  # the sum overflows; every element is finite
        assert all_finite(np.zeros((0, 3), np.float32))
        for bad in (np.inf, -np.inf, np.nan):
            a = np.ones((2, 3), np.float32)
            a[1, 2] = bad
            assert not all_finite(a)
        big[0] = np.inf
        assert not all_finite(big)


def test_guarded_step_names_the_parameter_and_leaves_the_weights():
    cr.manual_seed(0)
    model = nn.Linear(2, 1)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    before = weights_of(model)
    model.weight.grad = np.zeros_like(model.weight.data)
    model.bias.grad = np.array([np.nan], np.float32)
    with pytest.raises(TrainingDiverged, match=r"gradient of 'bias' .* epoch 3, step 8;"):
        guarded_step(model, opt, 2, 7)
    assert_weights_equal(model, before)
    model.bias.grad = np.ones(1, np.float32)
    guarded_step(model, opt, 2, 7)  # finite: the update is made
    assert model.bias.data[0] == pytest.approx(before["bias"][0] - 0.1)


def test_loss_diverged_message():
    e = loss_diverged(math.inf, 0, 4)
    assert isinstance(e, TrainingDiverged)
    assert str(e).startswith("the training loss became inf at epoch 1, step 5;")


# ------------------------------------------------------------------ convergence
def _sklearn_stop_epoch(values, tol, n_iter_no_change):
    """The epoch (1-based) at which scikit-learn's MLP rule stops, or None."""
    best, bad = math.inf, 0
    for i, v in enumerate(values):
        bad = bad + 1 if v > best - tol else 0
        best = min(best, v)
        if bad >= n_iter_no_change:
            return i + 1
    return None


def test_convergence_on_training_loss_stops_early_and_says_why():
    X, y = linear_data()
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    trainer = Trainer(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.1),
                      tol=1e-4, n_iter_no_change=3)
    h = trainer.fit((X, y), epochs=500, batch_size=None)
    assert 5 < h.epochs < 500
    assert h.epochs == _sklearn_stop_epoch(h["loss"], 1e-4, 3)
    assert trainer.stop_training
    assert "converged" in trainer.stop_reason and "loss" in trainer.stop_reason
    assert "tol=0.0001" in trainer.stop_reason and "3 consecutive epochs" in trainer.stop_reason
    # each of the last n_iter_no_change epochs improved by less than tol on the best so far
    for i in range(h.epochs - 3, h.epochs):
        assert h["loss"][i] > min(h["loss"][:i]) - 1e-4


def test_convergence_monitors_validation_loss_when_there_is_one():
    X, y = linear_data()
    Xv, yv = linear_data(20, seed=1)
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    trainer = Trainer(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.1),
                      tol=1e-3, n_iter_no_change=2)
    h = trainer.fit((X, y), (Xv, yv), epochs=500, batch_size=None)
    assert h.epochs < 500
    assert h.epochs == _sklearn_stop_epoch(h["val_loss"], 1e-3, 2)
    assert "val_loss" in trainer.stop_reason


def test_no_tol_runs_every_epoch(capsys):
    X, y = linear_data()
    model = cr.nn.Linear(3, 1)
    trainer = Trainer(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.1))
    h = trainer.fit((X, y), epochs=40, batch_size=None)
    assert h.epochs == 40 and trainer.stop_reason is None


def test_stop_message_printed_when_verbose(capsys):
    X, y = linear_data()
    model = cr.nn.Linear(3, 1)
    trainer = Trainer(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.1),
                      tol=1.0, n_iter_no_change=1, verbose=1)
    h = trainer.fit((X, y), epochs=50, batch_size=None)
    err = capsys.readouterr().err
    assert f"Stopped after epoch {h.epochs}: converged" in err


def _state(tol, mode="min", n_iter_no_change=2, monitor=None):
    return SimpleNamespace(tol=tol, monitor=monitor, mode=mode, n_iter_no_change=n_iter_no_change,
                           best_monitored=math.inf if mode == "min" else -math.inf,
                           no_improvement_count=0, stop_training=False, converged=False,
                           stop_reason=None)


def _epochs_until_stop(trainer, logs_per_epoch):
    for epoch, logs in enumerate(logs_per_epoch, 1):
        check_convergence(trainer, logs)
        if trainer.stop_training:
            return epoch
    return None


@pytest.mark.parametrize("mode, values, stop_at", [
    ("min", [5.0, 4.0, 3.95, 3.99, 3.0], 4),  # 3.95 and 3.99 beat 4.0 by less than tol
    ("min", [5.0, 4.0, 3.95, 3.0, 2.95, 2.9], 6),
    ("max", [1.0, 2.0, 2.05, 1.0, 3.0], 4),
    ("max", [1.0, 2.0, 2.05, 2.2, 2.25], None),
])
def test_check_convergence_counts_epochs_without_an_improvement_by_tol(mode, values, stop_at):
    t = _state(0.1, mode, monitor="score")
    assert _epochs_until_stop(t, [{"loss": 0.0, "score": v} for v in values]) == stop_at
    assert t.converged is t.stop_training is (stop_at is not None)
    if stop_at is None:
        assert t.stop_reason is None
    else:
        assert t.stop_reason == ("converged: score improved by less than tol=0.1 for 2 "
                                 "consecutive epochs")
        assert t.best_monitored == (min if mode == "min" else max)(values[:stop_at])


def test_check_convergence_watches_val_loss_when_logged_else_loss():
    improving, stalled = [5.0, 4.0, 3.0, 2.0], [5.0, 4.0, 4.0, 4.0]
    t = _state(0.1)
    logs = [{"loss": a, "val_loss": b} for a, b in zip(improving, stalled)]
    assert _epochs_until_stop(t, logs) == 4 and "val_loss improved" in t.stop_reason
    t = _state(0.1)
    assert _epochs_until_stop(t, [{"loss": v} for v in stalled]) == 4
    assert t.stop_reason.startswith("converged: loss improved")


def test_check_convergence_without_tol_does_nothing():
    t = _state(None)
    for _ in range(5):
        check_convergence(t, {"loss": 1.0})
    assert not t.stop_training and t.no_improvement_count == 0 and t.best_monitored == math.inf
