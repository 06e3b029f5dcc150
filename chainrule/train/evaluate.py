"""Evaluation as plain functions: a model's outputs, predictions, loss and metrics on arrays.

The Trainer (validation at each epoch end), the CLI (``evaluate``, ``predict``,
the test split of ``train``) and the scikit-learn estimators (``predict``,
``predict_proba``, the early-stopping score) all call these, so the batched
forward pass in evaluation mode exists once. Everything runs under
:class:`~chainrule.no_grad` and returns NumPy arrays or Python floats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from ..autograd import no_grad
from ..device import module_device, to_device
from ..tensor import Tensor
from .metrics import compute_metrics

if TYPE_CHECKING:
    from ..data.dataset import ArrayDataset
    from ..data.loader import DataLoader
    from ..nn.module import Module

#: ``loss(output, target[, sample_weight=])`` -> a scalar Tensor (a chainrule.nn loss)
Loss = Callable[..., Tensor]


class Head(Protocol):
    """What evaluation needs of a head (:mod:`chainrule.train.heads`)."""

    task: str
    n_outputs: int

    def encode(self, y: Any) -> Any:
        """``y`` as the loss takes it."""

    def predict(self, out: np.ndarray) -> np.ndarray:
        """Predictions (class indices, targets) from the network's outputs."""

DEFAULT_BATCH = 4096

__all__ = ["predict_outputs", "predict", "loss_value", "evaluate", "as_arrays"]


def predict_outputs(model: Module, X: np.ndarray, batch_size: int = DEFAULT_BATCH,
                    n_outputs: int | None = None) -> np.ndarray:
    """The network's outputs for ``X``, in evaluation mode and without a graph.

    Parameters
    ----------
    model : Module
    X : ndarray of shape (n_samples, ...)
        Already in the model's dtype (no conversion is made here).
    batch_size : int, default 4096
        Rows per forward pass (bounds the memory of the activations).
    n_outputs : int, optional
        Width of the result when ``X`` has no rows.

    Returns
    -------
    ndarray of shape (n_samples, n_outputs)
        Host memory, whatever device the model is on (the rows are copied to it). The
        model's training mode is restored afterwards.
    """
    was_training = model.training  # type: ignore[attr-defined]  # see onnx/export.py
    dev = module_device(model)

    def forward(rows):  # on the model's device; the outputs come back to the host
        rows = np.asarray(rows)
        return model(Tensor(rows if dev.type == "cpu" else to_device(rows, dev))).numpy()

    model.eval()
    try:
        with no_grad():
            n = len(X)
            if n <= batch_size:
                if n:
                    return forward(X)
                return np.zeros((0, n_outputs or 0), dtype=np.float32)
            return np.concatenate([forward(X[i:i + batch_size])
                                   for i in range(0, n, batch_size)])
    finally:
        model.train(was_training)


def predict(model: Module, X: np.ndarray, head: Head | None = None,
            batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """Predictions for ``X``: the head's (class indices, targets), or the raw outputs.

    Parameters
    ----------
    model : Module
    X : ndarray of shape (n_samples, ...)
    head : Head, optional
        Maps outputs to predictions (:mod:`chainrule.train.heads`); without one
        the outputs are returned.
    batch_size : int, default 4096

    Returns
    -------
    ndarray
    """
    out = predict_outputs(model, X, batch_size, getattr(head, "n_outputs", None))
    return out if head is None else head.predict(out)


def loss_value(loss: Loss, out: np.ndarray, target: npt.ArrayLike,
               sample_weight: npt.ArrayLike | None = None) -> float:
    """``loss(out, target[, sample_weight])`` on arrays, as a float, without a graph."""
    with no_grad():
        t = Tensor(out)
        value = loss(t, target) if sample_weight is None else loss(t, target,
                                                                   sample_weight=sample_weight)
    return float(value.item())


def as_arrays(data: Sequence[Any] | ArrayDataset | DataLoader) -> tuple[Any, ...]:
    """``(X, y[, sample_weight])`` as arrays, from a tuple or an ArrayDataset (or its loader)."""
    if isinstance(data, (tuple, list)):
        if not 2 <= len(data) <= 3:
            raise ValueError(f"data must be a tuple (X, y[, sample_weight]), got {len(data)} "
                             f"arrays")
        return tuple(None if a is None else np.asarray(getattr(a, "data", a)) for a in data)
    ds = getattr(data, "dataset", data)
    if hasattr(ds, "arrays"):
        return tuple(ds.arrays)
    raise TypeError(f"data must be a tuple (X, y) or an ArrayDataset, got "
                    f"{type(data).__name__}")


def evaluate(model: Module, data: Sequence[Any] | ArrayDataset | DataLoader,
             head: Head | None = None, loss: Loss | None = None,
             metrics: Mapping[str, Callable[..., float]] | None = None, *, prefix: str = "",
             batch_size: int = DEFAULT_BATCH) -> dict[str, float]:
    """Loss and metrics of ``model`` on ``data``.

    Parameters
    ----------
    model : Module
    data : tuple (X, y[, sample_weight]) or ArrayDataset
        ``y`` as the head takes it (class indices, or targets).
    head : Head, optional
        Encodes ``y`` for the loss and turns outputs into predictions.
    loss : callable, optional
        ``loss(output, target[, sample_weight=])``; gives the ``loss`` entry.
    metrics : mapping of str to callable, optional
        ``{name: fn(y, outputs, sample_weight) -> float}``. Without it the head's
        task decides: :func:`~chainrule.train.metrics.compute_metrics` of the
        head's predictions.
    prefix : str, default ''
        Put before every key (``'val_'``).
    batch_size : int, default 4096

    Returns
    -------
    dict of str to float
    """
    X, y, *rest = as_arrays(data)
    w = rest[0] if rest else None
    out = predict_outputs(model, X, batch_size, getattr(head, "n_outputs", None))
    logs: dict[str, float] = {}
    if loss is not None:
        target = head.encode(y) if head is not None else y
        if getattr(target, "dtype", None) is not None and target.dtype.kind == "f":
            target = target.astype(out.dtype, copy=False)
        logs["loss"] = loss_value(loss, out, target, w)
    if metrics is not None:
        logs.update({name: float(fn(y, out, w)) for name, fn in metrics.items()})
    elif head is not None:
        if head.task == "classification":
            logs.update(compute_metrics("classification", y, head.predict(out)))
        else:
            logs.update(compute_metrics("regression", np.asarray(y).reshape(out.shape), out))
    return {prefix + k: float(v) for k, v in logs.items()}
