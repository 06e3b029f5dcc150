"""Matrix products: matmul (with NumPy's batched and 1-D rules) and the fused linear layer."""

from __future__ import annotations

from collections.abc import Sequence

from .. import _blas
from ..backend import Array, array_module, fit_threads
from ._util import OpResult, fast_sum, unbroadcast, writeable, zeros_like_shared


def _threads(work: int) -> None:
    """BLAS threads for a product of ``work`` multiply-adds (see chainrule/_blas.py).

    A small product on one thread already (the common case of a small network) costs
    no call.
    """
    if work >= _blas.SMALL_WORK or _blas._current != 1:
        fit_threads(work)


def _check_matmul(a: Array, b: Array, op: str) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{op}: operands must have at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} are not aligned "
                         f"({k_a} != {k_b})")


def matmul(a: Array, b: Array) -> OpResult:
    _check_matmul(a, b, "matmul")
    work = a.size * (b.shape[-1] if b.ndim > 1 else 1)  # multiply-adds of each product
    _threads(work)
    out = a @ b

    def backward(g, needs):
        # Promote 1-D operands to matrices, as the forward product did, then undo it.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = g2[..., None, :]
        ga = gb = None
        _threads(work)
        if needs[0]:
            ga = unbroadcast(g2 @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if needs[1]:
            gb = unbroadcast(a2.swapaxes(-1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb

    return out, backward


def _linear_forward(x: Array, w: Array, b: Array | None) -> Array:
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape "
                         f"{w.shape} (expected input (..., {w.shape[-1]}))")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"linear: bias of shape {b.shape} does not match weight of shape "
                         f"{w.shape} (expected ({w.shape[0]},))")
    work = x.size * w.shape[0]
    if work >= _blas.SMALL_WORK or _blas._current != 1:  # _threads, inlined (hot path)
        fit_threads(work)
    out = x @ w.T
    if b is not None:
        out += b
    return out


def _linear_grads(x: Array, w: Array, b: Array | None, g: Array, needs: Sequence[bool]
                  ) -> tuple[Array | None, Array | None, Array | None]:
    """dL/dx = g w, dL/dw = g^T x, dL/db = sum of g over the batch."""
    gx = gw = gb = None
    work = x.size * w.shape[0]
    if work >= _blas.SMALL_WORK or _blas._current != 1:  # _threads, inlined (hot path)
        fit_threads(work)
    if needs[0]:
        gx = g @ w
    if needs[1]:
        x2, g2 = (x, g) if x.ndim == 2 else (x.reshape(-1, x.shape[-1]),
                                             g.reshape(-1, g.shape[-1]))
        # NOTE: the gradient takes the weight's memory order (Linear keeps its weight in
        # Fortran order, so that x @ w.T is a plain GEMM), so the optimizer's update
        # runs over two arrays of the same layout.
        if w.flags.f_contiguous and not w.flags.c_contiguous:
            gw = (x2.T @ g2).T
        else:
            gw = g2.T @ x2
    if b is not None and needs[2]:
        gb = fast_sum(g, 0) if g.ndim == 2 else fast_sum(g, tuple(range(g.ndim - 1)))
    return gx, gw, gb


def linear(x: Array, w: Array, b: Array | None = None) -> OpResult:
    """y = x @ w.T + b with ``w`` of shape (out_features, in_features), as in PyTorch.

    One GEMM for the output, one for each gradient; the bias gradient is a sum.
    """
    out = _linear_forward(x, w, b)

    def backward(g, needs):
        return _linear_grads(x, w, b, g, needs)

    return out, backward


def linear_relu(x: Array, w: Array, b: Array | None = None) -> OpResult:
    """relu(x @ w.T + b), fused: the ReLU runs in place on the product it owns.

    The pre-activation is never visible outside this op, so it can be
    overwritten; the backward masks the incoming gradient (in place when the
    engine says it owns it) and continues as :func:`linear`.
    """
    xp = array_module(x, w)
    out = _linear_forward(x, w, b)
    xp.maximum(out, zeros_like_shared(out) if out.size >= 4096 else 0, out=out)  # see relu

    def backward(g, needs):
        # NOTE: the gradient at exactly 0 is taken as 0, as for relu.
        if writeable(g):
            xp.multiply(g, out > 0, out=g)
        else:
            g = g * (out > 0)
        return _linear_grads(x, w, b, g, needs)

    return out, backward
