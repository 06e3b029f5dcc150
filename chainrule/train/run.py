"""A run of the ``chainrule`` command, built from a :class:`~chainrule.train.recipe.Recipe`.

:func:`prepare` reads the data, splits it, fits the preprocessing and builds the
model, optimizer, scheduler, callbacks, checkpoints, loader and Trainer, all
deterministically from the recipe (so a killed run rebuilt from its
``config.json`` continues exactly). :func:`finish` scores the trained model on
the test split and writes the model file, ``metrics.json`` and the plots.
:func:`load_run`, :func:`features`, :func:`dataset_rows`, :func:`table_features` and
:func:`encode_targets` serve ``chainrule evaluate`` and ``chainrule predict``. The CLI
itself only parses arguments and prints.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

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
    tabular: object = None
    notes: list = field(default_factory=list)

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


def is_tabular(recipe: Recipe) -> bool:
    """True when the recipe reads a CSV/Parquet file through a TablePreprocessor."""
    from .tables import is_table_file

    d = recipe.data
    return (d.preprocess or {}).get("kind") == "table" and is_table_file(d.path)


def load_tabular(recipe: Recipe):
    """A table file read for the run: ``(table, TableData)``; the table holds the target
    (to split on) and no features yet (they are encoded after the split)."""
    from ..data import Table
    from .tables import read_for_run

    d = recipe.data
    data = read_for_run(d.path, d.target, d.task, delimiter=d.delimiter, missing=d.missing,
                        max_categories=d.max_categories, drop=d.drop, features=d.features)
    n = data.frame.n_rows
    table = Table(X=np.empty((n, 0), dtype=np.float32), y=data.y, target_name=d.target,
                  classes=data.classes, source=data.source, task=data.task)
    if table.task == "classification" and len(np.unique(table.y)) < 2:
        raise ChainruleError(f"{table.source}: the target {table.target_name!r} has fewer than "
                             f"2 classes; classification needs at least 2")
    return table, data


def split(table, recipe: Recipe):
    """Shuffled (and, for classes, stratified) train / validation / test indices."""
    from ..data import split_indices

    d, seed = recipe.data, recipe.seed
    n = table.n_samples
    classify = table.task == "classification"
    y = np.asarray(table.y)
    regression = " or pass --task regression if the target is a quantity" \
        if classify and can_switch_task(table, recipe) else ""
    hint = f"change --test-split / --val-split{regression}"
    try:
        rest, test = (split_indices(n, d.test_split, seed=seed,
                                    stratify=y if classify else None)
                      if d.test_split > 0 else (np.arange(n), np.arange(0)))
        val_size = d.val_split / (1 - d.test_split) if d.val_split else 0
        if val_size > 0:
            tr, va = split_indices(len(rest), val_size, seed=seed + 1,
                                   stratify=y[rest] if classify else None)
            train, val = rest[tr], rest[va]
        else:
            train, val = rest, np.arange(0)
    except ChainruleError as e:
        if not classify:
            raise
        raise ChainruleError(f"{table.source}: cannot split {n} rows of "
                             f"{len(np.unique(y))} classes into stratified train / validation "
                             f"/ test parts ({str(e).split(': ', 1)[-1]}); {hint}") from None
    if classify:
        seen = set(np.unique(y[train]).tolist())
        for part, flag, idx in (("test", "test", test), ("validation", "val", val)):
            unseen = sorted(set(np.unique(y[idx]).tolist()) - seen)
            if unseen:
                names = [table.classes[i] for i in unseen] if table.classes else unseen
                raise ChainruleError(f"{table.source}: class {names[0]!r} appears in the {part} "
                                     f"split but never in the training split (too few samples "
                                     f"of it: add data or lower --{flag}-split{regression})")
    return train, val, test


def prepare(recipe: Recipe) -> Run:
    """Everything a run needs, built deterministically from its recipe."""
    from ..backend import manual_seed
    from ..data import ArrayDataset
    from .callbacks import EarlyStopping, MetricLogger
    from .checkpoint import CheckpointManager
    from .heads import make_head
    from .loop import Trainer

    tabular, notes = None, []
    if is_tabular(recipe):
        from .tables import encode_for_run

        table, tabular = load_tabular(recipe)
        check_task_options(recipe, table)
        train, val, test = split(table, recipe)
        X, y, notes = encode_for_run(tabular, train)
        pre = tabular.preprocessor
        table.feature_names = pre.input_features_
    else:
        table = load_table(recipe)
        check_task_options(recipe, table)
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
    if recipe.model.get("kind", "mlp") == "mlp":
        from .tables import check_model_size, mlp_parameter_count

        m = recipe.model
        check_model_size(mlp_parameter_count(X.shape[1], m.get("hidden", ()), head.n_outputs,
                                             m.get("batch_norm", False)),
                         recipe.optimizer.name,
                         what=f"the MLP {X.shape[1]}-{'-'.join(map(str, m.get('hidden', ())))}"
                              f"{'-' if m.get('hidden') else ''}{head.n_outputs}")
    manual_seed(recipe.seed)
    input_shape = None
    if recipe.model.get("kind") == "cnn":
        from ..data import image_shape

        rows = X.shape if tabular is not None else np.shape(table.X)  # encoded table: flat
        input_shape = image_shape(rows, recipe.model.get("input_shape"),
                                  dataset=recipe.data.dataset, source=table.source)
        recipe.model["input_shape"] = list(input_shape)  # config.json records it
    model = build_model(recipe.model, X.shape[1], head.n_outputs, input_shape)
    model.to(device=recipe.device)  # before the optimizer: its state follows the weights
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
                      verbose=0 if recipe.quiet else 1, compile=True)
    loader = build_loader(recipe.loader, ArrayDataset(X[train], y[train]), recipe.seed, recipe)
    return Run(recipe, table, train, val, test, pre, X, y, head, model, trainer, loader,
               tabular, notes)


def can_switch_task(table, recipe: Recipe) -> bool:
    """Whether ``--task`` may name the other task as a remedy for this run's target: a
    file's target whose values the other task accepts (never a built-in dataset's, whose
    task is fixed)."""
    from .tables import can_switch_task as switchable

    return recipe.data.path is not None and switchable(table.task, table.y, table.classes)


def check_task_options(recipe: Recipe, table) -> None:
    """Refuse recipe settings that do not apply to the table's task (``recipe.given``
    holds the flags the user set, when the CLI built the recipe)."""
    from .tables import check_task_options as check

    check(table.task, getattr(recipe, "given", None) or {}, can_switch_task(table, recipe))


def train(run: Run, resume_state=None):
    """Train the run (continuing from ``resume_state`` when given); returns the History."""
    # overflow on the way to a divergence is reported by TrainingDiverged, in one line
    with np.errstate(over="ignore", invalid="ignore"):
        return run.trainer.fit(run.loader, run.val_data, epochs=run.recipe.epochs,
                               resume=resume_state)


def finish(run: Run, history):
    """Score on the test split (the training split without one); write the model file,
    ``metrics.json`` and the plots. Returns ``(split_name, metrics, plot_note)``."""
    from ..io.atomic import write_json

    eval_idx = run.test_idx if len(run.test_idx) else run.train_idx
    split_name = "test" if len(run.test_idx) else "train"
    X, y = run.X[eval_idx], run.y[eval_idx]
    metrics = scores(run, eval_idx)
    table, out = run.table, run.recipe.out
    if run.head.task == "regression" and len(run.val_idx):
        r2 = scores(run, run.val_idx)["r2"]
        if r2 < 0:
            run.notes.append(f"warning: validation R^2 is {r2:.3g} (< 0): the model predicts "
                             f"worse than the mean of the target; try another --lr, more "
                             f"--epochs or other --hidden layers")
    save_model(run)
    write_json(os.path.join(out, "metrics.json"),
               {"split": split_name, "n_samples": int(len(eval_idx)), **metrics,
                "epochs": history.epochs})
    note = write_plots(out, history.history, run.model, run.head, X, y, table.classes)
    return split_name, metrics, note


def model_metadata(run: Run) -> dict:
    """What the model file holds besides the weights: task, head, labels, preprocessing."""
    table, pre = run.table, run.preprocessor
    n = run.X.shape[1]
    metadata = {
        "task": table.task, "head": run.head.config(), "classes": table.classes,
        "feature_names": list(table.feature_names), "target_name": table.target_name,
        "scaler": ({"mean": pre.mean_, "scale": pre.scale_} if hasattr(pre, "mean_")
                   else {"mean": np.zeros(n), "scale": np.ones(n)}),
        "config": run.recipe.to_dict(),
    }
    if run.tabular is not None:
        from .tables import model_metadata as table_metadata

        del metadata["scaler"]
        metadata.update(table_metadata(pre))
    return metadata


def save_model(run: Run) -> str:
    """Write ``model.safetensors`` with the model's current weights; returns its path."""
    from ..io import save

    path = os.path.join(run.recipe.out, "model.safetensors")
    save(run.model, path, metadata=model_metadata(run))
    return path


