"""cr.onnx.export: the file, its names and shapes, errors, and serving without chainrule."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install 'chainrule[onnx]'")
ort = pytest.importorskip("onnxruntime",
                          reason="needs onnxruntime: pip install 'chainrule[onnx]'")


def _mlp():
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def _x(n, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_import_chainrule_does_not_import_onnx():
    code = ("import sys, chainrule; assert 'onnx' not in sys.modules; "
            "assert 'chainrule.onnx' not in sys.modules; chainrule.onnx.supported(); "
            "assert 'chainrule.onnx' in sys.modules and 'onnx' not in sys.modules")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(cr.__file__))}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_names_shapes_metadata_and_checker(tmp_path):
    path = tmp_path / "m.onnx"
    proto = cr.onnx.export(_mlp(), path, _x(2), input_names=["features"],
                           output_names=["logits"], metadata={"classes": "a,b,c"})
    loaded = onnx.load(str(path))
    assert loaded.SerializeToString() == proto.SerializeToString()
    onnx.checker.check_model(loaded, full_check=True)
    assert loaded.opset_import[0].version == cr.onnx.DEFAULT_OPSET == 17
    assert [n.op_type for n in loaded.graph.node] == ["Gemm", "Relu", "Gemm"]
    (inp,), (out,) = loaded.graph.input, loaded.graph.output
    assert inp.name == "features" and out.name == "logits"
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 4]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 3]
    assert {p.key: p.value for p in loaded.metadata_props} == {"classes": "a,b,c"}
    assert sorted(i.name for i in loaded.graph.initializer) == \
        sorted(k for k in _mlp().state_dict())  # initializers carry the state_dict names


def test_static_batch_and_float64(tmp_path):
    model = _mlp()
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    path = tmp_path / "m.onnx"
    cr.onnx.export(model, path, _x(5).astype(np.float64), dynamic_batch=False)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [5, 4]
    x = _x(5, seed=3).astype(np.float64)
    got = sess.run(None, {"input": x})[0]
    with cr.no_grad():
        want = model(x).numpy()
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_identity_model_gets_an_output_node(tmp_path):
    path = tmp_path / "m.onnx"
    cr.onnx.export(nn.Sequential(nn.Dropout(0.3)), path, _x(2))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _x(7)
    np.testing.assert_array_equal(sess.run(None, {"input": x})[0], x)


class _Custom(nn.Module):
    def forward(self, x):
        return x * 2


def test_unsupported_module_is_named_and_nothing_is_written(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    model = nn.Sequential(nn.Linear(4, 4), nn.Residual(_Custom()))
    with pytest.raises(cr.onnx.OnnxExportError, match=r"_Custom \(at '1.block'\)"):
        cr.onnx.export(model, path, _x(2))
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["m.onnx"]


def test_register_adds_a_layer(tmp_path, monkeypatch):
    monkeypatch.setitem(cr.onnx.EMITTERS, _Custom, None)

    @cr.onnx.register(_Custom)
    def _emit(g, m, x):
        return g.op("Mul", [x, g.scalar(2.0, "two")], "double")

    path = tmp_path / "m.onnx"
    cr.onnx.export(nn.Sequential(nn.Linear(4, 4), _Custom()), path, _x(2))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_outputs()[0].shape == ["batch", 4]


@pytest.mark.parametrize("opset", [12, 10_000, 17.0, True])
def test_bad_opset(opset, tmp_path):
    with pytest.raises(cr.onnx.OnnxExportError, match="opset must be an integer from 13"):
        cr.onnx.export(_mlp(), tmp_path / "m.onnx", _x(2), opset=opset)


def test_bad_example_and_names(tmp_path):
    with pytest.raises(cr.onnx.OnnxExportError, match="float32 or float64"):
        cr.onnx.export(_mlp(), tmp_path / "m.onnx", np.zeros((2, 4), np.complex64))
    with pytest.raises(cr.onnx.OnnxExportError, match="batch axis"):
        cr.onnx.export(_mlp(), tmp_path / "m.onnx", np.zeros((0, 4), np.float32))
    with pytest.raises(cr.onnx.OnnxExportError, match="input_names"):
        cr.onnx.export(_mlp(), tmp_path / "m.onnx", _x(2), input_names=["a", "b"])


def test_batchnorm_without_running_stats_is_refused(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False))
    with pytest.raises(cr.onnx.OnnxExportError, match="track_running_stats=False"):
        cr.onnx.export(model, tmp_path / "m.onnx", _x(2))


# The file is served by plain onnxruntime in a Python that cannot import chainrule:
# -I ignores PYTHONPATH, the user site and the working directory, -S skips site-packages'
# .pth files (where an editable install of chainrule hooks in), and only the directories
# holding numpy and onnxruntime are put on sys.path.
_SERVE = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
try:
    import chainrule
except ImportError:
    pass
else:
    sys.exit("chainrule is importable: " + chainrule.__file__)
import numpy as np
import onnxruntime as ort
sess = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
x = np.load(sys.argv[3])
np.save(sys.argv[4], sess.run(None, {sess.get_inputs()[0].name: x})[0])
"""


def serve_without_chainrule(model_path, x, tmp_path):
    """Run ``model_path`` on ``x`` in onnxruntime in a subprocess where chainrule is hidden."""
    import numpy

    dirs = sorted({os.path.dirname(os.path.dirname(m.__file__)) for m in (numpy, ort)})
    if os.path.dirname(os.path.dirname(os.path.abspath(cr.__file__))) in dirs:
        pytest.skip("chainrule is installed in the same directory as onnxruntime "
                    "(not editable); it cannot be hidden from the subprocess")
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _SERVE, json.dumps(dirs), str(model_path),
         str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        cwd=tmp_path, capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")})
    assert proc.returncode == 0, proc.stderr
    return np.load(tmp_path / "y.npy")


def test_runs_in_onnxruntime_without_chainrule(tmp_path):
    model = nn.MLP(4, (16, 16), 3, "gelu", batch_norm=True, dropout=0.2)
    path = tmp_path / "m.onnx"
    cr.onnx.export(model, path, _x(2))
    x = _x(7, seed=5)
    got = serve_without_chainrule(path, x, tmp_path)
    model.eval()
    with cr.no_grad():
        want = model(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
