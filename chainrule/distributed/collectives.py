"""Collectives on NumPy arrays: weight broadcast, gradient averaging, metric reduction.

Every function works without MPI too (one rank), returning what one process would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from .world import _world, comm, guarded

if TYPE_CHECKING:
    from ..nn.module import Module
    from ..tensor import Tensor


def _arrays_of(obj):
    """The arrays a module (its state: parameters and buffers) or a list of tensors holds."""
    if hasattr(obj, "named_parameters"):
        params = [p for _, p in obj.named_parameters()]
        seen = {id(p.data) for p in params}
        buffers = []
        if hasattr(obj, "state_dict"):
            for value in obj.state_dict().values():
                if isinstance(value, np.ndarray) and id(value) not in seen:
                    buffers.append(value)
        return [p.data for p in params], buffers
    return [getattr(t, "data", t) for t in obj], []


def broadcast_parameters(model: Module | Iterable[Tensor], root: int = 0) -> None:
    """Overwrite every rank's parameters (and buffers) with rank ``root``'s, in place.

    Parameters
    ----------
    model : Module or list of Tensor
    root : int, default 0
    """
    c = comm()
    if c is None:
        return
    params, buffers = _arrays_of(model)
    with guarded("the broadcast of the initial weights"):
        for a in params:
            # NOTE: the raw memory is sent; every rank built the same layout (a Linear
            # weight is Fortran-ordered), so any contiguous order will do.
            if not (a.flags.c_contiguous or a.flags.f_contiguous) or not a.flags.writeable:
                raise ValueError("broadcast_parameters: parameters must be writeable "
                                 "contiguous arrays")
            c.Bcast(a, root=root)
    if buffers and hasattr(model, "load_state_dict"):
        state = model.state_dict()  # type: ignore[union-attr]  # a Module, by hasattr
        with guarded("the broadcast of the model's buffers"):
            for key, value in state.items():
                if isinstance(value, np.ndarray) and any(value is b for b in buffers):
                    value = np.ascontiguousarray(value)
                    c.Bcast(value, root=root)
                    state[key] = value
        model.load_state_dict(state)


def broadcast_json(obj: Any, root: int = 0) -> Any:
    """Rank ``root``'s JSON-able ``obj`` on every rank (sent as JSON text, never pickled)."""
    c = comm()
    if c is None:
        return obj
    data = json.dumps(obj).encode() if _world.rank == root else b""
    size = np.array([len(data)], dtype=np.int64)
    with guarded("a broadcast of settings from rank 0"):
        c.Bcast(size, root=root)
        buf = np.frombuffer(data, dtype=np.uint8).copy() if _world.rank == root else \
            np.empty(int(size[0]), dtype=np.uint8)
        c.Bcast(buf, root=root)
    return json.loads(buf.tobytes().decode())


def all_reduce(values: npt.ArrayLike, op: str = "sum") -> float | np.ndarray:
    """Sum (or ``'max'``/``'min'``) ``values`` over the ranks; every rank gets the result.

    Parameters
    ----------
    values : float or array_like
        Reduced in float64 (integers too, exactly below 2**53).
    op : {'sum', 'max', 'min'}

    Returns
    -------
    float or ndarray of float64
    """
    if op not in ("sum", "max", "min"):
        raise ValueError(f"all_reduce: op must be 'sum', 'max' or 'min', got {op!r}")
    scalar = np.ndim(values) == 0
    buf = np.array(values, dtype=np.float64).reshape(-1).copy()
    c = comm()
    if c is not None:
        MPI = _world.MPI
        with guarded(f"a metric reduction ({op})"):
            c.Allreduce(MPI.IN_PLACE, buf, op={"sum": MPI.SUM, "max": MPI.MAX,
                                               "min": MPI.MIN}[op])
    return float(buf[0]) if scalar else buf.reshape(np.shape(values))


def barrier() -> None:
    """Wait until every rank gets here."""
    c = comm()
    if c is not None:
        with guarded("a barrier"):
            c.Barrier()


