"""Checkpoints: complete, validated, atomic, pruned, and safe when the disk is full.

When a periodic checkpoint cannot be written (disk full, read-only directory) the
manager's default is to warn and train on: the previous checkpoint is intact (writes
are atomic), the weights in memory are fine, and stopping would throw the run away.
``on_error='raise'`` stops instead. Both behaviours are pinned here.
"""

import errno
import os
import tempfile

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.cli import main as cli_main
from chainrule.errors import ModelFileError
from chainrule.train import CheckpointManager, Trainer, TrainingInterrupted, make_head
from chainrule.train.checkpoint import (
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _state(step=0, **extra):
    return {"model": {"w": np.arange(6.0).reshape(2, 3)},
            "optimizer": {"state": {0: {"step": 3, "exp_avg": np.ones(2, np.float32)}},
                          "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999),
                                            "params": [0]}]},
            "rng": cr.get_rng().bit_generator.state,
            "loader": {"seed": 1, "epoch": 2, "batch_in_epoch": 5}, "epoch": 2, "step": step,
            "acc": {"loss_sum": 1.25, "n": 40, "correct": 7, "lr": None},
            "history": {"rows": [{"epoch": 1, "loss": 0.5, "val_loss": float("nan")}]},
            "callbacks": [{"best": None, "best_weights": {"w": np.zeros(3)}}],
            "convergence": {"best": float("inf"), "no_improve": 0}, **extra}


class _Fake:
    def __init__(self, step):
        self.step = step

    def state_dict(self):
        return _state(self.step)


def test_checkpoint_round_trip(tmp_path):
    state = _state(17)
    save_checkpoint(tmp_path / "c.safetensors", state)
    back = load_checkpoint(tmp_path / "c.safetensors")
    assert np.array_equal(back["model"]["w"], state["model"]["w"])
    opt = back["optimizer"]
    assert opt["state"][0]["step"] == 3 and opt["state"][0]["exp_avg"].dtype == np.float32
    assert opt["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["rng"] == state["rng"]  # 128-bit integers survive JSON
    assert np.isnan(back["history"]["rows"][0]["val_loss"])
    assert back["convergence"]["best"] == float("inf")
    assert back["acc"] == state["acc"] and back["loader"] == state["loader"]


def test_load_checkpoint_refuses_what_is_not_a_complete_checkpoint(tmp_path):
    cr.save(nn.Linear(2, 1), tmp_path / "model.safetensors")
    with pytest.raises(ModelFileError, match="not a chainrule-checkpoint file"):
        load_checkpoint(tmp_path / "model.safetensors")
    partial = _state()
    del partial["rng"]
    save_checkpoint(tmp_path / "p.safetensors", partial)
    with pytest.raises(ModelFileError, match="not a complete training checkpoint"):
        load_checkpoint(tmp_path / "p.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04junk")
    with pytest.raises(ModelFileError):
        load_checkpoint(tmp_path / "junk.safetensors")


def test_latest_checkpoint_skips_damaged_ones_with_a_warning(tmp_path, capsys):
    m = CheckpointManager(tmp_path, keep=10)
    for step in (3, 6, 9):
        m.save(_Fake(step))
    newest = m.path_for(9)
    with open(newest, "r+b") as f:  # truncated by a crash of the disk, not of chainrule
        f.truncate(os.path.getsize(newest) // 2)
    path, state = latest_checkpoint(tmp_path)
    assert path == m.path_for(6) and state["step"] == 6
    assert "skipping damaged checkpoint" in capsys.readouterr().err
    for p in list_checkpoints(tmp_path):
        open(p, "wb").close()
    assert latest_checkpoint(tmp_path, warn=False) == (None, None)
    assert latest_checkpoint(tmp_path / "nowhere") == (None, None)


def test_keeps_the_last_k_and_removes_abandoned_and_temporary_files(tmp_path):
    m = CheckpointManager(tmp_path, keep=2)
    for step in (1, 2, 3, 4):
        m.save(_Fake(step))
    assert [os.path.basename(p) for p in list_checkpoints(tmp_path)] == \
        ["ckpt-0000000004.safetensors", "ckpt-0000000003.safetensors"]
    (tmp_path / ".ckpt-0000000005.safetensors.abc.tmp").write_bytes(b"half")  # a killed write
    # resumed from step 3 (say 4 was damaged): 4 belongs to an abandoned continuation
    m.save(_Fake(3))
    assert os.listdir(tmp_path) == ["ckpt-0000000003.safetensors"]
    with pytest.raises(ValueError, match="keep"):
        CheckpointManager(tmp_path, keep=0)
    with pytest.raises(ValueError, match="every_steps"):
        CheckpointManager(tmp_path, every_steps=0)
    with pytest.raises(ValueError, match="on_error"):
        CheckpointManager(tmp_path, on_error="ignore")


# ------------------------------------------------------------------ failing disks
def _trainer(directory, **kw):
    cr.manual_seed(0)
    head = make_head("classification", n_classes=2)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, head.n_outputs))
    return Trainer(model, head=head,
                   optimizer=optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                   checkpoint=CheckpointManager(directory, **kw))


