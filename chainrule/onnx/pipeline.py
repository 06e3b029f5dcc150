"""A whole predictor in one ONNX graph: raw feature rows -> scaling -> network -> head.

Classification graphs output ``label`` (the class labels, strings or numbers, by a
Gather over a constant of the labels) and ``probabilities`` (batch, n_classes);
regression graphs output ``prediction`` in the target's original units.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._types import StrPath
from .export import (
    build_model_graph,
    check_opset,
    finish_output,
    save_model,
)
from .graph import DEFAULT_OPSET, GraphBuilder, OnnxExportError

if TYPE_CHECKING:
    from onnx import ModelProto

    from ..nn.module import Module

HEADS = ("softmax", "ovr", "binary", "regression")


def _labels(classes, n_classes):
    """Class labels as an array ONNX can hold (int64, float, or strings)."""
    if classes is None:
        return np.arange(n_classes, dtype=np.int64)
    arr = np.asarray(list(classes))
    if len(arr) != n_classes:
        raise OnnxExportError(f"ONNX export: {len(arr)} class labels for a head with "
                              f"{n_classes} classes")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind in "fb":
        return arr
    return np.asarray([str(c) for c in arr.tolist()], dtype=object)


def _scale_inputs(g, x, mean, scale):
    # NOTE: (x - mean) / scale in float64, then cast: the same arithmetic as chainrule's
    # StandardScaler (float64 statistics), so large raw values lose no digits.
    onnx = g.onnx
    x64 = g.op("Cast", [x], "features_f64", to=onnx.TensorProto.DOUBLE)
    centred = g.op("Sub", [x64, g.const(np.asarray(mean, np.float64), "scaler.mean",
                                         dtype=np.float64)], "centred")
    scaled = g.op("Div", [centred, g.const(np.asarray(scale, np.float64), "scaler.scale",
                                            dtype=np.float64)], "scaled")
    return g.op("Cast", [scaled], "scaled_features",
                to=g.helper.np_dtype_to_tensor_dtype(g.dtype))


def _head_outputs(g, head_name, z, labels, target_scaler, n_outputs):
    """Nodes after the network's output ``z``; returns {output name: value name}."""
    if head_name == "regression":
        y = z
        if target_scaler is not None:
            mean, scale = target_scaler
            y = g.op("Add", [g.op("Mul", [y, g.const(np.asarray(scale), "target.scale")],
                                  "unscaled"), g.const(np.asarray(mean), "target.mean")],
                     "prediction_units")
        if n_outputs == 1:
            y = g.op("Reshape", [y, g.const(np.asarray([-1], np.int64), "flat")], "prediction")
        return {"prediction": y}
    if head_name == "binary":
        p = g.op("Sigmoid", [z], "p")
        q = g.op("Sub", [g.scalar(1.0, "one"), p], "q")
        proba = g.op("Concat", [q, p], "probabilities", axis=1)
        flat = g.op("Reshape", [z, g.const(np.asarray([-1], np.int64), "flat")], "logit")
        positive = g.op("Greater", [flat, g.scalar(0.0, "zero")], "positive")
        index = g.op("Cast", [positive], "class_index", to=g.onnx.TensorProto.INT64)
    else:
        if head_name == "softmax":
            proba = g.op("Softmax", [z], "probabilities", axis=-1)
        else:  # ovr: independent sigmoids, normalised to sum to 1
            p = g.op("Sigmoid", [z], "p")
            axes = g.const(np.asarray([1], np.int64), "axes")
            total = g.op("ReduceSum", [p, axes], "total", keepdims=1)
            total = g.op("Max", [total, g.scalar(1e-12, "tiny")], "total_safe")
            proba = g.op("Div", [p, total], "probabilities")
        index = g.op("ArgMax", [z], "class_index", axis=1, keepdims=0)
    label = g.op("Gather", [g.const(labels, "classes"), index], "label", axis=0)
    return {"label": label, "probabilities": proba}


