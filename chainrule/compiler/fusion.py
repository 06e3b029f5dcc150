"""Fusion: adjacent modules that run as one op, from one rule table.

A rule says "a ``first`` module followed by a ``then`` module runs as ``forward``" (one
fused op in place of two, and one graph node instead of two). Every container runs its
children through :func:`steps` (the hook in :mod:`chainrule.nn.layers`, registered when
this module is imported), and step capture (:mod:`chainrule.compiler.capture`) builds its
plan from the same :func:`groups`, so a rule written here is the fast path everywhere.
``nn`` names no rule and never imports this package.

A rule matches the exact types (a subclass may override ``forward``), left to right, each
module joining at most one group. A fused forward is gradient-checked in float64 against
its plain composition (tests/compiler/test_fusion.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import ops
from ..autograd import apply
from ..creation import as_tensor
from ..nn import layers
from ..nn.activation import ReLU
from ..nn.layers import Linear
from ..nn.module import Module
from ..tensor import Tensor

__all__ = ["Fusion", "RULES", "groups", "steps"]


@dataclass(frozen=True)
class Fusion:
    """Two adjacent modules run as one op.

    Attributes
    ----------
    first, then : type
        The exact module types, in order.
    name : str
        The fused op's name (step capture plans each fusion by it).
    forward : callable
        ``forward(first_module, x) -> Tensor``: what ``then(first(x))`` computes.
    """

    first: type[Module]
    then: type[Module]
    name: str
    forward: Callable[[Module, Tensor], Tensor]


def _linear_relu(linear: Linear, x: Tensor) -> Tensor:
    # the ReLU overwrites the product in place, which no one else sees (ops.linalg)
    x = x if isinstance(x, Tensor) else as_tensor(x)
    return apply(ops.linalg.linear_relu, x, linear.weight, linear.bias)


#: The fusion rules, tried in order at each position of a chain of modules.
RULES: tuple[Fusion, ...] = (
    Fusion(Linear, ReLU, "linear_relu", _linear_relu),
)

_BY_FIRST: dict[type[Module], tuple[Fusion, ...]] = {
    first: tuple(r for r in RULES if r.first is first) for first in {r.first for r in RULES}}


def groups(modules: Sequence[Module]) -> list[tuple[tuple[Module, ...], Fusion | None]]:
    """``modules`` cut into runs: ``((first, then), rule)`` for a match, ``((m,), None)`` else.

    Examples
    --------
    >>> mods = [cr.nn.Linear(2, 3), cr.nn.ReLU(), cr.nn.Linear(3, 1)]
    >>> [(len(g), r and r.name) for g, r in groups(mods)]
    [(2, 'linear_relu'), (1, None)]
    """
    out = []
    i, n = 0, len(modules)
    while i < n:
        m = modules[i]
        for rule in _BY_FIRST.get(type(m), ()):
            if i + 1 < n and type(modules[i + 1]) is rule.then:
                out.append(((m, modules[i + 1]), rule))
                i += 2
                break
        else:
            out.append(((m,), None))
            i += 1
    return out


def steps(modules: Sequence[Module]) -> tuple[Callable[[Tensor], Tensor], ...]:
    """The callables a container applies in turn: a fused step per match, else the module.

    A fused step is ``partial(rule.forward, first)``, so it reads the module's parameters
    when called (and ``copy.deepcopy`` of a container copies it with the modules).
    """
    return tuple(group[0] if rule is None else functools.partial(rule.forward, group[0])
                 for group, rule in groups(modules))


layers.register_chain_planner(steps)
