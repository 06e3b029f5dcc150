"""DataLoader: mini-batches of tensors, seeded, resumable, gathered in the background.

The order of epoch ``e`` is a pure function of ``(seed, e)``, so a loader restored
from ``state_dict()`` replays exactly what the original would have produced, and
the prefetch thread (which only runs that function ahead of time) cannot change it.

Data parallelism (``num_replicas``, ``rank``) shards every *global* minibatch: all
ranks compute the same permutation and rank ``r`` takes its contiguous share of each
batch, so the ranks together see exactly the batches one process would see.
"""

from __future__ import annotations

import math
import queue
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..backend import get_rng
from ..device import Device, to_device
from ..device import device as as_device
from ..errors import DataError
from ..tensor import Tensor
from .dataset import ArrayDataset, Dataset
from .table import Table

_DONE = object()
_GATHER_EPOCH_BYTES = 32 << 20  # a dataset up to this size is gathered once an epoch


class _Failure:
    def __init__(self, exc):
        self.exc = exc


def _put(q, item, stop):
    # A timeout, so that a worker whose consumer went away notices `stop`.
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            pass
    return False


def _produce(fetch, start, stop_at, q, stop):
    """The prefetch thread: batches start..stop_at-1 in order, then _DONE (or the error)."""
    try:
        for k in range(start, stop_at):
            if stop.is_set() or not _put(q, fetch(k), stop):
                return
        item = _DONE
    except BaseException as exc:  # handed to the consumer, raised there
        item = _Failure(exc)
    _put(q, item, stop)


def _shutdown(stop, q, threads):
    """Stop and join the prefetch thread (runs on close, break or garbage collection)."""
    stop.set()
    try:
        while True:  # unblock a worker waiting on a full queue
            q.get_nowait()
    except queue.Empty:
        pass
    for t in threads:
        if t is not threading.current_thread():
            t.join()
    threads.clear()


def _prepare(arrays, transform, device=None):
    """A batch's arrays: transformed, numeric features (float32 unless float64), float
    targets in the features' precision, on ``device``."""
    arrays = list(arrays)
    x = arrays[0]
    if transform is not None:
        x = transform(x)
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"DataLoader: features must be numeric, got dtype {x.dtype}")
    if x.dtype != np.float64:
        x = x.astype(np.float32, copy=False)
    arrays[0] = x
    for i in range(1, len(arrays)):
        a = np.asarray(arrays[i])
        if a.dtype.kind == "f":  # float targets follow the features' precision
            a = a.astype(x.dtype, copy=False)
        arrays[i] = a
    if device is not None and device.type != "cpu":  # copied here, in the prefetch thread
        arrays = [to_device(a, device) for a in arrays]
    return tuple(arrays)


def _as_tensors(arrays, transform, device=None):
    return tuple(Tensor(a) for a in _prepare(arrays, transform, device))


