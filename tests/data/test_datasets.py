"""Built-in datasets: the listing matches what loads; generated ones are right and seeded."""

import sys

import numpy as np
import pytest

from chainrule.data import list_datasets, load_dataset
from chainrule.errors import DataError

NAMES = ["digits", "iris", "wine", "breast_cancer", "diabetes",
         "spirals", "moons", "xor", "friedman"]


def test_listing_names_every_dataset():
    assert [d.name for d in list_datasets()] == NAMES
    assert all(len(d) == 5 and d.description for d in list_datasets())


@pytest.mark.parametrize("info", list_datasets(), ids=lambda d: d.name)
def test_each_dataset_loads_with_the_listed_shape(info):
    if info.name not in ("spirals", "moons", "xor", "friedman"):
        pytest.importorskip("sklearn")
    t = load_dataset(info.name)
    assert t.X.shape == (info.n_samples, info.n_features) and t.X.dtype == np.float32
    assert t.y.shape == (info.n_samples,) and t.task == info.task
    assert len(t.feature_names) == info.n_features and np.all(np.isfinite(t.X))
    if info.task == "classification":
        assert t.y.dtype == np.int64
        assert sorted(np.unique(t.y).tolist()) == list(range(len(t.classes)))
    else:
        assert t.y.dtype == np.float32 and t.classes is None


def test_bundled_labels_keep_their_names():
    pytest.importorskip("sklearn")
    assert load_dataset("iris").classes == ["setosa", "versicolor", "virginica"]
    assert load_dataset("digits").classes == list(range(10))


def test_generated_datasets_depend_only_on_seed():
    for name in ("spirals", "moons", "xor", "friedman"):
        a, b, c = load_dataset(name, seed=1), load_dataset(name, seed=1), load_dataset(name)
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.y, b.y)
        assert not np.array_equal(a.X, c.X)


def test_spirals_are_balanced_shuffled_and_radial():
    t = load_dataset("spirals")
    assert np.bincount(t.y).tolist() == [100, 100, 100]
    assert not np.all(np.diff(t.y) >= 0)  # not sorted by class
    assert np.linalg.norm(t.X, axis=1).max() <= 1.0 + 1e-6


def test_xor_labels_follow_the_quadrants():
    t = load_dataset("xor", noise=0.1)
    quadrant = (np.sign(t.X[:, 0]) != np.sign(t.X[:, 1])).astype(int)
    assert np.mean(quadrant == t.y) > 0.99
    assert np.bincount(t.y).tolist() == [100, 100]


def test_friedman_target_is_the_formula_plus_noise():
    t = load_dataset("friedman", noise=0.0, n_samples=100)
    X = t.X.astype(np.float64)
    y = (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2
         + 10 * X[:, 3] + 5 * X[:, 4])
    np.testing.assert_allclose(t.y, y, rtol=1e-5)
    assert t.X.shape == (100, 10)


def test_moons_two_classes_of_half_circles():
    t = load_dataset("moons", noise=0.0)
    outer = t.X[t.y == 0]
    np.testing.assert_allclose(np.linalg.norm(outer, axis=1), 1.0, rtol=1e-5)
    assert np.all(outer[:, 1] >= -1e-6)


def test_unknown_name_and_options():
    with pytest.raises(DataError, match="unknown dataset 'mnist'; valid names: digits, iris"):
        load_dataset("mnist")
    with pytest.raises(TypeError, match="unknown options"):
        load_dataset("moons", size=3)


def test_sklearn_datasets_without_sklearn_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[sklearn\]"'):
        load_dataset("iris")
    assert load_dataset("spirals").X.shape == (300, 2)  # generated ones need only NumPy
