"""Readers: CSV/TSV, Parquet, NPY/NPZ (memory-mapped), dispatch, and every bad input."""

import sys
import zipfile

import numpy as np
import pytest

from chainrule.data import read_csv, read_npy, read_parquet, read_table
from chainrule.errors import DataError

IRIS_LIKE = """sepal,petal,species
5.1,1.4,setosa
7.0,4.7,versicolor
6.3,6.0,virginica
4.9,1.4,setosa
"""


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_string_labels_are_encoded_with_sorted_classes(tmp_path):
    t = read_csv(_write(tmp_path, IRIS_LIKE), target="species")
    assert t.X.dtype == np.float32 and t.X.shape == (4, 2)
    np.testing.assert_allclose(t.X[:, 1], [1.4, 4.7, 6.0, 1.4], rtol=1e-6)
    assert t.classes == ["setosa", "versicolor", "virginica"]
    assert t.y.dtype == np.int64 and t.y.tolist() == [0, 1, 2, 0]
    assert [t.classes[i] for i in t.y] == ["setosa", "versicolor", "virginica", "setosa"]
    assert t.feature_names == ["sepal", "petal"] and t.target_name == "species"
    assert t.task == "classification" and t.source.endswith("data.csv")


def test_csv_without_target_and_tsv(tmp_path):
    t = read_csv(_write(tmp_path, "a,b\n1,2\n3,4\n"))
    assert t.y is None and t.X.tolist() == [[1, 2], [3, 4]] and t.feature_names == ["a", "b"]
    t = read_table(_write(tmp_path, "a\tb\n1\t2\n3\t4\n", "data.tsv"), target="b",
                   task="classification")
    assert t.X.ravel().tolist() == [1, 3] and t.y.tolist() == [0, 1]


def test_task_auto_rule(tmp_path):
    few_ints = "x,y\n" + "".join(f"{i},{i % 3 * 2 + 5}\n" for i in range(30))
    t = read_csv(_write(tmp_path, few_ints), target="y")
    assert t.task == "classification" and t.classes == [5, 7, 9] and set(t.y) == {0, 1, 2}
    many_ints = "x,y\n" + "".join(f"{i},{i}\n" for i in range(21))
    t = read_csv(_write(tmp_path, many_ints), target="y")
    assert t.task == "regression" and t.y.dtype == np.float32 and t.classes is None
    floats = "x,y\n1,0.5\n2,1.5\n"
    assert read_csv(_write(tmp_path, floats), target="y").task == "regression"
    t = read_csv(_write(tmp_path, few_ints), target="y", task="regression")
    assert t.task == "regression" and t.y[:3].tolist() == [5, 7, 9]
    t = read_csv(_write(tmp_path, many_ints), target="y", task="classification")
    assert t.task == "classification" and len(t.classes) == 21
    with pytest.raises(DataError, match="class labels must be integers"):
        read_csv(_write(tmp_path, floats), target="y", task="classification")
    with pytest.raises(DataError, match="non-numeric target 'setosa'"):
        read_csv(_write(tmp_path, IRIS_LIKE), target="species", task="regression")
    with pytest.raises(ValueError, match="task must be one of"):
        read_csv(_write(tmp_path, floats), target="y", task="clustering")


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("a,b\n", "no data rows"),
    ("a,b\n1,2\n3\n", "data row 2 has 1 fields but the header has 2"),
    ("a,b\n1,2\n3,4,5\n", "data row 2 has 3 fields"),
    ("a,b\n1,2\n3,red\n", r"column 'b', data row 2 .*non-numeric value 'red'.*one-hot"),
    ("a,b\n1,2\n,4\n", r"column 'a', data row 2 .*missing value"),
    ("a,b\n1,2\n3,4\n5,nan\n", r"column 'b', data row 3 .*missing value"),
    ("a,b\n1,2\n3,4\n5,NA\n", r"column 'b', data row 3 .*missing value"),
    ("a,b\n1,inf\n", r"column 'b', data row 1 .*not finite"),
    ("a,b\n1,1e39\n", r"column 'b', data row 1 .*overflows float32"),
    ("a,a\n1,2\n", "duplicate column name 'a'"),
    ("5.1,3.5\n4.9,3.0\n", "looks like data, not a header"),
])
def test_csv_bad_inputs_name_file_column_and_row(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=message) as info:
        read_csv(path)
    assert str(path) in str(info.value)


