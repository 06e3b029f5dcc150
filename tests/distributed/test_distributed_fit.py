"""fit(..., distributed=True): same weights and history as one process; resume on another
number of ranks; a rank killed with kill -9 ends the job, and the run resumes.

Tolerance as in test_distributed_equality: 1e-5 absolute on weights of size ~1
(float32 round-off; measured differences are below 1e-7), ranks bitwise equal.
"""

import json
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
from mpirun import command, env, mpiexec, run
from test_distributed_equality import TOL, _load, assert_same_weights


def _history(out):
    with open(f"{out}.history.json") as f:
        return json.load(f)


def assert_same_history(a, b):
    assert len(a) == len(b)  # early stopping ended both at the same epoch
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        for k in ra:
            assert ra[k] == pytest.approx(rb[k], abs=TOL), k


@pytest.mark.parametrize("optimizer,weighted", [("sgd", ""), ("adam", "1")])
def test_fit_on_2_and_3_ranks_equals_one_process(tmp_path, optimizer, weighted):
    mpiexec()
    run(0, "fit", optimizer, tmp_path / "one.npz", EPOCHS=4, PATIENCE=1, WEIGHTED=weighted)
    one, history = _load(tmp_path / "one.npz"), _history(tmp_path / "one.npz")
    for n in (2, 3):
        out = tmp_path / f"n{n}.npz"
        p = run(n, "fit", optimizer, out, EPOCHS=4, PATIENCE=1, WEIGHTED=weighted)
        assert_same_weights(_load(out), one)
        assert_same_history(_history(out), history)
        for r in range(n):
            mine = _load(f"{out}.rank{r}.npz")
            for k in one:
                np.testing.assert_array_equal(mine[k], _load(out)[k], err_msg=f"rank {r}")
        assert "Traceback" not in p.stderr


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One process, 3 epochs of 5 steps: the reference a resumed run must reach."""
    mpiexec()
    out = tmp_path_factory.mktemp("ref") / "ref.npz"
    run(0, "fit", "sgd", out, EPOCHS=3, PATIENCE=9)
    return _load(out), _history(out)


def test_checkpoint_on_2_ranks_resumes_on_1_and_3(tmp_path, uninterrupted):
    ckpt = tmp_path / "ckpt"
    run(2, "fit", "sgd", tmp_path / "two.npz", EPOCHS=2, PATIENCE=9, CKPT_DIR=ckpt,
        EVERY_STEPS=3)
    names = sorted(os.listdir(ckpt))
    # steps 3, 5 (epoch end), 6, 9, 10 (epoch end): written once, by rank 0
    assert names == [f"ckpt-{s:010d}.safetensors" for s in (3, 5, 6, 9, 10)]
    middle = ckpt / "ckpt-0000000006.safetensors"  # epoch 2, after its first batch
    for n in (1, 3):
        out = tmp_path / f"resumed{n}.npz"
        run(n, "fit", "sgd", out, EPOCHS=3, PATIENCE=9, RESUME=middle)
        assert_same_weights(_load(out), uninterrupted[0])
        assert_same_history(_history(out), uninterrupted[1])


def test_kill_9_on_one_rank_then_resume(tmp_path, uninterrupted):
    ckpt = tmp_path / "ckpt"
    piddir = tmp_path / "pids"
    piddir.mkdir()
    proc = subprocess.Popen(
        command(3, "fit", "sgd", tmp_path / "w.npz"),
        env=env(PIDDIR=piddir, STEP_SLEEP=0.1, EPOCHS=3, PATIENCE=9, CKPT_DIR=ckpt,
                EVERY_STEPS=2),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not (
                (piddir / "rank1.pid").exists() and ckpt.is_dir()
                and any(n.endswith(".safetensors") for n in os.listdir(ckpt))):
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        pids = [int((piddir / f"rank{r}.pid").read_text()) for r in range(3)]
        killed = time.monotonic()
        os.kill(pids[1], signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert took < 10  # measured ~1 s: MPICH's mpiexec kills the other ranks
    # NOTE: mpiexec's "BAD TERMINATION ... PID p ... EXIT CODE: 9" names the first rank it
    # found dead in rank order, which may be a survivor it killed itself, not the victim.
    assert "EXIT CODE: 9" in out + err and any(f"PID {p} " in out + err for p in pids)
    for r in (0, 2):
        with pytest.raises(ProcessLookupError):
            os.kill(pids[r], 0)  # no survivor left behind
    assert not (tmp_path / "w.npz").exists()
    assert not [n for n in os.listdir(ckpt) if not n.endswith(".safetensors")]  # no debris
    out = tmp_path / "resumed.npz"
    run(2, "fit", "sgd", out, EPOCHS=3, PATIENCE=9, CKPT_DIR=ckpt, EVERY_STEPS=2,
        RESUME=ckpt)
    assert_same_weights(_load(out), uninterrupted[0])
    assert_same_history(_history(out), uninterrupted[1])
    shutil.rmtree(ckpt)
