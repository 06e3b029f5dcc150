"""est.to_onnx(path): onnxruntime gives what predict and predict_proba give."""

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="needs scikit-learn: pip install 'chainrule[sklearn]'")
onnx = pytest.importorskip("onnx", reason="needs onnx: pip install 'chainrule[onnx]'")
ort = pytest.importorskip("onnxruntime",
                          reason="needs onnxruntime: pip install 'chainrule[onnx]'")

from chainrule.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

TOL = 1e-5
# a few epochs are enough to compare two runtimes on the same weights
pytestmark = pytest.mark.filterwarnings("ignore:Stochastic Optimizer")


def _X(n, seed, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=(n, 4)).astype(dtype)


def _run(est, path, X):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {"features": X})))


CLASSIFIERS = [
    ("softmax-str", "softmax", np.array(["ant", "bee", "cow"]), np.float32),
    ("ovr-int", "ovr", np.array([3, 7, 9]), np.float32),
    ("binary-str", "softmax", np.array(["no", "yes"]), np.float32),
    ("softmax-float64", "softmax", np.array([0, 1, 2]), None),
]


@pytest.mark.parametrize("multi_class,labels,dtype", [c[1:] for c in CLASSIFIERS],
                         ids=[c[0] for c in CLASSIFIERS])
def test_classifier_to_onnx(multi_class, labels, dtype, tmp_path):
    in_dtype = np.float32 if dtype is not None else np.float64
    X = _X(120, 0, in_dtype)
    y = labels[np.argmax(X[:, :len(labels)], axis=1)]
    clf = NeuralNetClassifier((8,), max_iter=5, random_state=0, multi_class=multi_class,
                              dtype=dtype).fit(X, y)
    path = tmp_path / "clf.onnx"
    clf.to_onnx(path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    for n in (1, 7, 256):
        Xn = _X(n, n, in_dtype)
        got = _run(clf, path, Xn)
        np.testing.assert_allclose(got["probabilities"], clf.predict_proba(Xn), rtol=TOL,
                                   atol=TOL)
        assert got["label"].tolist() == clf.predict(Xn).tolist()


@pytest.mark.parametrize("n_targets", [1, 2])
def test_regressor_to_onnx(n_targets, tmp_path):
    X = _X(100, 1)
    y = X[:, 0] * 30 + 100 if n_targets == 1 else np.stack([X[:, 0] * 30, X[:, 1]], axis=1)
    reg = NeuralNetRegressor((8,), max_iter=5, random_state=0).fit(X, y)
    path = tmp_path / "reg.onnx"
    reg.to_onnx(path, opset=13)
    for n in (1, 7, 256):
        Xn = _X(n, n)
        got = _run(reg, path, Xn)
        want = reg.predict(Xn)
        assert got["prediction"].shape == want.shape
        np.testing.assert_allclose(got["prediction"], want, rtol=TOL, atol=TOL)


def test_unfitted_estimator_is_refused(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NeuralNetClassifier().to_onnx(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
