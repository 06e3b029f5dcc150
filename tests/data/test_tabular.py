"""TablePreprocessor: each rule on a table built here, state round trips, name matching."""

import json
import warnings

import numpy as np
import pytest

from chainrule.data import DataWarning, Frame, TablePreprocessor, detect_task, read_table
from chainrule.errors import DataError


def _frame(**cols):
    return Frame.from_arrays(cols, source="t.csv")


def _prep(frame, **kw):
    return TablePreprocessor(**kw).fit(frame)


def test_numbers_are_standardised_with_training_statistics():
    f = _frame(a=[1.0, 2.0, 3.0, 4.0], b=[10, 10, 10, 10])
    p = _prep(f)
    X = p.transform(f)
    assert X.dtype == np.float32 and p.feature_names_out_ == ["a", "b"]
    np.testing.assert_allclose(X[:, 0], (np.arange(1, 5) - 2.5) / np.std([1, 2, 3, 4]),
                               rtol=1e-6)
    assert X[:, 1].tolist() == [0, 0, 0, 0]  # constant column: std 1, maps to 0
    np.testing.assert_allclose(p.transform(_frame(a=[5.0], b=[10]))[0, 0],
                               (5 - 2.5) / np.std([1, 2, 3, 4]), rtol=1e-6)
    raw = _prep(f, scale=False).transform(f)
    assert raw[:, 0].tolist() == [1, 2, 3, 4]


def test_missing_number_gets_the_median_and_an_indicator():
    f = _frame(a=[1.0, None, 3.0, 10.0])
    p = _prep(f, scale=False)
    assert p.feature_names_out_ == ["a", "a_missing"]
    assert p.transform(f).tolist() == [[1, 0], [3, 1], [3, 0], [10, 0]]
    complete = _frame(a=[1.0, 2.0])
    assert _prep(complete).feature_names_out_ == ["a"]  # no indicator without missing cells
    later = _prep(complete, scale=False).transform(_frame(a=[None, 5.0]))
    assert later.tolist() == [[1.5], [5.0]]  # imputed at predict time too


def test_strings_are_one_hot_in_sorted_order_and_not_scaled():
    f = _frame(c=["b", "a", "b", "c"], x=[1.0, 2.0, 3.0, 4.0])
    p = _prep(f)
    assert p.feature_names_out_ == ["c=a", "c=b", "c=c", "x"]
    assert p.transform(f)[:, :3].tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_missing_category_for_strings():
    f = _frame(c=["a", None, "b", "NA"])
    p = _prep(f)
    assert p.feature_names_out_ == ["c=a", "c=b", "c=<missing>"]
    assert p.transform(f).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]]


