"""Journey 4: ``chainrule train --model cnn`` (the default CNN: 16 and 32 channels, a
64-wide hidden layer, on the 8x8 digits), then ``chainrule predict`` on rows of a CSV and
``chainrule export --onnx`` run in ONNX Runtime, and ``cr.load(RUN)``: the same
predictions."""

import json

import numpy as np
import pytest
from journey_steps import (
    assert_same_predictions,
    export_digits,
    load_digits_run,
    predict_digits,
)


@pytest.fixture(scope="module")
def predictions(cnn_run, digits_files, tmp_path_factory):
    return predict_digits(cnn_run.dir, digits_files,
                          tmp_path_factory.mktemp("cnn_predict") / "p.csv")


def test_train_the_default_cnn(cnn_run):
    line = cnn_run.train.stdout.splitlines()[0]
    assert line.startswith("test accuracy: ") and float(line.split()[2]) >= 0.95
    model = json.loads((cnn_run.dir / "config.json").read_text())["model"]
    assert model["kind"] == "cnn"
    assert (model["channels"], model["hidden"], model["input_shape"]) == ([16, 32], 64,
                                                                          [1, 8, 8])


def test_predict_rows_of_pixels(digits_files, predictions):
    labels, proba = predictions
    assert np.mean(labels == digits_files.y) >= 0.95
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


def test_onnx_export_predicts_as_predict(cnn_run, digits_files, predictions, tmp_path):
    got = export_digits(cnn_run.dir, digits_files, tmp_path / "cnn.onnx")
    assert_same_predictions(got, predictions, "ONNX Runtime vs chainrule predict (CNN)")


def test_cr_load_predicts_as_predict(cnn_run, digits_files, predictions):
    got = load_digits_run(cnn_run.dir, digits_files.X)
    assert_same_predictions(got, predictions, "cr.load(RUN) vs chainrule predict (CNN)")
