"""A run of the ``chainrule`` command, built from a :class:`~chainrule.train.recipe.Recipe`.

:func:`prepare` reads the data, splits it, fits the preprocessing and builds the
model, optimizer, scheduler, callbacks, checkpoints, loader and Trainer, all
deterministically from the recipe (so a killed run rebuilt from its
``config.json`` continues exactly). :func:`finish` scores the trained model on
the test split and writes the model file, ``metrics.json`` and the plots.
:func:`load_run`, :func:`features` and :func:`encode_targets` serve
``chainrule evaluate`` and ``chainrule predict``. The CLI itself only parses
arguments and prints.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

import numpy as np

from ..errors import ChainruleError
from .recipe import (
    Recipe,
    build_loader,
    build_model,
    build_optimizer,
    build_preprocessor,
    build_scheduler,
)

DEFAULT_DATASET = "digits"
PLOTTED = ("epoch", "loss", "val_loss", "accuracy", "val_accuracy", "val_r2", "val_mae", "lr")


@dataclass
class Run:
    """What :func:`prepare` builds: the data, their split and everything that trains."""

    recipe: Recipe
    table: object
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    preprocessor: object
    X: np.ndarray
    y: np.ndarray
    head: object
    model: object
    trainer: object
    loader: object

    @property
    def val_data(self):
        return (self.X[self.val_idx], self.y[self.val_idx]) if len(self.val_idx) else None


def load_table(recipe: Recipe):
    """The recipe's data as a Table with a target (at least 2 classes to classify)."""
    from ..data import load_dataset, read_table

    d = recipe.data
    if d.path is not None:
        table = read_table(d.path, target=d.target, task=d.task)
    else:
        table = load_dataset(d.dataset or DEFAULT_DATASET)
        if d.task != "auto" and d.task != table.task:
            raise ChainruleError(f"dataset {d.dataset!r} is a {table.task} dataset, not "
                                 f"{d.task}")
    if table.y is None:
        raise ChainruleError(f"{table.source}: no target to train on")
    if table.task == "classification" and len(np.unique(table.y)) < 2:
        raise ChainruleError(f"{table.source}: the target {table.target_name!r} has fewer than "
                             f"2 classes; classification needs at least 2")
    return table


def split(table, recipe: Recipe):
    """Shuffled (and, for classes, stratified) train / validation / test indices."""
    from ..data import split_indices

    d, seed = recipe.data, recipe.seed
    n = table.n_samples
    classify = table.task == "classification"
    y = np.asarray(table.y)
    rest, test = (split_indices(n, d.test_split, seed=seed, stratify=y if classify else None)
                  if d.test_split > 0 else (np.arange(n), np.arange(0)))
    val_size = d.val_split / (1 - d.test_split) if d.val_split else 0
    if val_size > 0:
        tr, va = split_indices(len(rest), val_size, seed=seed + 1,
                               stratify=y[rest] if classify else None)
        train, val = rest[tr], rest[va]
    else:
        train, val = rest, np.arange(0)
    if classify:
        seen = set(np.unique(y[train]).tolist())
        for part, flag, idx in (("test", "test", test), ("validation", "val", val)):
            unseen = sorted(set(np.unique(y[idx]).tolist()) - seen)
            if unseen:
                names = [table.classes[i] for i in unseen] if table.classes else unseen
                raise ChainruleError(f"{table.source}: class {names[0]!r} appears in the {part} "
                                     f"split but never in the training split (too few samples "
                                     f"of it: add data or lower --{flag}-split)")
    return train, val, test


