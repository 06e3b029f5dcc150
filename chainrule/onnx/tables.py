"""A fitted TablePreprocessor as ONNX nodes: one named input per raw column.

- a table of numbers and booleans only is one input ``features`` (batch, n_columns) in
  the network's dtype; a table with string columns has one input per raw column, named
  as the column, (batch, 1) each;
- a numeric or boolean value (NaN where the cell is missing) becomes
  ``(where(isnan(x), median, x) - mean) / std``, then its missing indicator when the
  training rows had missing cells;
- a string column is a ``string`` input of shape (batch, 1): one-hot over the training
  categories through ``ai.onnx.ml.LabelEncoder`` (a category never seen in training
  gives zeros, as in chainrule); the cells chainrule reads as missing (``''``, ``'NA'``,
  ``'NaN'``, ...; :data:`chainrule.data.dialect.MISSING_VALUES`) go to the ``<missing>``
  column when there is one. Cells are compared as given: strip surrounding spaces first.

Arithmetic is in float64, as in :class:`chainrule.data.TablePreprocessor`, and the
result is cast to the network's dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.dialect import MISSING_VALUES
from .graph import GraphBuilder, OnnxExportError

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


def _numbers_matrix(g, x, cols):
    """All-numeric tables: the whole (batch, n) matrix at once, outputs in column order."""
    double = g.onnx.TensorProto.DOUBLE
    vec = lambda key: g.const(np.asarray([c[key] for c in cols], np.float64), key,  # noqa: E731
                              dtype=np.float64)
    x64 = g.op("Cast", [x], "features_f64", to=double)
    missing = g.op("IsNaN", [x64], "missing")
    filled = g.op("Where", [missing, vec("median"), x64], "filled")
    scaled = g.op("Div", [g.op("Sub", [filled, vec("mean")], "centred"), vec("std")], "scaled")
    if not any(c["indicator"] for c in cols):
        return scaled
    n = len(cols)
    both = g.op("Concat", [scaled, g.op("Cast", [missing], "indicators", to=double)],
                "with_indicators", axis=1)
    order = []
    for i, c in enumerate(cols):  # each column's value, then its indicator if it has one
        order += [i, n + i] if c["indicator"] else [i]
    return g.op("Gather", [both, g.const(np.asarray(order, np.int64), "order")], "table",
                axis=1)


def table_graph(g: GraphBuilder, state: dict[str, Any], input_name: str = "features"
                ) -> tuple[list[tuple[str, np.ndarray]], str]:
    """Add the preprocessing of ``state`` (``TablePreprocessor.state_dict()``) to ``g``.

    A table of numbers and booleans only takes one input ``input_name`` of shape
    (batch, n_columns) in ``g.dtype`` (NaN where missing); a table with string columns
    takes one input per raw column, named as the column: ``g.dtype`` (batch, 1) for
    numbers and booleans, ``string`` (batch, 1) for strings.

    Returns
    -------
    inputs : list of (name, example array)
        The graph inputs, in the training column order.
    features : str
        The value holding the encoded rows, (batch, n_features_out), in ``g.dtype``.
    """
    if not isinstance(state, dict) or "columns" not in state:
        raise OnnxExportError("ONNX export: the table preprocessing state has no 'columns'")
    cols = state["columns"]
    for spec in cols:
        if spec["kind"] not in NUMERIC_KINDS + ("categorical",):
            raise OnnxExportError(f"ONNX export: column {spec['name']!r} has kind "
                                  f"{spec['kind']!r}, which has no ONNX mapping")
    if all(spec["kind"] in NUMERIC_KINDS for spec in cols):
        g.reserve(input_name)
        inputs = [(input_name, np.zeros((2, len(cols)), g.dtype))]
        joined = _numbers_matrix(g, input_name, cols)
    else:
        g.opset_imports[ML_DOMAIN] = ML_OPSET
        inputs, blocks = [], []
        for spec in cols:
            name = spec["name"]
            if name in g._taken:
                raise OnnxExportError(f"ONNX export: the column name {name!r} is also an "
                                      f"output name of the graph; rename the column")
            g.reserve(name)
            g._path.append(name)
            try:
                if spec["kind"] in NUMERIC_KINDS:
                    inputs.append((name, np.zeros((2, 1), g.dtype)))
                    x = g.op("Cast", [name], "f64", to=g.onnx.TensorProto.DOUBLE)
                    blocks += _number(g, x, spec)
                else:
                    inputs.append((name, np.asarray([["a"], ["b"]], dtype=object)))
                    blocks += _one_hot(g, name, spec)
            finally:
                g._path.pop()
        joined = g.op("Concat", blocks, "table", axis=1) if len(blocks) > 1 else blocks[0]
    out = g.op("Cast", [joined], "table_features",
               to=g.helper.np_dtype_to_tensor_dtype(g.dtype))
    n_out = len(state.get("feature_names_out") or [])
    g.examples[out] = np.zeros((2, n_out), dtype=g.dtype)
    return inputs, out