def test_csv_target_problems(tmp_path):
    path = _write(tmp_path, IRIS_LIKE)
    with pytest.raises(DataError, match=r"'kind' not found; available columns: "
                                        r"\['sepal', 'petal', 'species'\]"):
        read_csv(path, target="kind")
    bad = "a,y\n1,cat\n2,\n"
    with pytest.raises(DataError, match=r"column 'y', data row 2 .*missing value"):
        read_csv(_write(tmp_path, bad), target="y")
    with pytest.raises(DataError, match=r"column 'y', data row 1 .*missing value in the target"):
        read_csv(_write(tmp_path, "a,y\n1,nan\n2,3\n"), target="y")
    with pytest.raises(DataError, match=r"column 'y', data row 2 .*'inf' is not finite"):
        read_csv(_write(tmp_path, "a,y\n1,2\n2,inf\n"), target="y")
    with pytest.raises(DataError, match="no feature columns"):
        read_csv(_write(tmp_path, "y\n1\n"), target="y")
    with pytest.raises(DataError, match="no such file"):
        read_csv(tmp_path / "missing.csv")


def test_csv_integer_header_names_are_accepted(tmp_path):
    t = read_csv(_write(tmp_path, "0,1\n0.5,1.5\n"))
    assert t.feature_names == ["0", "1"]


def test_parquet_matches_csv_rules(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="Parquet needs pyarrow: pip install "
                                               "'chainrule[parquet]'")
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs pyarrow")
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "b": [1, 2, 3],
                             "label": ["dog", "cat", "dog"]}), path)
    t = read_parquet(path, target="label")
    assert t.X.dtype == np.float32 and t.X.tolist() == [[1, 1], [2, 2], [3, 3]]
    assert t.classes == ["cat", "dog"] and t.y.tolist() == [1, 0, 1]
    assert read_table(path, target="label").classes == ["cat", "dog"]

    def bad(table, message, target=None):
        pq.write_table(pa.table(table), path)
        with pytest.raises(DataError, match=message):
            read_parquet(path, target=target)

    bad({"a": [1.0, None, 3.0]}, r"column 'a', data row 2 .*missing value")
    bad({"a": [1.0, 2.0, float("nan")]}, r"column 'a', data row 3 .*missing value")
    bad({"a": [1.0, 2.0, float("inf")]}, r"column 'a', data row 3 .*not finite")
    bad({"a": ["x", "y"], "t": [1, 2]}, r"column 'a', data row 1 .*non-numeric value 'x'", "t")
    bad({"a": [1.0]}, r"'t' not found; available columns: \['a'\]", "t")
    bad({"a": pa.array([], pa.float64())}, "no data rows")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_parquet(tmp_path / "junk.parquet")


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[parquet\]"'):
        read_parquet(tmp_path / "d.parquet")


def test_npy_is_memory_mapped_and_labels_encoded(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.array(["b", "a", "b", "c", "a", "b"]))
    t = read_npy(tmp_path / "X.npy", tmp_path / "y.npy")
    assert isinstance(t.X, np.memmap) and t.X.shape == (6, 2)
    np.testing.assert_array_equal(t.X, X)
    assert t.classes == ["a", "b", "c"] and t.y.tolist() == [1, 0, 1, 2, 0, 1]
    t = read_table(tmp_path / "X.npy")
    assert isinstance(t.X, np.memmap) and t.y is None and t.feature_names == ["x0", "x1"]
    np.save(tmp_path / "v.npy", np.arange(5.0))  # 1-D: one feature
    assert read_npy(tmp_path / "v.npy").X.shape == (5, 1)


