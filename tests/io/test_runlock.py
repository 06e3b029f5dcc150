"""RunDirectory: one writer per run directory; a failed fresh run leaves nothing behind."""

import os
import subprocess
import sys

import pytest

from chainrule.io.runlock import LOCK_NAME, RunDirectory, RunLocked


def test_second_holder_is_refused_while_the_first_holds_it(tmp_path):
    first = RunDirectory(tmp_path / "run").acquire()
    assert first.created and (tmp_path / "run" / LOCK_NAME).read_text().strip() == str(os.getpid())
    # a lock held by another live process
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "run" / LOCK_NAME).write_text(f"{child.pid}\n")
        with pytest.raises(RunLocked, match=rf"pid {child.pid}"):
            RunDirectory(tmp_path / "run").check_free()
        with pytest.raises(RunLocked, match="being written by another"):
            RunDirectory(tmp_path / "run").acquire()
        assert (tmp_path / "run").is_dir()  # the refused run removes nothing it did not make
    finally:
        child.kill()
        child.wait()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK_NAME).write_text(child.stdout)
    lock = RunDirectory(tmp_path / "run").acquire()
    assert not lock.created
    lock.release()
    assert not (tmp_path / "run" / LOCK_NAME).exists() and (tmp_path / "run").is_dir()


def test_failure_removes_only_a_directory_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with RunDirectory(tmp_path / "new"):
            (tmp_path / "new" / "config.json").write_text("{}")
            raise RuntimeError("boom")
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    with pytest.raises(RuntimeError):
        with RunDirectory(tmp_path / "old"):
            raise RuntimeError("boom")
    assert (tmp_path / "old").is_dir() and not (tmp_path / "old" / LOCK_NAME).exists()
    with pytest.raises(RuntimeError):
        with RunDirectory(tmp_path / "kept") as run:
            run.keep()
            raise RuntimeError("boom")
    assert (tmp_path / "kept").is_dir()


def test_a_file_in_the_way_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        RunDirectory(tmp_path / "f").acquire()
