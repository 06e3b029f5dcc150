"""DataLoader: sampling, determinism, resumption, prefetch thread lifecycle, dtypes."""

import gc
import json
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import ArrayDataset, DataLoader, Subset
from chainrule.errors import DataError


def _ids_dataset(n=103, dtype=np.float32):
    """Row i holds i in both X and y, so a batch tells which indices it contains."""
    return ArrayDataset(np.arange(n, dtype=dtype)[:, None] * np.ones((1, 3), dtype=dtype),
                        np.arange(n))


def _epoch(loader):
    return [yb.numpy().copy() for _, yb in loader]


def _threads():
    return sum(t.name == "chainrule-prefetch" for t in threading.enumerate())


@pytest.mark.parametrize("prefetch", [False, True])
def test_without_replacement_every_index_once_per_epoch(prefetch):
    loader = DataLoader(_ids_dataset(103), batch_size=10, seed=3, prefetch=prefetch)
    assert len(loader) == 11
    orders = []
    for _ in range(3):
        batches = _epoch(loader)
        assert [b.size for b in batches] == [10] * 10 + [3]
        order = np.concatenate(batches)
        np.testing.assert_array_equal(np.sort(order), np.arange(103))
        orders.append(order)
    assert loader.epoch == 3
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], np.arange(103))


def test_same_seed_same_batches_and_other_seed_differs():
    a, b, c = (DataLoader(_ids_dataset(), batch_size=16, seed=s) for s in (7, 7, 8))
    for _ in range(2):
        ea, eb, ec = _epoch(a), _epoch(b), _epoch(c)
        assert all(np.array_equal(x, y) for x, y in zip(ea, eb, strict=True))
        assert not np.array_equal(np.concatenate(ea), np.concatenate(ec))


def test_order_depends_only_on_seed_and_epoch():
    a = DataLoader(_ids_dataset(), batch_size=16, seed=1, prefetch=False)
    for _ in range(3):
        third = _epoch(a)
    b = DataLoader(_ids_dataset(), batch_size=16, seed=1, prefetch=False)
    b.set_epoch(2)
    assert all(np.array_equal(x, y) for x, y in zip(_epoch(b), third, strict=True))


def test_seed_none_follows_manual_seed():
    cr.manual_seed(42)
    a = DataLoader(_ids_dataset(), batch_size=16)
    cr.manual_seed(42)
    b = DataLoader(_ids_dataset(), batch_size=16)
    c = DataLoader(_ids_dataset(), batch_size=16)
    assert a.seed == b.seed != c.seed
    assert np.array_equal(np.concatenate(_epoch(a)), np.concatenate(_epoch(b)))


def test_shuffle_false_is_sequential_every_epoch():
    loader = DataLoader(_ids_dataset(25), batch_size=10, shuffle=False)
    for _ in range(2):
        batches = _epoch(loader)
        assert [b.tolist() for b in batches] == [list(range(10)), list(range(10, 20)),
                                                 list(range(20, 25))]


def test_drop_last():
    loader = DataLoader(_ids_dataset(103), batch_size=10, seed=0, drop_last=True)
    assert len(loader) == 10
    dropped = []
    for _ in range(2):
        batches = _epoch(loader)
        assert [b.size for b in batches] == [10] * 10
        seen = np.concatenate(batches)
        assert np.unique(seen).size == 100
        dropped.append(set(range(103)) - set(seen.tolist()))
    assert dropped[0] != dropped[1]  # a different tail is dropped each epoch


def test_full_batch_is_the_whole_dataset_without_copy():
    ds = _ids_dataset(50)
    loader = DataLoader(ds, batch_size=None)
    assert len(loader) == 1
    (batch,) = list(loader)
    xb, yb = batch
    assert xb.shape == (50, 3)
    np.testing.assert_array_equal(yb.numpy(), np.arange(50))
    assert np.shares_memory(xb.data, ds.X)  # float32 rows are a view, not a gather