def score_model(model, meta, head, X, y) -> dict:
    """Loss and metrics of a saved model on ``(X, y)``; ``y`` in the target's units (the
    loss compares in the units the model was trained in)."""
    from .evaluate import evaluate, predict_outputs
    from .metrics import compute_metrics

    t = meta.get("target_scaler")
    if head.task != "regression" or t is None:
        return evaluate(model, (X, y), head, head.loss_module())
    mean, scale = np.asarray(t["mean"]), np.asarray(t["scale"])
    scaled = ((np.asarray(y, dtype=np.float64) - mean) / scale).astype(np.float32)
    metrics = evaluate(model, (X, scaled), head, head.loss_module())
    out = predict_outputs(model, X, n_outputs=head.n_outputs)
    metrics.update(compute_metrics("regression", np.asarray(y).reshape(out.shape),
                                   unscale_outputs(out, meta)))
    return metrics


def unscale_outputs(out, meta):
    """Regression outputs in the target's units (a standardised target is undone)."""
    t = meta.get("target_scaler")
    if t is None:
        return out
    return out * np.asarray(t["scale"]) + np.asarray(t["mean"])


def scores(run: Run, idx) -> dict:
    """Loss and metrics on the rows ``idx``; regression metrics in the target's units."""
    from .evaluate import evaluate, predict_outputs
    from .metrics import compute_metrics

    X, y = run.X[idx], run.y[idx]
    metrics = evaluate(run.model, (X, y), run.head, run.trainer.loss_fn)
    pre = run.preprocessor
    if run.head.task == "regression" and getattr(pre, "target_mean_", None) is not None:
        out = predict_outputs(run.model, X, n_outputs=run.head.n_outputs)
        truth = pre.inverse_transform_target(y).reshape(out.shape)
        metrics.update(compute_metrics("regression", truth,
                                       pre.inverse_transform_target(out)))
    return metrics


