"""A fitted TablePreprocessor as ONNX nodes: one named input per raw column.

- a numeric or boolean column is a ``double`` input of shape (batch, 1), NaN where the
  cell is missing: ``(where(isnan(x), median, x) - mean) / std``, then its missing
  indicator when the training rows had missing cells;
- a string column is a ``string`` input of shape (batch, 1): one-hot over the training
  categories through ``ai.onnx.ml.LabelEncoder`` (a category never seen in training
  gives zeros, as in chainrule); the cells chainrule reads as missing (``''``, ``'NA'``,
  ``'NaN'``, ...; :data:`chainrule.data.dialect.MISSING_VALUES`) go to the ``<missing>``
  column when there is one. Cells are compared as given: strip surrounding spaces first.

Arithmetic is in float64, as in :class:`chainrule.data.TablePreprocessor`, and the
result is cast to the network's dtype.
"""

from __future__ import annotations

import numpy as np

from ..data.dialect import MISSING_VALUES
from .graph import OnnxExportError

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 2  # LabelEncoder with keys_strings / values_int64s / default_int64

NUMERIC_KINDS = ("numeric", "bool")


def _number(g, x, spec):
    missing = g.op("IsNaN", [x], "missing")
    filled = g.op("Where", [missing, g.const(np.float64(spec["median"]), "median",
                                             dtype=np.float64), x], "filled")
    centred = g.op("Sub", [filled, g.const(np.float64(spec["mean"]), "mean",
                                           dtype=np.float64)], "centred")
    blocks = [g.op("Div", [centred, g.const(np.float64(spec["std"]), "std",
                                            dtype=np.float64)], "scaled")]
    if spec["indicator"]:
        blocks.append(g.op("Cast", [missing], "indicator", to=g.onnx.TensorProto.DOUBLE))
    return blocks


def _one_hot(g, x, spec):
    cats = [str(c) for c in spec["categories"]]
    width = len(cats) + bool(spec["missing_category"])
    tokens = [t for t in MISSING_VALUES if t not in cats]
    missing_code = len(cats) if spec["missing_category"] else -1
    code = g.op("LabelEncoder", [x], "code", domain=ML_DOMAIN, keys_strings=cats + tokens,
                values_int64s=list(range(len(cats))) + [missing_code] * len(tokens),
                default_int64=-1)
    hit = g.op("Equal", [code, g.const(np.arange(width, dtype=np.int64), "columns")], "hit")
    return [g.op("Cast", [hit], "one_hot", to=g.onnx.TensorProto.DOUBLE)]


def table_graph(g, state: dict):
    """Add the preprocessing of ``state`` (``TablePreprocessor.state_dict()``) to ``g``.

    Returns
    -------
    inputs : list of (name, example array)
        One per raw column, in the training order.
    features : str
        The value holding the encoded rows, (batch, n_features_out), in ``g.dtype``.
    """
    if not isinstance(state, dict) or "columns" not in state:
        raise OnnxExportError("ONNX export: the table preprocessing state has no 'columns'")
    g.opset_imports[ML_DOMAIN] = ML_OPSET
    inputs, blocks = [], []
    for spec in state["columns"]:
        name = spec["name"]
        if name in g._taken:
            raise OnnxExportError(f"ONNX export: the column name {name!r} is also an output "
                                  f"name of the graph; rename the column")
        g.reserve(name)
        g._path.append(name)
        try:
            if spec["kind"] in NUMERIC_KINDS:
                inputs.append((name, np.zeros((2, 1), np.float64)))
                blocks += _number(g, name, spec)
            elif spec["kind"] == "categorical":
                inputs.append((name, np.asarray([["a"], ["b"]], dtype=object)))
                blocks += _one_hot(g, name, spec)
            else:
                raise OnnxExportError(f"ONNX export: column {name!r} has kind "
                                      f"{spec['kind']!r}, which has no ONNX mapping")
        finally:
            g._path.pop()
    joined = g.op("Concat", blocks, "table", axis=1) if len(blocks) > 1 else blocks[0]
    out = g.op("Cast", [joined], "table_features",
               to=g.helper.np_dtype_to_tensor_dtype(g.dtype))
    n_out = len(state.get("feature_names_out") or [])
    g.examples[out] = np.zeros((2, n_out), dtype=g.dtype)
    return inputs, out
