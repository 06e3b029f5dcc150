"""Computation graphs you can see: Graphviz DOT text, rendered where Graphviz is installed.

:func:`graph` captures the graph that produced a tensor: every op (its name, the
shape and dtype of its result) and every leaf (inputs and parameters, with their
gradients once ``backward()`` has run). The DOT text needs nothing but chainrule;
:meth:`Graph.render` draws it to SVG or PNG when the ``graphviz`` Python package and
Graphviz's ``dot`` program are installed, and :meth:`Graph.text` is a readable tree
for a terminal.

``backward()`` frees the graph it walks, so capture it first (or pass
``retain_graph=True``): the captured graph keeps its structure and reads the
leaves' ``.grad`` whenever it is drawn.

Examples
--------
>>> import numpy as np
>>> import chainrule as cr
>>> w = cr.tensor(np.array([2.0, -1.0]), requires_grad=True)
>>> x = cr.tensor(np.array([1.0, 3.0]))
>>> loss = (w * x).sum()
>>> g = cr.viz.graph(loss, params={"w": w})
>>> loss.backward()
>>> print(g.text())
sum  () float64
└─ mul  (2,) float64
   ├─ w  (2,) float64  grad [1. 3.]
   └─ input  (2,) float64
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._types import StrPath
from .autograd import graph_inputs, op_name
from .tensor import Tensor

__all__ = ["Graph", "graph", "can_render"]

_FORMATS = ("svg", "png", "pdf")


def can_render() -> bool:
    """Whether :meth:`Graph.render` can draw images here.

    True when the ``graphviz`` Python package imports and Graphviz's ``dot``
    program is on the ``PATH``.
    """
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def _summary(a: Any, limit: int = 4) -> str:
    a = a.get() if not isinstance(a, np.ndarray) and hasattr(a, "get") else np.asarray(a)
    if a.size <= limit:
        return np.array2string(a.reshape(-1) if a.ndim > 1 else a, precision=4,
                               suppress_small=True, separator=" ")
    return f"{a.shape} |g| = {float(np.linalg.norm(a.astype(np.float64))):.4g}"


def _dot_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Graph:
    """The captured computation graph of a tensor; build it with :func:`graph`.

    Attributes
    ----------
    nodes : list of dict
        One entry per tensor, the root first: ``id`` (int), ``op`` (the op name, or
        ``None`` for a leaf), ``name`` (the parameter name given to :func:`graph`,
        ``"input"`` for a leaf that needs no gradient, ``"leaf"`` otherwise),
        ``shape``, ``dtype`` and ``tensor`` (the tensor itself).
    edges : list of tuple of int
        ``(input_id, output_id)``: the tensor ``input_id`` feeds the op that computed
        ``output_id``.
    """

    def __init__(self, root: Tensor,
                 params: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None
                 ) -> None:
        if not isinstance(root, Tensor):
            raise TypeError(f"viz.graph: expected a Tensor, got {type(root).__name__}")
        if params is None:
            names: dict[int, str] = {}
        else:
            items = params.items() if hasattr(params, "items") else params
            names = {id(t): name for name, t in items}
        self.nodes: list[dict[str, Any]] = []
        self.edges: list[tuple[int, int]] = []
        self.freed = op_name(root) == "<freed>"
        index: dict[int, int] = {}

        def visit(t):
            key = id(t)
            if key not in index:
                index[key] = len(self.nodes)
                op = op_name(t)
                if op is None:
                    name = names.get(key, "leaf" if t.requires_grad else "input")
                else:
                    name = names.get(key)
                self.nodes.append({"id": index[key], "op": op, "name": name,
                                   "shape": tuple(t.shape), "dtype": str(t.dtype),
                                   "tensor": t})
                return index[key], True
            return index[key], False

        visit(root)
        stack = [root]
        while stack:  # iterative: a chain of any length needs no recursion
            t = stack.pop()
            for parent in graph_inputs(t):
                if parent is None:
                    continue
                pid, new = visit(parent)
                self.edges.append((pid, index[id(t)]))
                if new:
                    stack.append(parent)

    # ------------------------------------------------------------------ labels
    def _label(self, node: dict[str, Any]) -> str:
        shape = f"{node['shape']} {node['dtype']}"
        if node["op"] is None:
            grad = node["tensor"].grad
            text = f"{node['name']}\n{shape}"
            if node["tensor"].requires_grad:
                text += "\ngrad " + ("None" if grad is None else _summary(grad))
            return text
        if node["op"] == "<freed>":
            return (f"{shape}\ngraph freed by backward(): call viz.graph() before "
                    f"backward(), or backward(retain_graph=True)")
        head = node["op"] if node["name"] is None else f"{node['name']} = {node['op']}"
        return f"{head}\n{shape}"

    def to_dot(self) -> str:
        """The graph as Graphviz DOT text; arrows run from inputs to results.

        Returns
        -------
        str
            ``digraph`` source: ops are boxes, leaves that need a gradient blue
            (with ``grad`` once computed), other leaves grey, the root outlined twice.
        """
        lines = ["digraph chainrule {", '  rankdir="BT";',
                 '  node [shape=box, style="rounded,filled", fillcolor="white", '
                 'fontname="monospace", fontsize=10];']
        for node in self.nodes:
            attrs = [f'label="{_dot_escape(self._label(node))}"']
            if node["op"] is None:
                colour = "lightblue" if node["tensor"].requires_grad else "lightgrey"
                attrs.append(f'fillcolor="{colour}"')
            if node["id"] == 0:
                attrs.append("peripheries=2")
            lines.append(f"  n{node['id']} [{', '.join(attrs)}];")
        for a, b in self.edges:
            lines.append(f"  n{a} -> n{b};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def text(self) -> str:
        """A readable tree: the root first, each node above the inputs it was computed from.

        A node used more than once is written out once and then referred to as
        ``(#k, above)``.
        """
        inputs: dict[int, list[int]] = {n["id"]: [] for n in self.nodes}
        for a, b in self.edges:
            inputs[b].append(a)
        lines, shown = [], set()
        stack = [(0, "", "")]  # (node id, prefix of this line, prefix of the lines below)
        refs = Counter(a for a, _ in self.edges)  # how many ops use each node
        while stack:
            nid, lead, below = stack.pop()
            node = self.nodes[nid]
            tag = f" #{nid}" if refs[nid] > 1 else ""
            if nid in shown:
                lines.append(f"{lead}(#{nid}, above)")
                continue
            shown.add(nid)
            shape = f"{node['shape']} {node['dtype']}"
            if node["op"] is None:
                line = f"{node['name']}{tag}  {shape}"
                if node["tensor"].requires_grad:
                    grad = node["tensor"].grad
                    line += "  grad " + ("None" if grad is None else _summary(grad))
            elif node["op"] == "<freed>":
                line = self._label(node).replace("\n", "  ")
            else:
                head = node["op"] if node["name"] is None else f"{node['name']} = {node['op']}"
                line = f"{head}{tag}  {shape}"
            lines.append(lead + line)
            kids = inputs[nid]
            for i in reversed(range(len(kids))):
                last = i == len(kids) - 1
                stack.append((kids[i], below + ("└─ " if last else "├─ "),
                              below + ("   " if last else "│  ")))
        return "\n".join(lines)

    __str__ = text

    def __repr__(self) -> str:
        ops = sum(1 for n in self.nodes if n["op"] is not None)
        return f"<viz.Graph: {ops} ops, {len(self.nodes) - ops} leaves>"

    def _repr_svg_(self):  # drawn inline by Jupyter when Graphviz is installed
        if not can_render():
            return None
        import graphviz

        return graphviz.Source(self.to_dot()).pipe(format="svg").decode("utf-8")

    def render(self, path: StrPath, format: str | None = None) -> Path:
        """Draw the graph to ``path`` (SVG, PNG or PDF); DOT text where Graphviz is missing.

        Parameters
        ----------
        path : str or PathLike
            Where to write; the format is taken from its suffix unless ``format`` is
            given. ``.dot`` or ``.gv`` writes the DOT text.
        format : {'svg', 'png', 'pdf', 'dot'}, optional

        Returns
        -------
        pathlib.Path
            The file written: ``path``, or ``path`` with the suffix ``.dot`` when
            Graphviz (the ``graphviz`` package and the ``dot`` program) is not
            installed, which is also said in a warning.
        """
        from .io.atomic import atomic_write

        path = Path(os.fspath(path))
        fmt = (format or path.suffix.lstrip(".") or "svg").lower()
        if fmt in ("dot", "gv"):
            atomic_write(path, self.to_dot())
            return path
        if fmt not in _FORMATS:
            raise ValueError(f"viz.render: format must be one of {_FORMATS + ('dot',)}, "
                             f"got {fmt!r} (from {path})")
        if not can_render():
            fallback = path.with_suffix(".dot")
            atomic_write(fallback, self.to_dot())
            warnings.warn(f"viz.render: Graphviz is not installed (pip install graphviz, and "
                          f"the 'dot' program); wrote the DOT text to {fallback} instead",
                          stacklevel=2)
            return fallback
        import graphviz

        atomic_write(path, graphviz.Source(self.to_dot()).pipe(format=fmt))
        return path


def graph(tensor: Tensor,
          params: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None) -> Graph:
    """Capture the computation graph that produced ``tensor``.

    Parameters
    ----------
    tensor : Tensor
        Usually a loss. Capture it before ``loss.backward()`` (which frees the
        graph), or call ``backward(retain_graph=True)``.
    params : dict or iterable of (str, Tensor), optional
        Names for leaves, e.g. ``model.named_parameters()``.

    Returns
    -------
    Graph
        ``.to_dot()`` (Graphviz text), ``.render(path)`` (SVG/PNG), ``.text()``
        (a tree for the terminal, also ``str(g)``). Leaves show their ``.grad``
        as it is when the graph is drawn.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> model = nn.Linear(3, 1)
    >>> loss = model(cr.ones((4, 3))).mean()
    >>> g = cr.viz.graph(loss, params=model.named_parameters())
    >>> loss.backward()
    >>> print(g.to_dot().splitlines()[0])
    digraph chainrule {
    >>> [n["op"] or n["name"] for n in g.nodes]
    ['mean', 'linear', 'input', 'weight', 'bias']
    """
    return Graph(tensor, params)
