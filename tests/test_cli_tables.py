"""``chainrule train / evaluate / predict`` on tables as they come (built here): strings,
missing values, dialects, the task rule, target scaling, Ctrl-C and extending a run."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from chainrule import cli

pytest.importorskip("safetensors")
FAST = ["--hidden", "16", "--epochs", "8", "--lr", "0.01"]


def _main(*args):
    return cli.main([str(a) for a in args])


def _penguins(path, n=150, seed=0, sep=";", decimal=",", extra=False):
    """Species from island, bill length (decimal comma, some NA), sex (some NA), a bool."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], n)
    island = np.where(species == "Gentoo", "Biscoe",
                      rng.choice(["Dream", "Torgersen"], n))
    bill = np.where(species == "Adelie", 38.0, np.where(species == "Gentoo", 47.0, 49.0))
    bill = bill + rng.normal(0, 1.5, n)
    sex = rng.choice(["male", "female", "NA"], n, p=[0.45, 0.45, 0.1])
    tagged = rng.choice(["true", "false"], n)
    header = ["island", "bill_length_mm", "sex", "tagged", "species"] + (["note"] * extra)
    with open(path, "w") as f:
        f.write(sep.join(header) + "\n")
        for i in range(n):
            b = "NA" if i % 23 == 0 else f"{bill[i]:.1f}".replace(".", decimal)
            row = [island[i], b, sex[i], tagged[i], species[i]] + (["x"] * extra)
            f.write(sep.join(row) + "\n")
    return species


