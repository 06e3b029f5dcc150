"""``mpiexec -n 2 chainrule train``: joins the world, prints once, writes once, and trains
the model one process would (global batch = --batch-size)."""

import numpy as np
import pytest
from mpirun import mpiexec, run

ARGS = ["train", "--dataset", "digits", "--epochs", "2", "--hidden", "16",
        "--batch-size", "64"]


def test_mpiexec_chainrule_train_digits(tmp_path):
    mpiexec()
    safetensors = pytest.importorskip("safetensors.numpy")
    one = run(0, *ARGS, "--out", tmp_path / "one", "--quiet", cli=True)
    two = run(2, *ARGS, "--out", tmp_path / "two", cli=True)
    assert two.stderr.count("distributed: 2 ranks (rank 0: pid") == 1
    lines = two.stderr.splitlines()
    assert [ln.split()[1] for ln in lines if ln.startswith("epoch ")] == ["1", "2"]
    assert two.stderr.count("run written to") == 1
    assert two.stdout.count("test accuracy") == 1
    assert two.stdout == one.stdout  # the same test metrics, printed once
    a = safetensors.load_file(str(tmp_path / "one" / "model.safetensors"))
    b = safetensors.load_file(str(tmp_path / "two" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-5, err_msg=k)
    rows = (tmp_path / "two" / "history.csv").read_text().splitlines()
    assert len(rows) == 3  # header + 2 epochs, written by rank 0 alone
