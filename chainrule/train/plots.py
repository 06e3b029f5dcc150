"""PNG plots of a training history and of a confusion matrix.

matplotlib is optional (``pip install "chainrule[plot]"``) and imported only when
a plot is drawn. The figures are drawn on matplotlib's Agg canvas directly,
without pyplot, so that plotting never changes the backend a user has chosen,
opens no window and keeps no global figure alive. Each file is written
atomically: a failure leaves no file (or the previous one) behind.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._types import StrPath
from ..io.atomic import atomic_write

if TYPE_CHECKING:
    from .history import History

__all__ = ["plot_history", "plot_confusion_matrix"]

_LR_KEYS = ("lr", "learning_rate")
_DPI = 100


def _new_figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError('plotting needs matplotlib: pip install "chainrule[plot]"') from e
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig: Any, path: StrPath) -> None:
    buf = io.BytesIO()
    # NOTE: constrained layout alone can push the y label of an equal-aspect image
    # (the confusion matrix) off the canvas; "tight" measures what was drawn.
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", pad_inches=0.15)
    atomic_write(path, buf.getvalue())


def _series(name: str, values: Sequence[Any], n: int) -> np.ndarray:
    """A column as floats, None (an epoch without that value) becoming NaN."""
    values = list(values)
    if len(values) != n:
        raise ValueError(f"plot_history: column {name!r} has {len(values)} values, "
                         f"expected {n} (one per epoch)")
    return np.array([np.nan if v is None or v == "" else float(v) for v in values])


def _panels(history: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(title, columns) of each subplot: loss first, then each metric paired with its val_."""
    skip = {"epoch", *_LR_KEYS}
    names = [k for k in history if k not in skip]
    panels: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for key in sorted(names, key=lambda k: k.removeprefix("val_") != "loss"):
        base = key.removeprefix("val_")
        if base in seen:
            continue
        seen.add(base)
        panels.append((base, [c for c in (base, "val_" + base) if c in history]))
    return panels


def plot_history(history: Mapping[str, Sequence[Any]] | History, path: StrPath, *,
                 title: str = "Training history") -> None:
    """Plot per-epoch training curves to a PNG file.

    One subplot for the loss, one for each other metric (the training values
    and, paired by the ``val_`` prefix, the validation values), and one for the
    learning rate, on a log scale when it varies more than tenfold.

    Parameters
    ----------
    history : dict of str to list of float, or History
        Columns of equal length, one value per epoch: ``'epoch'`` (the x axis;
        default 1, 2, ...), ``'loss'``, ``'val_loss'``, any metric ``'m'`` and
        ``'val_m'``, and ``'lr'``. ``None`` or NaN marks an epoch without a
        value (validation every few epochs).
    path : str or os.PathLike
        The PNG file to write.
    title : str, default 'Training history'
        The title above the subplots.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    ValueError
        When the history is empty or its columns differ in length.

    Examples
    --------
    >>> plot_history({"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.7, 0.6],
    ...               "lr": [0.1, 0.1, 0.01]}, "history.png")  # doctest: +SKIP
    """
    columns: Any = getattr(history, "history", history)  # a History's dict, or the mapping
    history = dict(columns)
    if not history:
        raise ValueError("plot_history: the history is empty")
    n = len(next(iter(history.values())))
    if n == 0:
        raise ValueError("plot_history: the history has no epochs")
    epochs = _series("epoch", history["epoch"], n) if "epoch" in history else np.arange(1, n + 1)
    panels = [(t, [(c, _series(c, history[c], n)) for c in cols])
              for t, cols in _panels(history)]
    lr_key = next((k for k in _LR_KEYS if k in history), None)
    if lr_key is not None:
        panels.append(("learning rate", [(lr_key, _series(lr_key, history[lr_key], n))]))
    if not panels:
        raise ValueError("plot_history: no column to plot besides 'epoch'")

    ncols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / ncols)
    fig = _new_figure(5.5 * ncols, 3.6 * nrows + 0.4)
    from matplotlib.ticker import MaxNLocator

    marker = "o" if n <= 30 else None
    for i, (name, columns) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for col, y in columns:
            style = "--" if col.startswith("val_") else "-"
            label = ("validation" if col.startswith("val_")
                     else "train" if name != "learning rate" else col)
            ax.plot(epochs, y, style, marker=marker, markersize=3, label=label)
        if name == "learning rate":
            y = columns[0][1]
            positive = y[np.isfinite(y) & (y > 0)]
            if len(positive) == np.isfinite(y).sum() > 0 and positive.max() > 10 * positive.min():
                ax.set_yscale("log")
            else:  # a constant lr reads 0.001, not 1e-3 + 0
                ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    _save_png(fig, path)


def plot_confusion_matrix(cm: npt.ArrayLike, labels: Sequence[Any] | None, path: StrPath,
                          normalize: bool = False, *, title: str | None = None) -> None:
    """Draw a confusion matrix as an annotated heat map, to a PNG file.

    Parameters
    ----------
    cm : array-like of shape (n_classes, n_classes)
        Counts (or sums of weights): rows are true classes, columns predicted
        ones, as :func:`chainrule.train.metrics.confusion_matrix` returns.
    labels : sequence of length n_classes, or None
        The class names; None numbers the classes 0 .. n_classes - 1.
    path : str or os.PathLike
        The PNG file to write.
    normalize : bool, default False
        Divide each row by its sum, so that the diagonal shows each class's
        recall; an empty row stays 0.
    title : str, optional
        Default: 'Confusion matrix' (normalized or not).

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    ValueError
        When ``cm`` is not square or ``labels`` has the wrong length.

    Examples
    --------
    >>> plot_confusion_matrix([[5, 1], [2, 7]], ["cat", "dog"], "cm.png")  # doctest: +SKIP
    """
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"plot_confusion_matrix: cm must be a non-empty square matrix, "
                         f"got shape {cm.shape}")
    k = cm.shape[0]
    labels = [str(i) for i in range(k)] if labels is None else [str(v) for v in labels]
    if len(labels) != k:
        raise ValueError(f"plot_confusion_matrix: {len(labels)} labels for a {k}x{k} matrix")
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        normalized = np.zeros_like(cm)
        np.divide(cm, rows, out=normalized, where=rows != 0)
        cm = normalized
    if title is None:
        title = "Confusion matrix" + (" (normalized by row)" if normalize else "")

    longest = max(len(s) for s in labels)
    side = min(max(4.5, 0.55 * k + 2.5 + 0.06 * longest), 20.0)
    fig = _new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    image = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else max(cm.max(), 1))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), labels, rotation=45 if longest > 3 else 0,
                  ha="right" if longest > 3 else "center", rotation_mode="anchor")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(title)
    if k <= 30:  # beyond that the numbers no longer fit in their cells
        integral = not normalize and np.all(cm == np.round(cm))
        threshold = image.norm.vmin + (image.norm.vmax - image.norm.vmin) / 2
        fontsize = 10 if k <= 10 else 7
        for (i, j), v in np.ndenumerate(cm):
            text = f"{v:.0f}" if integral else f"{v:.2f}" if normalize else f"{v:.3g}"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                    color="white" if v > threshold else "black")
    _save_png(fig, path)
