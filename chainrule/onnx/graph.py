"""GraphBuilder: the nodes, constants and names of one ONNX graph under construction.

Emitters (see :mod:`chainrule.onnx.layers`) add nodes through :meth:`GraphBuilder.op`
and constants through :meth:`GraphBuilder.const`; :meth:`GraphBuilder.emit` walks the
module tree, carrying an example value through each module so that an emitter can
read the rank and shape of its input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import ChainruleError

if TYPE_CHECKING:
    from onnx import ModelProto, ValueInfoProto

    from ..nn.module import Module

#: Opsets an export may target: 13 (Softmax over one axis, Squeeze axes as input) up to
#: the newest the installed ``onnx`` knows.
MIN_OPSET = 13
DEFAULT_OPSET = 17

#: ``fn(g, module, x) -> output name``: adds the nodes of ``module`` applied to value ``x``
Emitter: TypeAlias = "Callable[[GraphBuilder, Module, str], str]"
#: module class -> its emitter
EMITTERS: dict[type, Emitter] = {}


class OnnxExportError(ChainruleError):
    """A model or argument that cannot be exported to ONNX (names the module or argument)."""


def register(cls: type) -> Callable[[Emitter], Emitter]:
    """Decorator: ``fn(g, module, x) -> str`` emits the ONNX nodes of modules of class ``cls``.

    Parameters
    ----------
    cls : type
        A :class:`chainrule.nn.Module` subclass (matched exactly, not its subclasses:
        a subclass may compute something else).

    Examples
    --------
    >>> class MyScale(cr.nn.Module):
    ...     def __init__(self, factor):
    ...         super().__init__()
    ...         self.factor = factor
    ...     def forward(self, x):
    ...         return x * self.factor
    >>> @register(MyScale)
    ... def _scale(g, m, x):
    ...     return g.op("Mul", [x, g.const(np.asarray(m.factor), "factor")], "scale")
    """
    def deco(fn: Emitter) -> Emitter:
        EMITTERS[cls] = fn
        return fn
    return deco


def onnx_module() -> ModuleType:
    """Import the ``onnx`` package, or raise ImportError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install "
                          "'chainrule[onnx]'") from None
    return onnx


