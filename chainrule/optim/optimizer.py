"""Optimizer base class: parameter groups, lazily created per-parameter state, state_dict.

A subclass supplies ``defaults`` (its hyper-parameters), ``_validate(group)`` and
``_update(param, grad, state, group)``, which calls the optimizer's pure update function
on arrays. Everything else (groups, zero_grad, the loop over parameters, saving and
restoring) lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np

from ..backend import Array, array_module
from ..tensor import Tensor, enable_grad
from ._check import non_negative

#: What an optimizer takes: tensors, or parameter groups (dicts with a ``'params'`` entry
#: and their own hyper-parameters).
Params: TypeAlias = "Iterable[Tensor] | Iterable[Mapping[str, Any]]"

_EXTRA_GROUP_KEYS = frozenset({"params", "name"})


def effective_grad(param: Array, grad: Array, weight_decay: float, maximize: bool,
                   out: Array | None = None) -> Array:
    """``(-grad if maximize else grad) + weight_decay * param``, the gradient the step uses.

    Returns ``grad`` itself (not a copy) when there is neither weight decay nor
    maximisation, so callers must only read the result. ``out`` (an array like
    ``param``) receives the result otherwise, instead of a new array.
    """
    xp = array_module(param)
    if weight_decay == 0:
        return xp.negative(grad, out=out) if maximize else grad
    g = xp.multiply(param, weight_decay, out=out)
    if maximize:
        g -= grad
    else:
        g += grad
    return g


def _jsonable(value: Any) -> Any:
    """Tuples to lists and NumPy scalars to Python numbers, recursively."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class Optimizer:
    """Base class of the optimizers.

    Parameters
    ----------
    params : iterable of Tensor or iterable of dict
        The tensors to optimise, or parameter groups: dicts with a ``'params'`` entry
        and any hyper-parameters that override ``defaults`` for that group.
    defaults : dict
        The optimizer's hyper-parameters (``lr`` ...), used where a group sets none.
    fused : bool, default False
        Update each parameter group with one call on flat buffers (see ``_fused_step``).

    Attributes
    ----------
    param_groups : list of dict
        One dict a group: ``'params'`` (list of Tensor) and every hyper-parameter.
    state : dict
        Tensor -> dict of its state (buffers, step count), created at its first step.
    """

    _state_keys: frozenset[str] = frozenset()  # the keys a subclass may keep in a state dict

    def __init__(self, params: Params, defaults: Mapping[str, Any], fused: bool = False) -> None:
        self.fused = bool(fused)
        self.defaults = dict(defaults)
        self._validate(self.defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._flat: dict[int, _FlatGroup] = {}  # group index -> _FlatGroup, with fused=True
        # (shape, dtype, order, k) -> work array, see _work
        self._scratch: dict[tuple[Any, ...], Array] = {}
        # (id of a parameter array, k) -> (that array, its work array)
        self._mine: dict[tuple[int, int], tuple[Array, Array]] = {}
        if isinstance(params, (Tensor, Mapping, set)):
            raise TypeError(f"params must be an iterable (list) of Tensors or of dicts, got "
                            f"{type(params).__name__}")
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _validate(self, group: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming an invalid hyper-parameter of ``group``."""
        if "lr" in group:
            non_negative("lr", group["lr"])

    def _update(self, param: Array, grad: Array, state: dict[str, Any],
                group: Mapping[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group of parameters, with its own hyper-parameters, to the optimizer.

        Parameters
        ----------
        param_group : dict
            ``'params'`` (a Tensor or an iterable of Tensors) and optional hyper-parameters;
            the missing ones are taken from the optimizer's defaults.
        """
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError("a parameter group must be a dict with a 'params' entry")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError("a group's params must be an ordered sequence, not a set")
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"an optimizer can only optimise Tensors, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimise a non-leaf Tensor (one computed by an op)")
        unknown = sorted(set(param_group) - set(self.defaults) - _EXTRA_GROUP_KEYS)
        if unknown:
            raise ValueError(f"unknown hyper-parameter(s) {', '.join(unknown)} in a parameter "
                             f"group; valid: {', '.join(self.defaults)}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if id(p) in seen:
                raise ValueError(f"a parameter (shape {p.shape}) appears more than once "
                                 f"(in one group or across groups)")
            seen.add(id(p))
        group = {**self.defaults, **param_group, "params": params}
        self._validate(group)
        self.param_groups.append(group)

    # ------------------------------------------------------------ fused (flat) updates
    def _fused_step(self, index: int, group: Mapping[str, Any], hyper: Mapping[str, Any]
                    ) -> bool:
        """Update every parameter of ``group`` with one call of ``_update`` on flat arrays.

        With ``fused=True`` the group's parameters (and their state) live in one
        contiguous buffer, each parameter's ``data`` a view of its slice, so the dozen
        array operations of an update run once per group instead of once per
        parameter: what costs most on small layers. The arithmetic is elementwise,
        so the result is bitwise the same as the per-parameter update. Returns False
        (and the caller updates parameter by parameter) when the group cannot be
        fused this step: a parameter without a gradient, mixed dtypes, or states that
        disagree (different step counts).
        """
        params = group["params"]
        for p in params:
            if p.grad is None or p.grad.shape != p.data.shape:
                return False
        flat = self._flat.get(index)
        if flat is None or not flat.matches(params, self.state):
            flat = _FlatGroup.build(params, self.state)
            if flat is None:
                return False
            self._flat[index] = flat
        for p, view in zip(params, flat.grad_views):
            view[...] = p.grad
        self._update(flat.param, flat.grad, flat.state, hyper)
        flat.share_state(params, self.state)
        return True

    def __getstate__(self) -> dict[str, Any]:
        # NOTE: a copy (pickle, deepcopy) does not keep views as views: the flat buffers
        # are rebuilt from the per-parameter arrays at the next fused step.
        state = dict(self.__dict__)
        state["_flat"] = {}
        state["_scratch"] = {}
        state["_mine"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_scratch", {})
        self.__dict__.setdefault("_mine", {})

    def _work(self, param: Array, k: int = 0) -> Array:
        """The ``k``-th work array of ``param``'s shape, dtype and memory order.

        The updates write their intermediate results here (``out=``) instead of into
        new arrays: one buffer per shape (and ``k``), reused by every parameter of that
        shape at every step, never part of the state.
        """
        mine = self._mine.get((id(param), k))  # the common case: this array, seen before
        if mine is not None and mine[0] is param:
            return mine[1]
        fortran = param.flags.f_contiguous and not param.flags.c_contiguous
        key = (param.shape, param.dtype, fortran, k)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = array_module(param).empty(
                param.shape, dtype=param.dtype, order="F" if fortran else "C")
        if len(self._mine) > 1024:  # parameters replaced again and again: start again
            self._mine.clear()
        self._mine[(id(param), k)] = (param, buf)
        return buf

    def _hyper(self, group: Mapping[str, Any]) -> Mapping[str, Any]:
        """What ``_update`` receives for ``group``: the group itself unless a subclass
        converts its hyper-parameters once per step instead of once per parameter."""
        return group

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: to ``None`` (default) or, in place, to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (those whose grad is None are skipped).

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (called with grad mode on).

        Returns
        -------
        The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        states = self.state
        for index, group in enumerate(self.param_groups):
            hyper = self._hyper(group)
            if self.fused and self._fused_step(index, group, hyper):
                continue
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if grad.shape != p.data.shape:
                    raise ValueError(f"a parameter of shape {p.data.shape} has a gradient of "
                                     f"shape {grad.shape}")
                state = states.get(p)
                if state is None:
                    state = states[p] = {}
                self._update(p.data, grad, state, hyper)
        return loss

    # ------------------------------------------------------------ saving and restoring
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as a dict of arrays, numbers, strings, lists and dicts.

        The layout is PyTorch's: ``{'state': {index: {name: value}}, 'param_groups':
        [{hyper-parameters..., 'params': [index, ...]}]}``, parameters being numbered
        in group order. Arrays are copies, so later steps do not change the result.
        Nothing in it needs pickle: arrays go to safetensors, the rest to JSON.
        """
        groups: list[dict[str, Any]] = []
        state: dict[int, dict[str, Any]] = {}
        index = 0
        for group in self.param_groups:
            packed = {k: _jsonable(v) for k, v in group.items() if k != "params"}
            packed["params"] = list(range(index, index + len(group["params"])))
            for p in group["params"]:
                if self.state.get(p):
                    state[index] = {k: v.copy() if hasattr(v, "shape") else _jsonable(v)
                                    for k, v in self.state[p].items()}
                index += 1
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`, so that the next steps continue the same trajectory.

        Index keys may be ints or strings (as JSON writes them); arrays may be NumPy
        arrays for a CuPy optimizer. Everything is checked before anything changes:
        a different number of groups, of parameters in a group, a state array of the
        wrong shape or an unknown state entry raise ``ValueError`` naming the
        group or parameter.
        """
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("an optimizer state_dict has exactly the keys 'state' and "
                             "'param_groups'")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"the state_dict has {len(saved_groups)} parameter group(s), "
                             f"this optimizer has {len(self.param_groups)}")
        by_index: dict[int, tuple[Tensor, int]] = {}
        new_groups: list[dict[str, Any]] = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if "params" not in saved:
                raise ValueError(f"parameter group {i} of the state_dict has no 'params'")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {i} has {len(saved['params'])} parameters "
                                 f"in the state_dict but {len(group['params'])} here")
            for j, p in zip(saved["params"], group["params"], strict=True):
                by_index[int(j)] = (p, i)
            new = {k: v for k, v in group.items() if k != "params"}
            new.update((k, tuple(v) if isinstance(group.get(k), tuple) else v)
                       for k, v in saved.items() if k != "params")
            new["params"] = group["params"]
            try:
                self._validate(new)
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"parameter group {i} of the state_dict: {e}") from None
            new_groups.append(new)
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, entry in state_dict["state"].items():
            if not str(key).isdigit() or int(key) not in by_index:
                raise ValueError(f"the state_dict has state for parameter {key}, which no "
                                 f"group lists")
            p, i = by_index[int(key)]
            new_state[p] = self._load_entry(entry, p, f"parameter {key} (group {i})")
        self.param_groups = new_groups
        self.state = new_state

    def _load_entry(self, entry: Any, p: Tensor, where: str) -> dict[str, Any]:
        if not isinstance(entry, Mapping):
            raise ValueError(f"state of {where} must be a dict, got {type(entry).__name__}")
        unknown = sorted(set(entry) - self._state_keys)
        if unknown:
            raise ValueError(f"state of {where}: unknown entr(ies) {', '.join(unknown)} for "
                             f"{type(self).__name__}")
        xp = array_module(p.data)
        out: dict[str, Any] = {}
        for name, value in entry.items():
            if hasattr(value, "shape"):
                if value.ndim and tuple(value.shape) != p.data.shape:
                    raise ValueError(f"state {name!r} of {where} has shape "
                                     f"{tuple(value.shape)}, the parameter {p.data.shape}")
                kind = np.dtype(value.dtype).kind
                value = xp.array(value, dtype=p.data.dtype if kind == "f" else None, copy=True)
            out[name] = value
        return out

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={v!r}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {hyper}")
        return "\n".join(lines + [")"])


