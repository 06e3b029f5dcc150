"""export(): a module tree to an ONNX file."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .._types import StrPath
from ..io.atomic import atomic_write
from ..tensor import Tensor
from .graph import DEFAULT_OPSET, MIN_OPSET, GraphBuilder, OnnxExportError, onnx_module

if TYPE_CHECKING:
    from onnx import ModelProto

    from ..nn.module import Module


def check_opset(opset: int) -> int:
    """``opset`` as an int, or OnnxExportError naming the range the installed onnx allows."""
    onnx = onnx_module()
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= newest:
        raise OnnxExportError(f"ONNX export: opset must be an integer from {MIN_OPSET} to "
                              f"{newest} (the newest this onnx {onnx.__version__} knows), "
                              f"got {opset!r}")
    return int(opset)


def example_array(example_input: Tensor | npt.ArrayLike) -> np.ndarray:
    """The example input as a float32 or float64 array with a batch axis."""
    x = example_input.data if isinstance(example_input, Tensor) else np.asarray(example_input)
    if x.dtype.kind in "biu":
        x = x.astype(np.float32)
    if x.dtype not in (np.float32, np.float64):
        raise OnnxExportError(f"ONNX export: example_input must be float32 or float64, got "
                              f"dtype {x.dtype}")
    if x.ndim < 1 or x.shape[0] < 1:
        raise OnnxExportError(f"ONNX export: example_input must have a batch axis with at "
                              f"least one row, got shape {x.shape}")
    return x


def _names(value: str | Sequence[str], what: str, n: int = 1) -> list[str]:
    names = [value] if isinstance(value, str) else list(value)
    if len(names) != n or not all(isinstance(s, str) and s for s in names):
        raise OnnxExportError(f"ONNX export: {what} must be {n} non-empty string(s), "
                              f"got {value!r}")
    return names


def build_model_graph(g: GraphBuilder, model: Module, x: str) -> str:
    """Emit ``model`` (in evaluation mode) on the value ``x``; returns the output's name."""
    # NOTE: Module sets ``training`` through object.__setattr__, unseen by the checker
    # until nn/module.py declares it (the final pass); warn_unused_ignores then says so.
    was_training = model.training  # type: ignore[attr-defined]
    model.eval()
    try:
        return g.emit(model, x)
    finally:
        model.train(was_training)


def finish_output(g: GraphBuilder, value: str, name: str) -> str:
    """Make the value ``value`` available under the graph output name ``name``.

    ``name`` must have been reserved (``g.reserve``) before the graph was built, so that
    no other value took it.
    """
    if g.produced(value):
        g.rename(value, name)
    else:  # the graph input or a constant: an output needs a node of its own
        g.nodes.append(g.helper.make_node("Identity", [value], [name], name=f"{name}_identity"))
        g.examples[name] = g.examples[value]
    return name


def signature(model_proto: ModelProto) -> str:
    """``'features[batch,4] -> label[batch], probabilities[batch,3]'``: a model's inputs and
    outputs with their shapes."""
    def one(v):
        dims = [d.dim_param or str(d.dim_value) for d in v.type.tensor_type.shape.dim]
        return f"{v.name}[{','.join(dims)}]"
    g = model_proto.graph
    return (", ".join(one(v) for v in g.input) + " -> "
            + ", ".join(one(v) for v in g.output))


def save_model(model_proto: ModelProto, path: StrPath) -> None:
    """Write a ModelProto to ``path`` atomically (a reader sees the old file or the new one)."""
    atomic_write(os.fspath(path), model_proto.SerializeToString())


def export(model: Module, path: StrPath, example_input: Tensor | npt.ArrayLike, *,
           opset: int = DEFAULT_OPSET, dynamic_batch: bool = True,
           input_names: str | Sequence[str] = ("input",),
           output_names: str | Sequence[str] = ("output",), doc_string: str = "",
           metadata: Mapping[str, object] | None = None) -> ModelProto:
    """Export a chainrule model to an ONNX file, as it computes in evaluation mode.

    Parameters
    ----------
    model : chainrule.nn.Module
        Built from layers with an ONNX mapping (every layer of chainrule.nn;
        :func:`chainrule.onnx.supported` lists them). Dropout disappears,
        BatchNorm1d uses its running statistics.
    path : str or os.PathLike
        The ``.onnx`` file, written atomically.
    example_input : ndarray or Tensor of shape (batch, ...)
        A sample input: fixes the feature shape and the dtype (float32 or float64).
    opset : int, default 17
        The ONNX opset (13 up to the newest the installed onnx knows).
    dynamic_batch : bool, default True
        Name axis 0 ``batch`` so the file accepts any number of rows; False fixes it
        to the example's.
    input_names, output_names : sequence of one str
        Names of the graph's input and output.
    doc_string : str
        Stored in the graph.
    metadata : dict, optional
        Stored as the model's ``metadata_props`` (strings).

    Returns
    -------
    onnx.ModelProto
        The model that was written (already checked with ``onnx.checker``).

    Raises
    ------
    OnnxExportError
        For a module without an ONNX mapping (named, with its place in the tree), a
        bad opset or example.

    Examples
    --------
    >>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 2))
    >>> proto = cr.onnx.export(model, "model.onnx", np.zeros((1, 4), np.float32))
    >>> import onnxruntime as ort
    >>> X = np.ones((3, 4), np.float32)
    >>> out = ort.InferenceSession("model.onnx").run(None, {"input": X})[0]
    >>> np.allclose(out, model(X).numpy(), atol=1e-5)
    True
    """
    opset = check_opset(opset)
    x = example_array(example_input)
    (in_name,) = _names(input_names, "input_names")
    (out_name,) = _names(output_names, "output_names")
    g = GraphBuilder(opset, x.dtype)
    g.reserve(in_name)
    g.reserve(out_name)
    g.examples[in_name] = x
    y = build_model_graph(g, model, in_name)
    out = finish_output(g, y, out_name)
    batch = "batch" if dynamic_batch else None
    y_example = g.examples[out]
    out_batch = batch
    if dynamic_batch and not (y_example.ndim and y_example.shape[0] == x.shape[0]):
        out_batch = "?"  # the batch axis did not survive (e.g. Flatten(start_dim=0))
    proto = g.model([g.value_info(in_name, x, batch)],
                    [g.value_info(out_name, y_example, out_batch)],
                    doc=doc_string or f"chainrule {type(model).__name__}", metadata=metadata)
    save_model(proto, path)
    return proto