def test_a_messy_table_trains_and_predicts_by_column_name(tmp_path, capsys):
    _penguins(tmp_path / "p.csv")
    assert _main("train", "--data", tmp_path / "p.csv", "--target", "species", *FAST,
                 "--quiet", "--out", tmp_path / "run") == 0
    err = capsys.readouterr().err.splitlines()
    # text labels: --task regression would be refused, so it is not offered
    assert err[0] == "task: classification (target 'species': string values)"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.8
    from chainrule.io import load_with_metadata

    _, meta = load_with_metadata(tmp_path / "run")
    state = meta["preprocessor"]
    assert [c["name"] for c in state["columns"]] == ["island", "bill_length_mm", "sex",
                                                     "tagged"]
    assert state["columns"][1]["indicator"] and state["columns"][2]["missing_category"]
    assert meta["feature_names"] == ["island", "bill_length_mm", "sex", "tagged"]

    # the same rows, comma-separated with a decimal point, columns shuffled, one extra
    rows = list(csv.reader(open(tmp_path / "p.csv"), delimiter=";"))
    order = [4, 2, 0, 3, 1]
    with open(tmp_path / "q.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([rows[0][j] for j in order] + ["comment"])
        w.writerows([[r[j].replace(",", ".") for j in order] + ["hi"] for r in rows[1:]])
    assert _main("predict", tmp_path / "run", "--data", tmp_path / "p.csv", "--out",
                 tmp_path / "a.csv") == 0
    assert _main("predict", tmp_path / "run", "--data", tmp_path / "q.csv", "--out",
                 tmp_path / "b.csv") == 0
    assert "ignoring column(s) ['comment']" in capsys.readouterr().err
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert _main("evaluate", tmp_path / "run", "--data", tmp_path / "q.csv", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_samples"] == 150 and out["accuracy"] > 0.8


def test_unseen_category_at_predict_time_is_one_note(tmp_path, capsys):
    _penguins(tmp_path / "p.csv")
    assert _main("train", "--data", tmp_path / "p.csv", "--target", "species", *FAST,
                 "--quiet", "--out", tmp_path / "run") == 0
    text = (tmp_path / "p.csv").read_text().replace("Dream;", "Atlantis;", 3)
    (tmp_path / "new.csv").write_text(text)
    capsys.readouterr()
    assert _main("predict", tmp_path / "run", "--data", tmp_path / "new.csv", "--out", "-") == 0
    captured = capsys.readouterr()
    notes = [ln for ln in captured.err.splitlines() if "not seen in training" in ln]
    assert len(notes) == 1 and "column 'island': 'Atlantis'" in notes[0]
    assert len(captured.out.splitlines()) == 151


def test_integer_target_with_few_rows_per_value_is_regression(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    with open(tmp_path / "t.csv", "w") as f:  # 15 values, 4 rows each: fewer than 5
        f.write("x,score\n" + "".join(f"{v:.4f},{i * 7 % 15}\n" for i, v in enumerate(x)))
    assert _main("train", "--data", tmp_path / "t.csv", "--target", "score", *FAST,
                 "--quiet", "--out", tmp_path / "run") == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("task: regression (target 'score': ") and \
        "--task classification to change it" in first


@pytest.mark.parametrize("labels, offered", [
    (["cat", "dog"], False),   # text: regression refuses it
    ([0, 1], True),            # integers: a quantity, perhaps
])
def test_task_regression_is_offered_only_for_a_target_of_numbers(tmp_path, capsys, labels,
                                                                 offered):
    rows = "".join(f"{i},{labels[i % 2]}\n" for i in range(40))
    (tmp_path / "t.csv").write_text("x,y\n" + rows)
    (tmp_path / "few.csv").write_text("x,y\n" + f"1,{labels[0]}\n2,{labels[0]}\n3,"
                                      f"{labels[1]}\n4,{labels[1]}\n")
    assert _main("train", "--data", tmp_path / "t.csv", "--target", "y", *FAST, "--quiet",
                 "--out", tmp_path / "ok") == 0
    task = capsys.readouterr().err.splitlines()[0]
    assert task.startswith("task: classification (target 'y': ")
    assert ("--task regression" in task) is offered, task
    # a regression option; too few rows to stratify
    for args in (["--data", tmp_path / "t.csv", "--loss", "huber"],
                 ["--data", tmp_path / "few.csv", "--task", "classification"]):
        assert _main("train", *args, "--target", "y", *FAST, "--quiet", "--out",
                     tmp_path / "run") == 2
        err = capsys.readouterr().err
        assert err.startswith("chainrule: error: ") and len(err.splitlines()) == 1
        assert ("--task regression" in err) is offered, err
    if not offered:  # it would be refused
        assert _main("train", "--data", tmp_path / "t.csv", "--target", "y", "--task",
                     "regression", "--out", tmp_path / "run") == 2
        assert "non-numeric target 'cat'" in capsys.readouterr().err


@pytest.mark.parametrize("price, offered", [("12.5", False), ("12", True)])
def test_task_classification_is_offered_only_for_a_target_of_whole_numbers(
        tmp_path, capsys, price, offered):
    rows = "".join(f"{i},{float(price) + i * 3:g}\n" for i in range(40))
    (tmp_path / "t.csv").write_text("x,price\n" + rows)
    assert _main("train", "--data", tmp_path / "t.csv", "--target", "price", "--task",
                 "regression", "--head", "ovr", *FAST, "--quiet", "--out", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert ("--task classification" in err) is offered, err
    assert "--head ovr applies to classification" in err


def test_regression_target_is_standardised_and_predicted_in_its_units(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = 65000 + 2000 * X[:, 0] - 1500 * X[:, 1] + rng.normal(0, 100, 200)
    with open(tmp_path / "r.csv", "w") as f:
        f.write("a,b,c,price\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{p:.2f}\n"
                                          for (a, b, c), p in zip(X, y)))
    assert _main("train", "--data", tmp_path / "r.csv", "--target", "price", "--hidden", "16",
                 "--epochs", "60", "--lr", "0.01", "--quiet", "--out", tmp_path / "run") == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["r2"] > 0.9 and 10 < metrics["mae"] < 2000  # in dollars, not in std units
    capsys.readouterr()
    assert _main("predict", tmp_path / "run", "--data", tmp_path / "r.csv", "--out", "-") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    pred = np.array([float(r["prediction"]) for r in rows])
    assert abs(pred.mean() - y.mean()) < 1000 and np.corrcoef(pred, y)[0, 1] > 0.95
    from chainrule.io import load_with_metadata

    _, meta = load_with_metadata(tmp_path / "run")
    assert meta["target_scaler"]["mean"][0] == pytest.approx(65000, rel=0.01)
    assert len(meta["scaler"]["mean"]) == 3  # numbers only: stated as a plain scaler too


def test_negative_validation_r2_prints_a_warning(tmp_path, capsys, monkeypatch):
    from chainrule.train import run

    real = run.scores

    def worse_than_the_mean(r, idx):
        m = real(r, idx)
        return {**m, "r2": -0.5} if idx is r.val_idx else m

    monkeypatch.setattr(run, "scores", worse_than_the_mean)
    (tmp_path / "n.csv").write_text("a,y\n" + "".join(f"{i},{i * 0.37 % 1:.3f}\n"
                                                      for i in range(40)))
    assert _main("train", "--data", tmp_path / "n.csv", "--target", "y", "--hidden", "4",
                 "--epochs", "2", "--quiet", "--out", tmp_path / "run") == 0
    assert "warning: validation R^2 is -0.5 (< 0)" in capsys.readouterr().err


def test_missing_drop_leaves_rows_out_with_a_note(tmp_path, capsys):
    _penguins(tmp_path / "p.csv")
    assert _main("train", "--data", tmp_path / "p.csv", "--target", "species", "--missing",
                 "drop", *FAST, "--quiet", "--out", tmp_path / "run") == 0
    err = capsys.readouterr().err
    assert "rows with a missing value (--missing drop) left out" in err
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["data"]["missing"] == "drop" and cfg["data"]["preprocess"] == {"kind": "table"}


def test_resume_with_epochs_extends_a_finished_run(tmp_path, capsys):
    args = ["--dataset", "xor", "--hidden", "4", "--val-split", "0", "--quiet"]
    assert _main("train", *args, "--epochs", "2", "--out", tmp_path / "run") == 0
    assert _main("train", "--resume", tmp_path / "run", "--epochs", "4") == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 4
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 4
    with open(tmp_path / "run" / "history.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2", "3", "4"]
    capsys.readouterr()
    assert _main("train", "--resume", tmp_path / "run", "--epochs", "3") == 2
    assert "already has 4 epochs" in capsys.readouterr().err


def test_onnx_export_of_a_run_with_one_hot_columns_matches_predict(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")

    _penguins(tmp_path / "p.csv", n=60)
    assert _main("train", "--data", tmp_path / "p.csv", "--target", "species", "--hidden", "4",
                 "--epochs", "1", "--quiet", "--out", tmp_path / "run") == 0
    assert _main("export", tmp_path / "run", "--onnx", tmp_path / "m.onnx") == 0
    assert _main("predict", tmp_path / "run", "--data", tmp_path / "p.csv", "--proba",
                 "--out", tmp_path / "pred.csv") == 0
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    # one input per raw column: strings as written, numbers (NaN where missing) as float32
    with open(tmp_path / "p.csv") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    number = {"bill_length_mm": lambda c: np.nan if c == "NA" else float(c.replace(",", ".")),
              "tagged": lambda c: float(c == "true")}
    feeds = {}
    for i in sess.get_inputs():
        cells = [r[i.name] for r in rows]
        arr = np.array([number[i.name](c) for c in cells], np.float32) \
            if i.name in number else np.array(cells, dtype=object)
        feeds[i.name] = arr.reshape(-1, 1)
    assert sorted(feeds) == ["bill_length_mm", "island", "sex", "tagged"]
    label, proba = sess.run(["label", "probabilities"], feeds)
    with open(tmp_path / "pred.csv") as f:
        pred = list(csv.DictReader(f))
    assert label.tolist() == [p["prediction"] for p in pred]
    cols = [c for c in pred[0] if c.startswith("proba_")]
    np.testing.assert_allclose(proba, [[float(p[c]) for c in cols] for p in pred], rtol=1e-5,
                               atol=1e-5)


def test_ctrl_c_keeps_the_best_weights_in_a_usable_model_file(tmp_path):
    _penguins(tmp_path / "p.csv", n=600)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "train", "--data", "p.csv",
                             "--target", "species", "--hidden", "64,64", "--epochs", "500",
                             "--batch-size", "8", "--patience", "500", "--out", "run"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    history = tmp_path / "run" / "history.csv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if history.exists() and len(history.read_text().splitlines()) >= 3:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "holds the best weights so far, from epoch" in err
    assert (tmp_path / "run" / "model.safetensors").exists()
    r = subprocess.run([sys.executable, "-m", "chainrule", "predict", "run", "--data", "p.csv",
                        "--out", "pred.csv"], cwd=tmp_path, capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / "pred.csv").read_text().splitlines()) == 601