def export_pipeline(model: Module, path: StrPath, *, n_features: int | None = None, head: str,
                    n_outputs: int = 1, classes: Sequence[Any] | None = None,
                    scaler: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
                    target_scaler: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
                    table: dict[str, Any] | None = None, opset: int = DEFAULT_OPSET,
                    dtype: npt.DTypeLike = np.float32, input_name: str = "features",
                    metadata: Mapping[str, object] | None = None,
                    doc_string: str = "") -> ModelProto:
    """Export scaling + ``model`` + head as one ONNX graph from raw rows to predictions.

    Parameters
    ----------
    model : chainrule.nn.Module
        The network, mapping scaled rows (batch, n_features) to outputs.
    path : str or os.PathLike
        The ``.onnx`` file, written atomically.
    n_features : int, optional
        Width of a raw feature row (the ``features`` input); not used with ``table``.
    head : {'softmax', 'ovr', 'binary', 'regression'}
        How outputs become predictions (see :mod:`chainrule.train.heads`).
    n_outputs : int, default 1
        The network's output width (number of classes for softmax / ovr).
    classes : sequence, optional
        The label of each class index (strings or numbers); default ``0..k-1``.
    scaler : (mean, scale), optional
        Feature standardisation applied first: ``(x - mean) / scale``.
    target_scaler : (mean, scale), optional
        Regression outputs are mapped back by ``y * scale + mean``.
    table : dict, optional
        A fitted :class:`chainrule.data.TablePreprocessor`'s ``state_dict()``: the graph
        then takes one input per raw column, named as the column (see
        :mod:`chainrule.onnx.tables`), instead of ``features``.
    opset : int, default 17
    dtype : float32 or float64
        Type of the ``features`` input and of the outputs.
    input_name : str, default 'features'
    metadata : dict, optional
        Extra ``metadata_props`` (strings); JSON-encoded when not strings.
    doc_string : str

    Returns
    -------
    onnx.ModelProto
        Inputs: ``features`` (batch, n_features). Outputs: ``label`` (batch,) and
        ``probabilities`` (batch, n_classes) for classification, ``prediction``
        (batch,) or (batch, n_outputs) for regression.
    """
    if head not in HEADS:
        raise OnnxExportError(f"ONNX export: head must be one of {list(HEADS)}, got {head!r}")
    opset = check_opset(opset)
    g = GraphBuilder(opset, dtype)
    for name in ("prediction",) if head == "regression" else ("label", "probabilities"):
        g.reserve(name)
    if table is not None:
        from .tables import table_graph

        inputs, h = table_graph(g, table, input_name)
    else:
        if n_features is None:
            raise OnnxExportError("ONNX export: n_features is needed without a table state")
        x = np.zeros((2, int(n_features)), dtype=g.dtype)
        g.reserve(input_name)
        g.examples[input_name] = x
        inputs, h = [(input_name, x)], input_name
    if scaler is not None and table is None:
        mean, scale = (np.asarray(a, dtype=np.float64).reshape(-1) for a in scaler)
        if mean.shape != (n_features,) or scale.shape != (n_features,):
            raise OnnxExportError(f"ONNX export: scaler statistics of shape {mean.shape} / "
                                  f"{scale.shape} for {n_features} features")
        h = _scale_inputs(g, h, mean, scale)
        g.examples[h] = x
    z = build_model_graph(g, model, h)
    width = g.examples[z].shape[-1] if g.examples[z].ndim == 2 else None
    expected = 1 if head == "binary" else n_outputs
    if width != expected:
        raise OnnxExportError(f"ONNX export: the {head} head needs network outputs of shape "
                              f"(batch, {expected}), the model gives "
                              f"{g.examples[z].shape[1:]} per row")
    labels = None if head == "regression" else \
        _labels(classes, 2 if head == "binary" else n_outputs)
    outs = _head_outputs(g, head, z, labels, target_scaler, n_outputs)
    out_infos = []
    for name, value in outs.items():
        finish_output(g, value, name)
        if name == "label":
            assert labels is not None  # a classifier's
            example = labels[:2] if labels.dtype != object else np.asarray(["a", "b"])
        elif name == "prediction" and n_outputs == 1:
            example = np.zeros(2, dtype=g.dtype)
        else:
            columns = n_outputs
            if name == "probabilities":
                assert labels is not None  # a classifier's
                columns = len(labels)
            example = np.zeros((2, columns), dtype=g.dtype)
        out_infos.append(g.value_info(name, example, "batch"))
    props = {"head": head}
    if labels is not None:
        props["classes"] = json.dumps(labels.tolist())
    for k, v in (metadata or {}).items():
        props[k] = v if isinstance(v, str) else json.dumps(v)
    proto = g.model([g.value_info(n, example, "batch") for n, example in inputs], out_infos,
                    doc=doc_string or f"chainrule {head} predictor", metadata=props)
    save_model(proto, path)
    return proto


def export_run(run_dir: StrPath, path: StrPath, *, opset: int = DEFAULT_OPSET) -> ModelProto:
    """Export a run of ``chainrule train`` (its model file) as one predictor graph.

    Parameters
    ----------
    run_dir : str or os.PathLike
        A run directory, or its ``model.safetensors``.
    path : str or os.PathLike
        The ``.onnx`` file, written atomically.
    opset : int, default 17

    Returns
    -------
    onnx.ModelProto
        Input ``features`` (batch, n_features): raw rows, columns in the training
        file's order (``metadata_props['feature_names']``); or, for a run whose model
        file holds a table preprocessor's state, one input per raw column (see
        :mod:`chainrule.onnx.tables`). Outputs as :func:`export_pipeline`'s.
    """
    from ..io import load_with_metadata

    model, meta = load_with_metadata(run_dir)
    missing = [k for k in ("task", "head", "feature_names") if k not in meta]
    if missing:
        raise OnnxExportError(f"{run_dir}: the model file lacks {missing}; was it written by "
                              f"'chainrule train'?")
    head_cfg = meta["head"]
    names = list(meta["feature_names"])
    table = find_table_state(meta)
    scaler = meta.get("scaler") if table is None else None
    target = None
    if table is not None and meta["task"] == "regression" and table.get("scale_target") \
            and table.get("target_mean") is not None:
        target = (table["target_mean"], table["target_std"])
    dtype = next((p.data.dtype for p in model.parameters()), np.dtype(np.float32))
    return export_pipeline(
        model, path, n_features=len(names), head=head_cfg["head"],
        n_outputs=int(head_cfg["n_outputs"]), classes=meta.get("classes"),
        scaler=None if scaler is None else (scaler["mean"], scaler["scale"]),
        target_scaler=target, table=table, opset=opset, dtype=dtype,
        metadata={"feature_names": names, "target_name": meta.get("target_name") or "",
                  "task": meta["task"]},
        doc_string=f"chainrule run {run_dir}: raw feature rows to predictions")


def find_table_state(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The TablePreprocessor state stored in a model file's metadata, or None."""
    from ..data._tabular_state import FORMAT

    for value in meta.values():
        if isinstance(value, dict) and value.get("format") == FORMAT:
            return value
    return None
