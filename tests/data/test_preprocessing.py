"""StandardScaler: statistics, constant features, round trip, state, memmaps, DataLoader."""

import numpy as np
import pytest

from chainrule.data import ArrayDataset, DataLoader, StandardScaler
from chainrule.data import preprocessing as pre
from chainrule.errors import DataError


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((500, 4)) * [1.0, 10.0, 0.1, 3.0] + [0.0, 5.0, -2.0, 1e3])


def test_statistics_match_numpy(X):
    s = StandardScaler().fit(X)
    np.testing.assert_allclose(s.mean_, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.var_, X.var(axis=0), rtol=1e-10)
    np.testing.assert_allclose(s.scale_, X.std(axis=0), rtol=1e-10)
    Z = s.transform(X)
    assert Z.dtype == np.float64
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-10)
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-12)


def test_chunked_fit_equals_one_pass(X, monkeypatch):
    whole = StandardScaler().fit(X)
    monkeypatch.setattr(pre, "_CHUNK", 28)  # 7 rows per chunk, a ragged last chunk
    chunked = StandardScaler().fit(X)
    np.testing.assert_allclose(chunked.mean_, whole.mean_, rtol=1e-12)
    np.testing.assert_allclose(chunked.var_, whole.var_, rtol=1e-10)
    np.testing.assert_allclose(chunked.transform(X), whole.transform(X), atol=1e-9)


def test_constant_feature_gets_scale_one():
    X = np.column_stack([np.full(10, 3.7), np.arange(10.0)])
    s = StandardScaler().fit(X)
    assert s.scale_[0] == 1.0 and s.scale_[1] == pytest.approx(np.arange(10.0).std())
    Z = s.fit_transform(X)
    assert np.all(Z[:, 0] == 0) and np.all(np.isfinite(Z))


def test_float32_and_int_inputs_give_float32(X):
    s = StandardScaler().fit(X)
    assert s.transform(X.astype(np.float32)).dtype == np.float32
    assert s.transform(np.ones((2, 4), dtype=np.int64)).dtype == np.float32


def test_state_dict_round_trip_with_plain_arrays(X):
    s = StandardScaler().fit(X)
    state = s.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    r = StandardScaler.from_state_dict({k: v.copy() for k, v in state.items()})
    np.testing.assert_array_equal(r.transform(X), s.transform(X))
    assert r.n_samples_seen_ == 500
    with pytest.raises(DataError, match="missing"):
        StandardScaler.from_state_dict({"mean": state["mean"]})


def test_errors():
    with pytest.raises(RuntimeError, match="fit"):
        StandardScaler().transform(np.ones((2, 2)))
    s = StandardScaler().fit(np.ones((3, 2)))
    with pytest.raises(DataError, match="fitted on"):
        s.transform(np.ones((3, 5)))
    with pytest.raises(DataError, match="NaN"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(DataError, match="shape"):
        StandardScaler().fit(np.ones(3))


def test_memmap_fit_and_per_batch_transform_in_the_loader(tmp_path, X):
    path = tmp_path / "X.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=X.shape)
    mm[:] = X
    mm.flush()
    X_file = np.load(path, mmap_mode="r")
    s = StandardScaler().fit(X_file)
    np.testing.assert_allclose(s.mean_, X.astype(np.float32).mean(axis=0, dtype=np.float64),
                               rtol=1e-6)
    loader = DataLoader(ArrayDataset(X_file, np.arange(500)), batch_size=64, shuffle=False,
                        transform=s.transform)
    Z = np.concatenate([xb.numpy() for xb, _ in loader])
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z, s.transform(X_file), rtol=1e-6)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-4)
