"""A rank that fails makes the whole job exit non-zero, quickly, saying which rank.

Bounds (stated in the README): an exception on a rank ends the job through
MPI_Abort in about a second; a rank killed with SIGKILL is noticed by MPICH's
mpiexec, which ends the others at once; a rank that hangs is caught by the
collective watchdog after CHAINRULE_MPI_TIMEOUT seconds (2 here). The tests allow
generous margins for a loaded machine, and a subprocess timeout so nothing hangs.
kill -9 on a rank, and the resume after it, are in test_distributed_fit.
"""

from mpirun import mpiexec, run


def test_an_exception_on_one_rank_aborts_every_rank(tmp_path):
    mpiexec()
    p = run(3, "loop", "sgd", tmp_path / "w.npz", check=False, timeout=60, FAULT="raise:3")
    assert p.returncode != 0
    assert "rank 1 of 3: failed with RuntimeError: injected failure at step 3" in p.stderr
    assert "[rank 1] Traceback (most recent call last):" in p.stderr  # before the message
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
