"""``chainrule train`` on bad input: exit code 2, exactly one line on stderr naming the
problem, no traceback and no run directory. The commands are independent, so the table
runs a few at a time in a thread pool (the commands that use a run: test_cli.py)."""

import subprocess
import sys

import numpy as np
import pytest
from helpers import assert_bad_input, run_many

BAD_TRAIN = {  # case: (arguments, words the message must hold)
    "missing_file": (["--data", "nope.csv", "--target", "species"],
                     ["nope.csv", "no such file"]),
    "empty_file": (["--data", "empty.csv", "--target", "species"], ["empty.csv", "empty"]),
    "header_only": (["--data", "header_only.csv", "--target", "species"], ["no data rows"]),
    "not_utf8": (["--data", "binary.csv", "--target", "species"], ["binary.csv", "UTF-8"]),
    "broken_parquet": (["--data", "broken.parquet", "--target", "species"],
                       ["broken.parquet", "not a readable Parquet file"]),
    "broken_npz": (["--data", "broken.npz"], ["broken.npz", "not a readable .npz"]),
    "directory": (["--data", "folder.csv", "--target", "species"],
                  ["folder.csv", "not a file"]),
    "unknown_suffix": (["--data", "data.xlsx", "--target", "species"],
                       ["unknown file type", ".csv", ".parquet", ".npz"]),
    "target_absent": (["--data", "color.csv", "--target", "label"],
                      ["'label' not found", "'a'", "'color'", "'species'"]),
    "npz_target_absent": (["--data", "ok.npz", "--target", "label"], ["'label'", "'X'", "'y'"]),
    "identifier_feature": (["--data", "ident.csv", "--target", "species"],
                           ["column 'name'", "identifier", "all 30 values", "'person 0')",
                            "--drop name"]),  # the file's 30 rows, not the 18 training rows
    "several_unusable": (["--data", "customers.csv", "--target", "churn"],
                         ["customers.csv: 2 columns cannot be used as features: 'customer_id' "
                          "looks like an identifier (all 40 values are distinct strings, e.g. "
                          "'C01522'); 'signup' holds dates or times (e.g. '2024-03-01'), which "
                          "are not encoded; drop them (--drop customer_id,signup)"]),
    "several_unusable_with_drop": (["--data", "customers.csv", "--target", "churn", "--drop",
                                    "age"], ["2 columns", "(--drop age,customer_id,signup)"]),
    "date_feature": (["--data", "dates.csv", "--target", "species"],
                     ["column 'when'", "dates", "--drop when"]),
    "too_many_categories": (["--data", "ident.csv", "--target", "species", "--drop", "name",
                             "--max-categories", "2"],
                            ["column 'city'", "3 distinct values", "--max-categories 2"]),
    "missing_error": (["--data", "nan.csv", "--target", "species", "--missing", "error"],
                      ["column 'b'", "data row 3", "missing value"]),
    "drop_unknown_column": (["--data", "ident.csv", "--target", "species", "--drop", "zz"],
                            ["'zz'", "available columns"]),
    "table_option_for_dataset": (["--dataset", "iris", "--drop", "x"],
                                 ["--drop applies to tables", "--dataset iris"]),
    "table_option_for_npz": (["--data", "ok.npz", "--missing", "drop"],
                             ["--missing applies to tables", "ok.npz"]),
    "head_for_regression": (["--data", "ident.csv", "--target", "x", "--drop", "name",
                             "--head", "ovr"],
                            ["--head ovr applies to classification", "regression"]),
    "loss_for_classification": (["--data", "ident.csv", "--target", "species", "--drop",
                                 "name", "--loss", "huber"],
                                ["--loss huber applies to regression", "classification"]),
    "class_weight_for_regression": (["--data", "ident.csv", "--target", "x", "--drop", "name",
                                     "--class-weight", "balanced"],
                                    ["--class-weight balanced", "regression"]),
    "stratification": (["--data", "labels.csv", "--target", "species"],
                       ["stratified", "--test-split"]),  # no --task regression: text labels
    "model_too_large": (["--dataset", "xor", "--hidden", "300000,300000"],
                        ["parameters", "GiB", "--hidden"]),
    "abbreviated_flag": (["--dataset", "xor", "--dropo", "0.5"], ["unrecognized", "--dropo"]),
    "inf_target": (["--data", "inf_target.csv", "--target", "price"],
                   ["column 'price'", "data row 3", "'inf'"]),
    "nan_feature_npz": (["--data", "nan.npz"], ["nan.npz", "row 2", "not finite"]),
    "one_class": (["--data", "one_class.csv", "--target", "species"],
                  ["'species'", "fewer than 2 classes"]),
    "no_target_option": (["--data", "color.csv"], ["--target"]),
    "unknown_dataset": (["--dataset", "mnist"], ["'mnist'", "digits", "iris"]),
    "unknown_optimizer": (["--optimizer", "lbfgs"],
                          ["--optimizer", "'lbfgs'", "'sgd'", "'nesterov'", "'adagrad'"]),
    "unknown_schedule": (["--schedule", "warm"],
                         ["--schedule", "'warm'", "'cosine'", "'inverse-time'"]),
    "unknown_head": (["--head", "tree"], ["--head", "'tree'", "'softmax'", "'ovr'"]),
    "unknown_activation": (["--activation", "swish"], ["'swish'", "'relu'", "'tanh'"]),
    "unknown_task": (["--task", "ranking"], ["'ranking'", "'classification'", "'regression'"]),
    "bad_batch_size": (["--batch-size", "big"], ["--batch-size", "'big'", "'full'"]),
    "bad_hidden": (["--hidden", "128,x"], ["--hidden", "128,x"]),
    "bad_epochs": (["--epochs", "0"], ["--epochs"]),
    "splits_leave_nothing": (["--val-split", "0.5", "--test-split", "0.45"],
                             ["--val-split", "--test-split"]),
    "wrong_task_for_labels": (["--data", "labels.csv", "--target", "species", "--task",
                               "regression"], ["'species'", "'cat'", "regression"]),
}


