"""Exact resume: a run stopped anywhere and resumed ends bit for bit where an unbroken one does.

In process: resuming from checkpoints all over a run (mid-epoch, at the boundary after an
epoch's last step, at epoch ends) gives the same weights, optimizer state, history and
callback state. In subprocesses: ``chainrule train`` killed with SIGKILL at random moments
(several times) or stopped with Ctrl-C, then resumed, writes the same model file.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors.numpy as sn

import chainrule as cr
from chainrule import nn, optim
from chainrule.backend import get_rng_state
from chainrule.data import ArrayDataset, DataLoader
from chainrule.train import CheckpointManager, EarlyStopping, Trainer, make_head
from chainrule.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint

EPOCHS = 4


def _data():
    r = np.random.default_rng(42)
    X = r.normal(size=(130, 2)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64) + (X[:, 0] > 1).astype(np.int64)
    return (X[:100], y[:100]), (X[100:], y[100:])


def _trainer(kind, directory, every_steps=1, every_epoch=False, patience=100, mode="auto"):
    """The same run, built from scratch: what a resuming script does."""
    cr.manual_seed(7)
    model = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(16, 3))
    scheduler = None
    if kind == "sgd":
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        opt = optim.Adam(model.parameters(), lr=0.02)
        scheduler = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS * 7)
    trainer = Trainer(model, head=make_head("classification", n_classes=3), optimizer=opt,
                      scheduler=scheduler, scheduler_interval="step",
                      callbacks=[EarlyStopping("val_loss", patience=patience, mode=mode,
                                               verbose=False)],
                      checkpoint=CheckpointManager(directory, every_steps=every_steps,
                                                   every_epoch=every_epoch, keep=1000))
    train, _ = _data()
    loader = DataLoader(ArrayDataset(*train), batch_size=16, seed=3)  # 7 batches an epoch
    return trainer, loader


def _fit(trainer, loader, resume=None, epochs=EPOCHS):
    _, val = _data()
    trainer.fit(loader, val, epochs=epochs, resume=resume)
    return trainer


def _assert_same_run(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    for k, v in a.model.state_dict().items():
        assert np.array_equal(v, b.model.state_dict()[k]), k
    for i, st in sa["optimizer"]["state"].items():
        for name, v in st.items():
            assert np.array_equal(v, sb["optimizer"]["state"][i][name]), (i, name)
    assert sa["optimizer"]["param_groups"] == sb["optimizer"]["param_groups"]
    assert sa["rng"] == sb["rng"] and sa["loader"] == sb["loader"]
    assert (sa["epoch"], sa["step"]) == (sb["epoch"], sb["step"])
    strip = [{k: v for k, v in row.items() if k != "time"} for row in a.history.rows]
    assert strip == [{k: v for k, v in row.items() if k != "time"} for row in b.history.rows]
    ea, eb = (next(c for c in t.callbacks if isinstance(c, EarlyStopping)) for t in (a, b))
    assert (ea.best, ea.best_epoch, ea.wait) == (eb.best, eb.best_epoch, eb.wait)
    for k, v in ea.best_weights.items():
        assert np.array_equal(v, eb.best_weights[k]), k


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_resume_from_checkpoints_all_over_the_run_is_exact(tmp_path, kind):
    ref = _fit(*_trainer(kind, tmp_path / "ref"))
    paths = sorted(list_checkpoints(tmp_path / "ref"))
    assert len(paths) == EPOCHS * 7  # one a step, including those after an epoch's last step
    # mid-epoch, after an epoch's last step (7, 14...), the first step of an epoch
    for step in (1, 3, 6, 7, 8, 13, 14, 15, 20, 21, 22, 27, 28):
        path = paths[step - 1]
        state = load_checkpoint(path)
        resumed = _fit(*_trainer(kind, tmp_path / "resumed"), resume=state)
        _assert_same_run(ref, resumed)
        shutil.rmtree(tmp_path / "resumed", ignore_errors=True)


def test_resume_after_the_last_step_of_an_epoch_does_not_run_an_extra_epoch(tmp_path):
    ref = _fit(*_trainer("sgd", tmp_path / "ref"))
    state = load_checkpoint(os.path.join(tmp_path / "ref", "ckpt-0000000007.safetensors"))
    assert state["epoch"] == 0 and state["loader"]["batch_in_epoch"] == 7
    resumed = _fit(*_trainer("sgd", tmp_path / "b"), resume=state)
    assert resumed.step == ref.step == EPOCHS * 7
    _assert_same_run(ref, resumed)


def test_resume_from_several_interruptions_in_a_row(tmp_path):
    """Stop at step 5, resume and stop at 12, resume and stop at 20, resume to the end."""
    ref = _fit(*_trainer("adam", tmp_path / "ref"))

    class Crash(Exception):
        pass

    def crash_at(trainer, step):
        def hook(tr, s, logs):
            if s == step:
                raise Crash
        trainer.callbacks.append(cr.train.LambdaCallback(on_batch_end=hook))

    d = tmp_path / "run"
    for stop in (5, 12, 20):
        trainer, loader = _trainer("adam", d)
        trainer.callbacks.append(cr.train.LambdaCallback())  # same count of callbacks
        crash_at(trainer, stop)
        with pytest.raises(Crash):
            _fit(trainer, loader, resume=True if stop > 5 else None)
    trainer, loader = _trainer("adam", d)
    trainer.callbacks.extend([cr.train.LambdaCallback(), cr.train.LambdaCallback()])
    _fit(trainer, loader, resume=True)
    # the crash hooks ran before the step's checkpoint: resume from step-1 each time
    trainer.callbacks = trainer.callbacks[:-2]
    _assert_same_run(ref, trainer)


def test_fit_resume_accepts_a_state_a_file_a_directory_or_true(tmp_path):
    ref = _fit(*_trainer("sgd", tmp_path / "ref"))
    d = tmp_path / "ref"
    mid = os.path.join(d, "ckpt-0000000010.safetensors")
    for resume in (load_checkpoint(mid), mid):
        _assert_same_run(ref, _fit(*_trainer("sgd", tmp_path / "x"), resume=resume))
    # a directory (or True): its newest checkpoint, here the end of the run
    done = _fit(*_trainer("sgd", d), resume=str(d))
    _assert_same_run(ref, done)
    # True with an empty directory starts afresh; a directory without checkpoints is an error
    fresh = _fit(*_trainer("sgd", tmp_path / "new"), resume=True)
    _assert_same_run(ref, fresh)
    (tmp_path / "empty").mkdir()
    with pytest.raises(cr.ChainruleError, match="no valid checkpoint"):
        _fit(*_trainer("sgd", tmp_path / "y"), resume=str(tmp_path / "empty"))
    with pytest.raises(TypeError, match="resume"):
        _fit(*_trainer("sgd", tmp_path / "y"), resume=3)


def test_resume_skips_a_damaged_newest_checkpoint(tmp_path, capsys):
    ref = _fit(*_trainer("sgd", tmp_path / "ref"))
    d = tmp_path / "run"
    shutil.copytree(tmp_path / "ref", d)
    for p in list_checkpoints(d)[:-12]:  # keep steps 1..12
        os.remove(p)
    newest = list_checkpoints(d)[0]
    data = bytearray(open(newest, "rb").read())
    data[-3] ^= 0xFF  # one flipped bit of a weight
    open(newest, "wb").write(bytes(data))
    path, state = latest_checkpoint(d)
    assert "damaged" in capsys.readouterr().err
    assert path.endswith("ckpt-0000000011.safetensors") and state["step"] == 11
    _assert_same_run(ref, _fit(*_trainer("sgd", d), resume=True))
    assert not os.path.exists(newest) or load_checkpoint(newest)  # replaced or removed


def test_early_stopping_stays_stopped_when_resumed(tmp_path):
    """A run that early stopping ended must not train on when resumed from its last
    checkpoint (a kill after that checkpoint, before the model file was written)."""
    # mode='max' on a loss: no improvement after the first epoch, so it stops after two
    trainer, loader = _trainer("sgd", tmp_path / "ref", every_steps=None, every_epoch=True,
                               patience=1, mode="max")
    ref = _fit(trainer, loader, epochs=10)
    assert ref.epoch == 2 and ref.stop_training
    again = _fit(*_trainer("sgd", tmp_path / "ref", every_steps=None, every_epoch=True,
                           patience=1, mode="max"), resume=True, epochs=10)
    assert again.epoch == 2 and again.step == ref.step
    _assert_same_run(ref, again)


def test_checkpoint_holds_history_and_early_stopping_state(tmp_path):
    ref = _fit(*_trainer("adam", tmp_path / "ref", every_epoch=True))
    state = load_checkpoint(list_checkpoints(tmp_path / "ref")[0])  # the last epoch's end
    assert [r["loss"] for r in state["history"]["rows"]] == ref.history["loss"]
    es = state["callbacks"][1]
    assert es["best"] == ref.callbacks[1].best and es["best_epoch"] == ref.callbacks[1].best_epoch
    for k, v in ref.callbacks[1].best_weights.items():
        assert np.array_equal(es["best_weights"][k], v)
    sched = state["callbacks"][0]["scheduler"]
    assert sched == ref.callbacks[0].scheduler.state_dict()
    steps = {int(s["step"]) for s in state["optimizer"]["state"].values()}
    assert steps == {EPOCHS * 7}  # Adam's step counters


# ------------------------------------------------------------------ the loader
def test_prefetching_never_touches_the_global_generator():
    X = np.arange(200, dtype=np.float32).reshape(100, 2)
    loader = DataLoader(ArrayDataset(X, np.zeros(100)), batch_size=8, seed=1, prefetch=True)
    before = get_rng_state()
    for _ in range(3):
        for _ in loader:
            pass
    assert get_rng_state() == before


def test_loader_position_counts_batches_handed_out_not_prefetched():
    X = np.arange(200, dtype=np.float32).reshape(100, 2)
    loader = DataLoader(ArrayDataset(X, np.zeros(100)), batch_size=8, seed=1, prefetch=True)
    it = iter(loader)
    seen = [next(it)[0].numpy() for _ in range(3)]
    time.sleep(0.05)  # let the prefetch thread run ahead
    assert loader.state_dict()["batch_in_epoch"] == 3
    rest = [b[0].numpy() for b in it]
    again = DataLoader(ArrayDataset(X, np.zeros(100)), batch_size=8, seed=99)
    again.load_state_dict({"seed": 1, "epoch": 0, "batch_in_epoch": 3})
    replay = [b[0].numpy() for b in again]
    assert len(seen) + len(rest) == len(loader)
    assert all(np.array_equal(a, b) for a, b in zip(rest, replay, strict=True))


# ------------------------------------------------------------------ subprocesses
_CLI = ("import sys; sys.modules['matplotlib'] = None; "  # no plots: 3x faster runs
        "from chainrule.cli import main; sys.exit(main(sys.argv[1:]))")
_ARGS = {
    "sgd": ["--optimizer", "momentum", "--lr", "0.05"],
    "adam": ["--optimizer", "adam", "--lr", "0.01", "--schedule", "cosine", "--dropout", "0.3"],
}


def _cli(*args):
    return [sys.executable, "-c", _CLI, "train", *args]


def _train_args(kind, out):
    return ["--dataset", "moons", "--hidden", "12", "--batch-size", "8", "--epochs", "10",
            "--checkpoint-every", "3", "--keep-checkpoints", "2", "--seed", "5", "--quiet",
            *_ARGS[kind], "--out", str(out)]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _weights(run):
    return sn.load_file(os.path.join(run, "model.safetensors"))


def _assert_same_weights(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


def _newest_step(run):
    paths = list_checkpoints(os.path.join(run, "checkpoints"))
    return int(os.path.basename(paths[0])[5:15]) if paths else -1


def _kill_when(proc, run, step, delay):
    """SIGKILL ``proc`` ``delay`` seconds after a checkpoint of ``step`` or later appears."""
    deadline = time.monotonic() + 30
    while proc.poll() is None and _newest_step(run) < step and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
        return True
    return False


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_sigkill_at_random_moments_then_resume_is_bitwise_identical(tmp_path, kind):
    env = _env()
    ref = tmp_path / "ref"
    subprocess.run(_cli(*_train_args(kind, ref)), env=env, check=True, capture_output=True)
    run = tmp_path / "run"
    rnd = random.Random(f"kill-{kind}")
    start = _cli(*_train_args(kind, run))
    kills = 0
    # 120 training rows / 8 -> 15 steps an epoch, 150 in all; kill at three random points
    for step in sorted(rnd.sample(range(0, 140), 3)):
        proc = subprocess.Popen(start if not (run / "config.json").exists()
                                else _cli("--resume", str(run)),
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kills += _kill_when(proc, run, step, rnd.uniform(0, 0.01))
    assert kills >= 2  # the run really was killed (and resumed) several times
    if not (run / "config.json").exists():  # killed before it wrote anything: start again
        subprocess.run(start, env=env, check=True, capture_output=True)
    done = subprocess.run(_cli("--resume", str(run)), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    _assert_same_weights(_weights(ref), _weights(run))
    assert len(list_checkpoints(run / "checkpoints")) <= 2  # --keep-checkpoints 2
    assert not [n for n in os.listdir(run / "checkpoints") if n.endswith(".tmp")]


def test_ctrl_c_writes_a_checkpoint_and_says_how_to_resume(tmp_path):
    env = _env()
    ref = tmp_path / "ref"
    subprocess.run(_cli(*_train_args("adam", ref)), env=env, check=True, capture_output=True)
    run = tmp_path / "run dir"  # a space: the resume command must quote it
    proc = subprocess.Popen(_cli(*_train_args("adam", run)), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while _newest_step(run) < 6 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert f"chainrule train --resume '{run}'" in err
    assert "checkpoint written to" in err
    stopped = _newest_step(run)
    assert 6 <= stopped < 150
    # the weights it holds (the best so far) are saved as a usable model, and it says which
    assert (run / "model.safetensors").exists() and "model.safetensors holds" in err
    done = subprocess.run(_cli("--resume", str(run)), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"step {stopped})" in done.stderr  # "Resuming from ... (epoch e, step s)"
    _assert_same_weights(_weights(ref), _weights(run))
