"""A rank that fails makes the whole job exit non-zero, quickly, saying which rank.

Bounds (stated in the README): an exception on a rank ends the job through
MPI_Abort in about a second; a rank killed with SIGKILL is noticed by MPICH's
mpiexec, which ends the others at once; a rank that hangs is caught by the
collective watchdog after CHAINRULE_MPI_TIMEOUT seconds (2 here). The tests allow
generous margins for a loaded machine, and a subprocess timeout so nothing hangs.
"""

import os
import signal
import subprocess
import time

from mpirun import command, env, mpiexec, run


def test_an_exception_on_one_rank_aborts_every_rank(tmp_path):
    mpiexec()
    p = run(3, "loop", "sgd", tmp_path / "w.npz", check=False, timeout=60, FAULT="raise:3")
    assert p.returncode != 0
    assert "rank 1 of 3: failed with RuntimeError: injected failure at step 3" in p.stderr
    assert p.seconds < 20
    assert not (tmp_path / "w.npz").exists()


def test_a_hung_rank_is_caught_by_the_watchdog(tmp_path):
    mpiexec()
    p = run(2, "loop", "sgd", tmp_path / "w.npz", check=False, timeout=60, FAULT="stop:2",
            CHAINRULE_MPI_TIMEOUT=2)
    assert p.returncode != 0
    assert "rank 0 of 2: no answer from the other ranks for 2 s in the gradient Allreduce" \
        in p.stderr
    assert p.seconds < 20


def test_kill_9_on_one_rank_ends_the_job(tmp_path):
    mpiexec()
    piddir = tmp_path / "pids"
    piddir.mkdir()
    proc = subprocess.Popen(command(3, "loop", "sgd", tmp_path / "w.npz"),
                            env=env(PIDDIR=piddir, STEP_SLEEP=0.05, EPOCHS=1000),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pidfile = piddir / "rank1.pid"
        deadline = time.monotonic() + 30
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pidfile.exists(), "the ranks did not start"
        time.sleep(0.3)  # in the middle of training
        assert proc.poll() is None
        victim = int(pidfile.read_text())
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    # NOTE: MPICH's mpiexec reports "BAD TERMINATION ... PID p ... EXIT CODE: 9" on stdout,
    # but p is the first rank it saw dead in rank order, which may be a survivor it just
    # killed itself: it does not reliably name the victim.
    said = out + err
    pids = [(piddir / f"rank{r}.pid").read_text() for r in range(3)]
    assert "EXIT CODE: 9" in said and any(f"PID {p} " in said for p in pids), said
    assert took < 10
    for r in (0, 2):  # and the survivors are gone too
        pid = int((piddir / f"rank{r}.pid").read_text())
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive, f"rank {r} survived"