def test_unseen_categories_are_zeros_with_one_warning_naming_column_and_values():
    p = _prep(_frame(c=["a", "b", "a"], d=["x", "y", "x"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = p.transform(_frame(c=["a", "zebra", "yak"], d=["x", "w", "x"]))
    assert X.tolist() == [[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 1, 0]]
    assert len(caught) == 1 and issubclass(caught[0].category, DataWarning)
    msg = str(caught[0].message)
    assert "column 'c': 'yak', 'zebra'" in msg and "column 'd': 'w'" in msg


def test_too_many_categories_is_refused_naming_the_column():
    f = _frame(city=[f"c{i % 6}" for i in range(30)])
    with pytest.raises(DataError, match=r"column 'city' has 6 distinct values, more than "
                                        r"--max-categories 5; drop it \(--drop city\)"):
        _prep(f, max_categories=5)
    assert len(_prep(f).feature_names_out_) == 6  # default 50


def test_identifier_columns_are_refused():
    f = _frame(name=[f"person {i}" for i in range(12)], x=np.arange(12.0))
    with pytest.raises(DataError, match=r"column 'name' looks like an identifier .*"
                                        r"--drop name"):
        _prep(f)
    assert _prep(f, drop=["name"]).feature_names_out_ == ["x"]


def test_dates_and_empty_columns_are_refused():
    with pytest.raises(DataError, match=r"column 'when' holds dates .*'2020-01-02'.*--drop when"):
        _prep(_frame(when=["2020-01-02", "2021-03-04"], x=[1.0, 2.0]))
    with pytest.raises(DataError, match=r"column 'e' has no values .*--drop e"):
        _prep(_frame(e=[None, None], x=[1.0, 2.0]))


def test_every_unusable_column_is_named_in_one_message():
    f = _frame(id=[f"C{i:05d}" for i in range(12)], when=["2024-03-01"] * 12,
               e=[None] * 12, city=[f"c{i % 6}" for i in range(12)], x=np.arange(12.0))
    with pytest.raises(DataError) as info:
        TablePreprocessor(drop=["x"], max_categories=5).check_usable(f)
    assert str(info.value) == (
        "t.csv: 4 columns cannot be used as features: 'id' looks like an identifier (all 12 "
        "values are distinct strings, e.g. 'C00000'); 'when' holds dates or times (e.g. "
        "'2024-03-01'), which are not encoded; 'e' has no values; 'city' has 6 distinct "
        "values, more than --max-categories 5; drop them (--drop x,id,when,e,city) or raise "
        "--max-categories")
    with pytest.raises(DataError, match=r"t.csv: 2 columns .*'id' looks like an identifier "
                                        r".*'e' has no values in the training rows; drop them "
                                        r"\(--drop id,e\)$"):
        _prep(f.select(["id", "e", "x"]))
    TablePreprocessor(drop=["id", "when", "e", "city"]).check_usable(f)  # all usable


def test_booleans_are_zero_one():
    f = _frame(flag=["true", "False", "TRUE", None])
    p = _prep(f)
    assert p.state_dict()["columns"][0]["kind"] == "bool"
    assert p.transform(f).tolist() == [[1, 0], [0, 0], [1, 0], [1, 1]]


def test_infinite_values_are_refused_naming_column_and_row():
    with pytest.raises(DataError, match=r"column 'a', data row 2 .*not finite"):
        _prep(_frame(a=[1.0, np.inf]))


def test_missing_error_names_column_and_row():
    f = _frame(a=[1.0, 2.0, None], y=[0, 1, 0])
    p = TablePreprocessor(target="y", missing="error")
    with pytest.raises(DataError, match=r"t.csv: column 'a', data row 3 .*missing value"):
        p.complete_rows(f)
    with pytest.raises(DataError, match=r"column 'a', data row 3 .*missing value"):
        p.fit(f)


def test_missing_drop_drops_incomplete_rows_and_refuses_them_later():
    f = _frame(a=[1.0, None, 3.0, 4.0], c=["x", "y", None, "x"], y=[1.0, 2.0, 3.0, 4.0])
    p = TablePreprocessor(target="y", missing="drop")
    keep = p.complete_rows(f)
    assert keep.tolist() == [True, False, False, True]
    p.fit(f.take(keep))
    assert p.feature_names_out_ == ["a", "c=x"]
    with pytest.raises(DataError, match=r"column 'a', data row 2 .*missing value"):
        p.transform(f)


def test_rows_with_a_missing_target_are_dropped():
    f = _frame(a=[1.0, 2.0, 3.0], y=["u", None, "v"])
    assert TablePreprocessor(target="y").complete_rows(f).tolist() == [True, False, True]


def test_drop_and_features_choose_columns():
    f = _frame(a=[1.0, 2.0], b=[3.0, 4.0], c=[5.0, 6.0], y=[0.5, 1.5])
    assert _prep(f, target="y", drop=["b"]).input_features_ == ["a", "c"]
    assert _prep(f, target="y", features=["c", "a"]).input_features_ == ["c", "a"]
    with pytest.raises(DataError, match=r"no column 'zz' .*available columns"):
        _prep(f, drop=["zz"])
    with pytest.raises(DataError, match="cannot also be dropped"):
        _prep(f, target="y", drop=["y"])


def test_columns_are_matched_by_name_in_any_order():
    f = _frame(a=[1.0, 2.0, 3.0], c=["x", "y", "x"], y=[0.0, 1.0, 2.0])
    p = _prep(f, target="y")
    shuffled = f.select(["c", "y", "a"])
    np.testing.assert_array_equal(p.transform(shuffled), p.transform(f))


def test_extra_columns_are_ignored_with_a_note_and_missing_ones_refused():
    f = _frame(a=[1.0, 2.0], b=[3.0, 4.0], note=["p", "q"], y=[0.0, 1.0])
    p = _prep(f, target="y", drop=["note"])
    extra = _frame(b=[3.0], a=[1.0], new=[7.0], note=["p"])
    with pytest.warns(DataWarning, match=r"ignoring column\(s\) \['new'\]"):
        X = p.transform(extra)
    np.testing.assert_array_equal(X, p.transform(f)[:1])
    with pytest.raises(DataError, match=r"missing column\(s\) \['b'\]"):
        p.transform(_frame(a=[1.0]))


@pytest.mark.parametrize("values, task", [
    ([0.5, 1.5, 2.5] * 10, "regression"),                  # float
    (["cat", "dog", "cat"] * 10, "classification"),        # string
    ([True, False, True] * 10, "classification"),          # bool
    ([0, 1, 2] * 5, "classification"),                     # 3 values, 5 rows each
    ([0, 1, 2, 3] * 4, "regression"),                      # 4 rows each: too few
    (list(range(21)) * 5, "regression"),                   # 21 values: too many
    (list(range(20)) * 5, "classification"),               # 20 values, 5 rows each
])
def test_task_detection_rules(values, task):
    f = _frame(y=values, x=np.arange(len(values), dtype=float))
    assert detect_task(f, "y")[0] == task
    assert _prep(f, target="y").task_ == task


def test_regression_target_is_standardised_and_inverted():
    y = np.array([65000.0, 64000.0, 66000.0, 65500.0])
    f = _frame(x=[1.0, 2.0, 3.0, 4.0], y=y)
    p = _prep(f, target="y")
    assert p.task_ == "regression" and p.target_mean_ == y.mean() and p.target_std_ == y.std()
    z = p.transform_target(f)
    np.testing.assert_allclose(z, (y - y.mean()) / y.std(), rtol=1e-6)
    np.testing.assert_allclose(p.inverse_transform_target(z), y, rtol=1e-6)
    assert p.transform_target(f, scaled=False).tolist() == y.tolist()
    assert _prep(f, target="y", scale_target=False).transform_target(f).tolist() == y.tolist()


def test_class_labels_are_matched_by_value():
    p = _prep(_frame(x=[1.0, 2.0, 3.0], y=["b", "a", "b"]), target="y")
    assert p.classes_ == ["a", "b"]
    assert p.transform_target(_frame(y=["a", "a", "b"])).tolist() == [0, 0, 1]
    with pytest.raises(DataError, match=r"data row 2 .*class 'c', which the model never saw"):
        p.transform_target(_frame(y=["a", "c"]))


def _mixed():
    rng = np.random.default_rng(0)
    n = 40
    return _frame(num=np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
                  cat=rng.choice(["x", "y", "z", None], n).tolist(),
                  flag=rng.random(n) < 0.5, ints=rng.integers(0, 100, n),
                  y=rng.choice(["no", "yes"], n))


def test_state_dict_is_plain_json_and_round_trips():
    f = _mixed()
    p = _prep(f, target="y")
    state = json.loads(json.dumps(p.state_dict()))
    q = TablePreprocessor.from_state_dict(state)
    np.testing.assert_array_equal(q.transform(f), p.transform(f))
    assert q.feature_names_out_ == p.feature_names_out_ and q.classes_ == ["no", "yes"]
    r = TablePreprocessor().load_state_dict(state)
    np.testing.assert_array_equal(r.transform_target(f), p.transform_target(f))


def test_round_trip_through_a_model_file_and_shuffled_columns(tmp_path):
    pytest.importorskip("safetensors")
    import chainrule as cr
    from chainrule.io import load_with_metadata

    f = _mixed()
    p = _prep(f, target="y")
    path = tmp_path / "model.safetensors"
    cr.save(cr.nn.Linear(len(p.feature_names_out_), 2), path,
            metadata={"preprocessor": p.state_dict()})
    _, meta = load_with_metadata(path)
    q = TablePreprocessor.from_state_dict(meta["preprocessor"])
    shuffled = f.select(["y", "ints", "flag", "cat", "num"])
    np.testing.assert_array_equal(q.transform(shuffled), p.transform(f))


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update(format="pickle"), "not a chainrule table preprocessor"),
    (lambda s: s["columns"][0].update(kind="eval"), "unknown kind 'eval'"),
    (lambda s: s["columns"][1].update(std=0.0), "std must be a finite positive number"),
    (lambda s: s["columns"][1].update(median="1"), "median must be a finite number"),
    (lambda s: s["columns"][0].update(categories=[1]), "categories must be a list of strings"),
    (lambda s: s.update(columns=[]), "non-empty list"),
    (lambda s: s.update(missing="guess"), "missing must be one of"),
])
def test_bad_states_are_refused(edit, message):
    state = _prep(_frame(c=["a", "b"], x=[1.0, 2.0])).state_dict()
    edit(state)
    with pytest.raises(DataError, match=message):
        TablePreprocessor.from_state_dict(state)


def test_unfitted_use_and_bad_arguments():
    with pytest.raises(RuntimeError, match="call fit"):
        TablePreprocessor().transform(_frame(a=[1.0]))
    with pytest.raises(ValueError, match="missing must be one of"):
        TablePreprocessor(missing="fill")
    with pytest.raises(ValueError, match="max_categories"):
        TablePreprocessor(max_categories=0)


def test_read_table_can_preprocess(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("island;mass;sex;species\nDream;3,5;male;A\nBiscoe;NA;female;B\n"
                    "Dream;4,1;NA;A\n")
    t = read_table(path, target="species", preprocess=True)
    assert t.feature_names == ["island=Biscoe", "island=Dream", "mass", "mass_missing",
                               "sex=female", "sex=male", "sex=<missing>"]
    assert t.X.shape == (3, 7) and t.classes == ["A", "B"] and t.y.tolist() == [0, 1, 0]
    assert isinstance(t.preprocessor, TablePreprocessor)