def test_replacement_batches_are_iid_uniform_draws():
    n, bs = 50, 8
    loader = DataLoader(_ids_dataset(n), batch_size=bs, replacement=True, seed=0,
                        prefetch=False)
    assert len(loader) == 7  # ceil(50 / 8)
    draws = []
    for _ in range(300):
        batches = _epoch(loader)
        assert len(batches) == 7 and all(b.size == bs for b in batches)
        draws.extend(batches)
    draws = np.stack(draws)  # (2100, 8)
    # Within-batch repeats happen at the i.i.d. rate 1 - prod(1 - i/n) (about 0.45);
    # a sampler without replacement would never repeat.
    p_repeat = 1 - np.prod(1 - np.arange(bs) / n)
    repeats = np.mean([np.unique(b).size < bs for b in draws])
    assert abs(repeats - p_repeat) < 0.05
    counts = np.bincount(draws.ravel(), minlength=n)
    expected = draws.size / n
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 100  # 49 degrees of freedom: mean 49, sd ~10


def test_replacement_drop_last_and_requires_shuffle():
    loader = DataLoader(_ids_dataset(50), batch_size=8, replacement=True, drop_last=True)
    assert len(loader) == 6
    first, second = _epoch(loader), _epoch(loader)
    assert len(first) == len(second) == 6
    assert not np.array_equal(np.stack(first), np.stack(second))  # fresh draws each epoch
    with pytest.raises(ValueError, match="shuffle=False"):
        DataLoader(_ids_dataset(50), replacement=True, shuffle=False)


@pytest.mark.parametrize("options", [dict(), dict(replacement=True), dict(drop_last=True),
                                     dict(shuffle=False), dict(batch_size=None)])
def test_prefetch_yields_the_same_batches(options):
    kwargs = dict(batch_size=7, seed=11) | options
    on = DataLoader(_ids_dataset(40), prefetch=True, **kwargs)
    off = DataLoader(_ids_dataset(40), prefetch=False, **kwargs)
    for _ in range(3):
        for (xa, ya), (xb, yb) in zip(on, off, strict=True):
            np.testing.assert_array_equal(xa.numpy(), xb.numpy())
            np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    assert on.state_dict() == off.state_dict()


def test_break_stops_the_prefetch_thread():
    baseline = threading.active_count()
    loader = DataLoader(_ids_dataset(200), batch_size=4, seed=0)
    for i, _ in enumerate(loader):
        assert _threads() == 1  # the thread does run during the loop
        if i == 2:
            break
    assert threading.active_count() == baseline and _threads() == 0
    for _ in loader:  # exhausting an epoch also joins the thread
        pass
    assert threading.active_count() == baseline


def test_dropping_iterator_and_loader_stops_the_thread():
    baseline = threading.active_count()
    loader = DataLoader(_ids_dataset(200), batch_size=4, seed=0)
    it = iter(loader)
    next(it)
    assert _threads() == 1
    del loader, it
    gc.collect()
    assert threading.active_count() == baseline
    loader = DataLoader(_ids_dataset(200), batch_size=4, seed=0)
    first = iter(loader)
    next(first)
    second = iter(loader)  # a new loop closes the previous one
    assert _threads() == 0
    with pytest.raises(StopIteration):
        next(first)
    next(second)
    second.close()
    assert threading.active_count() == baseline


def test_break_then_next_loop_continues_the_epoch():
    loader = DataLoader(_ids_dataset(103), batch_size=10, seed=5)
    head = []
    for _, yb in loader:
        head.append(yb.numpy().copy())
        if len(head) == 3:
            break
    assert loader.state_dict() == {"seed": 5, "epoch": 0, "batch_in_epoch": 3}
    tail = _epoch(loader)
    assert len(tail) == 8 and loader.epoch == 1
    np.testing.assert_array_equal(np.sort(np.concatenate(head + tail)), np.arange(103))


@pytest.mark.parametrize("prefetch", [False, True])
def test_state_dict_resume_mid_epoch(prefetch):
    original = DataLoader(_ids_dataset(), batch_size=9, seed=21, prefetch=prefetch)
    _epoch(original)
    it = iter(original)
    for _ in range(4):
        next(it)
    state = json.loads(json.dumps(original.state_dict()))
    assert state == {"seed": 21, "epoch": 1, "batch_in_epoch": 4}
    rest_original = [yb.numpy().copy() for _, yb in it]
    next_original = _epoch(original)

    restored = DataLoader(_ids_dataset(), batch_size=9, seed=0, prefetch=not prefetch)
    restored.load_state_dict(state)
    rest = _epoch(restored)
    assert len(rest) == len(original) - 4
    assert all(np.array_equal(a, b) for a, b in zip(rest, rest_original, strict=True))
    assert all(np.array_equal(a, b)
               for a, b in zip(_epoch(restored), next_original, strict=True))


