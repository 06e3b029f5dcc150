"""``chainrule train --model cnn``: images from .npz, digits as 1x8x8, CSV rows need --input-shape;
the run predicts, evaluates and resumes like an MLP run; bad shapes exit with code 2."""

import json

import numpy as np
import pytest
from helpers import assert_bad_input, assert_ok, run, run_many, write_csv

import chainrule as cr

FAST = ["--model", "cnn", "--channels", "4", "--hidden", "8", "--epochs", "2", "--quiet"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    r = np.random.default_rng(0)
    X = r.normal(size=(90, 6, 6)).astype(np.float32)
    y = (X[:, :3].mean(axis=(1, 2)) > X[:, 3:].mean(axis=(1, 2))).astype(np.int64)
    np.savez(d / "img.npz", X=X, y=y)
    write_csv(d / "img.csv", [f"p{i}" for i in range(36)] + ["label"],
              ([f"{v:.6f}" for v in row] + [int(label)]
               for row, label in zip(X.reshape(90, -1), y)))
    return d


def test_cnn_on_npz_images_then_predict_evaluate_resume(images, tmp_path):
    out = tmp_path / "run"
    assert_ok(run(tmp_path, "train", "--data", images / "img.npz", *FAST,
                  "--checkpoint-every", "2", "--out", out))
    model = json.loads((out / "config.json").read_text())["model"]
    assert model["kind"] == "cnn" and model["input_shape"] == [1, 6, 6]
    net = cr.load(out / "model.safetensors")
    assert [type(m).__name__ for m in net][:2] == ["Unflatten", "CNN"]
    r = run(tmp_path, "evaluate", out, "--data", images / "img.npz", "--json")
    assert_ok(r)
    assert 0 <= json.loads(r.stdout)["accuracy"] <= 1
    assert_ok(run(tmp_path, "predict", out, "--data", images / "img.npz", "--out",
                  tmp_path / "pred.csv"))
    assert len((tmp_path / "pred.csv").read_text().splitlines()) == 91
    assert_ok(run(tmp_path, "train", "--resume", out))


def test_cnn_on_digits_as_1x8x8_images(tmp_path):
    assert_ok(run(tmp_path, "train", *FAST, "--out", tmp_path / "digits"))
    model = json.loads((tmp_path / "digits" / "config.json").read_text())["model"]
    assert model["input_shape"] == [1, 8, 8]


def test_cnn_bad_shapes_exit_2(images, tmp_path):
    csv_args = ["train", "--data", images / "img.csv", "--target", "label", *FAST]
    r = run_many({
        "no shape": (tmp_path, [*csv_args, "--out", tmp_path / "a"]),
        "wrong shape": (tmp_path, [*csv_args, "--input-shape", "5,6", "--out", tmp_path / "b"]),
        "bad text": (tmp_path, [*csv_args, "--input-shape", "6", "--out", tmp_path / "c"]),
        "mlp channels": (tmp_path, ["train", "--channels", "4", "--out", tmp_path / "d"]),
        "two hidden": (tmp_path, ["train", *FAST, "--hidden", "8,8", "--out", tmp_path / "e"]),
    })
    assert_bad_input(r["no shape"], "--input-shape", "36")
    assert_bad_input(r["wrong shape"], "30", "36")
    assert_bad_input(r["bad text"], "--input-shape")
    assert_bad_input(r["mlp channels"], "--channels", "--model cnn")
    assert_bad_input(r["two hidden"], "--hidden")
    for name in "abcde":
        assert not (tmp_path / name).exists()
