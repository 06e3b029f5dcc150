"""train/tables.py: a table read for a run, its task, its encoding and its replay."""

import numpy as np
import pytest

from chainrule.errors import ChainruleError, DataError
from chainrule.train.tables import (
    check_model_size,
    check_task_options,
    encode_for_run,
    features_from_file,
    mlp_parameter_count,
    model_metadata,
    read_for_run,
    task_line,
)


def _csv(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


PENGUINS = ("island;bill;sex;year;species\n" + "".join(
    f"{['Dream', 'Biscoe', 'Torgersen'][i % 3]};{30 + i % 7},{i % 10};"
    f"{['male', 'female', 'NA'][i % 3]};{2007 + i % 3};{['Adelie', 'Gentoo'][i % 2]}\n"
    for i in range(40)) + "Dream;40,1;male;2008;NA\n")


def test_read_for_run_drops_rows_without_target_and_picks_the_task(tmp_path):
    data = read_for_run(_csv(tmp_path, PENGUINS), "species")
    assert data.dropped == 1 and data.frame.n_rows == 40
    assert data.task == "classification" and data.reason == "string values"
    assert data.classes == ["Adelie", "Gentoo"] and data.y[:4].tolist() == [0, 1, 0, 1]
    forced = read_for_run(_csv(tmp_path, PENGUINS), "year", task="classification")
    assert forced.reason == "--task classification" and forced.classes == [2007, 2008, 2009]


def test_encode_for_run_fits_on_training_rows_only(tmp_path):
    data = read_for_run(_csv(tmp_path, PENGUINS), "bill")
    assert data.task == "regression"
    train = np.arange(20)
    X, y, notes = encode_for_run(data, train)
    prep = data.preprocessor
    bills = data.frame["bill"].values
    assert prep.target_mean_ == pytest.approx(bills[train].mean())
    np.testing.assert_allclose(y, (bills - bills[train].mean()) / bills[train].std(),
                               rtol=1e-5)
    assert X.shape == (41, len(prep.feature_names_out_))
    # the one missing species is in row 41, outside the training rows: all zeros, one note
    assert len(notes) == 1 and "column 'species': '<missing>'" in notes[0]


def test_model_metadata_states_pure_scaling_for_other_tools(tmp_path):
    data = read_for_run(_csv(tmp_path, "a,b,y\n" + "".join(
        f"{i},{i * i % 7},{i * 0.5}\n" for i in range(30))), "y")
    encode_for_run(data, np.arange(20))
    meta = model_metadata(data.preprocessor)
    assert meta["feature_names"] == ["a", "b"] and meta["preprocessor"]["task"] == "regression"
    np.testing.assert_allclose(meta["scaler"]["mean"], [9.5, np.mean([i * i % 7
                                                                       for i in range(20)])])
    assert meta["target_scaler"]["mean"][0] == pytest.approx(np.arange(20).mean() * 0.5)
    mixed = read_for_run(_csv(tmp_path, PENGUINS, "p.csv"), "species")
    encode_for_run(mixed, np.arange(30))
    assert "scaler" not in model_metadata(mixed.preprocessor)


def test_features_from_file_matches_columns_by_name(tmp_path):
    data = read_for_run(_csv(tmp_path, PENGUINS), "species")
    X, _, _ = encode_for_run(data, np.arange(30))
    meta = model_metadata(data.preprocessor)
    shuffled = _csv(tmp_path, "species,year,sex,bill,island,extra\n" + "".join(
        f"{s},{y},{x},{b},{i},1\n" for i, b, x, y, s in
        (line.replace(",", ".").split(";") for line in PENGUINS.strip().splitlines()[1:5])),
        "new.csv")
    X2, y2, notes = features_from_file(shuffled, meta, need_target=True)
    np.testing.assert_allclose(X2, X[:4], rtol=1e-6)
    assert y2.tolist() == [0, 1, 0, 1] and any("['extra']" in n for n in notes)
    with pytest.raises(DataError, match="the model was trained on a table"):
        features_from_file(tmp_path / "x.npy", meta, need_target=False)


def test_task_line_names_the_flag_that_changes_it():
    assert task_line("classification", "string values", "y") == \
        "task: classification (target 'y': string values); --task regression to change it"


@pytest.mark.parametrize("task, given, flag", [
    ("regression", {"--head": "ovr"}, "--head ovr applies to classification"),
    ("regression", {"--class-weight": "balanced"}, "--class-weight balanced applies"),
    ("classification", {"--loss": "huber"}, "--loss huber applies to regression"),
])
def test_options_for_the_other_task_are_refused(task, given, flag):
    with pytest.raises(ChainruleError, match=flag):
        check_task_options(task, given)
    check_task_options(task, {})


def test_models_too_large_are_refused_from_their_parameter_count():
    assert mlp_parameter_count(4, [8], 3) == 5 * 8 + 9 * 3
    n = mlp_parameter_count(1000, [100_000, 100_000], 10)
    with pytest.raises(ChainruleError, match=r"10,101,\d+,\d+ parameters.*GiB.*--hidden"):
        check_model_size(n, "adam", memory=8 * 2**30)
    check_model_size(mlp_parameter_count(64, [256, 128], 10), "adam", memory=8 * 2**30)
