"""Atomic writes: content is right, and a failure leaves the old file and no temporary."""

import errno
import json
import os
import stat

import numpy as np
import pytest

from chainrule.io import atomic as _fileio
from chainrule.io.atomic import atomic_open, atomic_savez, atomic_write, write_csv, write_json


@pytest.fixture
def target(tmp_path):
    path = tmp_path / "out.dat"
    path.write_bytes(b"old content")
    return path


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name != "out.dat")


def test_atomic_write_bytes_and_str(tmp_path):
    path = tmp_path / "a.bin"
    atomic_write(path, b"\x00\xffbytes")
    assert path.read_bytes() == b"\x00\xffbytes"
    atomic_write(str(path), "héllo\r\nworld\n")  # str paths too; text written exactly, UTF-8
    assert path.read_bytes() == "héllo\r\nworld\n".encode()
    atomic_write(path, bytearray(b"ba"))
    assert path.read_bytes() == b"ba"
    with pytest.raises(TypeError, match="bytes or str"):
        atomic_write(path, 3)
    assert path.read_bytes() == b"ba"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_atomic_open_text_and_binary(tmp_path):
    path = tmp_path / "t.txt"
    with atomic_open(path, "w") as f:
        f.write("line 1\n")
        f.write("line 2\n")
        assert not path.exists()  # nothing at the target until the block succeeds
    assert path.read_text() == "line 1\nline 2\n"
    with atomic_open(path) as f:
        assert "b" in f.mode
        f.write(b"binary")
    assert path.read_bytes() == b"binary"
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(path, "a"):
            pass


def test_temporary_file_is_in_the_target_directory(target, monkeypatch):
    seen = {}
    real_replace = os.replace

    def spy(src, dst):
        seen["src"], seen["dst"] = os.fspath(src), os.fspath(dst)
        return real_replace(src, dst)

    monkeypatch.setattr(_fileio.os, "replace", spy)
    atomic_write(target, b"new")
    assert os.path.dirname(seen["src"]) == str(target.parent)
    assert seen["dst"] == str(target)
    assert target.read_bytes() == b"new"


def test_exception_in_block_keeps_old_file_and_removes_temp(target):
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(target, "wb") as f:
            f.write(b"half of the new con")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old content"
    assert _leftovers(target.parent) == []


def test_keyboard_interrupt_also_cleans_up(target):
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target, "w") as f:
            f.write("partial")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old content"
    assert _leftovers(target.parent) == []


@pytest.mark.parametrize("call", ["fsync", "replace"])
def test_disk_full_keeps_old_file_and_removes_temp(target, monkeypatch, call):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_fileio.os, call, full)
    with pytest.raises(OSError) as info:
        atomic_write(target, b"new content that does not fit")
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old content"
    assert _leftovers(target.parent) == []


def test_read_only_directory_raises_and_keeps_old_file(target):
    directory = target.parent
    os.chmod(directory, stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(directory, os.W_OK):
            pytest.skip("chmod does not stop this user (root) from writing; "
                        "the disk-full test simulates the failure instead")
        with pytest.raises(OSError):  # PermissionError is an OSError
            atomic_write(target, b"new")
    finally:
        os.chmod(directory, stat.S_IRWXU)
    assert target.read_bytes() == b"old content"
    assert _leftovers(directory) == []


def test_directory_fsync_is_best_effort(target, monkeypatch):
    real_fsync = os.fsync
    calls = []

    def fsync(fd):
        calls.append(fd)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "fsync on a directory not supported")
        return real_fsync(fd)

    monkeypatch.setattr(_fileio.os, "fsync", fsync)
    atomic_write(target, b"new")  # the directory fsync fails: the write still succeeds
    assert target.read_bytes() == b"new"
    assert len(calls) == 2  # the file, then its directory


def test_permissions_of_replaced_and_new_files(tmp_path):
    old = tmp_path / "old.txt"
    old.write_text("x")
    os.chmod(old, 0o640)
    atomic_write(old, "y")
    assert stat.S_IMODE(os.stat(old).st_mode) == 0o640
    new = tmp_path / "new.txt"
    atomic_write(new, "z")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o666 & ~umask  # not mkstemp's 0o600


def test_symlink_is_written_through(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    atomic_write(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_atomic_savez_roundtrip_without_pickle(tmp_path):
    path = tmp_path / "arrays.npz"
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    atomic_savez(path, w=w, b=np.array([1, 2], dtype=np.int64), path=np.zeros(1))
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == ["b", "path", "w"]
        np.testing.assert_array_equal(z["w"], w)
        assert z["w"].dtype == np.float32
        np.testing.assert_array_equal(z["b"], [1, 2])
    plain = tmp_path / "plain"
    atomic_savez(plain, x=np.ones(2))
    assert plain.exists() and not (tmp_path / "plain.npz").exists()  # path used as given
    with pytest.raises(ValueError):
        atomic_savez(path, bad=np.array([{"a": 1}], dtype=object))
    with np.load(path, allow_pickle=False) as z:  # the failed save left the old file
        assert "w" in z.files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays.npz", "plain"]


def test_write_json(tmp_path):
    path = tmp_path / "m.json"
    obj = {"loss": np.float32(0.25), "epochs": np.int64(3), "w": np.array([1.5, 2.0]),
           "name": "é", "nested": {"b": [1, None, True]}}
    write_json(path, obj)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == {"loss": 0.25, "epochs": 3, "w": [1.5, 2.0], "name": "é",
                                "nested": {"b": [1, None, True]}}
    assert text.startswith('{\n  "loss"') and text.endswith("}\n")  # indent=2
    with pytest.raises(TypeError, match="set"):
        write_json(path, {"bad": {1, 2}})
    assert json.loads(path.read_text())["epochs"] == 3
    assert os.listdir(tmp_path) == ["m.json"]


def test_write_csv(tmp_path):
    path = tmp_path / "h.csv"
    write_csv(path, ["epoch", "loss", "note"], [[1, 0.5, "a,b"], (2, np.float32(0.25), "")])
    assert path.read_text() == 'epoch,loss,note\n1,0.5,"a,b"\n2,0.25,\n'
    rows = ([i, i] for i in range(3))  # any iterable of rows; the fourth is too short
    bad = list(rows) + [[9]]
    with pytest.raises(ValueError, match="row 3 has 1 values but the header has 2"):
        write_csv(path, ["a", "b"], bad)
    assert path.read_text().startswith("epoch,loss,note\n")
    assert os.listdir(tmp_path) == ["h.csv"]