def test_state_saved_during_last_batch_resumes_with_next_epoch():
    loader = DataLoader(_ids_dataset(30), batch_size=10, seed=2)
    for _ in loader:
        state = loader.state_dict()  # a checkpoint taken after each step
    assert state == {"seed": 2, "epoch": 0, "batch_in_epoch": 3}
    expected = _epoch(loader)  # epoch 1
    restored = DataLoader(_ids_dataset(30), batch_size=10, seed=2)
    restored.load_state_dict(state)
    got = _epoch(restored)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    assert restored.epoch == 2


def test_load_state_dict_validates():
    loader = DataLoader(_ids_dataset(), seed=0)
    with pytest.raises(ValueError, match="batch_in_epoch"):
        loader.load_state_dict({"seed": 0, "epoch": 0})
    with pytest.raises(ValueError, match="epoch"):
        loader.load_state_dict({"seed": 0, "epoch": -1, "batch_in_epoch": 0})


class _Failing:
    def __len__(self):
        return 20

    def get_batch(self, indices):
        if indices.max() >= 10:
            raise OSError("disk on fire")
        return (np.zeros((len(indices), 2)),)


@pytest.mark.parametrize("prefetch", [False, True])
def test_dataset_errors_reach_the_loop_and_stop_the_thread(prefetch):
    baseline = threading.active_count()
    loader = DataLoader(_Failing(), batch_size=5, shuffle=False, prefetch=prefetch)
    got = []
    with pytest.raises(OSError, match="disk on fire"):
        for (xb,) in loader:
            got.append(xb)
    assert len(got) == 2 and loader.batch_in_epoch == 2
    assert threading.active_count() == baseline


def test_dtypes_of_the_batches():
    X_int = np.arange(12, dtype=np.int32).reshape(6, 2)
    (xb, yb), = DataLoader(ArrayDataset(X_int, np.arange(6)), batch_size=None)
    assert isinstance(xb, cr.Tensor) and xb.dtype == np.float32 and yb.dtype == np.int64
    (xb, yb), = DataLoader(ArrayDataset(X_int.astype(np.float64), np.ones(6)), batch_size=None)
    assert xb.dtype == np.float64 and yb.dtype == np.float64
    (xb, yb), = DataLoader(ArrayDataset(X_int.astype(np.float32), np.ones(6)), batch_size=None)
    assert xb.dtype == np.float32 and yb.dtype == np.float32  # float targets follow X


def test_transform_is_applied_to_the_features_of_each_batch():
    seen = []

    def transform(x):
        seen.append(x.shape[0])
        return x * 2 + 1

    loader = DataLoader(_ids_dataset(10), batch_size=4, shuffle=False, transform=transform)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in loader], strict=True)
    assert seen == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(xs)[:, 0], np.arange(10) * 2 + 1)
    np.testing.assert_array_equal(np.concatenate(ys), np.arange(10))


def test_custom_dataset_protocol_and_subset():
    class Squares:
        def __len__(self):
            return 6

        def get_batch(self, indices):
            return (indices[:, None] ** 2, indices)

    loader = DataLoader(Squares(), batch_size=4, shuffle=False)
    (x0, y0), (x1, y1) = loader
    assert x0.numpy().ravel().tolist() == [0, 1, 4, 9] and y1.numpy().tolist() == [4, 5]
    sub = DataLoader(Subset(_ids_dataset(20), [5, 7, 9]), batch_size=None)
    ((_, yb),) = sub
    assert yb.numpy().tolist() == [5, 7, 9]


