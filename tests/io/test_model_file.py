"""cr.save / cr.load: every layer round-trips bit for bit, with its metadata, and no pickle."""

import os

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import chainrule as cr
from chainrule import nn
from chainrule.backend import get_rng_state
from chainrule.errors import ModelFileError
from chainrule.io import MODEL_FILENAME, load_state_dict, load_with_metadata, save_state_dict

ACTIVATIONS = [nn.ReLU(), nn.LeakyReLU(0.2), nn.ELU(0.7), nn.GELU(), nn.GELU("tanh"),
               nn.Sigmoid(), nn.Tanh(), nn.Softmax(-1), nn.LogSoftmax(-1)]


def _every_layer():
    """(name, model factory, input shape): each layer alone and all of them together."""
    cases = [
        ("linear", lambda: nn.Linear(5, 3), (7, 5)),
        ("linear-nobias", lambda: nn.Linear(5, 3, bias=False), (7, 5)),
        ("identity", lambda: nn.Sequential(nn.Linear(5, 4), nn.Identity()), (7, 5)),
        ("flatten", lambda: nn.Sequential(nn.Flatten(), nn.Linear(6, 2)), (7, 2, 3)),
        ("dropout", lambda: nn.Sequential(nn.Linear(5, 4), nn.Dropout(0.3)), (7, 5)),
        ("batchnorm", lambda: nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4)), (7, 5)),
        ("batchnorm-noaffine", lambda: nn.Sequential(
            nn.Linear(5, 4), nn.BatchNorm1d(4, affine=False, momentum=0.3)), (7, 5)),
        ("layernorm", lambda: nn.Sequential(nn.Linear(5, 4), nn.LayerNorm(4, eps=1e-3)), (7, 5)),
        ("layernorm-2d", lambda: nn.LayerNorm((2, 3)), (7, 2, 3)),
        ("linear-dtype-arg", lambda: nn.Linear(5, 3, dtype=np.float64), (7, 5)),
        ("residual", lambda: nn.Residual(nn.Sequential(nn.Linear(5, 5), nn.Tanh())), (7, 5)),
        ("mlp", lambda: nn.MLP(5, [6, 6], 3, activation="tanh", dropout=0.1, batch_norm=True,
                               residual=True), (7, 5)),
        ("conv2d", lambda: nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(12, 2)), (5, 2, 4, 4)),
        ("conv2d-depthwise", lambda: nn.Conv2d(4, 8, (3, 1), padding="same", dilation=2,
                                               groups=4, bias=False), (5, 4, 5, 5)),
        ("conv1d", lambda: nn.Sequential(
            nn.Conv1d(2, 3, 3, stride=2, padding=1), nn.AvgPool1d(2), nn.MaxPool1d(1)),
         (5, 2, 9)),
        ("pools", lambda: nn.Sequential(
            nn.Conv2d(1, 2, 1), nn.AvgPool2d(2, 1, 1, count_include_pad=False),
            nn.BatchNorm2d(2, affine=False), nn.AdaptiveAvgPool2d((2, 1)), nn.Flatten()),
         (5, 1, 5, 5)),
        ("unflatten", lambda: nn.Sequential(nn.Unflatten(1, (1, 3, 2)), nn.Conv2d(1, 2, 1),
                                            nn.Flatten()), (5, 6)),
        ("cnn", lambda: nn.CNN(1, 3, (6, 5), channels=(2, 3), hidden=4, dropout=0.1),
         (5, 1, 6, 5)),
        ("resnet", lambda: nn.ResNet(2, 3, blocks=2, width=2, downsample_every=1),
         (5, 2, 4, 4)),
        ("everything", lambda: nn.Sequential(
            nn.Flatten(), nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2),
            nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.GELU())),
            nn.Identity(), nn.Linear(8, 3), nn.LogSoftmax()), (7, 2, 3)),
    ]
    for act in ACTIVATIONS:
        name = type(act).__name__ + (f"-{act.approximate}" if hasattr(act, "approximate") else "")
        cases.append((name, lambda a=act: nn.Sequential(nn.Linear(5, 4), type(a)(
            *a._init_args[0], **a._init_args[1])), (7, 5)))
    return cases


CASES = _every_layer()


def test_every_registered_layer_is_covered():
    covered = set()
    for _, factory, _ in CASES:
        covered |= {type(m).__name__ for m in factory().modules()}
    layers = {name for name in nn.LAYER_REGISTRY
              if not name.startswith("_") and not name.endswith("Loss")}
    assert layers <= covered, sorted(layers - covered)


