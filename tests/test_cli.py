"""The ``chainrule`` command end to end, in subprocesses, on small generated files.

Every bad input must give exit code 2, exactly one line on stderr, no traceback and
nothing written (no run directory, no predictions file): here for the commands that use a
run (evaluate, predict, plot), in test_cli_bad_train.py for ``chainrule train``. The
bad-input commands are independent, so each table of them runs a few at a time in a
thread pool.

The test that trains the default model (digits) takes ~5 s; it is named
``test_slow_...`` so that ``-k "not slow"`` leaves it out.
"""

import csv
import importlib.util
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_bad_input, assert_ok, read_csv, run, run_many, write_csv

CLASSES = ["cat", "dog", "emu"]
FAST = ["--hidden", "8", "--lr", "0.05", "--epochs", "15"]
PNG = b"\x89PNG\r\n\x1a\n"
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="plots need matplotlib: pip install 'chainrule[plot]'")


def _cls_data(n=90, seed=0):
    """Three well separated blobs in 3-D, labelled 'cat', 'dog', 'emu' in turn."""
    rng = np.random.default_rng(seed)
    k = np.arange(n) % 3
    X = rng.normal(scale=0.6, size=(n, 3))
    X[:, 0] += 3 * (k - 1)
    X[:, 1] += 2 * (k == 1)
    return X, np.array(CLASSES)[k]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Small data files: CSV (string classes; numeric target), NPZ and NPY."""
    d = tmp_path_factory.mktemp("data")
    X, labels = _cls_data()
    write_csv(d / "cls.csv", ["a", "b", "c", "species"],
               [[*map(float, x), s] for x, s in zip(X, labels)])
    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(80, 3))
    price = Xr @ [1.5, -2.0, 0.5] + 10 + 0.1 * rng.normal(size=80)
    write_csv(d / "reg.csv", ["a", "b", "c", "price"],
               [[*map(float, x), float(p)] for x, p in zip(Xr, price)])
    np.savez(d / "cls.npz", X=X.astype(np.float32), y=(np.arange(90) % 3))
    np.save(d / "X.npy", X.astype(np.float32))
    return d


@pytest.fixture(scope="module")
def cls_run(data, tmp_path_factory):
    """A classifier trained once on cls.csv (not --quiet), for the tests that use a run."""
    cwd = tmp_path_factory.mktemp("cls_run")
    r = run(cwd, "train", "--data", data / "cls.csv", "--target", "species", *FAST,
            "--out", "run")
    assert_ok(r)
    return cwd / "run", r


@pytest.fixture(scope="module")
def reg_run(data, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("reg_run")
    r = run(cwd, "train", "--data", data / "reg.csv", "--target", "price", "--hidden", "8",
            "--lr", "0.05", "--epochs", "20", "--quiet", "--out", "reg")
    assert_ok(r)
    return cwd / "reg", r


# ------------------------------------------------------------------ train
def test_train_csv_classification_writes_the_run_directory(cls_run):
    run_dir, r = cls_run
    for name in ("model.safetensors", "config.json", "history.csv", "metrics.json"):
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n_samples"] == 18  # 20% of 90
    assert metrics["accuracy"] >= 0.9  # well separated blobs
    # the final metrics are printed on stdout: "test accuracy: 0.9444  loss ..."
    line = r.stdout.strip().splitlines()[0]
    assert line.startswith("test accuracy: ")
    assert float(line.split()[2]) == pytest.approx(metrics["accuracy"], abs=1e-4)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["hidden"] == [8] and config["data"]["target"] == "species"
    assert config["optimizer"]["name"] == "adam" and config["epochs"] == 15
    assert config["optimizer"]["lr"] == 0.05
    rows = read_csv(run_dir / "history.csv")
    assert 1 <= len(rows) <= 15 and len(rows) == metrics["epochs"]
    assert [int(row["epoch"]) for row in rows] == list(range(1, len(rows) + 1))
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(rows[0])
    # stderr is a pipe: one plain line per epoch, no progress bar
    epoch_lines = [ln for ln in r.stderr.splitlines() if ln.startswith("epoch ")]
    assert [int(ln.split()[1]) for ln in epoch_lines] == list(range(1, len(rows) + 1))
    assert all("val_loss" in ln for ln in epoch_lines)
    assert "\r" not in r.stderr
    assert "run written to run" in r.stderr


@needs_matplotlib
def test_train_writes_the_plots(cls_run, reg_run):
    for name in ("history.png", "confusion_matrix.png"):
        assert (cls_run[0] / name).read_bytes()[:8] == PNG
    assert not (reg_run[0] / "confusion_matrix.png").exists()
    assert (reg_run[0] / "history.png").read_bytes()[:8] == PNG


def test_train_regression_csv(reg_run, data, tmp_path):
    run_dir, r = reg_run
    assert r.stdout.startswith("test r2: ")
    # --quiet: no epoch lines; the task (and how to change it) still comes first
    assert r.stderr.strip().splitlines() == [
        # numbers with a fraction: --task classification would be refused, so not offered
        "task: regression (target 'price': float values)",
        "run written to reg"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"mse", "rmse", "mae", "r2", "loss"} <= set(metrics)
    assert metrics["r2"] > 0.5
    # predictions come back as 'prediction' (as for classes), in the target's units
    r = run(tmp_path, "predict", run_dir, "--data", data / "reg.csv", "--out", "p.csv")
    assert_ok(r)
    rows = read_csv(tmp_path / "p.csv")
    assert list(rows[0]) == ["prediction"] and len(rows) == 80
    truth = [float(row["price"]) for row in read_csv(data / "reg.csv")]
    pred = [float(row["prediction"]) for row in rows]
    assert np.corrcoef(pred, truth)[0, 1] > 0.8
    assert abs(np.mean(pred) - np.mean(truth)) < 2  # not standardised units


def test_train_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="Parquet needs pyarrow: pip install "
                                               "'chainrule[parquet]'")
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs pyarrow")
    X, labels = _cls_data(seed=3)
    pq.write_table(pa.table({"f1": X[:, 0], "f2": X[:, 1], "f3": X[:, 2], "label": labels}),
                   tmp_path / "d.parquet")
    r = run(tmp_path, "train", "--data", "d.parquet", "--target", "label", *FAST, "--quiet",
            "--out", "pq")
    assert_ok(r)
    assert json.loads((tmp_path / "pq" / "metrics.json").read_text())["accuracy"] >= 0.9
    r = run(tmp_path, "predict", "pq", "--data", "d.parquet", "--proba", "--out", "p.csv")
    assert_ok(r)
    rows = read_csv(tmp_path / "p.csv")
    assert list(rows[0]) == ["prediction", "proba_cat", "proba_dog", "proba_emu"]
    assert np.mean([row["prediction"] == s for row, s in zip(rows, labels)]) >= 0.9


def test_train_npz_then_predict_npy(data, tmp_path):
    r = run(tmp_path, "train", "--data", data / "cls.npz", *FAST, "--quiet", "--out", "npz")
    assert_ok(r)
    r = run(tmp_path, "predict", "npz", "--data", data / "X.npy", "--out", "p.csv")
    assert_ok(r)
    pred = np.array([int(row["prediction"]) for row in read_csv(tmp_path / "p.csv")])
    assert len(pred) == 90 and np.mean(pred == np.arange(90) % 3) >= 0.9
    r = run(tmp_path, "evaluate", "npz", "--data", data / "cls.npz", "--json")
    assert_ok(r)
    assert json.loads(r.stdout)["accuracy"] == pytest.approx(np.mean(pred == np.arange(90) % 3))


def test_train_options(data, tmp_path):
    r = run(tmp_path, "train", "--data", data / "cls.csv", "--target", "species",
            "--hidden", "6,5", "--activation", "tanh", "--head", "ovr", "--optimizer",
            "nesterov", "--lr", "0.05", "--schedule", "cosine", "--batch-size", "full",
            "--epochs", "6", "--val-split", "0", "--test-split", "0.25", "--seed", "3",
            "--quiet", "--out", "opts")
    assert_ok(r)
    run_dir = tmp_path / "opts"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["hidden"] == [6, 5] and config["head"]["head"] == "ovr"
    assert config["model"]["activation"] == "tanh" and config["optimizer"]["name"] == "nesterov"
    assert config["loader"]["batch_size"] is None and config["schedule"]["name"] == "cosine"
    assert config["seed"] == 3
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n_samples"] == 23  # ceil(0.25 * 90)
    rows = read_csv(run_dir / "history.csv")
    assert len(rows) == 6 and "val_loss" not in rows[0]  # no validation split
    lrs = [float(row["lr"]) for row in rows]
    assert lrs[0] == pytest.approx(0.05) and all(a > b for a, b in zip(lrs, lrs[1:]))


def test_train_builtin_dataset_with_tol_and_patience(tmp_path):
    r = run(tmp_path, "train", "--dataset", "moons", "--hidden", "4", "--epochs", "200",
            "--tol", "1", "--patience", "2", "--out", "t")
    assert_ok(r)
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert metrics["epochs"] == 3  # no epoch improves val_loss by 1 on the first one
    assert "Training on chainrule.data.load_dataset('moons'" in r.stderr
    assert "early stopping: val_loss did not improve for 2 epochs" in r.stderr
    assert "restored the weights of epoch 1" in r.stderr


@pytest.mark.parametrize("kind", ["csv", "npz"])  # the table path and the array path
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_train_scales_features_with_statistics_of_the_training_rows_only(tmp_path, task, kind):
    # Skewed features (lognormal, one far outlier) make the statistics of any 60% of the
    # rows clearly differ from those of all rows; the run's saved scaler must match the
    # training rows that the run's own split picks (the README's promise).
    from chainrule.data import read_table
    from chainrule.io import load_with_metadata
    from chainrule.train.recipe import Recipe
    from chainrule.train.run import split

    rng = np.random.default_rng(7)
    n = 60
    X = np.exp(2.0 * rng.normal(size=(n, 3)))
    X[5, 0] = 5e3
    y = (np.arange(n) % 2) if task == "classification" else X.sum(axis=1)
    if kind == "csv":
        label = y.astype(str) if task == "classification" else y
        write_csv(tmp_path / "skew.csv", ["a", "b", "c", "y"],
                   [[*map(float, x), t] for x, t in zip(X, label)])
    else:
        np.savez(tmp_path / "skew.npz", X=X.astype(np.float32), y=y)
    r = run(tmp_path, "train", "--data", f"skew.{kind}", *(["--target", "y"] * (kind == "csv")),
            "--task", task, "--hidden", "4", "--epochs", "2", "--seed", "3", "--quiet",
            "--out", "run")
    assert_ok(r)
    _, meta = load_with_metadata(tmp_path / "run")
    recipe = Recipe.from_dict(json.loads((tmp_path / "run" / "config.json").read_text()))
    table = read_table(tmp_path / f"skew.{kind}", target="y", task=task)
    train, val, test = split(table, recipe)
    assert len(train) == 36 and len(val) == 12 and len(test) == 12  # 60/20/20
    Xf = np.asarray(table.X, dtype=np.float64)
    np.testing.assert_allclose(meta["scaler"]["mean"], Xf[train].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(meta["scaler"]["scale"], Xf[train].std(axis=0), rtol=1e-4)
    # ... and not those of every row (what a scaler fitted before the split would hold)
    assert np.all(np.abs(meta["scaler"]["mean"] / Xf.mean(axis=0) - 1) > 1e-3)


@pytest.mark.parametrize("source, optimizer, lr", [
    (["--data", "reg.csv", "--target", "price"], "sgd", "1e6"),
    ([], "adam", "1e9"),  # digits: the loss grows to 1e20 and more, finite all along
])
def test_train_divergence_is_one_clear_line(data, tmp_path, source, optimizer, lr):
    source = [str(data / a) if a.endswith(".csv") else a for a in source]
    r = run(tmp_path, "train", *source, "--optimizer", optimizer, "--lr", lr, "--hidden", "4",
            "--epochs", "5", "--quiet", "--out", "dv")
    task, *rest = r.stderr.splitlines(keepends=True)
    assert task.startswith("task: ")  # the run's first line, then the one error
    assert_bad_input(subprocess.CompletedProcess(r.args, r.returncode, r.stdout, "".join(rest)),
                     "training loss became", "epoch 1, step 2,", "times its first value",
                     "diverged", "lower learning rate")
    assert "RuntimeWarning" not in r.stderr
    assert r.stdout == "" and not (tmp_path / "dv").exists()  # no score, no run written


def test_slow_default_train_digits(tmp_path):
    """`chainrule train` with no arguments trains an MLP on digits and prints the accuracy
    the README quotes (the run is deterministic for the default seed: one BLAS thread).

    How long it takes is measured by a benchmark, not here.
    """
    r = run(tmp_path, "train", timeout=180)
    assert_ok(r)
    line = r.stdout.strip().splitlines()[0]
    assert line.startswith("test accuracy: ")
    accuracy = float(line.split()[2])
    # 349 of the 360 test digits; a change of one digit is a change of the README's claim
    assert accuracy == 0.9694
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert f"({accuracy:.3f} with the default seed" in readme
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("digits-")
    assert (runs[0] / "model.safetensors").is_file()


# ------------------------------------------------------------------ evaluate, predict, plot
def test_evaluate_json_and_text(cls_run, data):
    run_dir, _ = cls_run
    r = run(run_dir.parent, "evaluate", run_dir, "--data", data / "cls.csv", "--json")
    assert_ok(r)
    metrics = json.loads(r.stdout)
    assert metrics["n_samples"] == 90
    assert {"loss", "accuracy", "balanced_accuracy", "f1_macro"} <= set(metrics)
    assert 0.9 <= metrics["accuracy"] <= 1 and metrics["loss"] > 0
    r = run(run_dir.parent, "evaluate", run_dir, "--data", data / "cls.csv")
    assert_ok(r)
    text = dict(line.split() for line in r.stdout.strip().splitlines())
    assert float(text["accuracy"]) == pytest.approx(metrics["accuracy"], abs=1e-5)


def test_evaluate_a_builtin_dataset_on_the_runs_own_test_split(tmp_path):
    pytest.importorskip("sklearn", reason="digits needs scikit-learn")
    r = run(tmp_path, "train", "--hidden", "8", "--epochs", "3", "--quiet", "--out", "d")
    assert_ok(r)  # the default run: digits
    trained = json.loads((tmp_path / "d" / "metrics.json").read_text())
    r = run(tmp_path, "evaluate", "d", "--dataset", "digits", "--json")
    assert_ok(r)
    got = json.loads(r.stdout)
    assert got["dataset"] == "digits" and got["split"] == "test"
    # the very rows, and so the very scores, of the test split training held out
    assert got["n_samples"] == trained["n_samples"] == 360
    for k in ("accuracy", "loss", "f1_macro"):
        assert got[k] == pytest.approx(trained[k], rel=1e-6), k
    assert r.stderr == ("evaluating on the run's test split of the built-in dataset "
                        "'digits': the 360 of its 1797 rows that training held out (seed 0, "
                        "test split 0.2)\n")
    r = run(tmp_path, "evaluate", "d", "--dataset", "iris")
    assert_bad_input(r, "dataset 'iris'", "4 feature columns", "trained on 64")


def test_evaluate_a_builtin_dataset_on_all_its_rows_otherwise(tmp_path):
    pytest.importorskip("sklearn", reason="iris needs scikit-learn")
    from chainrule.data import load_dataset

    iris = load_dataset("iris")
    write_csv(tmp_path / "iris.csv", [*iris.feature_names, "target"],
              [[*x, iris.classes[y]] for x, y in zip(iris.X.tolist(), iris.y.tolist())])
    for name, args, why in (
            ("none", ["--dataset", "iris", "--test-split", "0"],
             "the run held out no test rows, so these include its training rows"),
            ("csv", ["--data", "iris.csv", "--target", "target"],  # its columns by name
             "the run was trained on other data")):
        assert_ok(run(tmp_path, "train", *args, *FAST, "--quiet", "--out", name))
        r = run(tmp_path, "evaluate", name, "--dataset", "iris", "--json")
        assert_ok(r)
        got = json.loads(r.stdout)
        assert got["split"] == "all" and got["n_samples"] == 150 and got["accuracy"] > 0.6
        assert r.stderr == f"evaluating on all 150 rows of the built-in dataset 'iris' ({why})\n"


def test_predict_with_probabilities_and_original_labels(cls_run, data, tmp_path):
    run_dir, _ = cls_run
    r = run(tmp_path, "predict", run_dir, "--data", data / "cls.csv", "--proba",
            "--out", "preds.csv")
    assert_ok(r)
    assert "wrote 90 predictions to preds.csv" in r.stderr
    rows = read_csv(tmp_path / "preds.csv")
    assert list(rows[0]) == ["prediction", "proba_cat", "proba_dog", "proba_emu"]
    assert len(rows) == 90
    _, labels = _cls_data()
    pred = np.array([row["prediction"] for row in rows])
    assert set(pred) <= set(CLASSES)
    assert np.mean(pred == labels) >= 0.9
    proba = np.array([[float(row[f"proba_{c}"]) for c in CLASSES] for row in rows])
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert [CLASSES[i] for i in proba.argmax(axis=1)] == pred.tolist()
    # the accuracy of these predictions is what evaluate reports
    r = run(tmp_path, "evaluate", run_dir, "--data", data / "cls.csv", "--json")
    assert json.loads(r.stdout)["accuracy"] == pytest.approx(np.mean(pred == labels))


def test_predict_without_the_target_column(cls_run, tmp_path):
    run_dir, _ = cls_run
    X, labels = _cls_data()
    write_csv(tmp_path / "x.csv", ["a", "b", "c"], X[:6].tolist())
    r = run(tmp_path, "predict", run_dir, "--data", "x.csv", "--out", "p.csv")
    assert_ok(r)
    rows = read_csv(tmp_path / "p.csv")
    assert list(rows[0]) == ["prediction"] and len(rows) == 6
    assert all(row["prediction"] in CLASSES for row in rows)


KEPT = ["007", "A, 1", " x ", "NA", "C01522", "1e3"]  # as a user's identifiers come


def test_predict_keeps_columns_first_and_as_written(cls_run, reg_run, data, tmp_path):
    X, _ = _cls_data()
    rows = [[k, f"{x[0]:.2f}0", *map(float, x[1:])] for k, x in zip(KEPT, X)]
    write_csv(tmp_path / "new.csv", ["id", "a", "b", "c"], rows)
    for run_dir, names in ((cls_run[0], ["prediction", "proba_cat", "proba_dog", "proba_emu"]),
                           (reg_run[0], ["prediction"])):
        r = run(tmp_path, "predict", run_dir, "--data", "new.csv", "--keep", "id,a",
                *(["--proba"] if len(names) > 1 else []), "--out", "-")
        assert_ok(r)
        out = list(csv.reader(io.StringIO(r.stdout)))
        assert out[0] == ["id", "a", *names] and len(out) == 1 + len(KEPT)
        assert [row[0] for row in out[1:]] == KEPT  # not 7, nor NaN, nor stripped
        assert [row[1] for row in out[1:]] == [row[1] for row in rows]  # '0.12' + '0'
        assert "'id'" in r.stderr  # the model does not use it: said once, as before
    # to a file: the same rows
    r = run(tmp_path, "predict", cls_run[0], "--data", "new.csv", "--keep", "id", "--out",
            "p.csv")
    assert_ok(r)
    assert [row["id"] for row in read_csv(tmp_path / "p.csv")] == KEPT


def test_predict_keeps_parquet_columns(cls_run, tmp_path):
    pa = pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs pyarrow")
    X, _ = _cls_data()
    pq.write_table(pa.table({"id": KEPT[:3], "n": [7, None, 12], "a": X[:3, 0], "b": X[:3, 1],
                             "c": X[:3, 2]}), tmp_path / "new.parquet")
    r = run(tmp_path, "predict", cls_run[0], "--data", "new.parquet", "--keep", "n,id",
            "--out", "-")
    assert_ok(r)
    out = list(csv.reader(io.StringIO(r.stdout)))
    assert [row[:2] for row in out] == [["n", "id"], ["7", "007"], ["", "A, 1"], ["12", " x "]]


@needs_matplotlib
def test_plot_redraws_the_history(cls_run, tmp_path):
    run_dir, _ = cls_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "history.png").unlink()
    r = run(tmp_path, "plot", "run")
    assert_ok(r)
    assert (copy / "history.png").read_bytes()[:8] == PNG
    assert "history.png" in r.stdout


def test_datasets_lists_the_builtin_datasets(tmp_path):
    r = run(tmp_path, "datasets")
    assert_ok(r)
    rows = {line.split()[0]: line.split()[1] for line in r.stdout.strip().splitlines()[1:]}
    assert rows["digits"] == "classification" and rows["diabetes"] == "regression"
    assert {"iris", "spirals", "moons", "xor", "friedman"} <= set(rows)


def test_console_script(tmp_path):
    exe = shutil.which("chainrule")
    if exe is None:
        pytest.skip("the chainrule console script is not on PATH")
    r = run(tmp_path, "datasets", exe=exe)
    assert_ok(r)
    assert "digits" in r.stdout
    r = run(tmp_path, "train", "--optimizer", "lbfgs", "--out", "x", exe=exe)
    assert_bad_input(r, "lbfgs", "'adam'")
    assert not (tmp_path / "x").exists()


def test_version_prints_the_package_version(tmp_path):
    from chainrule._version import __version__

    r = run(tmp_path, "--version")
    assert_ok(r)
    assert r.stdout == f"chainrule {__version__}\n" and r.stderr == ""
    assert "--version" in run(tmp_path, "--help").stdout


def test_no_command_prints_help(tmp_path):
    r = run(tmp_path)
    assert r.returncode == 2
    assert "train" in r.stdout and "evaluate" in r.stdout and "predict" in r.stdout


# ------------------------------------------------------------------ bad input: use a run
def test_train_refuses_to_overwrite_a_run(cls_run, data):
    run_dir, _ = cls_run
    before = (run_dir / "model.safetensors").read_bytes()
    r = run(run_dir.parent, "train", "--data", data / "cls.csv", "--target", "species",
            "--out", run_dir.name)
    assert_bad_input(r, "already holds a run")
    assert (run_dir / "model.safetensors").read_bytes() == before


RUN, REG = "<run>", "<reg>"
BAD_USE = {  # case: (arguments, words the message must hold)
    "unseen_class": (["evaluate", RUN, "--data", "newclass.csv", "--json"],
                     ["row 3", "'yak'", "never saw in training", "'cat'"]),
    "fewer_features_evaluate": (["evaluate", RUN, "--data", "fewer.csv"],
                                ["fewer.csv", "missing column(s) ['c']", "'a', 'b', 'c'"]),
    "fewer_features_predict": (["predict", RUN, "--data", "fewer.csv"],
                               ["fewer.csv", "missing column(s) ['c']"]),
    "renamed_evaluate": (["evaluate", RUN, "--data", "renamed.csv"],
                         ["renamed.csv", "missing column(s) ['c']"]),
    "renamed_predict": (["predict", RUN, "--data", "renamed.csv"],
                        ["renamed.csv", "missing column(s) ['c']"]),
    "text_in_a_number_column": (["predict", RUN, "--data", "text_in_b.csv"],
                                ["column 'b'", "data row 2", "'oops'", "numeric in training"]),
    "evaluate_without_target": (["evaluate", RUN, "--data", "no_target.csv"],
                                ["'species'", "no target column"]),
    "npy_for_a_table_model": (["predict", RUN, "--data", "X.npy"],
                              ["X.npy", "trained on a table"]),
    "evaluate_missing_data": (["evaluate", RUN, "--data", "nope.csv"],
                              ["nope.csv", "no such file"]),
    "proba_for_regression": (["predict", REG, "--data", "reg.csv", "--proba"],
                             ["--proba", "classification"]),
    "evaluate_needs_run_dir": (["evaluate"], ["RUN_DIR"]),
    "evaluate_needs_data_or_dataset": (["evaluate", RUN], ["--data FILE", "--dataset NAME"]),
    "evaluate_data_and_dataset": (["evaluate", RUN, "--data", "x.csv", "--dataset", "iris"],
                                  ["--data", "not allowed with", "--dataset"]),
    "evaluate_unknown_dataset": (["evaluate", RUN, "--dataset", "mnist"],
                                 ["'mnist'", "digits", "iris"]),
    "evaluate_dataset_with_delimiter": (["evaluate", RUN, "--dataset", "iris", "--delimiter",
                                         ";"], ["--delimiter", "--dataset iris"]),
    "evaluate_dataset_missing_columns": (["evaluate", RUN, "--dataset", "iris"],
                                         ["dataset 'iris'", "missing column(s)", "'a'"]),
    "keep_unknown_column": (["predict", RUN, "--data", "x.csv", "--keep", "species,idd"],
                            ["--keep idd", "x.csv", "no column 'idd'", "'species'"]),
    "keep_twice": (["predict", RUN, "--data", "x.csv", "--keep", "a,a"], ["--keep", "'a'",
                                                                         "twice"]),
    "keep_from_an_array": (["predict", RUN, "--data", "X.npy", "--keep", "a"],
                           ["--keep", "X.npy", "no named columns"]),
    "keep_a_prediction_column": (["predict", RUN, "--data", "named_prediction.csv", "--keep",
                                  "prediction"], ["--keep prediction", "'prediction'",
                                                  "named_prediction.csv"]),
    **{f"{command}_{where}": ([command, where] + {"evaluate": ["--data", "x.csv"],
                                                  "predict": ["--data", "x.csv"],
                                                  "plot": []}[command], [where])
       for command in ("evaluate", "predict", "plot") for where in ("not_a_run", "missing_dir")},
}


@pytest.fixture(scope="module")
def bad_use(cls_run, reg_run, data, tmp_path_factory):
    d = tmp_path_factory.mktemp("use")
    X, labels = _cls_data()
    rows = [[*map(float, x), s] for x, s in zip(X[:6], labels[:6])]
    write_csv(d / "x.csv", ["a", "b", "c", "species"], rows)
    write_csv(d / "fewer.csv", ["a", "b", "species"], [r[:2] + r[3:] for r in rows])
    write_csv(d / "more.csv", ["a", "b", "c", "d", "species"], [r[:3] + [0.0] + r[3:]
                                                                 for r in rows])
    write_csv(d / "renamed.csv", ["a", "b", "z", "species"], rows)
    write_csv(d / "reordered.csv", ["b", "a", "c", "species"], rows)
    write_csv(d / "newclass.csv", ["a", "b", "c", "species"],
               rows[:2] + [rows[2][:3] + ["yak"]] + rows[3:])
    write_csv(d / "target_first_nan.csv", ["species", "a", "b", "c"],
               [[r[3], r[0], "nan" if i == 1 else r[1], r[2]] for i, r in enumerate(rows)])
    write_csv(d / "no_target.csv", ["a", "b", "c"], [r[:3] for r in rows])
    write_csv(d / "named_prediction.csv", ["a", "b", "c", "prediction"], rows)
    write_csv(d / "text_in_b.csv", ["a", "b", "c"],
               [[r[0], "oops" if i == 1 else r[1], r[2]] for i, r in enumerate(rows)])
    np.save(d / "X.npy", X[:6].astype(np.float32))
    shutil.copy(data / "reg.csv", d / "reg.csv")
    (d / "not_a_run").mkdir()
    where = {RUN: cls_run[0], REG: reg_run[0]}
    jobs = {}
    for case, (args, _) in BAD_USE.items():
        args = [where.get(a, a) for a in args]
        if args[0] == "predict":
            args += ["--out", f"{case}.csv"]
        jobs[case] = (d, args)
    return d, run_many(jobs)


@pytest.mark.parametrize("case", list(BAD_USE))
def test_use_a_run_bad_input(bad_use, case):
    d, results = bad_use
    assert_bad_input(results[case], *BAD_USE[case][1])
    assert results[case].stdout == ""
    assert not (d / f"{case}.csv").exists()  # no predictions file
    assert not (d / "missing_dir").exists()
