"""Journey 1: the README's first command, then every command that uses its run.

``chainrule train`` (digits, the default MLP 64-256-128-10, default everything) ->
``chainrule predict`` on new rows of a CSV -> ``chainrule evaluate`` on the built-in
dataset and on a labelled CSV -> ``chainrule export --onnx`` run in ONNX Runtime ->
``cr.load(RUN)`` in Python: the same predictions everywhere.
"""

import json

import numpy as np
import pytest
from journey_steps import (
    assert_same_predictions,
    chainrule,
    column,
    export_digits,
    load_digits_run,
    predict_digits,
    read_csv,
    write_csv,
)

import chainrule as cr


@pytest.fixture(scope="module")
def predictions(digits_run, digits_files, tmp_path_factory):
    return predict_digits(digits_run.dir, digits_files,
                          tmp_path_factory.mktemp("readme_predict") / "p.csv")


def test_version(tmp_path):
    r = chainrule(tmp_path, "--version")
    assert r.stdout.startswith("chainrule") and cr.__version__ in r.stdout.split()


def test_train_prints_the_test_accuracy_and_writes_the_run(digits_run):
    line = digits_run.train.stdout.splitlines()[0]
    assert line.startswith("test accuracy: ")
    assert float(line.split()[2]) >= 0.95
    for name in ("model.safetensors", "config.json", "history.csv", "metrics.json"):
        assert (digits_run.dir / name).is_file(), name
    config = json.loads((digits_run.dir / "config.json").read_text())
    assert config["model"]["hidden"] == [256, 128]  # the default network, not a smaller one
    assert config["data"]["dataset"] == "digits"


def test_predict_new_rows(digits_run, digits_files, tmp_path):
    chainrule(tmp_path, "predict", digits_run.dir, "--data", digits_files.new, "--out",
              "p.csv")
    header, rows = read_csv(tmp_path / "p.csv")
    assert header == ["prediction"]
    labels = column(rows, "prediction", int)
    assert len(labels) == len(digits_files.y)
    assert np.mean(labels == digits_files.y) >= 0.95


def test_predict_keeps_an_identifier_column(digits_run, digits_files, predictions, tmp_path):
    """A user's file of new rows carries an id: ``--keep id`` brings it through, and it is
    not taken as a feature of the run trained on the built-in (array) dataset."""
    header, rows = read_csv(digits_files.new)
    ids = [f"C{i:05d}" for i in range(len(rows))]
    write_csv(tmp_path / "ids.csv", ["id"] + header,
              [[i] + [r[n] for n in header] for i, r in zip(ids, rows)])
    chainrule(tmp_path, "predict", digits_run.dir, "--data", "ids.csv", "--keep", "id",
              "--out", "p.csv")
    got_header, got = read_csv(tmp_path / "p.csv")
    assert got_header == ["id", "prediction"]
    assert [r["id"] for r in got] == ids
    np.testing.assert_array_equal(column(got, "prediction", int), predictions[0])


def test_evaluate_the_builtin_dataset(digits_run, tmp_path):
    """On the dataset it was trained on, evaluate scores the run's own test split: the
    score ``train`` printed and wrote to metrics.json."""
    r = chainrule(tmp_path, "evaluate", digits_run.dir, "--dataset", "digits", "--json")
    metrics = json.loads(r.stdout)
    trained = json.loads((digits_run.dir / "metrics.json").read_text())
    assert (metrics["dataset"], metrics["split"]) == ("digits", "test")
    assert metrics["n_samples"] == trained["n_samples"] == 360  # 20% of 1797 held out
    assert metrics["accuracy"] == pytest.approx(trained["accuracy"], abs=1e-9)
    assert metrics["loss"] == pytest.approx(trained["loss"], rel=1e-5)
    printed = float(digits_run.train.stdout.split()[2])
    assert round(metrics["accuracy"], 4) == printed


def test_evaluate_a_labelled_file(digits_run, digits_files, predictions, tmp_path):
    r = chainrule(tmp_path, "evaluate", digits_run.dir, "--data", digits_files.labelled,
                  "--json")
    metrics = json.loads(r.stdout)
    assert metrics["n_samples"] == len(digits_files.y)
    assert metrics["accuracy"] == pytest.approx(np.mean(predictions[0] == digits_files.y),
                                                abs=1e-9)
    assert metrics["accuracy"] >= 0.95


def test_onnx_export_predicts_as_predict(digits_run, digits_files, predictions, tmp_path):
    got = export_digits(digits_run.dir, digits_files, tmp_path / "m.onnx")
    assert_same_predictions(got, predictions, "ONNX Runtime vs chainrule predict")


def test_cr_load_predicts_as_predict(digits_run, digits_files, predictions):
    got = load_digits_run(digits_run.dir, digits_files.X)
    assert_same_predictions(got, predictions, "cr.load(RUN) vs chainrule predict")
