"""Devices: cr.device, Tensor.to, Module.to, optimizer state, loader, model files.

Everything here runs on any machine: ``fake`` is the CPU stand-in device of
tests/fake_device.py, whose arrays are a distinct type that NumPy refuses, so a
stray ``np.`` call on device data fails here as it would on a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys

import fake_device
import numpy as np
import pytest
from helpers import host

import chainrule as cr
from chainrule import nn
from chainrule.data import ArrayDataset, DataLoader

fake_device.install()
FAKE = cr.device("fake")
HERE = os.path.dirname(os.path.abspath(__file__))


def _is_fake(a):
    return isinstance(a, fake_device.FakeArray)


# ---------------------------------------------------------------- cr.device
def test_device_parsing_and_equality():
    assert cr.device("cpu") == cr.device("CPU") == "cpu"
    assert cr.device("cpu").index is None and str(cr.device("cpu")) == "cpu"
    assert cr.device("fake:0") == cr.device("fake") == FAKE
    assert repr(FAKE) == "device(type='fake', index=0)"
    assert cr.device(FAKE) is FAKE
    assert len({cr.device("fake"), cr.device("fake:0")}) == 1
    assert cr.device(None) == cr.get_default_device()


@pytest.mark.parametrize("spec, message", [
    ("tpu", "unknown device type 'tpu'"),
    ("fake:1", "no such fake device; 1 present"),
    ("fake:x", "must be a non-negative integer"),
])
def test_bad_device_names_say_what_is_wrong(spec, message):
    with pytest.raises(cr.DeviceError, match=message):
        cr.device(spec)


def test_cuda_without_cupy_is_unavailable_with_a_clear_message():
    if "cuda" in cr.backend.BACKENDS:
        pytest.skip("CuPy is installed here")
    assert cr.cuda.is_available() is False and cr.cuda.device_count() == 0
    assert cr.device("auto") == "cpu"
    with pytest.raises(cr.DeviceError, match=r"CuPy is not installed.*chainrule\[cuda12\]"):
        cr.device("cuda")


# ---------------------------------------------------------------- tensors
def test_creation_helpers_take_a_device():
    for t in (cr.tensor([1.0, 2.0], device="fake"), cr.zeros(2, 3, device=FAKE),
              cr.ones(2, device="fake"), cr.full((2,), 3.0, device="fake"),
              cr.randn(2, device="fake"), cr.rand(2, device="fake"),
              cr.arange(3, device="fake"), cr.as_tensor(np.ones(2), device="fake")):
        assert t.device == FAKE and _is_fake(t.data)
    assert cr.tensor([1.0]).device == "cpu"
    x = cr.tensor(np.arange(3.0), device="fake")
    assert x.dtype == np.float64  # a float64 array keeps its dtype on the device too
    np.testing.assert_array_equal(x.numpy(), [0.0, 1.0, 2.0])
    assert isinstance(x.numpy(), np.ndarray)  # numpy() is always host memory


def test_to_moves_and_the_gradient_flows_back():
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x.to("fake")
    assert y.device == FAKE and y.requires_grad and x.to("cpu") is x
    (y.relu() * y).sum().backward()
    assert x.device == "cpu" and isinstance(x.grad, np.ndarray)
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 6.0])
    z = x.to("fake", np.float64)
    assert z.dtype == np.float64 and z.device == FAKE


def test_mixing_devices_names_both():
    a = cr.tensor([1.0, 2.0], device="fake")
    b = cr.tensor([1.0, 2.0])
    import chainrule.functional as F

    w = cr.tensor(np.ones((3, 2)))
    for fn, op in ((lambda: a + b, "add"), (lambda: b * a, "mul"), (lambda: a @ b, "matmul"),
                   (lambda: F.linear(a.reshape(1, 2), w), "linear")):  # no bias: a None input
        with pytest.raises(cr.DeviceError, match=rf"^{op}: expected all tensors on one device, "
                                                 r"found (fake:0 and cpu|cpu and fake:0)"):
            fn()


def test_device_arrays_refuse_numpy():
    a = cr.tensor([1.0, 2.0], device="fake").data
    with pytest.raises(TypeError):
        np.exp(a)
    with pytest.raises(TypeError):
        np.asarray(a)
    with pytest.raises(TypeError):
        a + np.ones(2)


# ---------------------------------------------------------------- modules and optimizers
def _mlp():
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def test_module_to_moves_parameters_and_buffers_in_place():
    model = _mlp()
    params = list(model.parameters())
    assert model.to("fake") is model
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert all(p.device == FAKE for p in params)
    assert _is_fake(model[1].running_mean) and _is_fake(model[1].running_var)
    state = model.state_dict()  # host copies from any device
    assert all(isinstance(v, np.ndarray) for v in state.values())
    model.to("cpu", np.float64)
    assert all(p.device == "cpu" and p.dtype == np.float64 for p in params)


@pytest.mark.parametrize("make", [
    lambda p: cr.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: cr.optim.Adam(p, lr=0.01),
    lambda p: cr.optim.Adam(p, lr=0.01, fused=True),
    lambda p: cr.optim.RMSprop(p, lr=0.01),
    lambda p: cr.optim.Adagrad(p, lr=0.1),
])
def test_training_on_the_device_equals_training_on_the_host(make):
    """The stand-in device computes with NumPy underneath, so every step must match
    the host bit for bit: any difference is the device path doing something else."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    weights = []
    for dev in ("cpu", "fake"):
        model = _mlp().to(dev)
        opt = make(model.parameters())
        loader = DataLoader(ArrayDataset(X, y), batch_size=8, seed=0, device=dev)
        for _ in range(2):
            for xb, yb in loader:
                assert xb.device == dev and yb.device == dev
                opt.zero_grad()
                loss = nn.CrossEntropyLoss()(model(xb), yb)
                loss.backward()
                opt.step()
        for state in opt.state.values() if isinstance(opt.state, dict) else ():
            for v in state.values():
                if hasattr(v, "dtype") and getattr(v, "ndim", 0):
                    assert (dev == "fake") == _is_fake(v)  # state lives with the parameter
        weights.append(model.state_dict())
    for k in weights[0]:
        np.testing.assert_array_equal(weights[1][k], weights[0][k], err_msg=k)