def interrupted_note(run: Run) -> str:
    """Save the weights the trainer holds after Ctrl-C and say which epoch they are from."""
    from .callbacks import EarlyStopping

    stop = next((c for c in run.trainer.callbacks if isinstance(c, EarlyStopping)), None)
    if stop is not None and stop.best_epoch is not None:
        which = f"the best weights so far, from epoch {stop.best_epoch + 1} ({stop.monitor} " \
                f"{stop.best:.6g})"
    elif run.trainer.epoch > 0:
        which = f"the weights after epoch {run.trainer.epoch}"
    else:
        which = f"the weights after {run.trainer.step} steps of epoch 1"
    path = save_model(run)
    return f"{path} holds {which}"


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
    for key in ("task", "head", "feature_names",
                "preprocessor" if "preprocessor" in meta else "scaler"):
        if key not in meta:
            raise ChainruleError(f"{run_dir}: the model file lacks {key!r}; was it written by "
                                 f"'chainrule train'?")
    return model, meta


def features(path, meta, need_target, delimiter=None, frame=None):
    """A file's table and its features, checked against and scaled as in training.

    Returns ``(table, X)``; for a model trained on a table (CSV/Parquet), the columns are
    matched by name and encoded by the saved preprocessor, ``table.y`` holds the target
    (class indices or values in the target's units) or None, and ``table.notes`` the
    notes to show (extra columns ignored, unseen categories). ``frame``: a CSV/Parquet
    ``path`` already read by :func:`~chainrule.data.read_frame`.
    """
    from ..data import Table, read_table
    from ..data.table import frame_table

    if "preprocessor" in meta:
        from .tables import features_from_file

        X, y, notes = features_from_file(path, meta, need_target, delimiter, frame)
        table = Table(X=X, y=y, feature_names=list(meta["feature_names"]),
                      target_name=meta.get("target_name"), classes=meta.get("classes"),
                      source=str(path), task=meta["task"], preprocessor="table")
        table.notes = notes
        return table, X
    if delimiter is not None and frame is None:
        raise ChainruleError(f"--delimiter applies to CSV files; {path} is read as an array")

    def read(target, task="auto"):
        if frame is not None:
            return frame_table(frame, target=target, task=task)
        return read_table(path, target=target, task=task)

    target = meta.get("target_name")
    if not need_target and path.lower().endswith(".npy"):
        target = None  # a .npy holds the features only
    try:
        table = read(target, meta["task"])
    except ChainruleError as e:
        # Only a missing target is forgiven (predict needs features alone); any other
        # problem of the file is reported as it is.
        absent = (f"target column {target!r} not found", f"no array named {target!r}")
        if need_target or target is None or not any(a in str(e) for a in absent):
            raise
        table = read(None)
    return table, scaled_features(table, meta, path)