@pytest.fixture(scope="module")
def bad_train(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "folder.csv").mkdir()
    (d / "empty.csv").write_text("")
    (d / "header_only.csv").write_text("a,b,species\n")
    (d / "binary.csv").write_bytes(b"\xff\xfe\x00\x81garbage\x00")
    (d / "broken.parquet").write_text("not a parquet file")
    (d / "broken.npz").write_text("not a zip archive")
    (d / "data.xlsx").write_text("a,species\n1,cat\n")
    (d / "color.csv").write_text("a,color,species\n1,red,cat\n2,blue,dog\n3,red,cat\n")
    (d / "labels.csv").write_text("a,b,species\n1,2,cat\n2,3,dog\n3,4,cat\n4,5,dog\n")
    (d / "nan.csv").write_text("a,b,species\n1,2,cat\n2,3,dog\n3,nan,cat\n4,5,dog\n")
    (d / "ident.csv").write_text("name,city,x,species\n" + "".join(
        f"person {i},{['Oslo', 'Rome', 'Lima'][i % 3]},{i * 0.5},{['cat', 'dog'][i % 2]}\n"
        for i in range(30)))
    (d / "customers.csv").write_text("customer_id,signup,age,churn\n" + "".join(
        f"C{1522 + i:05d},2024-03-{i % 28 + 1:02d},{20 + i},{['no', 'yes'][i % 2]}\n"
        for i in range(40)))
    (d / "dates.csv").write_text("when,a,species\n" + "".join(
        f"2024-01-{i + 1:02d},{i},{['cat', 'dog'][i % 2]}\n" for i in range(20)))
    (d / "inf_target.csv").write_text("a,b,price\n1,2,0.5\n2,3,1.5\n3,4,inf\n4,5,2.5\n")
    (d / "one_class.csv").write_text(
        "a,b,species\n" + "".join(f"{i},{i % 3},cat\n" for i in range(12)))
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.savez(d / "ok.npz", X=X, y=np.arange(6) % 2)
    X[1, 1] = np.nan
    np.savez(d / "nan.npz", X=X, y=np.arange(6) % 2)
    jobs = {case: (d, ["train", "--epochs", "1", *args, "--out", f"out_{case}"])
            for case, (args, _) in BAD_TRAIN.items()}
    return d, run_many(jobs)


@pytest.mark.parametrize("case", list(BAD_TRAIN))
def test_train_bad_input(bad_train, case):
    d, results = bad_train
    assert_bad_input(results[case], *BAD_TRAIN[case][1])
    assert not (d / f"out_{case}").exists()  # nothing written half-way


def test_train_without_safetensors_fails_before_writing_anything(tmp_path):
    code = ("import sys\n"
            "sys.modules['safetensors'] = sys.modules['safetensors.numpy'] = None\n"
            "from chainrule.cli import main\n"
            "sys.exit(main(['train', '--dataset', 'spirals', '--epochs', '1', '--out', 'run']))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2
    assert "safetensors" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
