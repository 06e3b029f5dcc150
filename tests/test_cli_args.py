"""The ``chainrule`` command's arguments and output files, in process: no abbreviations,
defaults in --help, arguments refused before anything is written, predict --out safety."""

import csv
import io
import os

import pytest
from helpers import write_csv

from chainrule import cli


def _main(*args):
    return cli.main([str(a) for a in args])


def _error(capsys):
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), err
    return lines[0]


@pytest.mark.parametrize("args", [
    ["train", "--dropo", "0.5"],           # a prefix of --dropout
    ["train", "--epoch", "3"],
    ["predict", "run", "--data", "x.csv", "--o", "p.csv"],
    ["evaluate", "run", "--dat", "x.csv"],
])
def test_flags_are_never_abbreviated(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    assert _main(*args) == 2
    line = _error(capsys)
    assert "unrecognized arguments" in line or "arguments are required" in line, line
    assert os.listdir(tmp_path) == []


def test_drop_is_never_taken_as_dropout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--dataset", "xor", "--drop", "0.5") == 2
    assert "--drop applies to tables" in _error(capsys)


def test_train_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        _main("train", "--help")
    text = " ".join(capsys.readouterr().out.split())
    for shown in ["default: 256,128", "(default: adam)", "(default: 0.001)",
                  "(default: 50)", "(default: 0.0001)", "(default: 10)", "(default: 32)",
                  "(default: 0.2)", "(default: 0)", "(default: softmax)",
                  "(default: squared_error)", "(default: relu)", "(default: constant)",
                  "(default: none)", "(default: 3)", "(default: auto)"]:
        assert shown in text, shown


@pytest.mark.parametrize("args, words", [
    (["--tol", "nan"], ["--tol", "finite"]),
    (["--lr", "inf"], ["--lr", "finite"]),
    (["--weight-decay", "nan"], ["--weight-decay"]),
    (["--hidden", "64,,32"], ["--hidden", "empty layer width"]),
    (["--hidden", "64,"], ["--hidden", "empty"]),
    (["--seed", "-1"], ["--seed", ">= 0"]),
    (["--epochs", "x"], ["--epochs", "integer"]),
])
def test_bad_arguments_are_refused_before_a_run_directory_exists(tmp_path, monkeypatch, capsys,
                                                                 args, words):
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--dataset", "xor", *args, "--out", "run") == 2
    line = _error(capsys)
    for w in words:
        assert w in line, line
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    pytest.importorskip("safetensors")
    d = tmp_path_factory.mktemp("predict")
    write_csv(d / "data.csv", ["a", "b", "label"],
              [[i % 7, (i * 3) % 5, "yes" if i % 2 else "no"] for i in range(60)])
    assert cli.main(["train", "--data", str(d / "data.csv"), "--target", "label", "--hidden",
                     "4", "--epochs", "2", "--quiet", "--out", str(d / "run")]) == 0
    return d


def test_predict_out_refuses_to_destroy_data(run_dir, capsys):
    d = run_dir
    data = d / "data.csv"
    before = data.read_bytes()
    cases = [
        (data, "is the input file"),
        (d / "run" / "preds.csv", "inside the run directory"),
        (d / "run" / "model.safetensors", "inside the run directory"),
        (d, "is a directory"),
    ]
    for out, words in cases:
        assert _main("predict", d / "run", "--data", data, "--out", out, "--force") == 2
        assert words in _error(capsys)
    assert data.read_bytes() == before
    existing = d / "existing.csv"
    existing.write_text("precious\n")
    assert _main("predict", d / "run", "--data", data, "--out", existing) == 2
    assert "already exists; pass --force" in _error(capsys)
    assert existing.read_text() == "precious\n"
    assert _main("predict", d / "run", "--data", data, "--out", existing, "--force") == 0
    assert existing.read_text().startswith("prediction\n")


def test_predict_out_dash_writes_standard_output(run_dir, capsys):
    assert _main("predict", run_dir / "run", "--data", run_dir / "data.csv", "--out", "-",
                 "--proba") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["prediction", "proba_no", "proba_yes"] and len(rows) == 61


def test_train_on_a_locked_run_directory_is_refused_at_once(tmp_path, monkeypatch, capsys):
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "run" / ".lock").write_text(f"{holder.pid}\n")
        assert _main("train", "--dataset", "xor", "--epochs", "1", "--out", "run") == 2
        assert f"being written by another 'chainrule train' (pid {holder.pid})" in \
            _error(capsys)
        assert sorted(os.listdir(tmp_path / "run")) == [".lock"]
    finally:
        holder.kill()
        holder.wait()


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_directory(tmp_path,
                                                                          monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a,y\n1,x\n2,y\n3,x\n4,y\n")
    assert _main("train", "--data", "d.csv", "--target", "y", "--optimizer", "sgd", "--lr",
                 "1e12", "--hidden", "4", "--epochs", "3", "--out", "run") == 2
    assert not (tmp_path / "run").exists()
    capsys.readouterr()
