"""DataLoader sharding (num_replicas, rank): the ranks' shares make up the global batches."""

import numpy as np
import pytest

from chainrule.data import ArrayDataset, DataLoader


def _ids(n):
    return ArrayDataset(np.arange(n, dtype=np.float32)[:, None], np.arange(n))


def _batches(loader):
    return [yb.numpy().copy() for _, yb in loader]


@pytest.mark.parametrize("n,batch,world", [(34, 8, 3), (34, 8, 2), (10, 4, 3), (7, None, 3),
                                           (5, 4, 4)])
@pytest.mark.parametrize("kw", [{}, {"shuffle": False}, {"replacement": True},
                                {"drop_last": True}])
def test_shards_concatenate_to_the_global_batches(n, batch, world, kw):
    if batch is None and kw.get("drop_last"):
        return
    whole = _batches(DataLoader(_ids(n), batch_size=batch, seed=5, **kw))
    shards = [_batches(DataLoader(_ids(n), batch_size=batch, seed=5, num_replicas=world,
                                  rank=r, **kw)) for r in range(world)]
    for r in range(world):
        assert len(shards[r]) == len(whole)
    for k, global_batch in enumerate(whole):
        parts = [shards[r][k] for r in range(world)]
        np.testing.assert_array_equal(np.concatenate(parts), global_batch)
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= 1  # balanced: shares differ by at most one row


def test_a_tail_smaller_than_the_world_gives_empty_batches():
    # 34 rows at batch 8: the last global batch has 2 rows for 3 ranks
    loaders = [DataLoader(_ids(34), batch_size=8, seed=1, num_replicas=3, rank=r)
               for r in range(3)]
    tails = [_batches(lo)[-1] for lo in loaders]
    assert sorted(len(t) for t in tails) == [0, 1, 1]
    empty = next(lo for lo, t in zip(loaders, tails) if len(t) == 0)
    xb, yb = next(iter(DataLoader(_ids(2), batch_size=2, num_replicas=3, rank=0)))
    assert xb.shape == (0, 1) and yb.shape == (0,)
    assert empty.epoch == 1


def test_resume_mid_epoch_with_another_number_of_ranks():
    whole = _batches(DataLoader(_ids(50), batch_size=6, seed=9)) * 1
    first = DataLoader(_ids(50), batch_size=6, seed=9, num_replicas=2, rank=1)
    it = iter(first)
    for _ in range(3):
        next(it)
    state = first.state_dict()
    assert state == {"seed": 9, "epoch": 0, "batch_in_epoch": 3}
    resumed = [DataLoader(_ids(50), batch_size=6, seed=0, num_replicas=3, rank=r)
               for r in range(3)]
    for lo in resumed:
        lo.load_state_dict(state)
    rest = [_batches(lo) for lo in resumed]
    for k, global_batch in enumerate(whole[3:]):
        np.testing.assert_array_equal(np.concatenate([rest[r][k] for r in range(3)]),
                                      global_batch)


def test_every_epoch_permutation_is_shared_by_the_ranks():
    loaders = [DataLoader(_ids(20), batch_size=5, seed=2, num_replicas=2, rank=r)
               for r in range(2)]
    epochs = [[np.concatenate(_batches(lo)) for _ in range(3)] for lo in loaders]
    for e in range(3):
        both = np.concatenate([epochs[0][e], epochs[1][e]])
        assert sorted(both.tolist()) == list(range(20))  # each row once per epoch
    assert not np.array_equal(epochs[0][0], epochs[0][1])  # and a fresh order each epoch


@pytest.mark.parametrize("world,rank", [(0, 0), (2, 2), (2, -1), (True, 0), (2.0, 0)])
def test_invalid_sharding_is_refused_with_the_argument_named(world, rank):
    with pytest.raises(ValueError, match="num_replicas|rank"):
        DataLoader(_ids(4), batch_size=2, num_replicas=world, rank=rank)


def test_shard_repr_and_method():
    lo = DataLoader(_ids(4), batch_size=2, seed=0).shard(2, 1)
    assert (lo.num_replicas, lo.rank) == (2, 1)
    assert "num_replicas=2, rank=1" in repr(lo)
