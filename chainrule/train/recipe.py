"""A run recipe: one dataclass describing a training run, and the builders that realise it.

:class:`Recipe` names everything a run needs: the data (source, splits,
preprocessing), the model spec, the head, the optimizer, the learning-rate
schedule, the loader, the stopping rules, checkpointing and the seed. The CLI
builds one from its arguments and writes it as the run's ``config.json``
(:meth:`Recipe.to_dict`; :meth:`Recipe.from_dict` reads it back, older flat
configs included); the scikit-learn estimators build one from their
hyper-parameters. Both then build the model, optimizer, scheduler and loader
with the functions here and train through :class:`~chainrule.train.Trainer`.

Extension points
----------------
- **Model kinds.** ``Recipe.model`` is a dict ``{"kind": "mlp", "hidden": [...],
  "activation": ..., "dropout": ..., "batch_norm": ..., "residual": ...}``. A new
  kind (a CNN, say) registers a builder::

      @register_model("cnn")
      def _cnn(spec, n_inputs, n_outputs, input_shape=None):
          return nn.Sequential(...)

  ``build_model(spec, n_inputs, n_outputs, input_shape)`` looks the kind up;
  ``input_shape`` is the shape of one sample (a CNN needs it, an MLP does not).
- **Preprocessing.** ``Recipe.data.preprocess`` is ``{"kind": "standard"}`` (a
  :class:`~chainrule.data.StandardScaler` on the features), ``{"kind": "table"}`` (a CSV
  or Parquet file through a :class:`~chainrule.data.TablePreprocessor`, configured by
  ``DataSpec.delimiter/missing/max_categories/drop/features``; see
  :mod:`chainrule.train.tables`) or ``{"kind": "none"}``;
  :func:`register_preprocessor` adds a kind whose builder returns an object with
  ``fit(X)``, ``transform(X)`` and ``state_dict()`` (e.g. a table preprocessor
  that encodes categorical columns).
- **Distributed training.** ``Recipe.distributed`` is carried into the config; a
  runner that trains over MPI reads it where the Trainer and loader are built
  (:func:`build_loader` receives the whole recipe).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from ..nn import MLP

__all__ = ["Recipe", "DataSpec", "OptimizerSpec", "ScheduleSpec", "LoaderSpec",
           "CheckpointSpec", "register_model", "build_model", "register_preprocessor",
           "build_preprocessor", "build_optimizer", "build_scheduler", "build_loader",
           "MODEL_KINDS", "PREPROCESSORS", "CNN_DEFAULTS"]

MODEL_KINDS: dict[str, Callable] = {}
PREPROCESSORS: dict[str, Callable] = {}


def register_model(kind: str):
    """Decorator: register ``builder(spec, n_inputs, n_outputs, input_shape=None)`` for
    model specs ``{"kind": kind, ...}``."""
    def decorate(builder):
        MODEL_KINDS[kind] = builder
        return builder
    return decorate


@register_model("mlp")
def _mlp(spec, n_inputs, n_outputs, input_shape=None):
    return MLP(n_inputs, list(spec.get("hidden", ())), n_outputs,
               activation=spec.get("activation", "relu"), dropout=spec.get("dropout", 0.0),
               batch_norm=spec.get("batch_norm", False), residual=spec.get("residual", False))


#: The CLI's default CNN (``chainrule train --model cnn``): nn.CNN's defaults.
CNN_DEFAULTS = {"channels": [16, 32], "hidden": 64, "dropout": 0.0, "batch_norm": True}


@register_model("cnn")
def _cnn(spec, n_inputs, n_outputs, input_shape=None):
    """``Unflatten(1, (C, H, W))`` then :class:`~chainrule.nn.CNN`: rows of C*H*W features in,
    so scaling, splits and predictions stay tabular."""
    from ..nn import CNN, Sequential, Unflatten

    shape = tuple(spec.get("input_shape") or input_shape or ())
    if len(shape) != 3 or shape[0] * shape[1] * shape[2] != n_inputs:
        raise ValueError(f"a cnn needs input_shape (C, H, W) holding the {n_inputs} features "
                         f"of a sample, got {shape or None}")
    opts = {**CNN_DEFAULTS, **{k: v for k, v in spec.items() if k in CNN_DEFAULTS}}
    return Sequential(Unflatten(1, shape),
                      CNN(shape[0], n_outputs, shape[1:], channels=list(opts["channels"]),
                          hidden=opts["hidden"], batch_norm=opts["batch_norm"],
                          dropout=opts["dropout"]))


def build_model(spec: dict, n_inputs: int, n_outputs: int, input_shape=None):
    """The network a model spec describes (see the module docstring)."""
    kind = spec.get("kind", "mlp")
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(MODEL_KINDS)}")
    return MODEL_KINDS[kind](spec, n_inputs, n_outputs, input_shape=input_shape)


def register_preprocessor(kind: str):
    """Decorator: register ``builder(spec)`` returning an object with fit/transform/state_dict."""
    def decorate(builder):
        PREPROCESSORS[kind] = builder
        return builder
    return decorate


@register_preprocessor("standard")
def _standard(spec):
    from ..data import StandardScaler

    return StandardScaler()


@register_preprocessor("none")
def _none(spec):
    return None


def build_preprocessor(spec: dict):
    """The (unfitted) preprocessor a ``preprocess`` spec describes, or None."""
    kind = (spec or {}).get("kind", "standard")
    if kind not in PREPROCESSORS:
        raise ValueError(f"unknown preprocessing kind {kind!r}; known: {sorted(PREPROCESSORS)}")
    return PREPROCESSORS[kind](spec)


# ---------------------------------------------------------------------- the recipe
@dataclass
class DataSpec:
    """Where the data come from and how they are split and preprocessed."""

    path: str | None = None
    dataset: str | None = None
    target: str | None = None
    task: str = "auto"
    val_split: float = 0.2
    test_split: float = 0.2
    preprocess: dict = field(default_factory=lambda: {"kind": "standard"})
    # tables (preprocess {"kind": "table"}: CSV/Parquet through a TablePreprocessor)
    delimiter: str | None = None
    missing: str = "impute"
    max_categories: int = 50
    drop: list = field(default_factory=list)
    features: list | None = None


@dataclass
class OptimizerSpec:
    """An optimizer by name (:func:`chainrule.optim.get_optimizer`) and its arguments."""

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    options: dict = field(default_factory=dict)
    fused: bool = False


@dataclass
class ScheduleSpec:
    """A learning-rate scheduler by name (``get_scheduler``), its arguments and interval."""

    name: str = "constant"
    kwargs: dict = field(default_factory=dict)
    interval: str = "epoch"


@dataclass
class LoaderSpec:
    """Minibatches: size (None: the whole set) and shuffling."""

    batch_size: int | None = 32
    shuffle: bool = True
    prefetch: bool = True


@dataclass
class CheckpointSpec:
    """Checkpoints at every epoch end, and every ``every_steps`` steps when set."""

    every_steps: int | None = None
    keep: int = 3


@dataclass
class Recipe:
    """Everything that defines a training run; ``config.json`` is :meth:`to_dict`.

    Attributes
    ----------
    data : DataSpec
    model : dict
        ``{"kind": ..., ...}``; see :func:`build_model`.
    head : dict
        ``{"head": 'softmax' | 'ovr', "loss": <regression loss>}``.
    optimizer : OptimizerSpec
    schedule : ScheduleSpec
    loader : LoaderSpec
    epochs : int
    tol, patience : float, int
        Stop when the monitored loss has not improved by ``tol`` for ``patience`` epochs.
    class_weight : dict, 'balanced' or None
    seed : int
    checkpoint : CheckpointSpec
    distributed : bool
        Train data-parallel over MPI (read by a distributed runner).
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (a GPU when one is usable).
    out : str or None
        The run directory.
    quiet : bool
    """

    data: DataSpec = field(default_factory=DataSpec)
    model: dict = field(default_factory=lambda: {"kind": "mlp", "hidden": [256, 128],
                                                 "activation": "relu", "dropout": 0.0,
                                                 "batch_norm": False})
    head: dict = field(default_factory=lambda: {"head": "softmax", "loss": "squared_error"})
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    loader: LoaderSpec = field(default_factory=LoaderSpec)
    epochs: int = 50
    tol: float = 1e-4
    patience: int = 10
    class_weight: object = None
    seed: int = 0
    checkpoint: CheckpointSpec = field(default_factory=CheckpointSpec)
    distributed: bool = False
    device: str = "cpu"
    out: str | None = None
    quiet: bool = False

    def to_dict(self) -> dict:
        """The recipe as JSON-able nested dicts (``config.json``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        """Read :meth:`to_dict`'s output, or the flat config of older chainrule runs."""
        if "hidden" in d and "model" not in d:
            return _from_flat(d)
        parts = {"data": DataSpec, "optimizer": OptimizerSpec, "schedule": ScheduleSpec,
                 "loader": LoaderSpec, "checkpoint": CheckpointSpec}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown recipe entries {unknown}")
        kwargs = {}
        for k, v in d.items():
            if k in parts:
                if not isinstance(v, dict):
                    raise ValueError(f"recipe entry {k!r} must be an object")
                names = {f.name for f in dataclasses.fields(parts[k])}
                bad = sorted(set(v) - names)
                if bad:
                    raise ValueError(f"unknown entries {bad} in recipe {k!r}")
                kwargs[k] = parts[k](**v)
            else:
                kwargs[k] = v
        return cls(**kwargs)


def _from_flat(c: dict) -> Recipe:
    """A recipe from the flat ``config.json`` that chainrule wrote before recipes."""
    epochs = c.get("epochs", 50)
    return Recipe(
        data=DataSpec(path=c.get("data"), dataset=c.get("dataset"), target=c.get("target"),
                      task=c.get("task", "auto"), val_split=c.get("val_split", 0.2),
                      test_split=c.get("test_split", 0.2)),
        model={"kind": "mlp", "hidden": list(c["hidden"]),
               "activation": c.get("activation", "relu"), "dropout": c.get("dropout", 0.0),
               "batch_norm": c.get("batch_norm", False)},
        head={"head": c.get("head", "softmax"), "loss": c.get("loss", "squared_error")},
        optimizer=OptimizerSpec(c.get("optimizer", "adam"), c.get("lr", 1e-3),
                                c.get("weight_decay", 0.0)),
        schedule=cli_schedule(c.get("schedule", "constant"), epochs),
        loader=LoaderSpec(batch_size=c.get("batch_size", 32)), epochs=epochs,
        tol=c.get("tol", 1e-4), patience=c.get("patience", 10),
        class_weight=None if c.get("class_weight") in (None, "none") else c["class_weight"],
        seed=c.get("seed", 0),
        checkpoint=CheckpointSpec(c.get("checkpoint_every"), c.get("keep_checkpoints", 3)),
        out=c.get("out"), quiet=c.get("quiet", False))


def cli_schedule(name: str, epochs: int) -> ScheduleSpec:
    """The CLI's named schedules with their arguments derived from ``epochs``."""
    kwargs = {"constant": {}, "step": {"step_size": max(epochs // 3, 1), "gamma": 0.1},
              "exponential": {"gamma": 0.95}, "inverse-time": {"decay_rate": 0.1},
              "cosine": {"T_max": epochs}}[name]
    return ScheduleSpec(name, kwargs)


# ---------------------------------------------------------------------- builders
def build_optimizer(spec: OptimizerSpec, params):
    """The optimizer of ``spec`` over ``params`` (tensors or parameter groups)."""
    from ..optim import get_optimizer

    kwargs = dict(spec.options)
    if spec.weight_decay:
        kwargs["weight_decay"] = spec.weight_decay
    if spec.fused:
        kwargs["fused"] = True
    return get_optimizer(spec.name, params, lr=spec.lr, **kwargs)


def build_scheduler(spec: ScheduleSpec, optimizer):
    """The scheduler of ``spec`` (None for 'constant'); bad arguments raise ValueError."""
    from ..optim.lr_scheduler import get_scheduler

    if spec is None or spec.name in (None, "constant"):
        return None
    try:
        return get_scheduler(spec.name, optimizer, **spec.kwargs)
    except TypeError as e:
        raise ValueError(f"schedule {spec.name!r}: {e}") from None


def build_loader(spec: LoaderSpec, dataset, seed: int, recipe: Recipe | None = None,
                 generator=None):
    """The DataLoader of ``spec`` over ``dataset``, its order seeded by ``seed`` (or drawn
    from ``generator``, see :class:`~chainrule.data.DataLoader`)."""
    from ..data import DataLoader

    return DataLoader(dataset, batch_size=spec.batch_size, shuffle=spec.shuffle, seed=seed,
                      prefetch=spec.prefetch, generator=generator)