def test_argument_errors():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ids_dataset(), batch_size=0)
    with pytest.raises(ValueError, match="no batch"):
        DataLoader(_ids_dataset(5), batch_size=10, drop_last=True)
    with pytest.raises(TypeError, match="not a Dataset"):
        DataLoader([1, 2, 3])
    with pytest.raises(DataError, match="empty"):
        DataLoader(ArrayDataset(np.zeros((0, 2))))


def test_array_dataset_checks_lengths_and_reads_memmaps(tmp_path):
    with pytest.raises(DataError, match="X has 5 rows but y has 4"):
        ArrayDataset(np.zeros((5, 2)), np.zeros(4))
    path = tmp_path / "x.npy"
    np.save(path, np.arange(20, dtype=np.float32).reshape(10, 2))
    mm = np.load(path, mmap_mode="r")
    ds = ArrayDataset(mm, np.arange(10))
    for index in (np.array([7, 2]), np.array([3, 4, 5]), slice(1, 3)):
        xb, yb = ds[index]
        assert type(xb) is np.ndarray  # read into memory, not a view of the file
        np.testing.assert_array_equal(xb[:, 0], np.asarray(mm)[index, 0])
    xb, yb = ds[np.array([-2, -1])]
    assert yb.tolist() == [8, 9]


def test_generator_draws_one_permutation_an_epoch_and_resumes_exactly():
    ds = ArrayDataset(np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10))
    gen = np.random.default_rng(5)
    ld = DataLoader(ds, batch_size=4, generator=np.random.default_rng(5), prefetch=False)
    expected = [gen.permutation(10) for _ in range(3)]
    for want in expected[:2]:
        got = np.concatenate([yb for _, yb in ld.iter_arrays()])
        np.testing.assert_array_equal(got, want)
    it = ld.iter_arrays()
    first = next(it)[1]
    state = ld.state_dict()  # mid-epoch: the generator's state before this epoch's draw
    again = DataLoader(ds, batch_size=4, generator=np.random.default_rng(99), prefetch=False)
    again.load_state_dict(state)
    rest = np.concatenate([yb for _, yb in again.iter_arrays()])
    np.testing.assert_array_equal(np.concatenate([first, rest]), expected[2])
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        DataLoader(ds, generator=5)


# ---------------------------------------------------------------- found by mutation testing
def test_defaults_and_the_inputs_a_loader_takes():
    from chainrule.data.table import Table

    loader = DataLoader(_ids_dataset(70))
    assert (loader.batch_size, loader.num_replicas, loader.rank) == (32, 1, 0)
    assert "num_replicas" not in repr(loader) and repr(loader).endswith(", epoch=0)")
    assert "num_replicas=2, rank=1" in repr(DataLoader(_ids_dataset(), num_replicas=2, rank=1))
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    (xb, yb), = DataLoader(Table(X, np.arange(6)), batch_size=None)  # a Table: X and y
    np.testing.assert_array_equal(xb.numpy(), X)
    np.testing.assert_array_equal(yb.numpy(), np.arange(6))
    (xb,), = DataLoader(X, batch_size=None)  # an array: the features alone
    np.testing.assert_array_equal(xb.numpy(), X)
    assert [len(y) for _, y in DataLoader(_ids_dataset(3), batch_size=1)] == [1, 1, 1]


def test_seed_none_draws_a_63_bit_seed():
    cr.manual_seed(0)
    seeds = [DataLoader(_ids_dataset()).seed for _ in range(8)]
    assert max(seeds) >= 2**32 and all(0 <= s < 2**63 for s in seeds)


def test_every_count_is_checked_and_named():
    ds = _ids_dataset()
    for kwargs in (dict(batch_size=2.5), dict(batch_size=True)):
        with pytest.raises(ValueError, match=r"^DataLoader: batch_size must be a positive int"):
            DataLoader(ds, **kwargs)
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match=r"^DataLoader: seed must be a non-negative int"):
            DataLoader(ds, seed=bad)
    loader = DataLoader(ds, seed=0)
    for name in ("seed", "epoch", "batch_in_epoch"):
        state = {"seed": 0, "epoch": 0, "batch_in_epoch": 0, name: -1}
        with pytest.raises(ValueError, match=rf"^DataLoader: {name} must be a non-negative"):
            loader.load_state_dict(state)
    with pytest.raises(ValueError, match=r"^DataLoader: epoch must be a non-negative int"):
        loader.set_epoch(-1)
    for kwargs, msg in ((dict(num_replicas=1.0, rank=0), "num_replicas must be an int"),
                        (dict(num_replicas=2, rank=True), "rank must be an int"),
                        (dict(rank=1), r"need .* got num_replicas=1, rank=1$"),
                        (dict(num_replicas=0), "need num_replicas >= 1")):
        with pytest.raises(ValueError, match=f"^DataLoader: {msg}"):
            DataLoader(ds, **kwargs)
    assert DataLoader(ds, num_replicas=1, rank=0).num_replicas == 1