def test_mlp_file_records_its_arguments_and_old_sequential_weights_fit(tmp_path):
    """An MLP file names the MLP and its arguments; a file saved from the equivalent
    Sequential (what older versions wrote) holds weights under the same names."""
    cr.manual_seed(0)
    mlp = nn.MLP(4, [8], 2, activation="tanh")
    cr.save(mlp, tmp_path / "mlp.safetensors")
    spec = cr.io.describe(mlp)
    assert spec == {"type": "MLP", "args": [4, [8], 2], "kwargs": {"activation": "tanh"}}
    again = cr.load(tmp_path / "mlp.safetensors")
    assert type(again) is nn.MLP
    old = nn.Sequential(*mlp)  # the layout build_mlp produced
    cr.save(old, tmp_path / "old.safetensors")
    loaded = cr.load(tmp_path / "old.safetensors")
    fresh = nn.MLP(4, [8], 2, activation="tanh")
    fresh.load_state_dict(loaded.state_dict())
    x = cr.randn(3, 4)
    assert_array_equal(fresh(x).numpy(), mlp(x).numpy())


def _trained(factory, shape, dtype):
    """The model with non-default weights and running statistics (a few training steps)."""
    model = factory().to(dtype)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    x = cr.tensor(np.random.default_rng(1).normal(size=shape), dtype=dtype)
    for _ in range(3):
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,factory,shape", CASES, ids=[c[0] for c in CASES])
def test_every_layer_round_trips_bit_for_bit(tmp_path, name, factory, shape, dtype):
    model, x = _trained(factory, shape, dtype)
    path = tmp_path / "m.safetensors"
    cr.save(model, path)
    loaded = cr.load(path)
    assert type(loaded) is type(model)
    assert repr(loaded) == repr(model)
    assert not loaded.training
    state, back = model.state_dict(), loaded.state_dict()
    assert list(back) == list(state)
    for k in state:
        assert back[k].dtype == np.dtype(dtype), k
        assert np.array_equal(back[k], state[k]), k
    with cr.no_grad():
        assert np.array_equal(loaded(x).numpy(), model(x).numpy())
    assert loaded(x).dtype == np.dtype(dtype)


def test_batchnorm_running_statistics_are_restored(tmp_path):
    model, x = _trained(lambda: nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4)), (7, 5),
                        "float32")
    bn = model[1]
    assert not np.array_equal(bn.running_mean, np.zeros(4))  # the steps moved them
    cr.save(model, tmp_path / "bn.safetensors")
    back = cr.load(tmp_path / "bn.safetensors")[1]
    assert np.array_equal(back.running_mean, bn.running_mean)
    assert np.array_equal(back.running_var, bn.running_var)


def test_metadata_round_trips(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    meta = {
        "classes": ["setosa", "versicolor", 3, None],
        "feature_names": ["sepal length (cm)", "ünïcode", ""],
        "scaler": {"mean": np.array([0.5, -1.25, 3.0]), "scale": np.array([1.0, 2.0, 0.5])},
        "config": {"lr": 0.1, "hidden": [16, 8], "nan": float("nan"), "inf": float("inf"),
                   "shape": (2, 3), "by_index": {0: "a", 7: "b"}, "flag": True},
        "counts": np.arange(4, dtype=np.int64),
        "scalar": np.float32(1.5),
    }
    cr.save(model, tmp_path / "m.safetensors", metadata=meta)
    _, back = load_with_metadata(tmp_path / "m.safetensors")
    assert back["classes"] == ["setosa", "versicolor", 3, None]
    assert back["feature_names"] == meta["feature_names"]
    for k in ("mean", "scale"):
        assert back["scaler"][k].dtype == np.float64
        assert np.array_equal(back["scaler"][k], meta["scaler"][k])
    assert np.array_equal(back["counts"], np.arange(4)) and back["counts"].dtype == np.int64
    cfg = back["config"]
    assert cfg["lr"] == 0.1 and cfg["hidden"] == [16, 8] and cfg["flag"] is True
    assert np.isnan(cfg["nan"]) and cfg["inf"] == float("inf")
    assert cfg["shape"] == (2, 3)
    assert cfg["by_index"] == {0: "a", 7: "b"}
    assert back["scalar"] == 1.5


def test_file_records_versions_dtype_and_architecture(tmp_path):
    from chainrule.io import tensorfile as _tensorfile

    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    cr.save(model, tmp_path / "m.safetensors")
    _, meta = _tensorfile.read(tmp_path / "m.safetensors")
    assert meta["format"] == "chainrule-model" and meta["format_version"] == 1
    assert meta["chainrule_version"] == cr.__version__
    assert meta["dtype"] == "float64"
    assert [m["module"]["type"] for m in meta["architecture"]["args"]] == \
        ["Linear", "ReLU", "Linear"]


def test_file_is_plain_safetensors(tmp_path):
    import safetensors.numpy as st

    model = nn.Linear(3, 2)
    cr.save(model, tmp_path / "m.safetensors")
    raw = st.load_file(str(tmp_path / "m.safetensors"))
    assert set(raw) == {"model.weight", "model.bias"}
    assert np.array_equal(raw["model.weight"], model.weight.data)


def test_load_accepts_a_run_directory(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.Softmax())
    cr.save(model, tmp_path / MODEL_FILENAME, metadata={"classes": ["a", "b"]})
    loaded, meta = load_with_metadata(tmp_path)
    assert meta["classes"] == ["a", "b"]
    assert np.array_equal(cr.load(os.fspath(tmp_path))[0].weight.data, model[0].weight.data)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelFileError, match="holds no model.safetensors"):
        cr.load(empty)