def prepare(recipe: Recipe) -> Run:
    """Everything a run needs, built deterministically from its recipe."""
    from ..backend import manual_seed
    from ..data import ArrayDataset
    from .callbacks import EarlyStopping, MetricLogger
    from .checkpoint import CheckpointManager
    from .heads import make_head
    from .loop import Trainer

    table = load_table(recipe)
    train, val, test = split(table, recipe)
    X = np.asarray(table.X, dtype=np.float32).reshape(table.n_samples, -1)
    pre = build_preprocessor(recipe.data.preprocess)
    if pre is not None:
        X = np.asarray(pre.fit(X[train]).transform(X), dtype=np.float32)
    y = np.asarray(table.y)
    classify = table.task == "classification"
    n_classes = (len(table.classes) if table.classes else int(y.max()) + 1) if classify \
        else None
    n_out = 1 if classify or y.ndim == 1 else y.shape[1]
    head = make_head(table.task, n_classes=n_classes, head=recipe.head.get("head", "softmax"),
                     n_outputs=n_out, loss=recipe.head.get("loss", "squared_error"))
    manual_seed(recipe.seed)
    model = build_model(recipe.model, X.shape[1], head.n_outputs)
    optimizer = build_optimizer(recipe.optimizer, model.parameters())
    scheduler = build_scheduler(recipe.schedule, optimizer)
    run_dir = recipe.out
    callbacks = [MetricLogger(os.path.join(run_dir, "history.csv"))]
    has_val = len(val) > 0
    if has_val:
        callbacks.append(EarlyStopping("val_loss", patience=recipe.patience,
                                       min_delta=recipe.tol, verbose=not recipe.quiet))
    checkpoint = CheckpointManager(
        os.path.join(run_dir, "checkpoints"), every_steps=recipe.checkpoint.every_steps,
        keep=recipe.checkpoint.keep,
        resume_command=f"chainrule train --resume {shlex.quote(run_dir)}")
    trainer = Trainer(model, head=head, optimizer=optimizer, scheduler=scheduler,
                      scheduler_interval=recipe.schedule.interval, callbacks=callbacks,
                      tol=None if has_val else recipe.tol, n_iter_no_change=recipe.patience,
                      class_weight=recipe.class_weight, checkpoint=checkpoint,
                      verbose=0 if recipe.quiet else 1)
    loader = build_loader(recipe.loader, ArrayDataset(X[train], y[train]), recipe.seed, recipe)
    return Run(recipe, table, train, val, test, pre, X, y, head, model, trainer, loader)


def train(run: Run, resume_state=None):
    """Train the run (continuing from ``resume_state`` when given); returns the History."""
    # overflow on the way to a divergence is reported by TrainingDiverged, in one line
    with np.errstate(over="ignore", invalid="ignore"):
        return run.trainer.fit(run.loader, run.val_data, epochs=run.recipe.epochs,
                               resume=resume_state)


def finish(run: Run, history):
    """Score on the test split (the training split without one); write the model file,
    ``metrics.json`` and the plots. Returns ``(split_name, metrics, plot_note)``."""
    from ..io import save
    from ..io.atomic import write_json
    from .evaluate import evaluate

    eval_idx = run.test_idx if len(run.test_idx) else run.train_idx
    split_name = "test" if len(run.test_idx) else "train"
    X, y = run.X[eval_idx], run.y[eval_idx]
    metrics = evaluate(run.model, (X, y), run.head, run.trainer.loss_fn)
    table, out = run.table, run.recipe.out
    pre = run.preprocessor
    metadata = {
        "task": table.task, "head": run.head.config(), "classes": table.classes,
        "feature_names": list(table.feature_names), "target_name": table.target_name,
        "scaler": ({"mean": pre.mean_, "scale": pre.scale_} if hasattr(pre, "mean_")
                   else {"mean": np.zeros(X.shape[1]), "scale": np.ones(X.shape[1])}),
        "config": run.recipe.to_dict(),
    }
    save(run.model, os.path.join(out, "model.safetensors"), metadata=metadata)
    write_json(os.path.join(out, "metrics.json"),
               {"split": split_name, "n_samples": int(len(eval_idx)), **metrics,
                "epochs": history.epochs})
    note = write_plots(out, history.history, run.model, run.head, X, y, table.classes)
    return split_name, metrics, note


