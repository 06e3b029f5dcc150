"""Journey 3: a regression table whose predictions come back in the target's units.

``chainrule train --data houses.csv --target value`` (prices in dollars; the defaults,
which standardise the target for training), then ``chainrule predict`` and ``chainrule
evaluate`` on 1,000 held-out houses: the predictions have the prices' mean, spread and a
real R^2, not only their mean. A model file whose saved target scale is replaced by 1 (a
target left in standard units) is caught by the same check.
"""

import json
import shutil

import numpy as np
import pytest
from journey_steps import chainrule, column, read_csv

import chainrule as cr


def predict(run_dir, data, out):
    chainrule(out.parent, "predict", run_dir, "--data", data, "--out", out)
    header, rows = read_csv(out)
    assert header == ["prediction"]
    return column(rows, "prediction", float)


def r2(truth, pred):
    return 1 - np.sum((truth - pred) ** 2) / np.sum((truth - truth.mean()) ** 2)


def assert_in_target_units(pred, truth, train_values):
    """Predictions of prices in dollars: centred on the prices, spread as they are (a
    model explaining R^2 of the variance spreads its predictions by about sqrt(R^2) of
    the target's), and explaining most of the variance of held-out prices."""
    assert abs(pred.mean() - train_values.mean()) < 0.1 * train_values.std(), \
        f"mean prediction {pred.mean():.6g}, mean price {train_values.mean():.6g}"
    ratio = pred.std() / truth.std()
    assert 0.8 <= ratio <= 1.1, f"std of predictions / std of prices = {ratio:.4g}"
    assert r2(truth, pred) >= 0.8, f"held-out R^2 {r2(truth, pred):.4f}"


@pytest.fixture(scope="module")
def holdout_predictions(houses_run, tmp_path_factory):
    return predict(houses_run.dir, houses_run.holdout,
                   tmp_path_factory.mktemp("houses_predict") / "p.csv")


def test_train_reports_r2(houses_run):
    line = houses_run.train.stdout.splitlines()[0]
    assert line.startswith("test r2: ") and float(line.split()[2]) >= 0.8
    assert "task: regression (target 'value'" in houses_run.train.stderr


def test_predictions_are_prices(houses_run, holdout_predictions):
    assert_in_target_units(holdout_predictions, houses_run.holdout_values,
                           houses_run.train_values)


def test_evaluate_scores_the_predictions(houses_run, holdout_predictions, tmp_path):
    r = chainrule(tmp_path, "evaluate", houses_run.dir, "--data", houses_run.holdout,
                  "--json")
    metrics = json.loads(r.stdout)
    truth = houses_run.holdout_values
    assert metrics["n_samples"] == len(truth)
    assert metrics["r2"] == pytest.approx(r2(truth, holdout_predictions), abs=1e-4)
    rmse = np.sqrt(np.mean((truth - holdout_predictions) ** 2))
    assert metrics["rmse"] == pytest.approx(rmse, rel=1e-4)  # in dollars


def test_a_model_file_with_its_target_scale_lost_is_caught(houses_run, tmp_path):
    """The check above fails for a model file whose saved target scale is 1."""
    broken = tmp_path / "run"
    shutil.copytree(houses_run.dir, broken)
    model, meta = cr.io.load_with_metadata(broken)
    assert meta["target_scaler"]["scale"][0] > 1000  # dollars: the saved scale is real
    meta["target_scaler"]["scale"] = np.ones(1)
    meta["preprocessor"]["target_std"] = 1.0
    cr.save(model, broken / "model.safetensors", metadata=meta)
    pred = predict(broken, houses_run.holdout, tmp_path / "p.csv")
    with pytest.raises(AssertionError, match="std of predictions"):
        assert_in_target_units(pred, houses_run.holdout_values, houses_run.train_values)