def test_load_does_not_move_the_global_random_generator(tmp_path):
    cr.save(nn.Sequential(nn.Linear(30, 20), nn.Linear(20, 2)), tmp_path / "m.safetensors")
    before = get_rng_state()
    cr.load(tmp_path / "m.safetensors")
    assert get_rng_state() == before


class MyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x)


def test_custom_module_is_refused_with_a_pointer_to_save_state_dict(tmp_path):
    with pytest.raises(ValueError, match=r"MyNet.*save_state_dict"):
        cr.save(MyNet(), tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="MyNet"):  # also when nested in a Sequential
        cr.save(nn.Sequential(MyNet()), tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_save_state_dict_round_trips_a_custom_module(tmp_path):
    net = MyNet()
    save_state_dict(net.state_dict(), tmp_path / "w.safetensors")
    other = MyNet()
    other.load_state_dict(load_state_dict(tmp_path / "w.safetensors"))
    assert np.array_equal(other.fc.weight.data, net.fc.weight.data)
    with pytest.raises(ModelFileError, match="not a chainrule-model file"):
        cr.load(tmp_path / "w.safetensors")


def test_a_layer_changed_after_construction_is_refused(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5))
    model[1].p = 0.1  # the recorded arguments no longer describe the layer
    with pytest.raises(ValueError, match="changed after construction"):
        cr.save(model, tmp_path / "m.safetensors")
    shared = nn.Linear(4, 4)
    with pytest.raises(ValueError, match="changed after construction"):
        cr.save(nn.Sequential(shared, shared), tmp_path / "m.safetensors")


def test_mixed_dtypes_are_refused(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2, dtype="float64"))
    with pytest.raises(ValueError, match="mix dtypes"):
        cr.save(model, tmp_path / "m.safetensors")


def test_unstorable_metadata_is_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="metadata"):
        cr.save(nn.Linear(2, 1), tmp_path / "m.safetensors", metadata={"f": object()})
    assert not (tmp_path / "m.safetensors").exists()


def test_save_replaces_atomically(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    old = nn.Linear(3, 2)
    cr.save(old, path)
    before = path.read_bytes()

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        cr.save(nn.Linear(3, 2), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]  # no temporary file left behind


def test_load_a_run_directory_written_by_chainrule_train(tmp_path, monkeypatch):
    import chainrule.cli
    import chainrule.train.run

    monkeypatch.setattr(chainrule.train.run, "write_plots", lambda *a, **k: None)
    run = tmp_path / "run"
    assert chainrule.cli.main(["train", "--dataset", "iris", "--hidden", "8", "--epochs", "2",
                               "--quiet", "--out", str(run)]) == 0
    model, meta = load_with_metadata(run)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    assert model[0].in_features == 4 and model[2].out_features == 3
    assert meta["classes"] == ["setosa", "versicolor", "virginica"]
    assert len(meta["feature_names"]) == 4 and meta["task"] == "classification"
    assert meta["scaler"]["mean"].shape == (4,) and meta["scaler"]["scale"].dtype.kind == "f"
    assert meta["config"]["model"]["hidden"] == [8] and meta["config"]["epochs"] == 2


def test_the_default_chainrule_train_run_loads(tmp_path, monkeypatch):
    """Issue 22: `chainrule train --epochs 2 --out run` (digits, an MLP 64-256-128-10)
    wrote a run that cr.load refused as "larger than the weights the file holds"."""
    import chainrule.cli
    import chainrule.train.run

    monkeypatch.setattr(chainrule.train.run, "write_plots", lambda *a, **k: None)
    run = tmp_path / "run"
    assert chainrule.cli.main(["train", "--epochs", "2", "--quiet", "--out", str(run)]) == 0
    model = cr.load(run)
    assert isinstance(model, nn.MLP) and model[0].in_features == 64
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [256, 128, 10]


@pytest.mark.parametrize("args", [(784, [1024, 1024], 10), (64, [64, 32], 10)])
def test_mlps_of_the_bug_report_round_trip(tmp_path, args):
    model = nn.MLP(*args).eval()
    cr.save(model, tmp_path / "m.safetensors")
    loaded = cr.load(tmp_path / "m.safetensors")
    for k, v in model.state_dict().items():
        assert_array_equal(loaded.state_dict()[k], v)
    x = cr.randn(3, args[0])
    assert_array_equal(loaded(x).numpy(), model(x).numpy())