class GraphBuilder:
    """Nodes and initializers of an ONNX graph in one floating dtype.

    Parameters
    ----------
    opset : int
        The ONNX opset the nodes must be valid in (emitters read ``g.opset``).
    dtype : numpy dtype
        float32 or float64: every floating constant is stored in it.
    """

    def __init__(self, opset: int, dtype: npt.DTypeLike = np.float32) -> None:
        self.onnx = onnx_module()
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.opset = int(opset)
        self.dtype = np.dtype(dtype)
        self.nodes: list[Any] = []  # NodeProto
        self.initializers: list[Any] = []  # TensorProto
        self.examples: dict[str, np.ndarray] = {}
        self.opset_imports: dict[str, int] = {}  # other domains (e.g. ai.onnx.ml) in use
        self._taken: set[str] = set()
        self._path: list[str] = []

    # ------------------------------------------------------------------ names
    def fresh(self, base: str) -> str:
        """A name not used yet in this graph, built from the current module path and ``base``."""
        stem = ".".join(self._path + [base]) if self._path else base
        name, i = stem, 1
        while name in self._taken:
            name, i = f"{stem}_{i}", i + 1
        self._taken.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claim ``name`` exactly (graph inputs and outputs); error if it is taken."""
        if name in self._taken:
            raise OnnxExportError(f"ONNX export: the name {name!r} is used twice")
        self._taken.add(name)
        return name

    # ------------------------------------------------------------------ building
    def const(self, array: npt.ArrayLike, base: str, dtype: npt.DTypeLike | None = None) -> str:
        """Add a constant (initializer) and return its name.

        Floating arrays are stored in the graph's dtype unless ``dtype`` says otherwise.
        """
        arr = np.asarray(array)
        if dtype is not None:
            arr = arr.astype(dtype)
        elif arr.dtype.kind == "f":
            arr = arr.astype(self.dtype)
        if arr.dtype.kind in "UO":
            tensor = self.helper.make_tensor(
                "", self.onnx.TensorProto.STRING, arr.shape,
                [str(s).encode("utf-8") for s in arr.reshape(-1)])  # type: ignore[misc]
            # (onnx's hints omit the bytes of a STRING tensor)
        else:
            tensor = self.numpy_helper.from_array(np.ascontiguousarray(arr))
        tensor.name = self.fresh(base)
        self.initializers.append(tensor)
        return tensor.name

    def op(self, op_type: str, inputs: Iterable[str | None], base: str | None = None,
           n_out: int = 1, **attrs: Any) -> Any:
        """Add a node; returns its output name (a list of names when ``n_out > 1``).

        ``None`` in ``inputs`` is an omitted optional input (written as ``''``); a
        ``domain=`` keyword names the operator set (``'ai.onnx.ml'``).
        """
        base = base or op_type
        inputs = list(inputs)
        while inputs and inputs[-1] is None:
            # NOTE: trailing optional inputs are left out, not written as '': onnxruntime
            # 1.32 crashes on LayerNormalization(x, scale, '').
            inputs.pop()
        outs = [self.fresh(base if n_out == 1 else f"{base}_{i}") for i in range(n_out)]
        node = self.helper.make_node(op_type, ["" if i is None else i for i in inputs], outs,
                                     name=self.fresh(f"{base}_node"), **attrs)
        self.nodes.append(node)
        return outs[0] if n_out == 1 else outs

    def scalar(self, value: float, base: str = "c") -> str:
        """A 0-d floating constant in the graph's dtype."""
        return self.const(np.asarray(value, dtype=self.dtype), base)

    # ------------------------------------------------------------------ the module tree
    def example(self, name: str) -> np.ndarray:
        """The example value that flows through ``name`` (known at module boundaries)."""
        return self.examples[name]

    def emit(self, module: Module, x: str, path: str = "") -> str:
        """Emit ``module`` applied to the value named ``x``; returns the output's name.

        ``path`` is the module's attribute name in its parent ('' for the root): names
        of constants and nodes are prefixed with the dotted path, as in ``state_dict``.

        The example value of ``x`` is passed through ``module`` (evaluation mode, no
        graph) so that the output's example is known to the next emitter.
        """
        from ..tensor import Tensor, no_grad

        fn = EMITTERS.get(type(module))
        if fn is None:
            where = ".".join(self._path + [path]) if path else ".".join(self._path)
            where = f" (at {where!r})" if where else ""
            raise OnnxExportError(
                f"ONNX export: no ONNX mapping for module {type(module).__name__}{where}; "
                f"supported: {', '.join(sorted(c.__name__ for c in EMITTERS))} "
                f"(add one with chainrule.onnx.register)")
        if path:
            self._path.append(path)
        try:
            out = fn(self, module, x)
        finally:
            if path:
                self._path.pop()
        if out not in self.examples:
            with no_grad():
                y = module(Tensor(self.examples[x]))
            self.examples[out] = np.asarray(y.data if isinstance(y, Tensor) else y)
        return out

    def child(self, module: Module, name: str, x: str) -> str:
        """Emit the child ``module`` (attribute ``name`` of the current one) on ``x``."""
        return self.emit(module, x, name)

    def rename(self, old: str, new: str) -> None:
        """Rename the value ``old`` (a node output) to ``new`` everywhere."""
        for node in self.nodes:
            for seq in (node.input, node.output):
                for i, n in enumerate(seq):
                    if n == old:
                        seq[i] = new
        if old in self.examples:
            self.examples[new] = self.examples[old]

    def produced(self, name: str) -> bool:
        """Whether ``name`` is the output of a node (not a graph input or constant)."""
        return any(name in node.output for node in self.nodes)

    # ------------------------------------------------------------------ the model
    def value_info(self, name: str, array: npt.ArrayLike, batch: str | None) -> ValueInfoProto:
        """A typed value description from an example array.

        Axis 0 is named ``batch`` if given; ``batch='?'`` leaves every axis unnamed.
        """
        arr = np.asarray(array)
        if arr.dtype.kind in "UO":
            elem = self.onnx.TensorProto.STRING
        else:
            elem = self.helper.np_dtype_to_tensor_dtype(arr.dtype)
        shape = list(arr.shape)
        if batch == "?":  # nothing known but the rank
            shape = [None] * arr.ndim
        elif batch is not None and shape:
            shape[0] = batch
        return self.helper.make_tensor_value_info(name, elem, shape)

    def model(self, inputs: Sequence[ValueInfoProto], outputs: Sequence[ValueInfoProto],
              doc: str = "", metadata: Mapping[str, object] | None = None) -> ModelProto:
        """The checked ModelProto of this graph.

        Parameters
        ----------
        inputs, outputs : list of ValueInfoProto
            From :meth:`value_info`; outputs must name values the nodes produce.
        doc : str
            The graph's doc string.
        metadata : dict of str to str, optional
            Stored as the model's ``metadata_props``.
        """
        from .._version import __version__

        onnx, helper = self.onnx, self.helper
        graph = helper.make_graph(self.nodes, "chainrule", inputs, outputs,
                                  initializer=self.initializers, doc_string=doc)
        model = helper.make_model_gen_version(
            graph, opset_imports=[helper.make_opsetid("", self.opset)]
            + [helper.make_opsetid(d, v) for d, v in self.opset_imports.items()],
            producer_name="chainrule", producer_version=__version__)
        for k, v in (metadata or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = str(k), str(v)
        try:
            onnx.checker.check_model(model, full_check=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
            raise OnnxExportError(f"ONNX export: the graph fails onnx.checker: "
                                  f"{str(e).splitlines()[0]}") from e
        return model