def test_npz_members_are_memory_mapped_unless_compressed(tmp_path):
    X = np.random.default_rng(0).standard_normal((50, 3))
    y = np.arange(50) % 3
    np.savez(tmp_path / "d.npz", X=X, y=y, labels=y + 10)
    t = read_table(tmp_path / "d.npz")
    assert isinstance(t.X, np.memmap) and t.X.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(t.X), X)
    assert t.y.tolist() == y.tolist() and t.task == "classification"
    assert read_table(tmp_path / "d.npz", target="labels").classes == [10, 11, 12]
    np.savez(tmp_path / "f.npz", X=np.asfortranarray(X))
    ft = read_npy(tmp_path / "f.npz")
    assert isinstance(ft.X, np.memmap) and ft.y is None
    np.testing.assert_array_equal(np.asarray(ft.X), X)
    np.savez_compressed(tmp_path / "c.npz", X=X, y=y)
    ct = read_npy(tmp_path / "c.npz")
    assert not isinstance(ct.X, np.memmap)
    np.testing.assert_array_equal(ct.X, X)
    with pytest.raises(DataError, match=r"no array named 'target'; it holds \['X', 'labels', "):
        read_table(tmp_path / "d.npz", target="target")


def test_pickles_are_never_loaded(tmp_path):
    obj = np.array([{"evil": 1}, None], dtype=object)
    np.save(tmp_path / "o.npy", obj, allow_pickle=True)
    with pytest.raises(DataError, match="pickle"):
        read_npy(tmp_path / "o.npy")
    np.savez(tmp_path / "o.npz", X=obj)
    with pytest.raises(DataError, match="pickle"):
        read_npy(tmp_path / "o.npz")
    np.savez_compressed(tmp_path / "oc.npz", X=np.zeros((2, 2)), y=obj)
    with pytest.raises(DataError, match="pickle"):
        read_npy(tmp_path / "oc.npz")


def test_npy_bad_inputs(tmp_path):
    X = np.ones((4, 2), dtype=np.float32)
    X[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", X)
    with pytest.raises(DataError, match=r"feature x1, row 3 .*not finite"):
        read_npy(tmp_path / "nan.npy")
    np.save(tmp_path / "X.npy", np.ones((4, 2)))
    np.save(tmp_path / "y3.npy", np.arange(3))
    with pytest.raises(DataError, match=r"X has 4 rows but y has shape \(3,\)"):
        read_npy(tmp_path / "X.npy", tmp_path / "y3.npy")
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    with pytest.raises(DataError, match="features must be numeric"):
        read_npy(tmp_path / "s.npy")
    (tmp_path / "t.npy").write_text("hello")
    with pytest.raises(DataError, match="t.npy"):
        read_npy(tmp_path / "t.npy")
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(DataError, match=r"no array named 'X'"):
        read_npy(tmp_path / "bad.npz")


def test_read_table_unknown_extension_lists_supported(tmp_path):
    path = _write(tmp_path, "a\n1\n", "data.xlsx")
    with pytest.raises(DataError, match=r"'.xlsx'.*\.csv, \.tsv, \.txt, \.parquet, \.pq, \.npy"):
        read_table(path)
    with pytest.raises(DataError, match="read_npy"):
        np.save(tmp_path / "X.npy", np.ones((2, 2)))
        read_table(tmp_path / "X.npy", target="y")


def test_csv_of_many_rows_is_read_quickly(tmp_path):
    import time

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 10))
    path = tmp_path / "big.csv"
    header = ",".join(f"f{i}" for i in range(10)) + ",label\n"
    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, 20_000)]
    body = "\n".join(",".join(f"{v:.6g}" for v in row) + f",{lab}"
                     for row, lab in zip(X, labels, strict=True))
    path.write_text(header + body + "\n")
    start = time.perf_counter()
    t = read_csv(path, target="label")
    assert time.perf_counter() - start < 2.0
    assert t.X.shape == (20_000, 10) and t.classes == ["a", "b", "c"]
    np.testing.assert_allclose(t.X, X, rtol=1e-5)
