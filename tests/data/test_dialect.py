"""Dialects: delimiter, quote and decimal mark detected (or forced), read the same by both
CSV engines; the documented missing-value set; messages naming the assumed delimiter."""

import sys

import numpy as np
import pytest

from chainrule.data import MISSING_VALUES, read_csv, read_frame
from chainrule.data.dialect import parse_delimiter, sniff
from chainrule.errors import DataError

ENGINES = ["python", pytest.param("pyarrow", marks=pytest.mark.skipif(
    not __import__("importlib").util.find_spec("pyarrow"), reason="pyarrow not installed"))]


def _write(tmp_path, text, name="data.csv", newline="\n"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def _same(a, b):
    assert a.names == b.names and a.n_rows == b.n_rows
    for n in a.names:
        ca, cb = a[n], b[n]
        assert ca.kind == cb.kind, n
        np.testing.assert_array_equal(ca.missing, cb.missing)
        if ca.values.dtype == object:
            assert ca.values.tolist() == cb.values.tolist(), n
        else:
            np.testing.assert_array_equal(ca.values, cb.values)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiter_is_detected(tmp_path, engine, delim):
    text = delim.join(["a", "b", "c"]) + "\n" + "\n".join(
        delim.join([str(i), str(i * 2), f"x{i % 2}"]) for i in range(6)) + "\n"
    f = read_frame(_write(tmp_path, text), engine=engine)
    assert f.names == ["a", "b", "c"] and f.dialect.delimiter == delim
    assert f["b"].values.tolist() == [0, 2, 4, 6, 8, 10] and f["c"].kind == "string"


@pytest.mark.parametrize("engine", ENGINES)
def test_runs_of_spaces_and_single_quotes(tmp_path, engine):
    text = "'age'  'income' 'city'\n  23   5000.5  'New York'\n 41 7000 Oslo  \n"
    f = read_frame(_write(tmp_path, text, "data.txt"), engine=engine)
    assert f.names == ["age", "income", "city"]
    assert f.dialect.delimiter == " " and f.dialect.quotechar == "'"
    assert f["income"].values.tolist() == [5000.5, 7000.0]
    assert f["city"].values.tolist() == ["New York", "Oslo"]


@pytest.mark.parametrize("engine", ENGINES)
def test_double_quotes_crlf_bom_and_blank_lines(tmp_path, engine):
    text = '\ufeff"name","x"\n"a, b",1\n\n"c ""q""",2\n'
    f = read_frame(_write(tmp_path, text, newline="\r\n"), engine=engine)
    assert f.names == ["name", "x"] and f["name"].values.tolist() == ["a, b", 'c "q"']
    assert f["x"].values.tolist() == [1, 2]


@pytest.mark.parametrize("engine", ENGINES)
def test_decimal_comma_with_semicolons_is_read(tmp_path, engine):
    f = read_frame(_write(tmp_path, "a;b\n1,5;2\n-0,25;3\n"), engine=engine)
    assert f.dialect.decimal == "," and "decimal comma" in f.dialect.describe()
    assert f["a"].kind == "float" and f["a"].values.tolist() == [1.5, -0.25]
    assert f["b"].kind == "integer"


@pytest.mark.parametrize("engine", ENGINES)
def test_forced_delimiter(tmp_path, engine):
    path = _write(tmp_path, "a;b,c\n1;2,3\n4;5,6\n")
    assert read_frame(path, delimiter=";", engine=engine).names == ["a", "b,c"]
    assert read_frame(path, delimiter=",", engine=engine).names == ["a;b", "c"]
    assert read_frame(path, delimiter=",", engine=engine).dialect.detected is False


def test_parse_delimiter_names():
    assert parse_delimiter("tab") == "\t" and parse_delimiter("\\t") == "\t"
    assert parse_delimiter("space") == " " and parse_delimiter(";") == ";"
    with pytest.raises(ValueError, match="one character"):
        parse_delimiter(";;")


def test_sniff_prefers_the_delimiter_that_splits_every_line_alike():
    assert sniff("a,b;c\n1,2;3\n4,5;6\n").delimiter in ",;"
    assert sniff("a;b\n1,5;2\n").delimiter == ";"
    assert sniff("name,city\nJohn Smith,New York\n").delimiter == ","
    assert sniff("x\n1\n2\n").delimiter == ","


@pytest.mark.parametrize("engine", ENGINES)
def test_ragged_row_error_names_the_assumed_delimiter(tmp_path, engine):
    path = _write(tmp_path, "a;b\n1;2\n3;4;5\n")
    with pytest.raises(DataError, match=r"data row 2 has 3 fields but the header has 2.*"
                                        r"semicolon ';' \(detected\).*--delimiter"):
        read_frame(path, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_every_documented_missing_marker_is_missing(tmp_path, engine):
    assert set(MISSING_VALUES) == {"", "NA", "NaN", "nan", "N/A", "null", "?"}
    cells = list(MISSING_VALUES) + [" NA "]
    text = "x,s\n" + "".join(f"{c},{c}\n" for c in cells) + "1.5,red\n"
    f = read_frame(_write(tmp_path, text), engine=engine)
    assert f["x"].kind == "float" and f["x"].missing.tolist() == [True] * len(cells) + [False]
    assert f["s"].kind == "string" and f["s"].values.tolist() == [None] * len(cells) + ["red"]


@pytest.mark.parametrize("engine", ENGINES)
def test_column_kinds(tmp_path, engine):
    text = ("i,f,b,d,t,s,e,plus\n"
            "1,1.5,true,2024-01-02,2024-01-02 10:00,a,,+1\n"
            "-2,1e3,False,2024-03-04,2024-03-04T11:30:00,b,NA,2\n")
    f = read_frame(_write(tmp_path, text), engine=engine)
    kinds = {n: f[n].kind for n in f.names}
    assert kinds == {"i": "integer", "f": "float", "b": "bool", "d": "date", "t": "date",
                     "s": "string", "e": "empty", "plus": "float"}
    assert f["b"].values.tolist() == [1.0, 0.0]


def test_both_engines_give_identical_frames(tmp_path):
    pytest.importorskip("pyarrow", reason="the pyarrow engine needs pyarrow")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(300):
        rows.append(",".join([
            str(i), f"{rng.normal():.6g}", rng.choice(["red", "green", "NA", ""]),
            rng.choice(["true", "false", "?"]), f"{rng.integers(0, 5)}",
            rng.choice(["1.5", "2", "null", "1e-3"]), f'"{rng.choice(["a, b", "c"])}"',
            rng.choice(["2020-01-01", "N/A"]), f" {rng.integers(0, 9)} "]))
    text = "id,x,color,flag,k,mixed,quoted,when,spaced\n" + "\n".join(rows) + "\n"
    path = _write(tmp_path, text)
    _same(read_frame(path, engine="python"), read_frame(path, engine="pyarrow"))


def test_without_pyarrow_the_csv_module_reads_the_same(tmp_path, monkeypatch):
    path = _write(tmp_path, "a;b;c\n1,5;x;1\n2;NA;0\n")
    before = read_frame(path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.csv", None)
    _same(before, read_frame(path))
    with pytest.raises(ImportError, match="pyarrow"):
        read_frame(path, engine="pyarrow")


def test_read_csv_stays_strict_and_points_to_the_preprocessor(tmp_path):
    path = _write(tmp_path, "a;b;y\n1;x;0\n2;z;1\n")
    with pytest.raises(DataError, match=r"column 'b', data row 1 .*non-numeric value 'x'.*"
                                        r"TablePreprocessor"):
        read_csv(path, target="y")
