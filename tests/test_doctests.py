"""The examples in chainrule's docstrings run, and print what they say they print.

Each public module's docstrings are run by :mod:`doctest` in a fresh temporary folder
(examples that save files write there). Short examples may use a few names without
defining them, the same for every docstring, as pytest's ``doctest_namespace`` would
provide: ``cr``, ``np``, ``nn``, ``optim``, ``F``; a 3-class dataset ``X, y`` (120 x 4)
split into ``X_train, X_test, y_train, y_test``; a ``model`` (4 -> 16 -> 3), an input
batch ``x``, its ``loss``, ``loss_fn`` (cross-entropy), an optimizer ``opt`` and a
``loader`` over the training split.
"""

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import chainrule as cr

# Modules whose examples need an optional package, and that package.
OPTIONAL = {"chainrule.sklearn": "sklearn", "chainrule.onnx": "onnx",
            "chainrule.train.plots": "matplotlib", "chainrule.io.model_file": "safetensors"}


def public_modules():
    names = ["chainrule"]
    for info in pkgutil.walk_packages(cr.__path__, "chainrule."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return names


def namespace():
    from chainrule import nn, optim
    import chainrule.functional as F

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    X = (rng.normal(size=(120, 4)) + y[:, None]).astype(np.float32)
    X_train, X_test, y_train, y_test = X[::2], X[1::2], y[::2], y[1::2]
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    x = cr.tensor(X_train[:8])
    loss = F.cross_entropy(model(x), y_train[:8])
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    loader = cr.data.DataLoader(cr.data.ArrayDataset(X_train, y_train), batch_size=32, seed=0)
    return {"loss_fn": loss_fn, "loader": loader, "cr": cr, "np": np, "nn": nn, "optim": optim, "F": F, "X": X, "y": y,
            "X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test,
            "model": model, "x": x, "loss": loss, "opt": opt}


@pytest.mark.parametrize("name", public_modules())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    for prefix, package in OPTIONAL.items():
        if name.startswith(prefix):
            pytest.importorskip(package, reason=f"{name}'s examples need {package}")
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder().find(module, name, extraglobs=namespace())
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    for test in tests:
        if test.examples:
            runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