def _data():
    r = np.random.default_rng(0)
    X = r.normal(size=(40, 2)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _fail_from_step(monkeypatch, trainer, step, target, error=ENOSPC):
    """Make ``target`` (a function of the os module) fail once training reaches ``step``."""
    real = getattr(os, target)

    def broken(*args, **kwargs):
        if trainer.step >= step:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(os, target, broken)


@pytest.mark.parametrize("target", ["fsync", "replace"])
def test_a_full_disk_keeps_the_previous_checkpoint_and_training_goes_on(
        tmp_path, monkeypatch, capsys, target):
    trainer = _trainer(tmp_path, every_steps=2, every_epoch=False, keep=1)
    _fail_from_step(monkeypatch, trainer, 6, target)
    trainer.fit(_data(), epochs=2, batch_size=8, seed=0)  # 5 steps an epoch
    assert trainer.step == 10  # training was not stopped
    assert list_checkpoints(tmp_path) == [trainer.checkpoint.path_for(4)]
    assert load_checkpoint(trainer.checkpoint.path_for(4))["step"] == 4  # intact
    assert trainer.checkpoint.failures == 3  # steps 6, 8, 10
    err = capsys.readouterr().err
    assert "could not write a checkpoint at step 6" in err
    assert os.strerror(errno.ENOSPC) in err and "ckpt-0000000004" in err
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_on_error_raise_stops_training_with_the_error(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path, every_steps=2, every_epoch=False, on_error="raise")
    _fail_from_step(monkeypatch, trainer, 6, "fsync")
    with pytest.raises(OSError) as info:
        trainer.fit(_data(), epochs=2, batch_size=8, seed=0)
    assert info.value.errno == errno.ENOSPC and trainer.step == 6
    assert load_checkpoint(list_checkpoints(tmp_path)[0])["step"] == 4


def test_a_read_only_directory_is_reported(tmp_path, monkeypatch, capsys):
    trainer = _trainer(tmp_path, every_steps=None, every_epoch=True)
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        if trainer.epoch >= 2:
            raise denied
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    trainer.fit(_data(), epochs=3, batch_size=8, seed=0)
    assert trainer.epoch == 3
    assert "Permission denied" in capsys.readouterr().err
    assert load_checkpoint(list_checkpoints(tmp_path)[0])["epoch"] == 1


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only directories")
def test_a_really_read_only_directory_is_reported(tmp_path, capsys):
    trainer = _trainer(tmp_path, every_steps=None, every_epoch=True)
    trainer.fit(_data(), epochs=1, batch_size=8, seed=0)
    before = open(list_checkpoints(tmp_path)[0], "rb").read()
    os.chmod(tmp_path, 0o555)
    try:
        trainer.fit(_data(), epochs=2, batch_size=8, seed=0)
    finally:
        os.chmod(tmp_path, 0o755)
    assert "could not write a checkpoint" in capsys.readouterr().err
    assert open(list_checkpoints(tmp_path)[0], "rb").read() == before


# ------------------------------------------------------------------ Ctrl-C, in process
def _interrupt_at(trainer, step):
    def hook(tr, s, logs):
        if s == step:
            tr._on_sigint(2, None)  # what the SIGINT handler does

    trainer.callbacks.append(cr.train.LambdaCallback(on_batch_end=hook))


def test_ctrl_c_stops_after_the_step_and_writes_a_checkpoint(tmp_path, capsys):
    trainer = _trainer(tmp_path, every_steps=None, every_epoch=True,
                       resume_command="chainrule train --resume RUN")
    _interrupt_at(trainer, 7)
    with pytest.raises(TrainingInterrupted) as info:
        trainer.fit(_data(), epochs=3, batch_size=8, seed=0)
    assert trainer.step == 7
    assert "Resume with: chainrule train --resume RUN" in str(info.value)
    assert load_checkpoint(trainer.checkpoint.path_for(7))["step"] == 7
    assert "stopping at the end of this step" in capsys.readouterr().err
    plain = _trainer(tmp_path / "b")
    _interrupt_at(plain, 2)
    with pytest.raises(TrainingInterrupted, match=r"resume='.*b'\)"):
        plain.fit(_data(), epochs=3, batch_size=8, seed=0)


def test_ctrl_c_with_a_full_disk_says_which_checkpoint_is_left(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path, every_steps=None, every_epoch=True)
    _interrupt_at(trainer, 7)
    _fail_from_step(monkeypatch, trainer, 6, "fsync")
    with pytest.raises(TrainingInterrupted) as info:
        trainer.fit(_data(), epochs=3, batch_size=8, seed=0)
    msg = str(info.value)
    assert "could not write a checkpoint" in msg and "ckpt-0000000005" in msg


# ------------------------------------------------------------------ the command line
def _train(out, *extra):
    return cli_main(["train", "--dataset", "xor", "--hidden", "8", "--epochs", "3",
                     "--batch-size", "16", "--checkpoint-every", "4", "--seed", "1", "--quiet",
                     "--out", str(out), *extra])


@pytest.fixture
def no_plots(monkeypatch):
    import chainrule.cli
    import chainrule.train.run

    monkeypatch.setattr(chainrule.train.run, "write_plots", lambda *a, **k: None)


def test_cli_resume_with_only_damaged_checkpoints_runs_again(tmp_path, capsys, no_plots):
    import safetensors.numpy as sn

    assert _train(tmp_path / "ref") == 0
    assert _train(tmp_path / "run") == 0
    os.remove(tmp_path / "run" / "model.safetensors")
    for p in list_checkpoints(tmp_path / "run" / "checkpoints"):
        open(p, "wb").write(b"damaged")
    capsys.readouterr()
    assert cli_main(["train", "--resume", str(tmp_path / "run"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "skipping damaged checkpoint" in err and "from the start" in err
    a = sn.load_file(str(tmp_path / "ref" / "model.safetensors"))
    b = sn.load_file(str(tmp_path / "run" / "model.safetensors"))
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_cli_resume_refuses_bad_input_with_exit_code_2(tmp_path, capsys, no_plots):
    (tmp_path / "empty").mkdir()
    assert cli_main(["train", "--resume", str(tmp_path / "empty")]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert _train(tmp_path / "run") == 0
    assert cli_main(["train", "--resume", str(tmp_path / "run"), "--lr", "0.5"]) == 2
    assert "cannot be combined with --lr" in capsys.readouterr().err
    assert _train(tmp_path / "run") == 2  # an existing run is not overwritten
    assert "--resume" in capsys.readouterr().err
