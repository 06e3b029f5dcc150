"""The examples in chainrule's docstrings run, and print what they say they print.

Each public module's docstrings are run by :mod:`doctest` in a fresh temporary folder
(examples that save files write there). Short examples may use a few names without
defining them, the same for every docstring, as pytest's ``doctest_namespace`` would
provide: ``cr``, ``np``, ``nn``, ``optim``, ``F``; a 3-class dataset ``X, y`` (120 x 4)
split into ``X_train, X_test, y_train, y_test``; a ``model`` (4 -> 16 -> 3), an input
batch ``x``, its ``loss``, ``loss_fn`` (cross-entropy), an optimizer ``opt`` and a
``loader`` over the training split. An example may also use the public names of its own
subpackage (``read_frame`` in ``chainrule.data``), and read two small files from the
folder it runs in: ``iris.csv`` (scikit-learn's iris) and ``penguins.csv`` (a few rows
in the layout of the Palmer penguins, with missing cells).
"""

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import chainrule as cr

# Modules whose examples need an optional package, and that package.
OPTIONAL = {"chainrule.sklearn": "sklearn", "chainrule.data.readers": "sklearn",
            "chainrule.onnx": "onnx", "chainrule.train.plots": "matplotlib",
            "chainrule.io.model_file": "safetensors"}


def public_modules():
    names = ["chainrule"]
    for info in pkgutil.walk_packages(cr.__path__, "chainrule."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return names


def namespace():
    import chainrule.functional as F
    from chainrule import nn, optim

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
    return {"loss_fn": loss_fn, "loader": loader, "cr": cr, "np": np, "nn": nn,
            "optim": optim, "F": F, "X": X, "y": y,
            "X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test,
            "model": model, "x": x, "loss": loss, "opt": opt}


PENGUINS = """species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,id
Adelie,Torgersen,39.1,18.7,181,3750,male,1
Adelie,Torgersen,39.5,17.4,186,3800,female,2
Adelie,Dream,,,,,,3
Gentoo,Biscoe,46.1,13.2,211,4500,female,4
Gentoo,Biscoe,50.0,16.3,230,5700,male,5
Chinstrap,Dream,46.5,17.9,192,3500,female,6
Chinstrap,Dream,50.0,19.5,196,3900,male,7
Gentoo,Biscoe,48.7,14.1,210,4450,female,8
Adelie,Biscoe,37.8,18.3,174,3400,female,9
Chinstrap,Dream,51.3,19.2,193,3650,male,10
"""


def write_files(folder):
    (folder / "penguins.csv").write_text(PENGUINS)
    try:
        from sklearn.datasets import load_iris
    except ImportError:
        return
    iris = load_iris()
    rows = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    rows += [",".join(f"{v:g}" for v in x) + f",{iris.target_names[t]}"
             for x, t in zip(iris.data, iris.target)]
    (folder / "iris.csv").write_text("\n".join(rows) + "\n")


def package_names(name):
    """The public names of the subpackage a module belongs to (chainrule.data.x -> data)."""
    parts = name.split(".")
    if len(parts) < 2:
        return {}
    package = importlib.import_module(".".join(parts[:2]))
    return {n: getattr(package, n) for n in getattr(package, "__all__", ())}


@pytest.mark.parametrize("name", public_modules())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    for prefix, package in OPTIONAL.items():
        if name.startswith(prefix):
            pytest.importorskip(package, reason=f"{name}'s examples need {package}")
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path)
    module = importlib.import_module(name)
    globs = {**package_names(name), **namespace()}
    tests = doctest.DocTestFinder().find(module, name, extraglobs=globs)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    for test in tests:
        if test.examples:
            runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
