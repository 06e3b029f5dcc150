"""Every layer of chainrule.nn exported to ONNX computes what chainrule computes.

For each layer: export once with a dynamic batch axis, check the file with
onnx.checker, then compare onnxruntime with chainrule (evaluation mode, float32)
at batch sizes 1, 7 and 256 to 1e-5.
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install 'chainrule[onnx]'")
ort = pytest.importorskip("onnxruntime",
                          reason="needs onnxruntime: pip install 'chainrule[onnx]'")

BATCHES = (1, 7, 256)
TOL = 1e-5


def _bn(c, affine=True):
    m = nn.BatchNorm1d(c, affine=affine)
    rng = np.random.default_rng(1)
    m.running_mean[:] = rng.normal(size=c)
    m.running_var[:] = rng.uniform(0.3, 2.0, size=c)
    if affine:
        m.weight.data[:] = rng.normal(size=c)
        m.bias.data[:] = rng.normal(size=c)
    return m


def _bn2(c):
    m = nn.BatchNorm2d(c)
    rng = np.random.default_rng(3)
    m.running_mean[:] = rng.normal(size=c)
    m.running_var[:] = rng.uniform(0.3, 2.0, size=c)
    m.weight.data[:] = rng.normal(size=c)
    return m


def _trained_resnet():
    model = nn.ResNet(2, 3, blocks=2, width=4, downsample_every=1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            rng = np.random.default_rng(4)
            m.running_mean[:] = rng.normal(size=m.num_features)
            m.running_var[:] = rng.uniform(0.3, 2.0, size=m.num_features)
    return model


def _ln(shape, affine=True):
    m = nn.LayerNorm(shape, elementwise_affine=affine)
    if affine:
        rng = np.random.default_rng(2)
        m.weight.data[...] = rng.normal(size=m.weight.shape)
        m.bias.data[...] = rng.normal(size=m.bias.shape)
    return m


# (id, model factory, feature shape): every layer class of chainrule.nn at least once
CASES = [
    ("Linear", lambda: nn.Linear(5, 3), (5,)),
    ("Linear-nobias", lambda: nn.Linear(5, 3, bias=False), (5,)),
    ("Linear-3d", lambda: nn.Linear(4, 3), (6, 4)),
    ("ReLU", lambda: nn.ReLU(), (5,)),
    ("Sigmoid", lambda: nn.Sigmoid(), (5,)),
    ("Tanh", lambda: nn.Tanh(), (5,)),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.2), (5,)),
    ("ELU", lambda: nn.ELU(0.7), (5,)),
    ("GELU", lambda: nn.GELU(), (5,)),
    ("GELU-tanh", lambda: nn.GELU("tanh"), (5,)),
    ("Softmax", lambda: nn.Softmax(), (5,)),
    ("Softmax-dim1", lambda: nn.Softmax(dim=1), (3, 4)),
    ("LogSoftmax", lambda: nn.LogSoftmax(), (5,)),
    ("Dropout", lambda: nn.Sequential(nn.Linear(5, 4), nn.Dropout(0.5)), (5,)),
    ("Identity", lambda: nn.Identity(), (5,)),
    ("BatchNorm1d", lambda: _bn(5), (5,)),
    ("BatchNorm1d-3d", lambda: _bn(3), (3, 4)),
    ("BatchNorm1d-noaffine", lambda: _bn(5, affine=False), (5,)),
    ("LayerNorm", lambda: _ln(5), (5,)),
    ("LayerNorm-noaffine", lambda: _ln(5, affine=False), (5,)),
    ("LayerNorm-2d", lambda: _ln((3, 4)), (3, 4)),
    ("Flatten", lambda: nn.Flatten(), (3, 4)),
    ("Flatten-partial", lambda: nn.Flatten(start_dim=2), (2, 3, 4)),
    ("Residual", lambda: nn.Residual(nn.Sequential(nn.Linear(5, 5), nn.Tanh())), (5,)),
    ("Sequential", lambda: nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)), (5,)),
    ("MLP", lambda: nn.MLP(5, (8, 8), 3, "elu", dropout=0.1, batch_norm=True, residual=True),
     (5,)),
    ("Conv2d", lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1), (2, 7, 6)),
    ("Conv2d-same-grouped", lambda: nn.Conv2d(4, 4, (2, 3), padding="same", dilation=2,
                                              groups=2, bias=False), (4, 6, 6)),
    ("Conv1d", lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1), (2, 9)),
    ("MaxPool2d", lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 7, 6)),
    ("MaxPool1d", lambda: nn.MaxPool1d(2), (2, 9)),
    ("AvgPool2d", lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
     (2, 5, 5)),
    ("AvgPool1d", lambda: nn.AvgPool1d(3, stride=2, padding=1), (2, 9)),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d(1), (3, 5, 4)),
    ("AdaptiveAvgPool2d-grid", lambda: nn.AdaptiveAvgPool2d((2, 3)), (3, 4, 6)),
    ("BatchNorm2d", lambda: _bn2(3), (3, 4, 5)),
    ("CNN", lambda: nn.CNN(1, 10, (8, 8), channels=(4, 6), hidden=8), (1, 8, 8)),
    ("ResNet", _trained_resnet, (2, 6, 6)),
    ("Unflatten-CNN", lambda: nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3),
                                            nn.Flatten()), (16,)),
]


def _inputs(shape, n, seed):
    return np.random.default_rng(seed).normal(scale=2.0, size=(n, *shape)).astype(np.float32)


def _reference(model, x):
    model.eval()
    with cr.no_grad():
        return model(x).numpy()


def _check(model, shape, path, opset=None):
    kw = {} if opset is None else {"opset": opset}
    model.train()  # export must compute the evaluation-mode function whatever the mode
    cr.onnx.export(model, path, _inputs(shape, 2, 0), **kw)
    assert model.training, "export left the model in evaluation mode"
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input"]
    assert [o.name for o in sess.get_outputs()] == ["output"]
    for n in BATCHES:
        x = _inputs(shape, n, n)
        got = sess.run(None, {"input": x})[0]
        want = _reference(model, x)
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL, err_msg=f"batch {n}")


@pytest.mark.parametrize("factory,shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layer_matches_onnxruntime(factory, shape, tmp_path):
    _check(factory(), shape, tmp_path / "m.onnx")


@pytest.mark.parametrize("opset", [13, 20])
@pytest.mark.parametrize("factory", [lambda: nn.GELU(), lambda: nn.GELU("tanh"),
                                     lambda: _ln((3, 4))], ids=["GELU", "GELU-tanh", "LayerNorm"])
def test_opset_dependent_layers(factory, opset, tmp_path):
    # Gelu exists from opset 20 and LayerNormalization from 17; older opsets get formulas.
    _check(factory(), (3, 4), tmp_path / "m.onnx", opset=opset)


def test_every_layer_class_is_covered():
    """Each layer class of chainrule.nn has an emitter and a case above."""
    exported = set()
    for _, factory, _ in CASES:
        exported |= {type(m).__name__ for m in factory().modules()}
    layers = {name for name in nn.__all__
              if isinstance(getattr(nn, name), type) and issubclass(getattr(nn, name), nn.Module)
              and name != "Module" and not name.endswith("Loss")}
    assert layers - set(cr.onnx.supported()) == set()
    assert layers - exported == set()