class GradientAllreduce:
    """Average the gradients of ``params`` over the ranks with one Allreduce per step.

    The gradients are packed into one flat buffer (one per dtype; a model has one),
    each multiplied by this rank's ``weight`` (its share of the global loss's
    denominator: its number of samples, or their total sample weight), summed over the
    ranks in place, and divided by the total weight, so that for a loss that is a
    (weighted) mean the result is the gradient of the loss over the whole global
    batch, whatever the split. A few ``extras`` (loss sums, counts, flags) ride in the
    same message. After :meth:`reduce` each ``param.grad`` is a view of the buffer
    (``None`` where no rank had a gradient for it).

    Parameters
    ----------
    params : iterable of Tensor
    n_extras : int, default 0
        Scalars summed along with the gradients.
    """

    def __init__(self, params: Iterable[Tensor], n_extras: int = 0) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("GradientAllreduce: no parameters")
        for p in self.params:
            if not isinstance(p.data, np.ndarray):
                raise ValueError(f"GradientAllreduce: parameters must be NumPy arrays (CPU); "
                                 f"got {type(p.data).__module__}.{type(p.data).__name__} "
                                 f"(MPI over GPU memory is not supported)")
        self.n_extras = int(n_extras)
        self.buffers: dict[np.dtype, np.ndarray] = {}  # dtype -> flat array
        # per parameter: (buffer dtype, offset, size, order)
        self.views: list[tuple[np.dtype, int, int, Literal["C", "F"]]] = []
        sizes: dict[np.dtype, int] = {}
        for p in self.params:
            dt = np.dtype(p.data.dtype)
            off = sizes.get(dt, 0)
            fortran = p.data.flags.f_contiguous and not p.data.flags.c_contiguous
            order: Literal["C", "F"] = "F" if fortran else "C"
            self.views.append((dt, off, p.data.size, order))
            sizes[dt] = off + p.data.size
        self.first = np.dtype(self.params[0].data.dtype)
        # tail of the first buffer: [weight, n_extras..., one has-grad flag per param]
        self.tail = sizes[self.first]
        sizes[self.first] += 1 + self.n_extras + len(self.params)
        self.buffers = {dt: np.empty(n, dtype=dt) for dt, n in sizes.items()}
        self.seconds = 0.0  # time spent in Allreduce (for benchmarks)
        self.bytes_per_step = sum(b.nbytes for b in self.buffers.values())

    def reduce(self, weight: float, extras: npt.ArrayLike | None = None
               ) -> tuple[float, np.ndarray]:
        """Pack, Allreduce, unpack: ``param.grad`` becomes the global average.

        Parameters
        ----------
        weight : float
            This rank's share of the loss denominator (0 for a rank without samples
            this step: its gradients, if any, are ignored).
        extras : sequence of float, optional
            ``n_extras`` values summed over the ranks (zeros if not given).

        Returns
        -------
        total_weight : float
        extras : ndarray
            The summed extras.
        """
        head = self.buffers[self.first]
        t = self.tail
        n = len(self.params)
        flags = head[t + 1 + self.n_extras:t + 1 + self.n_extras + n]
        for i, (p, (dt, off, size, order)) in enumerate(zip(self.params, self.views)):
            # a slot has the parameter's memory order, so packing copies contiguously
            slot = self.buffers[dt][off:off + size].reshape(p.data.shape, order=order)
            g = p.grad
            if g is None or weight == 0:
                slot[...] = 0
                flags[i] = 0
            else:
                np.multiply(g, weight, out=slot)
                flags[i] = 1
        head[t] = weight
        if self.n_extras:
            head[t + 1:t + 1 + self.n_extras] = 0 if extras is None else extras
        c = comm()
        if c is not None:
            MPI = _world.MPI
            start = time.perf_counter()
            with guarded("the gradient Allreduce"):
                for b in self.buffers.values():
                    c.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM)
            self.seconds += time.perf_counter() - start
        total = float(head[t])
        out_extras = head[t + 1:t + 1 + self.n_extras].astype(np.float64)
        scale = 1.0 / total if total > 0 else 0.0
        for dt, b in self.buffers.items():
            grads = b[:t] if dt == self.first else b
            grads *= dt.type(scale)
        for i, (p, (dt, off, size, order)) in enumerate(zip(self.params, self.views)):
            p.grad = (None if flags[i] == 0
                      else self.buffers[dt][off:off + size].reshape(p.data.shape, order=order))
        return total, out_extras