def _views(buffer: Array, params: Iterable[Tensor]) -> list[Array]:
    """One view of ``buffer`` per parameter, in the parameter's shape and memory order."""
    views: list[Array] = []
    offset = 0
    for p in params:
        a = p.data
        order: Literal["C", "F"] = "F" if a.flags.f_contiguous and not a.flags.c_contiguous else "C"
        views.append(buffer[offset:offset + a.size].reshape(a.shape, order=order))
        offset += a.size
    return views


#: What ``_FlatGroup.matches`` compares: the array keys of the flat state, its arrays, the
#: per-parameter state dicts, the views in them, the number of keys, the scalar keys.
_Snapshot: TypeAlias = tuple[tuple[str, ...], tuple[Array, ...], list[dict[str, Any]],
                             list[tuple[Array, ...]], int, tuple[str, ...]]


class _FlatGroup:
    """The flat buffers behind a fused parameter group (see ``Optimizer._fused_step``)."""

    def __init__(self, params: Iterable[Tensor], param: Array, grad: Array,
                 state: dict[str, Any]) -> None:
        self.params = list(params)
        self.param, self.grad, self.state = param, grad, state
        self.param_views = _views(param, params)
        self.grad_views = _views(grad, params)
        # name -> (flat array, its per-parameter views)
        self._state_views: dict[str, tuple[Array, list[Array]]] = {}
        self._snapshot: _Snapshot | None = None  # set by share_state, read by matches

    @classmethod
    def build(cls, params: Sequence[Tensor], states: dict[Tensor, dict[str, Any]]
              ) -> _FlatGroup | None:
        dtypes = {p.data.dtype for p in params}
        xps = {array_module(p.data) for p in params}
        if len(dtypes) != 1 or len(xps) != 1:
            return None
        per = [states.get(p) or {} for p in params]
        keys = set(per[0])
        if any(set(st) != keys for st in per):
            return None
        scalars = {k: per[0][k] for k in keys if not hasattr(per[0][k], "shape")}
        if any(st[k] != v for st in per for k, v in scalars.items()):
            return None
        xp, dtype = xps.pop(), dtypes.pop()
        total = sum(p.data.size for p in params)
        flat = cls(params, xp.empty(total, dtype=dtype), xp.empty(total, dtype=dtype), {})
        for p, view in zip(params, flat.param_views):
            view[...] = p.data
            p.data = view
        for k in keys - set(scalars):
            arr = xp.empty(total, dtype=per[0][k].dtype)
            for view, st in zip(_views(arr, params), per):
                view[...] = st[k]
            flat.state[k] = arr
        flat.state.update(scalars)
        flat.share_state(params, states)
        return flat

    def state_views(self, name: str) -> list[Array]:
        arr = self.state[name]
        cached = self._state_views.get(name)
        if cached is None or cached[0] is not arr:
            cached = self._state_views[name] = (arr, _views(arr, self.params))
        return cached[1]

    def share_state(self, params: Sequence[Tensor], states: dict[Tensor, dict[str, Any]]
                    ) -> None:
        """Point each parameter's state at its slice of the flat state (scalars copied).

        After the first call, while the flat state holds the same arrays, only the
        scalars (a step count) are copied: the views already sit in the states.
        """
        state, snap = self.state, self._snapshot
        if snap is not None and len(state) == snap[4] and all(
                state.get(k) is a for k, a in zip(snap[0], snap[1])):
            scalars = {k: state[k] for k in snap[5]}
            for shared in snap[2]:
                shared.update(scalars)
            return
        akeys = tuple(k for k, v in state.items() if hasattr(v, "shape"))
        skeys = tuple(k for k in state if k not in akeys)
        scalars = {k: state[k] for k in skeys}
        per: list[dict[str, Any]] = []
        for i, p in enumerate(params):
            st = states.get(p)
            if st is None:
                st = states[p] = {}
            for k in akeys:
                st[k] = self.state_views(k)[i]
            st.update(scalars)
            per.append(st)
        # what matches() compares by identity: the flat arrays, the per-parameter state
        # dicts and the views in them; the scalar keys are compared by value
        self._snapshot = (akeys, tuple(state[k] for k in akeys), per,
                          [tuple(st[k] for k in akeys) for st in per], len(state), skeys)

    def matches(self, params: Sequence[Tensor], states: dict[Tensor, dict[str, Any]]) -> bool:
        """Whether the parameters and their states still are views of these buffers."""
        snap = self._snapshot
        state = self.state
        if snap is None or len(params) != len(self.params) or len(state) != snap[4]:
            return False
        akeys, arrays, per, views, nkeys, skeys = snap
        for k, a in zip(akeys, arrays):
            if state.get(k) is not a:
                return False
        scalars = [(k, state[k]) for k in skeys]
        for p, q, pv, st, vs in zip(params, self.params, self.param_views, per, views):
            if p is not q or p.data is not pv or states.get(p) is not st or len(st) != nkeys:
                return False
            for k, v in zip(akeys, vs):
                if st.get(k) is not v:
                    return False
            for k, v in scalars:  # e.g. a step count moved by a per-parameter update
                if st.get(k) != v:
                    return False
        return True
