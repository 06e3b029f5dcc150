"""Autograd: grad mode, :func:`apply` (run an op, record it) and the backward graph walk.

An op (in :mod:`chainrule.ops`) works on raw arrays and returns its output and
a backward closure. :func:`apply` runs it on the arrays of some Tensors and,
when one of them requires a gradient and grad mode is on, records the inputs
and the closure on the result. :func:`run_backward` then applies the chain
rule from an output back to the leaves, in reverse creation order (a
topological order), summing the contributions of every path through which a
tensor was used. The walk is iterative, so a chain of any length needs no
recursion.

This module knows no Tensor class: :class:`~chainrule.tensor.Tensor` (tensor.py)
builds on it and registers itself as the type ``apply`` wraps its results in
(:func:`register_tensor_type`), so the imports point one way. A Tensor must exist
before ``apply`` can run on one, so the registration always comes first.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .device import check_same_device
from .ops._util import writeable

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True unless inside :class:`no_grad`."""
    return _grad_enabled


class _GradMode:
    mode = True

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager (and decorator) that records no graph: for inference and updates.

    Examples
    --------
    >>> with cr.no_grad():
    ...     y = model(x)
    """

    mode = False


class enable_grad(_GradMode):
    """Context manager that turns graph recording back on inside :class:`no_grad`."""

    mode = True


def _graph_freed(g, needs):
    raise RuntimeError(
        "backward: trying to backward through the graph a second time; its intermediate "
        "results were freed by the first backward(). Pass retain_graph=True to the first "
        "call if you need to call backward twice."
    )


_sequence = itertools.count(1)  # creation order of graph nodes: a topological order

# What apply wraps its results in: Tensor, registered by tensor.py as it defines it.
_tensor_type: Callable[[Any], Any] | None = None


def register_tensor_type(cls: type) -> None:
    """Make :func:`apply` wrap its results in ``cls`` (tensor.py registers Tensor).

    Parameters
    ----------
    cls : type
        Called with one array; its instances carry the graph attributes (``requires_grad``,
        ``_parents``, ``_backward``, ``_needs``, ``_seq``) that ``apply`` sets.
    """
    global _tensor_type
    _tensor_type = cls


def apply(op, *inputs, **options):
    """Run ``op`` on the inputs' arrays and record it in the graph when a gradient is needed.

    ``inputs`` are Tensors (or ``None`` for an absent optional input, such as a
    bias); ``options`` are passed to the op unchanged.
    """
    try:
        out, backward = op(*[None if t is None else t.data for t in inputs], **options)
    except ValueError as e:
        msg = str(e)
        name = op.__name__
        raise ValueError(msg if msg.startswith(name) else f"{name}: {msg}") from None
    except TypeError:
        # Array libraries refuse operands from two devices with a TypeError of their
        # own; name the op and both devices instead (free on the normal path).
        check_same_device(op.__name__, [None if t is None else t.data for t in inputs])
        raise
    if isinstance(out, np.generic):  # NumPy reduces to a scalar; a Tensor holds an array
        out = np.asarray(out)
    result = _tensor_type(out)
    if _grad_enabled:
        needs = tuple([t is not None and t.requires_grad for t in inputs])
        if True in needs:
            result.requires_grad = True
            result._parents = inputs
            result._backward = backward
            result._needs = needs
            result._seq = next(_sequence)
    return result


def graph_inputs(t) -> tuple:
    """The inputs an op result was computed from, in the op's argument order.

    ``None`` stands for an absent optional input (a bias). Empty for a leaf, for a
    result computed under :class:`no_grad`, and once ``backward()`` has freed the graph.
    """
    return tuple(t._parents)


def op_name(t) -> str | None:
    """The name of the op that computed ``t``: ``None`` for a leaf (no op recorded).

    ``"<freed>"`` once ``backward()`` has freed the graph (``retain_graph=False``).
    The name is that of the op function in :mod:`chainrule.ops` (``"mul"``,
    ``"linear"``...), read from its backward closure.
    """
    fn = t._backward
    if fn is None:
        return None
    if fn is _graph_freed:
        return "<freed>"
    qualname = getattr(fn, "__qualname__", type(fn).__name__)
    return qualname.split(".<locals>")[0].rsplit(".", 1)[-1].lstrip("_") or "op"


def _graph_nodes(root):
    """The non-leaf nodes that ``root`` depends on, latest first.

    A node is always created after its inputs, so decreasing creation order is a
    reverse topological order. The search is iterative: a chain of any length
    needs no recursion. (Tensors hash by identity, so they key sets and dicts.)
    """
    seen = {root}
    order = [root]
    stack = [root]
    while stack:
        for p in stack.pop()._parents:
            if p is not None and p._backward is not None and p not in seen:
                seen.add(p)
                order.append(p)
                stack.append(p)
    order.sort(key=_creation, reverse=True)
    return order


_creation = operator.attrgetter("_seq")


def _read_only(g):
    """A read-only view of a gradient that other consumers share."""
    if isinstance(g, np.ndarray) and g.flags.writeable:
        g = g.view()
        g.flags.writeable = False
    return g


def _accumulate_leaf(node, g, owned):
    if g.__class__ is not np.ndarray:
        if isinstance(g, np.generic):  # 0-d arithmetic gives a NumPy scalar
            g, owned = np.asarray(g), True
        owned = owned and writeable(g)
    if g.dtype != node.data.dtype:
        g, owned = g.astype(node.data.dtype), True
    if node.grad is None:
        # NOTE: .grad never aliases another array: a shared gradient is copied. (The
        # engine's ``owned`` already says the array is writeable.)
        node.grad = g if owned else g.copy(order="K")
    else:
        node.grad += g


def _push(pending, p, pg, owned):
    if p._backward is None:  # a leaf: accumulate into .grad at once
        _accumulate_leaf(p, pg, owned)
        return
    prev = pending.get(p)
    if prev is None:
        pending[p] = (pg, owned)
    elif prev[1] and prev[0].shape == pg.shape and prev[0].dtype == pg.dtype:
        prev[0].__iadd__(pg)
    else:
        pending[p] = (prev[0] + pg, True)


def run_backward(root, seed, retain_graph):
    """Apply the chain rule from ``root`` back to the leaves.

    Every pending gradient carries an *owned* flag: it is owned when no other
    consumer can see its memory (a new array, or a view of an owned gradient
    handed to one input only). A backward receives a shared gradient as a
    read-only view, so ops may update an owned one in place (``writeable(g)``)
    and leaves may keep it as ``.grad`` without a copy.
    """
    if root._backward is None:  # backward() on a leaf itself
        _accumulate_leaf(root, seed, True)
        return
    pending = {root: (seed, True)}
    for node in _graph_nodes(root):
        entry = pending.pop(node, None)
        if entry is None:
            continue
        g, owned = entry
        needs = node._needs
        grads = node._backward(g if owned else _read_only(g), needs)
        base = g.base
        source = g if base is None else base
        live = [(p, pg) for p, pg, need in zip(node._parents, grads, needs)
                if need and pg is not None]
        if len(live) == 1:
            p, pg = live[0]
            base = pg.base
            _push(pending, p, pg, (owned or (pg if base is None else base) is not source)
                  and writeable(pg))
        else:
            owners = [id(pg if pg.base is None else pg.base) for _, pg in live]
            distinct = len(set(owners)) == len(owners)
            for (p, pg), o in zip(live, owners):
                # one array handed to several inputs is owned by none of them
                _push(pending, p, pg, (owned or o != id(source))
                      and (distinct or owners.count(o) == 1) and writeable(pg))
        if not retain_graph:
            node._parents = ()
            node._backward = _graph_freed
            node._needs = ()
