"""chainrule.sklearn's files: save / load round trips (every kind of class label) and
hostile metadata refused (chainrule/sklearn/_persistence.py; to_onnx: tests/onnx)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn_cases import blobs, fast  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.mark.parametrize("labels", [
    np.array(["setosa", "versicolor", "virginica"]),  # NumPy strings
    np.array(["a", "bb", "ccc"], dtype=object),  # Python strings (a pandas string Series)
    np.array([3, 10, 42]), np.array([-1, 0, 7], dtype=np.int8),
])
def test_save_and_load_round_trips_every_kind_of_label(tmp_path, labels):
    X, y = load_iris(return_X_y=True)
    est = NeuralNetClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0,
                              dtype=np.float32).fit(X, labels[y])
    est.save(tmp_path / "m.safetensors")
    loaded = NeuralNetClassifier.load(tmp_path / "m.safetensors")
    assert loaded.classes_.dtype == est.classes_.dtype
    np.testing.assert_array_equal(loaded.classes_, est.classes_)
    pred = loaded.predict(X)
    assert pred.dtype == est.predict(X).dtype and list(pred) == list(est.predict(X))
    assert loaded.get_params()["dtype"] == "float32"
    binary = NeuralNetClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(
        X, y > 0)  # booleans
    binary.save(tmp_path / "b.safetensors")
    back = NeuralNetClassifier.load(tmp_path / "b.safetensors")
    assert back.classes_.dtype == bool and list(back.predict(X)) == list(binary.predict(X))


def test_save_and_load(tmp_path):
    X, y = blobs(classes=2)
    labels = np.array(["no", "yes"])[y]
    est = fast(NeuralNetClassifier).fit(X, labels)
    path = tmp_path / "clf.safetensors"
    est.save(path)
    loaded = NeuralNetClassifier.load(path)
    np.testing.assert_array_equal(loaded.classes_, est.classes_)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X))
    assert loaded.get_params() == est.get_params()
    loaded.partial_fit(X, labels)  # trains on, with a fresh optimizer state
    assert loaded.n_iter_ == 1 and loaded.t_ == est.t_ + len(X)
    # the file is a plain chainrule model file
    model = cr.load(path)
    with cr.no_grad():
        out = model(cr.tensor(X.astype(np.float32))).numpy().ravel()
    np.testing.assert_allclose(out, est.decision_function(X), rtol=1e-6)
    with pytest.raises(ValueError, match="NeuralNetClassifier"):
        NeuralNetRegressor.load(path)
    # cr.save(est.model_) works as for any chainrule model
    cr.save(est.model_, tmp_path / "model.safetensors")
    again = cr.load(tmp_path / "model.safetensors")
    with cr.no_grad():
        out2 = again(cr.tensor(X.astype(np.float32))).numpy().ravel()
    np.testing.assert_array_equal(out2, out)


@pytest.mark.parametrize("change", [
    {"params": {"hidden_layer_sizes": [8], "not_a_parameter": 1}},
    {"params": {"hidden_layer_sizes": [8], "alpha": "lots"}},
    {"classes": {"values": [0, 1, 2], "dtype": "O"}},
    {"n_features_in": "four"},
])
def test_load_refuses_hostile_metadata_with_model_file_error(tmp_path, change):
    from chainrule.errors import ModelFileError
    from chainrule.io import load_with_metadata, save

    X, y = load_iris(return_X_y=True)
    est = NeuralNetClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    good = tmp_path / "good.safetensors"
    est.save(good)
    model, meta = load_with_metadata(good)
    meta.update(change)
    bad = tmp_path / "bad.safetensors"
    save(model, bad, metadata=meta)
    with pytest.raises(ModelFileError):
        NeuralNetClassifier.load(bad)


def test_a_classifier_with_wide_hidden_layers_saves_and_loads(tmp_path):
    """Issue 22: hidden_layer_sizes=(256, 128) on digits was refused on load as "larger
    than the weights the file holds" (the guard multiplied every integer argument)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    est = NeuralNetClassifier(hidden_layer_sizes=(256, 128), max_iter=2, random_state=0).fit(
        X, y)
    est.save(tmp_path / "digits.safetensors")
    loaded = NeuralNetClassifier.load(tmp_path / "digits.safetensors")
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert isinstance(cr.load(tmp_path / "digits.safetensors"), cr.nn.MLP)