def test_model_files_save_from_and_load_to_any_device(tmp_path):
    model = _mlp().to("fake")
    model(cr.randn(5, 4, device="fake"))  # moves the running statistics
    path = tmp_path / "m.safetensors"
    cr.save(model, path)
    back = cr.load(path, device="fake")
    assert all(p.device == FAKE for p in back.parameters())
    host_copy = cr.load(path)
    assert all(p.device == "cpu" for p in host_copy.parameters())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)
        np.testing.assert_array_equal(host_copy.state_dict()[k], v)
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    with cr.no_grad():
        np.testing.assert_allclose(back(cr.tensor(x, device="fake")).numpy(),
                                   host_copy(cr.tensor(x)).numpy(), rtol=1e-6)


def test_gradcheck_runs_on_the_device():
    x = cr.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True, device="fake")
    assert cr.gradcheck(lambda t: (t.sigmoid() * t).sum(axis=1), x)
    assert _is_fake(host(x)) is False


def test_default_device_places_new_tensors_and_layers():
    cr.set_default_device("fake")
    try:
        assert cr.tensor([1.0]).device == FAKE
        lin = nn.Linear(2, 3)
        assert lin.weight.device == FAKE and lin.bias.device == FAKE
    finally:
        cr.set_default_device(None)
    assert cr.tensor([1.0]).device == "cpu"


# ---------------------------------------------------------------- the op and nn suites
def test_op_and_layer_suites_pass_on_the_stand_in_device():
    """The op suite and the layer tests with every tensor on the fake device."""
    env = dict(os.environ, CHAINRULE_TEST_DEVICE="fake")
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         os.path.join(HERE, "ops"), os.path.join(HERE, "nn", "test_layers.py"),
         os.path.join(HERE, "nn", "test_loss.py")],
        cwd=os.path.dirname(HERE), env=env, capture_output=True, text=True, timeout=600)
    tail = "\n".join(r.stdout.splitlines()[-15:])
    assert r.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail


# ---------------------------------------------------------------- the training loop and runs
def test_trainer_trains_a_model_on_its_device_like_on_the_host():
    """Trainer moves each batch to the model's device; evaluation comes back to the host."""
    from chainrule.train import fit
    from chainrule.train.evaluate import predict_outputs
    from chainrule.train.heads import make_head

    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    results = []
    for dev in ("cpu", "fake"):
        model = _mlp().to(dev)
        head = make_head("classification", n_classes=3, head="softmax")
        opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        history = fit(model, None, opt, (X[:40], y[:40]), (X[40:], y[40:]), epochs=3,
                      head=head, batch_size=8, seed=0)
        out = predict_outputs(model, X)
        assert isinstance(out, np.ndarray)
        results.append((history.rows, out))
    np.testing.assert_array_equal(results[1][1], results[0][1])
    for cpu_logs, dev_logs in zip(results[0][0], results[1][0]):
        assert dev_logs["loss"] == cpu_logs["loss"]
        assert dev_logs["val_accuracy"] == cpu_logs["val_accuracy"]


def test_cli_refuses_an_unusable_device_before_anything_is_written(tmp_path, capsys):
    from chainrule import cli

    for spec, msg in (("tpu", "unknown device type 'tpu'"), ("fake:x", "non-negative")):
        assert cli.main(["train", "--device", spec, "--out", str(tmp_path / "run")]) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_run_recipe_trains_on_the_device(tmp_path):
    from chainrule.train import run as runs
    from chainrule.train.recipe import Recipe

    recipe = Recipe(model={"kind": "mlp", "hidden": [8]}, epochs=2, device="fake",
                    out=str(tmp_path / "run"), quiet=True)
    os.makedirs(recipe.out)
    run = runs.prepare(recipe)
    assert all(p.device == FAKE for p in run.model.parameters())
    runs.train(run)
    assert all(p.device == FAKE for p in run.model.parameters())


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")  # 4 iterations: not converged
def test_estimators_train_on_the_device_like_on_the_host():
    pytest.importorskip("sklearn")
    from chainrule.sklearn import NeuralNetClassifier, NeuralNetRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 5))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    for cls, target in ((NeuralNetClassifier, y), (NeuralNetRegressor, X[:, 2] - X[:, 3])):
        host_est = cls(hidden_layer_sizes=(8,), max_iter=4, random_state=0).fit(X, target)
        dev_est = cls(hidden_layer_sizes=(8,), max_iter=4, random_state=0,
                      device="fake").fit(X, target)
        assert all(p.device == FAKE for p in dev_est.model_.parameters())
        assert all(isinstance(c, np.ndarray) for c in dev_est.coefs_ + dev_est.intercepts_)
        for a, b in zip(host_est.coefs_, dev_est.coefs_):
            np.testing.assert_array_equal(b, a)
        np.testing.assert_array_equal(dev_est.predict(X), host_est.predict(X))
    with pytest.raises(ValueError, match="unknown device type 'tpu'"):
        NeuralNetClassifier(device="tpu", max_iter=1).fit(X, y)
