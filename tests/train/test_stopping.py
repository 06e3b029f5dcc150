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
    DIVERGENCE_FACTOR,
    DIVERGENCE_FLOOR,
    TrainingDiverged,
    all_finite,
    check_convergence,
    check_loss,
    guarded_step,
    loss_diverged,
)


# ------------------------------------------------------------------ NaN / divergence guard
def _exploding_regression():
    X, y = linear_data(32)
    return X * 10, y * 10


def test_a_loss_that_blows_up_stops_naming_the_step_before_its_update():
    X, y = _exploding_regression()
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    snapshots, losses = {}, []

    def snap(trainer, step, logs):
        snapshots[step] = weights_of(trainer.model)
        losses.append(logs["loss"])

    # the overflow is the subject: the guard reports it, not NumPy's warning
    with pytest.raises(TrainingDiverged) as info, np.errstate(all="ignore"):
        fit(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=1.0), (X, y),
            epochs=100, batch_size=None, callbacks=[LambdaCallback(on_batch_end=snap)])
    last = max(snapshots)
    assert 1 <= last < 100
    msg = str(info.value)
    assert f"epoch {last + 1}, step {last + 1}," in msg  # full batch: a step per epoch
    assert f"more than 10000 times its first value ({losses[0]:.3g})" in msg
    assert "diverged" in msg and "learning rate" in msg
    assert max(losses) <= DIVERGENCE_FACTOR * losses[0]  # every step it let through
    assert all(np.isfinite(v).all() for v in model.state_dict().values())
    assert_weights_equal(model, snapshots[last])


def test_an_infinite_loss_stops_with_the_last_finite_weights():
    X, y = linear_data(32)
    calls = []

    def loss_fn(out, target):  # finite for two steps, then overflows float32 at once
        calls.append(1)
        return F.mse_loss(out, target) * (1e39 if len(calls) == 3 else 1.0)

    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    snapshots = {}
    with pytest.raises(TrainingDiverged) as info, np.errstate(all="ignore"):
        fit(model, loss_fn, cr.optim.SGD(model.parameters(), lr=0.01), (X, y), epochs=5,
            batch_size=None,
            callbacks=[LambdaCallback(on_batch_end=lambda t, s, logs: snapshots.update(
                {s: weights_of(t.model)}))])
    assert str(info.value).startswith("the training loss became inf at epoch 3, step 3;")
    assert "last finite" in str(info.value)
    assert_weights_equal(model, snapshots[2])


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
    e = loss_diverged(1.4e27, 2, 40, first=2.31)
    assert str(e) == ("the training loss became 1.4e+27 at epoch 3, step 41, more than 10000 "
                      "times its first value (2.31): training diverged and stopped before "
                      "that update (try a lower learning rate)")


def _trainer(step=0, history=()):
    return SimpleNamespace(step=step, history=cr.train.History(history))


def _first_diverged(losses, trainer=None):
    """The 0-based index of the loss check_loss refuses, or None."""
    trainer = trainer or _trainer()
    for i, v in enumerate(losses):
        try:
            check_loss(trainer, v, 0)
        except TrainingDiverged:
            return i
        trainer.step += 1
    return None


@pytest.mark.parametrize("losses, refused", [
    ([2.3, 1.0, 0.5, 2.3e4 - 1, 0.1], None),  # up to 1e4 times the first loss: let through
    ([2.3, 1.0, 2.3e4 + 1], 2),
    ([2.3, 9e19], 1),                          # adam --lr 1e9 on digits
    ([2.3, math.inf], 1), ([2.3, math.nan], 1), ([math.nan], 0),
    ([2.5e7, 1e8, 2.4e11], None),              # a squared error in dollars: its own scale
    ([2.5e7, 2.6e11], 1),
    ([1e-6, 0.5, 99.0], None),                 # a near-zero first loss: the floor, 1e-2
    ([0.0, 101.0], 1),
    ([-5.0, -100.0, 4e4], None),               # a loss below zero: its size counts
    ([-5.0, 5.1e4], 1),
])
def test_check_loss_refuses_a_loss_grown_by_the_factor_over_the_first(losses, refused):
    assert DIVERGENCE_FACTOR == 1e4 and DIVERGENCE_FLOOR == 1e-2
    assert _first_diverged(losses) == refused


def test_check_loss_names_the_step_and_keeps_the_first_loss_on_the_trainer():
    t = _trainer(step=6)
    check_loss(t, 3.0, 1)
    with pytest.raises(TrainingDiverged, match=r"1e\+05 at epoch 2, step 7, more than "
                                               r"10000 times its first value \(3\)"):
        check_loss(t, 1e5, 1)
    check_loss(t, 2.9e4, 1)  # the first loss stays the reference
    assert t._first_loss == 3.0


def test_a_resumed_trainer_measures_from_its_first_epoch_too():
    # resumed with a loss 1e3 times below its first epoch's: not a tighter bound than that
    t = _trainer(step=500, history=[{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 0.1}])
    assert _first_diverged([0.002, 1.0, 2e4 - 1], t) is None
    assert _first_diverged([2e4 + 1], t) == 0


def _max_loss_ratio(args, tmp_path):
    """max(step loss) / first step loss of the CLI's run for ``args`` (healthy runs)."""
    from chainrule.cli import _check_train_args, _recipe_from_args
    from chainrule.cli_args import _build_parser
    from chainrule.train import run

    tmp_path.mkdir()
    a = _build_parser().parse_args(["train", "--quiet", "--out", str(tmp_path), *args])
    _check_train_args(a)
    r = run.prepare(_recipe_from_args(a))
    losses = []
    r.trainer.callbacks.append(LambdaCallback(
        on_batch_end=lambda t, step, logs: losses.append(logs["loss"])))
    run.train(r)
    return max(losses) / losses[0]


def test_healthy_default_runs_stay_far_below_the_divergence_factor(tmp_path):
    pytest.importorskip("sklearn", reason="digits needs scikit-learn")
    X, y = linear_data(300, noise=0.1)
    rows = ["x1,x2,x3,price"] + [f"{a},{b},{c},{1000 * t + 5000}" for (a, b, c), t
                                 in zip(X.tolist(), y[:, 0].tolist())]
    (tmp_path / "prices.csv").write_text("\n".join(rows) + "\n")
    # the default model and optimizer; 10 epochs are the first 340 steps of digits' run
    for args in (["--epochs", "10"],
                 ["--data", str(tmp_path / "prices.csv"), "--target", "price"]):
        assert _max_loss_ratio(args, tmp_path / f"run{len(args)}") < 10  # 1e4 refuses


def test_fit_with_a_huge_learning_rate_diverges_although_the_loss_stays_finite():
    pytest.importorskip("sklearn", reason="digits needs scikit-learn")
    table = cr.data.load_dataset("digits")
    X = (table.X - table.X.mean(0)) / (table.X.std(0) + 1e-6)
    cr.manual_seed(0)
    model = nn.MLP(64, [32], 10)
    losses = []
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step 2, more than 10000 times its "
                                               r"first value .* diverged"):
        fit(model, cr.nn.CrossEntropyLoss(), cr.optim.Adam(model.parameters(), lr=1e9),
            (X.astype(np.float32), table.y), epochs=3, batch_size=32, seed=0,
            callbacks=[LambdaCallback(on_batch_end=lambda t, s, logs: losses.append(
                logs["loss"]))])
    assert len(losses) == 1 and math.isfinite(losses[0])
    assert all(np.isfinite(v).all() for v in model.state_dict().values())


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