def scaled_features(table, meta, path) -> np.ndarray:
    """``table.X`` checked against the features the model was trained on and scaled as in
    training (a model with a plain feature scaler); ``path`` names the data in messages."""
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
    return ((X - mean) / scale).astype(np.float32)


def _run_recipe(meta, run_dir):
    """The recipe a run was trained with: the model file's copy, else its config.json; the
    raw dict beside it (None when neither is readable)."""
    import json

    config = meta.get("config")
    if not isinstance(config, dict):
        try:
            with open(os.path.join(run_dir, "config.json")) as f:
                config = json.load(f)
        except (OSError, ValueError):
            return None, None
    try:
        return Recipe.from_dict(config), config
    except (KeyError, TypeError, ValueError):
        return None, None


def dataset_rows(meta, name, run_dir):
    """The rows of the built-in dataset ``name`` that evaluate a run: its test split when
    the run was trained on ``name`` and recorded the split (seed, fractions), else all.

    Returns
    -------
    table : Table
        Those rows (``source`` names the dataset).
    split : {'test', 'all'}
    note : str
        Which rows, and why, for the user.
    """
    from ..data import Table, load_dataset

    table = load_dataset(name)
    n = table.n_samples
    recipe, config = _run_recipe(meta, run_dir)
    same = recipe is not None and recipe.data.path is None and \
        (recipe.data.dataset or DEFAULT_DATASET) == name
    if same and "seed" in config and recipe.data.test_split > 0:
        test = split(load_table(recipe), recipe)[2]
        note = (f"evaluating on the run's test split of the built-in dataset {name!r}: the "
                f"{len(test)} of its {n} rows that training held out (seed {recipe.seed}, "
                f"test split {recipe.data.test_split:g})")
        rows, which = test, "test"
    else:
        why = ("the run was trained on other data" if not same
               else "the run records no split seed" if "seed" not in config
               else "the run held out no test rows, so these include its training rows")
        note = f"evaluating on all {n} rows of the built-in dataset {name!r} ({why})"
        rows, which = np.arange(n), "all"
    rows_table = Table(X=np.asarray(table.X)[rows], y=np.asarray(table.y)[rows],
                       feature_names=list(table.feature_names), target_name=table.target_name,
                       classes=table.classes, source=f"dataset {name!r}", task=table.task)
    return rows_table, which, note


def table_features(table, meta, need_target=True):
    """A :class:`~chainrule.data.Table`'s features (and targets) as the model takes them:
    ``(table, X)`` as :func:`features` returns for a file."""
    if "preprocessor" not in meta:
        return table, scaled_features(table, meta, table.source)
    from ..data import Frame, Table
    from .tables import features_from_file

    X = np.asarray(table.X).reshape(table.n_samples, -1)
    names = list(table.feature_names) or [f"x{j}" for j in range(X.shape[1])]
    columns = {n: X[:, j] for j, n in enumerate(names)}
    target = meta["preprocessor"].get("target")
    if target is not None and table.y is not None:
        y = np.asarray(table.y)
        columns[target] = [table.classes[i] for i in y] if table.classes else y
    frame = Frame.from_arrays(columns, source=table.source)
    X, y, notes = features_from_file(table.source, meta, need_target, frame=frame)
    out = Table(X=X, y=y, feature_names=list(meta["feature_names"]), target_name=target,
                classes=meta.get("classes"), source=table.source, task=meta["task"],
                preprocessor="table")
    out.notes = notes
    return out, X


def encode_targets(table, meta, path):
    """The file's targets as the model's class indices (labels matched by value)."""
    if table.preprocessor == "table":
        return np.asarray(table.y)  # encoded by the saved preprocessor
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