def test_num_replicas_alone_means_rank_0():
    ds = _ids_dataset(20)
    alone = DataLoader(ds, batch_size=10, seed=1, num_replicas=2)
    rank0 = DataLoader(ds, batch_size=10, seed=1, num_replicas=2, rank=0)
    assert (alone.num_replicas, alone.rank) == (2, 0)
    got = _epoch(alone)
    assert [len(b) for b in got] == [5, 5]
    assert all(np.array_equal(a, b) for a, b in zip(got, _epoch(rank0), strict=True))


@pytest.mark.parametrize("shuffle, transform", [(True, None), (False, None),
                                                (True, lambda x: x * 2)],
                         ids=["epoch-gather", "per-batch", "transform"])
def test_iter_arrays_yields_arrays_and_tensors_otherwise(shuffle, transform):
    ds = _ids_dataset(10)
    scale = 1 if transform is None else 2
    for arrays in (True, False):
        loader = DataLoader(ds, batch_size=4, seed=3, shuffle=shuffle, transform=transform)
        batches = list(loader.iter_arrays() if arrays else loader)
        for xb, yb in batches:
            assert type(xb) is (np.ndarray if arrays else cr.Tensor)
            assert type(yb) is (np.ndarray if arrays else cr.Tensor)
            np.testing.assert_array_equal(np.asarray(xb)[:, 0], np.asarray(yb) * scale)
        assert sorted(np.concatenate([np.asarray(y) for _, y in batches])) == list(range(10))


@pytest.mark.parametrize("shuffle", [True, False], ids=["epoch-gather", "per-batch"])
def test_batches_on_a_device(shuffle):
    import fake_device

    fake_device.install()
    ds = _ids_dataset(10)
    host = list(DataLoader(ds, batch_size=4, seed=3, shuffle=shuffle).iter_arrays())
    for arrays in (True, False):
        loader = DataLoader(ds, batch_size=4, seed=3, shuffle=shuffle, device="fake")
        got = list(loader.iter_arrays() if arrays else loader)
        assert len(got) == len(host)
        for batch, want in zip(got, host, strict=True):
            for a, w in zip(batch, want, strict=True):
                a = a.data if isinstance(a, cr.Tensor) else a
                assert type(a) is fake_device.FakeArray
                np.testing.assert_array_equal(a.get(), w)


def test_a_state_with_a_generator_loads_into_a_seeded_loader():
    ds = _ids_dataset(10)
    gen = DataLoader(ds, batch_size=4, generator=np.random.default_rng(1))
    state = gen.state_dict()  # before any draw: the generator's current state
    assert state["generator"] == np.random.default_rng(1).bit_generator.state
    seeded = DataLoader(ds, batch_size=4, seed=7)
    seeded.load_state_dict(state)  # the generator entry is ignored
    want = _epoch(DataLoader(ds, batch_size=4, seed=state["seed"]))
    assert all(np.array_equal(a, b) for a, b in zip(_epoch(seeded), want, strict=True))


def test_an_iterator_closed_at_once_after_an_epoch_end_state_loses_no_batch():
    loader = DataLoader(_ids_dataset(30), batch_size=10, seed=2)
    loader.load_state_dict({"seed": 2, "epoch": 0, "batch_in_epoch": 3})
    it = iter(loader)  # starts epoch 1
    it.close()  # no batch taken
    assert loader.state_dict() == {"seed": 2, "epoch": 1, "batch_in_epoch": 0}
    assert len(_epoch(loader)) == 3