def write_plots(run_dir, history, model, head, X, y, classes):
    """history.png and, for classification, confusion_matrix.png; returns a note or None."""
    history = {k: v for k, v in history.items() if k in PLOTTED}
    try:
        from .plots import plot_confusion_matrix, plot_history
    except ImportError:
        return None
    try:
        plot_history(history, os.path.join(run_dir, "history.png"))
        if head.task == "classification" and len(y):
            from .evaluate import predict
            from .metrics import confusion_matrix

            k = head.n_classes
            cm = confusion_matrix(y, predict(model, X, head), labels=list(range(k)))
            labels = [str(c) for c in classes] if classes else [str(i) for i in range(k)]
            plot_confusion_matrix(cm, labels, os.path.join(run_dir, "confusion_matrix.png"))
    except ImportError as e:
        return f"plots skipped ({e})"
    return None


# ---------------------------------------------------------------------- using a run
def load_run(run_dir):
    """The model of a run directory and its metadata (written by :func:`finish`)."""
    from ..io import load_with_metadata

    model, meta = load_with_metadata(run_dir)
    for key in ("task", "head", "feature_names", "scaler"):
        if key not in meta:
            raise ChainruleError(f"{run_dir}: the model file lacks {key!r}; was it written by "
                                 f"'chainrule train'?")
    return model, meta


def features(path, meta, need_target):
    """A file's table and its features, checked against and scaled as in training."""
    from ..data import read_table

    target = meta.get("target_name")
    if not need_target and path.lower().endswith(".npy"):
        target = None  # a .npy holds the features only
    try:
        table = read_table(path, target=target, task=meta["task"])
    except ChainruleError as e:
        # Only a missing target is forgiven (predict needs features alone); any other
        # problem of the file is reported as it is.
        absent = (f"target column {target!r} not found", f"no array named {target!r}")
        if need_target or target is None or not any(a in str(e) for a in absent):
            raise
        table = read_table(path, target=None)
    names = list(meta["feature_names"])
    if table.X.reshape(table.n_samples, -1).shape[1] != len(names):
        raise ChainruleError(f"{path}: has {table.n_features} feature columns but the model was "
                             f"trained on {len(names)} ({', '.join(names[:8])}"
                             f"{', ...' if len(names) > 8 else ''})")
    if table.feature_names and names and list(table.feature_names) != names:
        missing = [n for n in names if n not in table.feature_names]
        extra = [n for n in table.feature_names if n not in names]
        detail = (f"missing {missing[:5]}" if missing else f"unexpected {extra[:5]}") \
            if missing or extra else "in a different order"
        raise ChainruleError(f"{path}: feature columns differ from training: {detail}")
    X = np.asarray(table.X, dtype=np.float32).reshape(table.n_samples, -1)
    mean, scale = np.asarray(meta["scaler"]["mean"]), np.asarray(meta["scaler"]["scale"])
    return table, ((X - mean) / scale).astype(np.float32)


def encode_targets(table, meta, path):
    """The file's targets as the model's class indices (labels matched by value)."""
    classes = meta.get("classes")
    if meta["task"] != "classification" or classes is None:
        return np.asarray(table.y)
    file_labels = [table.classes[i] for i in np.asarray(table.y)] if table.classes else \
        np.asarray(table.y).tolist()
    index = {c: i for i, c in enumerate(classes)}
    index.update({str(c): i for i, c in enumerate(classes)})
    out = np.empty(len(file_labels), dtype=np.int64)
    for r, lab in enumerate(file_labels):
        i = index.get(lab, index.get(str(lab)))
        if i is None:
            raise ChainruleError(f"{path}: row {r + 1} has class {lab!r}, which the model "
                                 f"never saw in training (known: {classes[:10]})")
        out[r] = i
    return out
