"""Built-in datasets: scikit-learn's bundled copies (no network) and generated ones.

The generated datasets are written in NumPy, need nothing else and depend only on
``seed``; they are shuffled, so no split ever sees them sorted by class.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import DataError
from .images import DATASET_IMAGE_SHAPES
from .table import Table


class DatasetInfo(NamedTuple):
    """One row of :func:`list_datasets`."""

    name: str
    task: str
    n_samples: int
    n_features: int
    description: str


_SKLEARN = {
    "digits": ("load_digits", "classification", 1797, 64,
               "8x8 images of handwritten digits, 10 classes (scikit-learn)"),
    "iris": ("load_iris", "classification", 150, 4,
             "Fisher's iris flowers, 3 classes (scikit-learn)"),
    "wine": ("load_wine", "classification", 178, 13,
             "chemical analysis of wines from 3 cultivars (scikit-learn)"),
    "breast_cancer": ("load_breast_cancer", "classification", 569, 30,
                      "Wisconsin diagnostic breast cancer, 2 classes (scikit-learn)"),
    "diabetes": ("load_diabetes", "regression", 442, 10,
                 "disease progression after one year, standardised features (scikit-learn)"),
}


def _spirals(rng, n_samples=300, noise=0.2):
    k = 3
    per = n_samples // k
    r = np.tile(np.linspace(0.0, 1.0, per), k)
    cls = np.repeat(np.arange(k), per)
    t = np.linspace(0.0, 4.0, per)[None, :] + 4.0 * np.arange(k)[:, None]
    t = t.ravel() + rng.standard_normal(per * k) * noise
    X = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
    return X, cls, ["x", "y"], [0, 1, 2]


def _moons(rng, n_samples=200, noise=0.1):
    n_out = n_samples // 2
    n_in = n_samples - n_out
    a = np.linspace(0.0, np.pi, n_out)
    b = np.linspace(0.0, np.pi, n_in)
    X = np.concatenate([np.stack([np.cos(a), np.sin(a)], 1),
                        np.stack([1.0 - np.cos(b), 0.5 - np.sin(b)], 1)])
    X += rng.standard_normal(X.shape) * noise
    return X, np.repeat([0, 1], [n_out, n_in]), ["x", "y"], [0, 1]


def _xor(rng, n_samples=200, noise=0.35):
    centres = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    blob = np.arange(n_samples) % 4
    X = centres[blob] + rng.standard_normal((n_samples, 2)) * noise
    return X, (blob >= 2).astype(np.int64), ["x", "y"], [0, 1]


def _friedman(rng, n_samples=500, noise=1.0):
    X = rng.uniform(size=(n_samples, 10))
    y = (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2
         + 10 * X[:, 3] + 5 * X[:, 4] + noise * rng.standard_normal(n_samples))
    return X, y, [f"x{i}" for i in range(10)], None


_GENERATED = {
    "spirals": (_spirals, "classification", 300, 2,
                "3 interleaved spirals in 2-D (CS231n); not linearly separable"),
    "moons": (_moons, "classification", 200, 2, "two interleaving half circles in 2-D"),
    "xor": (_xor, "classification", 200, 2,
            "4 Gaussian blobs at (+-1, +-1) labelled by XOR of the quadrant signs"),
    "friedman": (_friedman, "regression", 500, 10,
                 "Friedman #1: y from 5 of 10 uniform features, plus Gaussian noise"),
}


def list_datasets() -> list[DatasetInfo]:
    """The built-in datasets.

    Returns
    -------
    list of DatasetInfo
        ``(name, task, n_samples, n_features, description)`` named tuples; the sizes of
        the generated datasets are their defaults.
    """
    rows = [DatasetInfo(name, *spec[1:]) for name, spec in _SKLEARN.items()]
    rows += [DatasetInfo(name, *spec[1:]) for name, spec in _GENERATED.items()]
    return rows


def _from_sklearn(name):
    try:
        from sklearn import datasets
    except ImportError:
        raise ImportError(f'the {name!r} dataset comes from scikit-learn: '
                          f'pip install "chainrule[sklearn]"') from None
    loader, task = _SKLEARN[name][:2]
    bunch = getattr(datasets, loader)()
    X = np.asarray(bunch.data, dtype=np.float32)
    names = [str(f) for f in getattr(bunch, "feature_names", [f"x{i}" for i in range(X.shape[1])])]
    if task == "classification":
        y = np.asarray(bunch.target, dtype=np.int64)
        classes = np.asarray(bunch.target_names).tolist()
    else:
        y, classes = np.asarray(bunch.target, dtype=np.float32), None
    return Table(X=X, y=y, feature_names=names, target_name="target", classes=classes,
                 source=f"sklearn.datasets.{loader}", task=task)


def load_dataset(name: str, seed: int | None = 0, images: bool = False, **options: Any
                 ) -> Table:
    """Load a built-in dataset by name (see :func:`list_datasets`).

    Parameters
    ----------
    name : str
        'digits', 'iris', 'wine', 'breast_cancer', 'diabetes' (scikit-learn's bundled
        copies: ``pip install "chainrule[sklearn]"``), or 'spirals', 'moons', 'xor',
        'friedman' (generated with NumPy).
    seed : int, default 0
        Seed of a generated dataset (the bundled ones are fixed files).
    images : bool, default False
        Return the rows of an image dataset as images: ``X`` of shape (N, C, H, W)
        (``digits``: (1797, 1, 8, 8)); see :data:`~chainrule.data.DATASET_IMAGE_SHAPES`.
    **options
        For generated datasets: ``n_samples`` and ``noise`` (the standard deviation of
        the Gaussian noise).

    Returns
    -------
    Table
        ``X`` float32 of shape (n_samples, n_features); ``y`` int64 class indices
        (``classes[i]`` names class ``i``) or float32 targets.

    Examples
    --------
    >>> table = load_dataset("spirals", seed=0)
    >>> table.X.shape, table.classes
    ((300, 2), [0, 1, 2])
    """
    if images and name not in DATASET_IMAGE_SHAPES:
        raise DataError(f"load_dataset({name!r}, images=True): {name!r} is not an image "
                        f"dataset; image datasets: {', '.join(DATASET_IMAGE_SHAPES)}")
    if name in _SKLEARN:
        if options:
            raise TypeError(f"load_dataset({name!r}) takes no options, got {sorted(options)}")
        table = _from_sklearn(name)
        if images:
            table.X = table.X.reshape((-1,) + DATASET_IMAGE_SHAPES[name])
        return table
    if name not in _GENERATED:
        valid = list(_SKLEARN) + list(_GENERATED)
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(valid)}")
    make, task = _GENERATED[name][:2]
    unknown = set(options) - {"n_samples", "noise"}
    if unknown:
        raise TypeError(f"load_dataset({name!r}): unknown options {sorted(unknown)}; "
                        f"use n_samples and noise")
    if "n_samples" in options and int(options["n_samples"]) < 4:
        raise ValueError(f"load_dataset: n_samples must be >= 4, got {options['n_samples']}")
    rng = np.random.default_rng(seed)
    X, y, names, classes = make(rng, **options)
    perm = rng.permutation(X.shape[0])
    y_dtype = np.int64 if task == "classification" else np.float32
    return Table(X=X[perm].astype(np.float32), y=np.asarray(y)[perm].astype(y_dtype),
                 feature_names=names, target_name="target", classes=classes,
                 source=f"chainrule.data.load_dataset({name!r}, seed={seed})", task=task)
