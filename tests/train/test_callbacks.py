"""Callbacks: EarlyStopping, SchedulerCallback (per step / per epoch), ReduceLROnPlateau,
MetricLogger, LambdaCallback."""

import csv
import json

import numpy as np
import pytest
from helpers import assert_weights_equal, linear_data, weights_of
from numpy.testing import assert_allclose

import chainrule as cr
from chainrule.optim import lr_scheduler
from chainrule.train import (
    Callback,
    EarlyStopping,
    LambdaCallback,
    MetricLogger,
    SchedulerCallback,
    SoftmaxHead,
    Trainer,
    TrainingDiverged,
    fit,
)


def _blobs(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = np.array([[3.0, 0.0], [-1.5, 2.6], [-1.5, -2.6]])
    return (centres[y] + rng.normal(scale=0.8, size=(n, 2))).astype(np.float32), y


class _Script(Callback):
    """Overwrites the monitored value with a script (so the best epoch is known) and
    snapshots the weights at every epoch end. Put it before EarlyStopping."""

    def __init__(self, key, values):
        self.key, self.values, self.snapshots = key, list(values), []

    def on_epoch_end(self, trainer, epoch, logs):
        if self.key is not None:
            logs[self.key] = self.values[epoch]
        self.snapshots.append(weights_of(trainer.model))


def _classifier_trainer(callbacks, lr=0.2, **kwargs):
    cr.manual_seed(0)
    model = cr.nn.Linear(2, 3)
    return Trainer(model, optimizer=cr.optim.SGD(model.parameters(), lr=lr), head=SoftmaxHead(3),
                   callbacks=callbacks, **kwargs)


# ------------------------------------------------------------------ EarlyStopping
def test_early_stopping_on_val_loss_restores_the_best_epoch():
    X, y = _blobs()
    script = _Script("val_loss", [1.0, 0.8, 0.5, 0.6, 0.55, 0.7, 0.9, 0.4])
    es = EarlyStopping(patience=3, verbose=False)
    assert es.monitor == "val_loss"  # the default
    trainer = _classifier_trainer([script, es])
    h = trainer.fit((X, y), (X, y), epochs=8, batch_size=16, seed=0)
    assert h.epochs == 6  # best at epoch 3, then 3 epochs without improvement
    assert es.best == 0.5 and es.best_epoch == 2 and es.stopped_epoch == 5
    assert "val_loss" in trainer.stop_reason and "epoch 3" in trainer.stop_reason
    assert_weights_equal(trainer.model, script.snapshots[2])
    assert not np.array_equal(script.snapshots[2]["weight"], script.snapshots[5]["weight"])


def test_early_stopping_restores_best_weights_when_training_diverges():
    X, y = linear_data(noise=0.1)
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    opt = cr.optim.SGD(model.parameters(), lr=0.05)
    script = _Script(None, [])
    es = EarlyStopping("loss", patience=100, verbose=False)

    def explode(trainer, epoch, logs):  # the learning rate blows up after epoch 4 (2.0: the
        # loss takes more than one epoch to pass 1e4 times its first value, stopping.py)
        if epoch == 3:
            opt.param_groups[0]["lr"] = 2.0

    # the divergence is the subject: the guard reports it, not NumPy's overflow warning
    with pytest.raises(TrainingDiverged), np.errstate(all="ignore"):
        fit(model, cr.nn.MSELoss(), opt, (X, y), epochs=50, batch_size=8,
            callbacks=[script, es, LambdaCallback(on_epoch_end=explode)])
    assert es.best_epoch == 3  # loss fell every epoch until the explosion
    assert 5 <= len(script.snapshots) < 50  # it went on after the best epoch, then diverged
    assert all(np.isfinite(v).all() for v in model.state_dict().values())
    assert_weights_equal(model, script.snapshots[3])


def test_early_stopping_restores_even_without_stopping_early():
    X, y = _blobs()
    script = _Script("val_loss", [0.9, 0.3, 0.5, 0.6])
    es = EarlyStopping(patience=10, verbose=False)
    trainer = _classifier_trainer([script, es])
    h = trainer.fit((X, y), (X, y), epochs=4, batch_size=16, seed=0)
    assert h.epochs == 4 and trainer.stop_reason is None
    assert_weights_equal(trainer.model, script.snapshots[1])


def test_early_stopping_without_restore_keeps_the_last_weights():
    X, y = _blobs()
    script = _Script("val_loss", [0.9, 0.3, 0.5, 0.6])
    es = EarlyStopping(patience=2, restore_best_weights=False, verbose=False)
    trainer = _classifier_trainer([script, es])
    trainer.fit((X, y), (X, y), epochs=4, batch_size=16, seed=0)
    assert es.best_weights is None
    assert_weights_equal(trainer.model, script.snapshots[-1])


def test_early_stopping_maximises_accuracy_and_honours_min_delta():
    X, y = _blobs()
    script = _Script("val_accuracy", [0.5, 0.7, 0.75, 0.72, 0.79, 0.9])
    es = EarlyStopping("val_accuracy", patience=3, min_delta=0.1, verbose=False)
    trainer = _classifier_trainer([script, es])
    h = trainer.fit((X, y), (X, y), epochs=6, batch_size=16, seed=0)
    # 0.7 improves on 0.5 by 0.2; 0.75 and 0.79 do not improve on 0.7 by min_delta
    assert es.best == 0.7 and es.best_epoch == 1
    assert h.epochs == 5
    assert_weights_equal(trainer.model, script.snapshots[1])


def test_early_stopping_mode_min_on_a_custom_metric():
    X, y = _blobs()
    script = _Script("val_accuracy", [0.9, 0.5, 0.7, 0.8])
    es = EarlyStopping("val_accuracy", patience=2, mode="min", verbose=False)
    trainer = _classifier_trainer([script, es])
    trainer.fit((X, y), (X, y), epochs=4, batch_size=16, seed=0)
    assert es.best == 0.5 and es.best_epoch == 1


def test_early_stopping_falls_back_to_training_loss_and_says_so(capsys):
    X, y = _blobs()
    es = EarlyStopping(patience=2)
    trainer = _classifier_trainer([es])
    h = trainer.fit((X, y), epochs=3, batch_size=16, seed=0)
    err = capsys.readouterr().err
    assert "no validation data" in err and "monitoring 'loss'" in err and "'val_loss'" in err
    assert es.monitor == "loss"
    assert es.best == min(h["loss"])


def test_early_stopping_unknown_monitor_lists_logged_values():
    X, y = _blobs()
    trainer = _classifier_trainer([EarlyStopping("val_auc", verbose=False)])
    with pytest.raises(ValueError, match=r"'val_auc' is not among .*'val_loss'"):
        trainer.fit((X, y), (X, y), epochs=2)


def test_early_stopping_argument_validation():
    with pytest.raises(ValueError, match="patience must be >= 0"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        EarlyStopping(mode="up")


def test_early_stopping_on_real_validation_loss():
    # labels flipped between training and validation: the validation loss gets worse
    X, y = _blobs()
    es = EarlyStopping(patience=2, verbose=False)
    script = _Script(None, [])
    trainer = _classifier_trainer([script, es], lr=0.5)
    h = trainer.fit((X, y), (X, (y + 1) % 3), epochs=30, batch_size=16, seed=0)
    assert h.epochs < 30
    best = int(np.argmin(h["val_loss"]))
    assert es.best_epoch == best and h.epochs == best + 3
    assert_weights_equal(trainer.model, script.snapshots[best])
    assert_allclose(trainer.evaluate((X, (y + 1) % 3))["loss"], h["val_loss"][best], rtol=1e-6)


# ------------------------------------------------------------------ LR schedulers
def _schedule_run(interval, use_callback=False, epochs=3):
    X, y = linear_data(40, noise=0.1)
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    used = []
    spy = LambdaCallback(on_epoch_begin=lambda t, e: used.append(t._lr()))
    if use_callback:
        kwargs = {"callbacks": [SchedulerCallback(sched, interval), spy]}
    else:
        kwargs = {"scheduler": sched, "scheduler_interval": interval, "callbacks": [spy]}
    h = fit(model, cr.nn.MSELoss(), opt, (X, y), epochs=epochs, batch_size=20, **kwargs)
    return h, used, sched


def test_scheduler_per_epoch():
    h, used, sched = _schedule_run("epoch")
    assert_allclose(h["lr"], [0.1, 0.05, 0.025])  # the lr each epoch trained with
    assert_allclose(used, [0.1, 0.05, 0.025])
    assert sched.last_epoch == 3


def test_scheduler_per_step():
    h, used, sched = _schedule_run("step")
    # two steps per epoch; history holds the lr of each epoch's last update
    assert sched.last_epoch == 6
    assert_allclose(used, [0.1, 0.025, 0.00625])
    assert_allclose(h["lr"], [0.05, 0.0125, 0.003125])


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_scheduler_callback_equals_scheduler_argument(interval):
    a, _, _ = _schedule_run(interval)
    b, _, _ = _schedule_run(interval, use_callback=True)
    assert a["lr"] == b["lr"]
    assert a["loss"] == b["loss"]


def test_scheduler_callback_rejects_unknown_interval():
    opt = cr.optim.SGD(cr.nn.Linear(2, 1).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="interval must be 'epoch' or 'step'"):
        SchedulerCallback(lr_scheduler.StepLR(opt, 1), interval="batch")


def test_reduce_lr_on_plateau_gets_the_validation_loss():
    X, y = linear_data(40, noise=0.1)
    Xv, yv = linear_data(20, seed=1, noise=0.1)
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    opt = cr.optim.SGD(model.parameters(), lr=0.05)
    plateau = lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    seen = []
    spy = LambdaCallback(on_epoch_end=lambda t, e, logs: seen.append(plateau.best))
    h = fit(model, cr.nn.MSELoss(), opt, (X, y), (Xv, yv), epochs=4, batch_size=10,
            scheduler=plateau, callbacks=[spy])
    # stepped once per epoch with val_loss (not the training loss)
    assert plateau.last_epoch == 4
    assert seen == [min(h["val_loss"][:i + 1]) for i in range(4)]
    assert plateau.best != min(h["loss"])


def test_reduce_lr_on_plateau_cuts_the_lr_when_stuck():
    X, y = linear_data(40, noise=0.1)
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    opt = cr.optim.SGD(model.parameters(), lr=1e-7)  # too small to improve the loss by 1e-4
    plateau = lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    h = fit(model, cr.nn.MSELoss(), opt, (X, y), (X, y), epochs=7, batch_size=None,
            scheduler=plateau)
    # epoch 1 sets the best; after 2 epochs without improvement the lr halves (PyTorch rule)
    assert_allclose(h["lr"], [1e-7, 1e-7, 1e-7, 5e-8, 5e-8, 2.5e-8, 2.5e-8])


def test_reduce_lr_on_plateau_uses_training_loss_without_validation():
    X, y = linear_data(40, noise=0.1)
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 1)
    opt = cr.optim.SGD(model.parameters(), lr=0.05)
    plateau = lr_scheduler.ReduceLROnPlateau(opt, patience=1)
    h = fit(model, cr.nn.MSELoss(), opt, (X, y), epochs=3, batch_size=10, scheduler=plateau)
    assert plateau.best == min(h["loss"])


# ------------------------------------------------------------------ MetricLogger
def _logged_run(path, epochs=3):
    X, y = _blobs()
    trainer = _classifier_trainer([MetricLogger(path)])
    h = trainer.fit((X, y), (X[:24], y[:24]), epochs=epochs, batch_size=16, seed=0)
    return h


def test_metric_logger_csv(tmp_path):
    path = tmp_path / "log.csv"
    h = _logged_run(path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert list(rows[0]) == list(h.history)
    assert {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(rows[0])
    for row, expected in zip(rows, h.rows):
        assert int(row["epoch"]) == expected["epoch"]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            assert_allclose(float(row[key]), expected[key], rtol=1e-12)


def test_metric_logger_jsonl(tmp_path):
    path = tmp_path / "log.jsonl"
    h = _logged_run(path)
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    rows = [json.loads(line) for line in lines]
    assert rows == h.rows


def test_metric_logger_writes_every_epoch(tmp_path):
    path = tmp_path / "log.jsonl"
    counts = []
    X, y = _blobs()
    logger = MetricLogger(path)
    check = LambdaCallback(
        on_epoch_end=lambda t, e, logs: counts.append(len(path.read_text().splitlines())))
    _classifier_trainer([logger, check]).fit((X, y), epochs=3, batch_size=16, seed=0)
    assert counts == [1, 2, 3]  # on disk after each epoch, not only at the end


def test_metric_logger_rejects_other_suffixes(tmp_path):
    with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
        MetricLogger(tmp_path / "log.txt")


# ------------------------------------------------------------------ LambdaCallback, stop flag
def test_callback_hooks_order_and_stop_training():
    X, y = _blobs()
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda t: calls.append("train_begin"),
        on_epoch_begin=lambda t, e: calls.append(f"epoch_begin {e}"),
        on_batch_end=lambda t, s, logs: calls.append(f"batch {s}"),
        on_epoch_end=lambda t, e, logs: (calls.append(f"epoch_end {e}"),
                                         setattr(t, "stop_training", e == 1)),
        on_train_end=lambda t: calls.append("train_end"))
    h = _classifier_trainer([cb]).fit((X, y), epochs=5, batch_size=24, seed=0)
    assert h.epochs == 2
    assert calls == ["train_begin", "epoch_begin 0", "batch 1", "batch 2", "epoch_end 0",
                     "epoch_begin 1", "batch 3", "batch 4", "epoch_end 1", "train_end"]


def test_lambda_callback_rejects_unknown_hooks():
    with pytest.raises(ValueError, match="unknown hook 'on_step'"):
        LambdaCallback(on_step=lambda *a: None)
