"""``chainrule export``: onnxruntime on raw rows equals ``chainrule predict``, every kind of run.

One small run per kind the CLI makes (softmax and one-vs-all over three string classes,
binary, regression), each trained for a few epochs in-process.
"""

import sys

import numpy as np
import pytest
from helpers import read_csv, write_csv

import chainrule as cr
from chainrule import cli

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install 'chainrule[onnx]'")
ort = pytest.importorskip("onnxruntime",
                          reason="needs onnxruntime: pip install 'chainrule[onnx]'")

FAST = ["--hidden", "6", "--epochs", "3", "--lr", "0.05", "--quiet", "--seed", "1"]
KINDS = {
    "softmax": ("cls.csv", "species", ["--head", "softmax"]),
    "ovr": ("cls.csv", "species", ["--head", "ovr"]),
    "binary": ("bin.csv", "answer", []),
    "regression": ("reg.csv", "price", []),
    "table": ("mixed.csv", "species", []),  # a string column and missing cells
    "array": ("cls.npz", None, []),  # arrays: no table preprocessing, a plain scaler
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{kind: (run_dir, data_file)}: the CLI's runs on raw (unscaled) features."""
    d = tmp_path_factory.mktemp("onnx_runs")
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[100.0, -3.0, 0.5], scale=[30.0, 2.0, 0.1], size=(120, 3))
    z = (X[:, 0] - 100) / 30 + (X[:, 1] + 3) / 2 + 0.3 * rng.normal(size=120)
    k = np.digitize(z, np.quantile(z, [1 / 3, 2 / 3]))
    species = np.array(["cat", "dog", "emu"])[k]
    write_csv(d / "cls.csv", ["a", "b", "c", "species"], [[*x, s] for x, s in zip(X, species)])
    write_csv(d / "bin.csv", ["a", "b", "c", "answer"],
           [[*x, "yes" if s == "dog" else "no"] for x, s in zip(X, species)])
    price = X @ [2.0, -30.0, 100.0] + 5 * rng.normal(size=120)
    write_csv(d / "reg.csv", ["a", "b", "c", "price"], [[*x, p] for x, p in zip(X, price)])
    color = np.where(X[:, 0] > 100, "red", "blue").astype(object)
    color[::11], color[5::13] = "", "NA"  # missing cells, as chainrule reads them
    a = np.array([f"{v:.4f}" for v in X[:, 0]], dtype=object)
    a[3::10] = "NA"
    write_csv(d / "mixed.csv", ["a", "color", "b", "species"],
           [[a[i], color[i], X[i, 1], species[i]] for i in range(len(X))])
    np.savez(d / "cls.npz", X=X.astype(np.float32), y=k)
    out = {}
    for kind, (data, target, extra) in KINDS.items():
        run_dir = d / kind
        tgt = ["--target", target] if target else []
        code = cli.main(["train", "--data", str(d / data), *tgt, *FAST, *extra,
                         "--out", str(run_dir)])
        assert code == 0
        out[kind] = (run_dir, d / data)
    return out


@pytest.mark.parametrize("kind", list(KINDS))
def test_run_export_matches_chainrule_predict(runs, kind, tmp_path):
    run_dir, data = runs[kind]
    path = tmp_path / f"{kind}.onnx"
    assert cli.main(["export", str(run_dir), "--onnx", str(path)]) == 0
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    if kind == "array":
        X = np.load(data)["X"]
        rows = None
    else:
        rows = read_csv(data)
    # batch sizes 1, 7 and all 120 rows, as raw feature rows
    for n in (1, 7, 120):
        if rows is None:
            sub = tmp_path / f"rows{n}.npy"
            np.save(sub, X[:n])
        else:
            sub = tmp_path / f"rows{n}.csv"
            write_csv(sub, list(rows[0]), [list(r.values()) for r in rows[:n]])
        args = ["--proba"] if kind != "regression" else []
        assert cli.main(["predict", str(run_dir), "--data", str(sub), *args,
                         "--out", str(tmp_path / "pred.csv"), "--force"]) == 0
        pred = read_csv(tmp_path / "pred.csv")
        feeds = {"features": X[:n]} if rows is None else _feeds(sess, rows[:n])
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
        if kind == "regression":
            np.testing.assert_allclose(got["prediction"], [float(p["prediction"]) for p in pred],
                                       rtol=1e-5, atol=1e-5)
            continue
        labels = [c for c in pred[0] if c.startswith("proba_")]
        want = np.array([[float(p[c]) for c in labels] for p in pred])
        np.testing.assert_allclose(got["probabilities"], want, rtol=1e-5, atol=1e-5)
        assert [str(v) for v in got["label"].tolist()] == [p["prediction"] for p in pred]
        assert [f"proba_{c}" for c in eval_classes(path)] == labels


def _feeds(sess, rows):
    """Raw CSV rows as the graph's inputs: one float32 ``features`` matrix, or one input
    per column (strings as written, numbers with NaN for a missing cell)."""
    def number(cell):
        return np.nan if cell.strip() in cr.data.MISSING_VALUES else float(cell)

    inputs = sess.get_inputs()
    if [i.name for i in inputs] == ["features"]:
        cols = [c for c in rows[0] if c not in ("species", "answer", "price")]
        return {"features": np.array([[number(r[c]) for c in cols] for r in rows],
                                     dtype=np.float32)}
    feeds = {}
    for i in inputs:
        cells = [r[i.name] for r in rows]
        feeds[i.name] = (np.array(cells, dtype=object) if i.type == "tensor(string)"
                         else np.array([number(c) for c in cells], np.float32)).reshape(-1, 1)
    return feeds


def eval_classes(path):
    """The class labels the exported file records in its metadata."""
    import json

    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props["classes"])


def test_export_bad_input(runs, tmp_path, capsys, monkeypatch):
    run_dir, _ = runs["softmax"]

    def one_line(argv, *words):
        capsys.readouterr()
        assert cli.main(argv) == 2
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert len(err) == 1 and err[0].startswith("chainrule: error: "), err
        for w in words:
            assert w in err[0], err[0]

    out = tmp_path / "m.onnx"
    one_line(["export", str(tmp_path / "nothing"), "--onnx", str(out)], "nothing")
    one_line(["export", str(run_dir), "--onnx", str(out), "--opset", "9"], "opset", "13")
    assert not out.exists()
    out.write_bytes(b"keep")
    one_line(["export", str(run_dir), "--onnx", str(out)], "already exists", "--force")
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if onnx were not installed
    one_line(["export", str(run_dir), "--onnx", str(out), "--force"],
             "pip install 'chainrule[onnx]'")
    assert out.read_bytes() == b"keep"
    monkeypatch.undo()
    assert cli.main(["export", str(run_dir), "--onnx", str(out), "--force"]) == 0
    assert "label[batch]" in capsys.readouterr().err
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
