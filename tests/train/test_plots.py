"""PNG plots of a history and a confusion matrix: valid files, atomic writes."""

import builtins
import os

import numpy as np
import pytest

from chainrule.io import atomic as _fileio
from chainrule.train import plots

mpimg = pytest.importorskip("matplotlib.image",
                            reason="plots need matplotlib: pip install 'chainrule[plot]'")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _history(n=12, val=True, lr="decay"):
    epochs = np.arange(1, n + 1)
    h = {"epoch": epochs.tolist(), "loss": (1.0 / epochs).tolist(),
         "accuracy": (1 - 0.5 / epochs).tolist()}
    if val:
        h["val_loss"] = (1.2 / epochs + 0.05).tolist()
        h["val_accuracy"] = (1 - 0.6 / epochs).tolist()
    if lr == "decay":
        h["lr"] = (0.1 * 0.5 ** (epochs - 1)).tolist()
    elif lr == "constant":
        h["lr"] = [1e-3] * n
    return h


def _check_png(path, min_size=(200, 200)):
    data = open(path, "rb").read()
    assert data[:8] == PNG_SIGNATURE
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert min_size[0] <= image.shape[0] <= 4000 and min_size[1] <= image.shape[1] <= 4000
    assert image[..., :3].std() > 0.01  # something is drawn, not a blank canvas
    return image


def _axes_drawn(monkeypatch):
    """Record the axes of each figure saved by plots (titles, labels, scales, legends)."""
    drawn = []
    real = plots._save_png

    def spy(fig, path):
        drawn.extend(fig.axes)
        real(fig, path)

    monkeypatch.setattr(plots, "_save_png", spy)
    return drawn


@pytest.mark.parametrize("val", [True, False], ids=["with_val", "train_only"])
@pytest.mark.parametrize("lr", ["decay", "constant", None])
def test_plot_history_writes_png(tmp_path, monkeypatch, val, lr):
    drawn = _axes_drawn(monkeypatch)
    path = tmp_path / "history.png"
    plots.plot_history(_history(val=val, lr=lr), path)
    _check_png(path)
    titles = [ax.get_title() for ax in drawn]
    assert titles == ["loss", "accuracy"] + (["learning rate"] if lr else [])
    for ax in drawn:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
        assert ax.get_legend() is not None
    legend = [t.get_text() for t in drawn[0].get_legend().get_texts()]
    assert legend == (["train", "validation"] if val else ["train"])
    if lr:
        assert drawn[-1].get_yscale() == ("log" if lr == "decay" else "linear")
    assert os.listdir(tmp_path) == ["history.png"]


def test_plot_history_accepts_history_objects_missing_values_and_val_only(tmp_path,
                                                                         monkeypatch):
    drawn = _axes_drawn(monkeypatch)

    class History:  # the shape of chainrule.train.History: a .history dict of columns
        history = {"loss": [0.9, 0.7, 0.6, 0.5], "val_loss": [1.0, None, 0.8, float("nan")],
                   "val_f1_macro": [0.3, 0.4, 0.5, 0.6]}

    path = tmp_path / "h.png"
    plots.plot_history(History(), path, title="run 7")
    _check_png(path)
    assert [ax.get_title() for ax in drawn] == ["loss", "f1_macro"]
    assert drawn[0].figure.get_suptitle() == "run 7"
    np.testing.assert_array_equal(drawn[0].lines[0].get_xdata(), [1, 2, 3, 4])  # default x


def test_plot_history_bad_input(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plots.plot_history({}, tmp_path / "a.png")
    with pytest.raises(ValueError, match="'val_loss' has 2 values, expected 3"):
        plots.plot_history({"loss": [1, 2, 3], "val_loss": [1, 2]}, tmp_path / "a.png")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("normalize", [False, True])
def test_plot_confusion_matrix_writes_png(tmp_path, monkeypatch, normalize):
    drawn = _axes_drawn(monkeypatch)
    cm = np.array([[50, 3, 0], [4, 40, 6], [0, 0, 0]])  # class 2 never occurs: empty row
    path = tmp_path / "cm.png"
    plots.plot_confusion_matrix(cm, ["setosa", "versicolor", "virginica"], path,
                                normalize=normalize)
    _check_png(path)
    ax = drawn[0]
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["setosa", "versicolor", "virginica"]
    cells = [t.get_text() for t in ax.texts]
    assert len(cells) == 9
    if normalize:
        assert cells[:3] == ["0.94", "0.06", "0.00"] and cells[-1] == "0.00"
        assert "normalized" in ax.get_title()
    else:
        assert cells[:3] == ["50", "3", "0"]
    # the darkest cell gets white text, a light one black
    assert ax.texts[0].get_color() == "white" and ax.texts[1].get_color() == "black"


def test_plot_confusion_matrix_default_labels_and_bad_input(tmp_path):
    path = tmp_path / "cm.png"
    plots.plot_confusion_matrix(np.eye(4) * 0.5, None, path)  # weighted counts
    _check_png(path)
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix(np.ones((2, 3)), None, tmp_path / "x.png")
    with pytest.raises(ValueError, match="3 labels for a 2x2"):
        plots.plot_confusion_matrix(np.ones((2, 2)), list("abc"), tmp_path / "x.png")
    assert os.listdir(tmp_path) == ["cm.png"]


@pytest.mark.parametrize("which", ["history", "confusion_matrix"])
def test_failed_write_leaves_no_file(tmp_path, monkeypatch, which):
    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_fileio.os, "replace", fail)
    path = tmp_path / "plot.png"
    with pytest.raises(OSError, match="No space"):
        if which == "history":
            plots.plot_history(_history(), path)
        else:
            plots.plot_confusion_matrix(np.eye(2), ["a", "b"], path)
    assert os.listdir(tmp_path) == []


def test_missing_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[plot\]"'):
        plots.plot_history({"loss": [1.0]}, tmp_path / "h.png")
    assert os.listdir(tmp_path) == []


def test_plotting_leaves_the_users_backend_and_pyplot_alone(tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    plots.plot_confusion_matrix(np.eye(2), ["a", "b"], tmp_path / "cm.png")
    plots.plot_history(_history(), tmp_path / "h.png")
    assert matplotlib.get_backend() == backend
    import sys
    if "matplotlib.pyplot" in sys.modules:  # another test may have imported it
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []
