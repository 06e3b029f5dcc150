"""Predictor graphs: raw rows -> scaling -> network -> head, against chainrule's own answers."""

import contextlib

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.train.heads import make_head

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install 'chainrule[onnx]'")
ort = pytest.importorskip("onnxruntime",
                          reason="needs onnxruntime: pip install 'chainrule[onnx]'")

from chainrule.onnx.pipeline import export_pipeline  # noqa: E402

TOL = 1e-5
_nothing = contextlib.nullcontext


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


HEADS = [("softmax", 4, ["ant", "bee", "cat", "dog"]), ("ovr", 3, [10, 20, 30]),
         ("binary", 2, ["no", "yes"]), ("regression", 1, None), ("regression", 2, None)]


@pytest.mark.parametrize("head_name,k,classes", HEADS,
                         ids=["softmax", "ovr", "binary", "regression", "regression-2"])
def test_pipeline_matches_chainrule(head_name, k, classes, tmp_path):
    rng = np.random.default_rng(0)
    d = 5
    if head_name == "regression":
        head = make_head("regression", n_outputs=k)
    else:
        # two classes always make the binary head (one logit)
        head = make_head("classification", n_classes=k,
                         head="softmax" if head_name == "binary" else head_name)
        assert head.name == head_name
    model = nn.MLP(d, (16,), head.n_outputs, "tanh")
    mean, scale = rng.normal(50, 20, size=d), rng.uniform(1, 30, size=d)
    target = (np.array([100.0] * k), np.array([7.0] * k)) if head_name == "regression" \
        else None
    path = tmp_path / "m.onnx"
    export_pipeline(model, path, n_features=d, head=head.name, n_outputs=head.n_outputs,
                    classes=classes, scaler=(mean, scale), target_scaler=target)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = session(path)
    assert [i.name for i in sess.get_inputs()] == ["features"]
    for n in (1, 7, 256):
        X = rng.normal(50, 40, size=(n, d)).astype(np.float32)
        got = dict(zip([o.name for o in sess.get_outputs()],
                       sess.run(None, {"features": X})))
        Xs = ((X - mean) / scale).astype(np.float32)
        model.eval()
        with cr.no_grad():
            out = model(Xs).numpy()
        if head_name == "regression":
            want = out * target[1].astype(np.float32) + target[0].astype(np.float32)
            want = want.reshape(-1) if k == 1 else want
            assert set(got) == {"prediction"}
            np.testing.assert_allclose(got["prediction"], want, rtol=TOL, atol=TOL)
            continue
        assert set(got) == {"label", "probabilities"}
        np.testing.assert_allclose(got["probabilities"], head.proba(out), rtol=TOL, atol=TOL)
        np.testing.assert_array_equal(got["label"], np.asarray(classes)[head.predict(out)])


def test_pipeline_refuses_a_head_that_does_not_fit(tmp_path):
    with pytest.raises(cr.onnx.OnnxExportError, match=r"softmax head needs network outputs "
                                                      r"of shape \(batch, 3\)"):
        export_pipeline(nn.Linear(4, 2), tmp_path / "m.onnx", n_features=4, head="softmax",
                        n_outputs=3)
    with pytest.raises(cr.onnx.OnnxExportError, match="head must be one of"):
        export_pipeline(nn.Linear(4, 2), tmp_path / "m.onnx", n_features=4, head="svm")
    assert not (tmp_path / "m.onnx").exists()


def _table_csv(path, n, rng):
    """Raw rows: numbers with missing cells, a boolean, a city with missing and rare values."""
    cities = np.array(["Oslo", "Rome", "Lima", "Pune"])
    tokens = list(cr.data.MISSING_VALUES)
    lines = ["age,income,member,city,score"]
    for i in range(n):
        age = "NA" if i % 9 == 4 else f"{rng.normal(40, 12):.1f}"
        income = f"{rng.normal(60000, 15000):.2f}"
        member = ["true", "false", "?"][i % 3]
        city = tokens[i % len(tokens)] if i % 7 == 3 else str(rng.choice(cities))
        if i >= 220 and i % 5 == 0:
            city = "Baku"  # never seen in training: one-hot zeros
        lines.append(f"{age},{income},{member},{city},{rng.normal(500, 80):.3f}")
    path.write_text("\n".join(lines) + "\n")


def _serving_inputs(frame, state):
    """The graph's inputs from a parsed frame: float32 with NaN, or the raw strings.

    All-numeric tables are one ``features`` matrix, others one input per column."""
    feeds = {}
    tokens = list(cr.data.MISSING_VALUES)
    for spec in state["columns"]:
        col = frame[spec["name"]]
        if spec["kind"] == "categorical":
            cells = [tokens[i % len(tokens)] if v is None else v
                     for i, v in enumerate(col.values.tolist())]
            feeds[spec["name"]] = np.asarray(cells, dtype=object).reshape(-1, 1)
        else:
            feeds[spec["name"]] = np.asarray(col.values, np.float32).reshape(-1, 1)
    if all(spec["kind"] != "categorical" for spec in state["columns"]):
        return {"features": np.concatenate(list(feeds.values()), axis=1)}
    return feeds


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_table_preprocessing_in_the_graph(task, tmp_path):
    rng = np.random.default_rng(3)
    _table_csv(tmp_path / "t.csv", 300, rng)
    frame = cr.data.read_frame(tmp_path / "t.csv")
    target = "city" if task == "classification" else "score"
    prep = cr.data.TablePreprocessor(target=target, task=task, missing="impute")
    train = frame.take(prep.complete_rows(frame)[:200])
    prep.fit(train)
    if task == "classification":
        head = make_head("classification", n_classes=len(prep.classes_), head="ovr")
        target_scaler = None
    else:
        head = make_head("regression")
        target_scaler = (prep.target_mean_, prep.target_std_)
    width = len(prep.feature_names_out_)
    model = nn.MLP(width, (8,), head.n_outputs, "relu")
    path = tmp_path / "m.onnx"
    export_pipeline(model, path, head=head.name, n_outputs=head.n_outputs,
                    classes=prep.classes_, table=prep.state_dict(),
                    target_scaler=target_scaler)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = session(path)
    # classification: city is the target and the rest is numeric -> one features matrix;
    # regression: the city column is a feature -> one input per column
    assert [i.name for i in sess.get_inputs()] == \
        (["features"] if task == "classification" else prep.input_features_)
    rest = frame.take(prep.complete_rows(frame))  # includes rows after the fitted ones
    for n in (1, 7, 256):
        part = rest.take(np.arange(n))
        with pytest.warns(cr.data.DataWarning) if n == 256 and task == "regression" \
                else _nothing():
            X = prep.transform(part)
        model.eval()
        with cr.no_grad():
            out = model(X).numpy()
        got = dict(zip([o.name for o in sess.get_outputs()],
                       sess.run(None, _serving_inputs(part, prep.state_dict()))))
        if task == "regression":
            want = prep.inverse_transform_target(out).reshape(-1)
            np.testing.assert_allclose(got["prediction"], want, rtol=TOL, atol=TOL)
        else:
            np.testing.assert_allclose(got["probabilities"], head.proba(out), rtol=TOL,
                                       atol=TOL)
            assert got["label"].tolist() == \
                [str(prep.classes_[i]) for i in head.predict(out)]
