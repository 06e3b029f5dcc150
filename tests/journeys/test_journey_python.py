"""Journey 6: from Python, ``cr.train.fit`` -> ``cr.save`` -> ``cr.load`` -> the same
outputs, for the three networks of ``cr.nn``: an MLP (the CLI's default widths,
64-256-128-10: ``MLP`` itself defaults to no hidden layer), the default ``CNN`` (16 and 32
channels, 64 hidden) and the default ``ResNet`` (8 residual blocks of 16 channels), on the
built-in digits as 8x8 images. A few epochs each; the networks are not shrunk."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import load_dataset

EPOCHS = {"MLP": 5, "CNN": 3, "ResNet": 2}


@pytest.fixture(scope="module")
def images():
    """The digits as (1797, 1, 8, 8) float32 in [0, 1] and labels: 1,400 train, the rest
    validation."""
    table = load_dataset("digits", images=True)
    X = (np.asarray(table.X, dtype=np.float32) / 16)
    y = np.asarray(table.y)
    return (X[:1400], y[:1400]), (X[1400:], y[1400:])


def _network(name):
    if name == "MLP":
        return cr.nn.Sequential(cr.nn.Flatten(), cr.nn.MLP(64, (256, 128), 10))
    if name == "CNN":
        return cr.nn.CNN(1, 10, (8, 8))
    return cr.nn.ResNet(1, 10)


def _outputs(model, X):
    model.eval()
    with cr.no_grad():
        return model(cr.tensor(X)).numpy()


@pytest.mark.parametrize("name", list(EPOCHS))
def test_fit_save_load_same_outputs(name, images, tmp_path):
    (X, y), (Xv, yv) = images
    model = _network(name)
    history = cr.train.fit(model, cr.nn.CrossEntropyLoss(), cr.optim.Adam(model.parameters()),
                           (X, y), (Xv, yv), epochs=EPOCHS[name], batch_size=32, seed=0,
                           verbose=0)
    assert history.history["epoch"][-1] == EPOCHS[name]
    want = _outputs(model, Xv)
    accuracy = np.mean(want.argmax(axis=1) == yv)
    assert accuracy >= 0.75, f"{name} did not learn the digits: validation accuracy {accuracy}"
    path = tmp_path / f"{name}.safetensors"
    cr.save(model, path, metadata={"classes": list(range(10))})
    back = cr.load(path)
    assert type(back) is type(model) and repr(back) == repr(model)
    assert not back.training  # loaded for inference
    np.testing.assert_array_equal(_outputs(back, Xv), want)
    _, meta = cr.io.load_with_metadata(path)
    assert meta["classes"] == list(range(10))