class DataLoader:
    """Iterate over a dataset in mini-batches of :class:`~chainrule.Tensor`.

    ``for xb, yb in loader:`` runs **one epoch**: the rest of the current epoch, which
    is the whole epoch unless an earlier loop stopped early (``break``) or the loader
    was restored mid-epoch with :meth:`load_state_dict`. When an epoch is exhausted,
    ``epoch`` increases by one and the next loop starts the next epoch.

    Parameters
    ----------
    dataset : Dataset or Table
        Anything with ``__len__`` and ``get_batch(indices) -> tuple of arrays``
        (e.g. :class:`ArrayDataset`), or a :class:`Table` (its ``X`` and ``y``).
    batch_size : int or None, default 32
        ``None`` yields the whole dataset as one batch (full-batch gradient descent);
        its rows are then in dataset order unless ``replacement=True``.
    shuffle : bool, default True
        A fresh permutation every epoch; ``False`` keeps the dataset order.
    replacement : bool, default False
        Each batch is ``batch_size`` i.i.d. uniform draws of row indices (the "random
        subset B" of SGD's analysis); an epoch is still ``len(loader)`` batches.
    drop_last : bool, default False
        Drop the last, smaller batch (with ``replacement``: ``n // batch_size`` batches).
    seed : int, optional
        The order of epoch ``e`` depends only on ``(seed, e)``. ``None`` draws a seed
        from chainrule's generator, so :func:`chainrule.manual_seed` fixes it.
    generator : numpy.random.Generator, optional
        Draw each epoch's permutation from this generator instead (one draw an epoch,
        cheaper than deriving a generator from ``(seed, e)``; what the scikit-learn
        estimators use). ``state_dict`` then carries its state at the start of the
        current epoch, so a restored loader still replays the same batches.
    prefetch : bool, default True
        Gather the next batch in a background thread while the current one is used.
        The batches are the same as without it.
    transform : callable, optional
        Applied to the features of each batch (e.g. ``StandardScaler().transform``), so
        a memory-mapped dataset is never transformed whole.
    num_replicas, rank : int, optional
        Data-parallel sharding (as PyTorch's ``DistributedSampler``): ``batch_size`` is
        then the **global** batch, split over ``num_replicas`` processes, and this
        loader yields rank ``rank``'s share of each global batch. Every rank computes
        the same permutation from ``(seed, epoch)`` (so all ranks need the same
        ``seed``), and a global batch of ``m`` rows gives rank ``r`` the rows
        ``[r*m//n, (r+1)*m//n)`` of it: shares differ by at most one row, and the
        last, smaller batch of an epoch is split the same way (a rank may then get
        **zero rows**: an empty batch of shape (0, ...), which it must still step
        with, contributing nothing). ``len(loader)``, ``state_dict()`` and resuming
        mid-epoch count global batches, so a state saved with one number of ranks
        resumes with another. Default: no sharding (``num_replicas=1, rank=0``).
    device : str or Device, optional
        Put each batch on this device (``"cuda"``): the copy is made while gathering
        the batch, in the prefetch thread when ``prefetch`` is on, so it overlaps the
        training step. Default: the CPU (host arrays).

    Yields
    ------
    tuple of Tensor
        ``(xb, yb)`` (or ``(xb,)``): ``xb`` of shape (batch, ...) in float32 (float64 kept),
        ``yb`` unchanged for integer labels, float targets in the features' dtype.

    Examples
    --------
    >>> loader = DataLoader(ArrayDataset(X, y), batch_size=64, seed=0)
    >>> for epoch in range(10):
    ...     for xb, yb in loader:
    ...         loss = F.cross_entropy(model(xb), yb)
    """

    def __init__(self, dataset: Dataset | Table | np.ndarray, batch_size: int | None = 32,
                 shuffle: bool = True, replacement: bool = False, drop_last: bool = False,
                 seed: int | None = None, prefetch: bool = True,
                 transform: Callable[[np.ndarray], npt.ArrayLike] | None = None,
                 num_replicas: int | None = None, rank: int | None = None,
                 device: str | Device | None = None,
                 generator: np.random.Generator | None = None) -> None:
        if isinstance(dataset, Table):
            dataset = dataset.dataset()
        elif isinstance(dataset, np.ndarray):
            dataset = ArrayDataset(dataset)
        if not isinstance(dataset, Dataset):
            raise TypeError(f"DataLoader: {type(dataset).__name__} is not a Dataset "
                            f"(needs __len__ and get_batch(indices))")
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive int or None, "
                             f"got {batch_size!r}")
        if replacement and not shuffle:
            raise ValueError("DataLoader: replacement=True samples at random; "
                             "it cannot be combined with shuffle=False")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got {transform!r}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.replacement = bool(replacement)
        self.drop_last = bool(drop_last)
        self.prefetch = bool(prefetch)
        self.transform = transform
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"DataLoader: generator must be a numpy.random.Generator, got "
                            f"{type(generator).__name__}")
        self.generator = generator
        # (epoch, its order, the generator's state before the draw)
        self._drawn: tuple[int, np.ndarray, Any] | None = None
        self.device = None if device is None else as_device(device)
        self.seed = int(get_rng().integers(2**63)) if seed is None else _check_count(seed, "seed")
        self.epoch = 0
        self.batch_in_epoch = 0
        self._active: weakref.ref[_BatchIterator] | None = None
        self.num_replicas, self.rank = 1, 0
        if num_replicas is not None or rank is not None:
            self.shard(1 if num_replicas is None else num_replicas, 0 if rank is None else rank)
        n = len(dataset)
        if n == 0:
            raise DataError("DataLoader: the dataset is empty")
        if len(self) == 0:
            raise ValueError(f"DataLoader: drop_last=True with batch_size={batch_size} > "
                             f"{n} samples leaves no batch")

    def shard(self, num_replicas: int, rank: int) -> DataLoader:
        """Yield rank ``rank``'s share of each global batch (see ``num_replicas`` above).

        Returns
        -------
        DataLoader
            ``self``.
        """
        for name, v in (("num_replicas", num_replicas), ("rank", rank)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"DataLoader: {name} must be an int, got {v!r}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"DataLoader: need num_replicas >= 1 and 0 <= rank < "
                             f"num_replicas, got num_replicas={num_replicas}, rank={rank}")
        self._close_active()
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        return self

    def _batch(self, n):
        return n if self.batch_size is None else self.batch_size

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.dataset)
        bs = self._batch(n)
        return n // bs if self.drop_last else math.ceil(n / bs)

    def _order(self, epoch, n):
        """The permutation of epoch ``epoch``."""
        if self.generator is None:
            return np.random.default_rng([self.seed, epoch]).permutation(n)
        if self._drawn is None or self._drawn[0] != epoch:
            before = self.generator.bit_generator.state
            self._drawn = (epoch, self.generator.permutation(n), before)
        return self._drawn[1]

    def _fetcher(self, epoch, tensors=True):
        """fetch(k) -> batch k of ``epoch``. Holds no reference to the loader."""
        dataset, transform, seed = self.dataset, self.transform, self.seed
        n = len(dataset)
        bs = self._batch(n)
        if self.replacement:
            def indices(k):
                return np.random.default_rng([seed, epoch, k]).integers(0, n, size=bs)
        elif self.shuffle and self.batch_size is not None:
            order = self._order(epoch, n)

            def indices(k):
                return order[k * bs:(k + 1) * bs]
        else:
            def indices(k):
                return np.arange(k * bs, min((k + 1) * bs, n), dtype=np.int64)

        if self.num_replicas > 1:
            global_indices, size, r = indices, self.num_replicas, self.rank

            def indices(k):
                idx = global_indices(k)
                m = len(idx)
                return idx[r * m // size:(r + 1) * m // size]

        device = self.device
        convert = _as_tensors if tensors else _prepare
        if (self.shuffle and not self.replacement and self.batch_size is not None
                and self.num_replicas == 1 and transform is None
                and isinstance(dataset, ArrayDataset)
                and not any(isinstance(a, np.memmap) for a in dataset.arrays)
                and sum(a.nbytes for a in dataset.arrays) <= _GATHER_EPOCH_BYTES):
            # NOTE: a small in-memory dataset is gathered in the epoch's order at once and
            # its batches are slices of that copy: the same rows as a gather per batch,
            # without the per-batch indexing (it dominates for small networks).
            epoch_arrays = _prepare([a[order] for a in dataset.arrays], None, device)

            def fetch(k):
                part = tuple(a[k * bs:(k + 1) * bs] for a in epoch_arrays)
                return tuple(Tensor(a) for a in part) if tensors else part

            return fetch

        def fetch(k):
            return convert(dataset.get_batch(indices(k)), transform, device)

        return fetch

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        return self._iterate(True)

    def iter_arrays(self) -> Iterator[tuple[np.ndarray, ...]]:
        """Like iterating over the loader, but each batch is a tuple of ndarrays.

        The training loop uses this: it wraps only the features in a Tensor, and
        hands the targets and sample weights to the loss as arrays.
        """
        return self._iterate(False)

    def _iterate(self, tensors: bool) -> _BatchIterator:
        self._close_active()
        it = _BatchIterator(self, tensors)
        self._active = weakref.ref(it)
        return it

    def _close_active(self) -> None:
        it = self._active() if self._active is not None else None
        if it is not None:
            it.close()
        self._active = None

    def _advance(self, it, epoch, batch):
        if self._active is not None and self._active() is it:
            self.epoch, self.batch_in_epoch = epoch, batch

    def set_epoch(self, epoch: int) -> None:
        """Make the next loop run epoch ``epoch`` from its first batch."""
        self._close_active()
        self.epoch, self.batch_in_epoch = _check_count(epoch, "epoch"), 0

    def state_dict(self) -> dict[str, Any]:
        """Where the loader stands, as a JSON-able dict.

        Returns
        -------
        dict
            ``{'seed': int, 'epoch': int, 'batch_in_epoch': int}``; ``batch_in_epoch``
            counts the batches of ``epoch`` already handed out.
        """
        state: dict[str, Any] = {"seed": self.seed, "epoch": self.epoch,
                                 "batch_in_epoch": self.batch_in_epoch}
        if self.generator is not None:
            drawn = self._drawn
            state["generator"] = (drawn[2] if drawn is not None and drawn[0] == self.epoch
                                  else self.generator.bit_generator.state)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`: the next loop yields the remaining batches of that
        epoch, and later epochs are those the original loader would have produced."""
        missing = {"seed", "epoch", "batch_in_epoch"} - set(state)
        if missing:
            raise ValueError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}")
        self._close_active()
        self.seed = _check_count(state["seed"], "seed")
        self.epoch = _check_count(state["epoch"], "epoch")
        self.batch_in_epoch = _check_count(state["batch_in_epoch"], "batch_in_epoch")
        if self.generator is not None and state.get("generator") is not None:
            self.generator.bit_generator.state = state["generator"]
            self._drawn = None

    def __repr__(self) -> str:
        shard = (f", num_replicas={self.num_replicas}, rank={self.rank}"
                 if self.num_replicas > 1 else "")
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, replacement={self.replacement}, "
                f"drop_last={self.drop_last}, seed={self.seed}, epoch={self.epoch}{shard})")


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"DataLoader: {name} must be a non-negative int, got {value!r}")
    return int(value)


class _BatchIterator:
    """One pass over the rest of an epoch. Closing it (or dropping it) stops its thread."""

    def __init__(self, loader, tensors=True):
        nb = len(loader)
        epoch, start = loader.epoch, loader.batch_in_epoch
        if start >= nb:  # saved after the last batch of an epoch: go on with the next one
            epoch, start = epoch + 1, 0
            loader.epoch, loader.batch_in_epoch = epoch, 0
        self._loader = loader
        self._epoch, self._next, self._nb = epoch, start, nb
        self._fetch = loader._fetcher(epoch, tensors)
        self._prefetch = loader.prefetch
        self._threads = []
        self._closed = False
        self._finalizer = None
        if self._prefetch:  # the thread's queue and stop flag (costly to make: not without)
            self._queue = queue.Queue(maxsize=2)
            self._stop = threading.Event()
            self._finalizer = weakref.finalize(self, _shutdown, self._stop, self._queue,
                                               self._threads)

    def __iter__(self):
        return self

    def __next__(self):
        if self._closed:
            raise StopIteration
        if self._next >= self._nb:
            self._loader._advance(self, self._epoch + 1, 0)
            self.close()
            raise StopIteration
        try:
            batch = self._get()
        except BaseException:
            self.close()
            raise
        self._next += 1
        self._loader._advance(self, self._epoch, self._next)
        return batch

    def _get(self):
        if not self._prefetch:
            return self._fetch(self._next)
        if not self._threads:
            t = threading.Thread(target=_produce, daemon=True, name="chainrule-prefetch",
                                 args=(self._fetch, self._next, self._nb, self._queue,
                                       self._stop))
            self._threads.append(t)
            t.start()
        item = self._queue.get()
        if isinstance(item, _Failure):
            raise item.exc
        if item is _DONE:  # pragma: no cover - the consumer counts batches itself
            raise RuntimeError("DataLoader: the prefetch thread ended early")
        return item

    def close(self) -> None:
        """Stop the prefetch thread; the iterator yields nothing more."""
        self._closed = True
        if self._finalizer is not None:
            self._finalizer()
