"""The ``chainrule`` command: train, evaluate, predict, plot, datasets.

Bad input gets one line on stderr and exit code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time

import numpy as np

from .errors import ChainruleError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("constant", "step", "exponential", "inverse-time", "cosine")
DEFAULT_DATASET = "digits"


class UsageError(ChainruleError):
    """Bad command-line input."""


class _Parser(argparse.ArgumentParser):
    # NOTE: allow_abbrev=False everywhere: with prefix matching, --drop was silently
    # taken as --dropout.
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


class _DefaultsFormatter(argparse.HelpFormatter):
    """Each option's help ends with its default (None and switches left out)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if default is None or default is False or default is argparse.SUPPRESS \
                or not action.option_strings or "%(default)" in text:
            return text
        if isinstance(default, (tuple, list)):
            default = ",".join(str(v) for v in default)
        return f"{text} (default: {default})".replace("%", "%%")


def _hidden(text):
    items = text.split(",")
    if any(not s.strip() for s in items):
        raise argparse.ArgumentTypeError(f"empty layer width in {text!r}; expected "
                                         f"comma-separated positive integers like 128,64")
    try:
        sizes = tuple(int(s) for s in items)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers like "
                                         f"128,64, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return sizes


def _batch_size(text):
    if text == "full":
        return None
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'full', "
                                         f"got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"batch size must be positive, got {n}")
    return n


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return v


def _positive_float(text):
    v = _finite_float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


def _finite_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return v


def _nonnegative_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _build_parser():
    from .train.heads import ACTIVATIONS, REGRESSION_LOSSES

    p = _Parser(prog="chainrule", description="Train neural networks by SGD with "
                                               "backpropagation, on NumPy.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    t = sub.add_parser("train", help="train a network and write a run directory",
                       formatter_class=_DefaultsFormatter,
                       description="Train an MLP on a file or a built-in dataset (default: "
                                   "digits) and write RUN_DIR with the model, config, "
                                   "history.csv, metrics.json and plots.")
    src = t.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="FILE", help="CSV, TSV, Parquet, .npy or .npz file")
    src.add_argument("--dataset", metavar="NAME", help="a built-in dataset (chainrule datasets)")
    t.add_argument("--target", metavar="COL", help="the target column of --data")
    t.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                   help="auto: float target -> regression; string/bool target -> "
                        "classification; integer target -> classification if <= 20 values "
                        "and >= 5 rows per value")
    t.add_argument("--hidden", type=_hidden, default=(256, 128), metavar="W1,W2,...",
                   help="hidden layer widths")
    t.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                   help="hidden-layer activation")
    t.add_argument("--head", choices=("softmax", "ovr"), default="softmax",
                   help="multi-class strategy: softmax or one-vs-all sigmoids")
    t.add_argument("--loss", choices=sorted(REGRESSION_LOSSES), default="squared_error",
                   help="regression loss")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="optimizer")
    t.add_argument("--lr", type=_positive_float, default=1e-3, help="learning rate")
    t.add_argument("--weight-decay", type=_finite_float, default=0.0,
                   help="L2 penalty (decoupled for adamw)")
    t.add_argument("--schedule", choices=SCHEDULES, default="constant",
                   help="learning-rate schedule")
    t.add_argument("--batch-size", type=_batch_size, default=32, metavar="N|full",
                   help="minibatch size, or full for full-batch gradient descent")
    t.add_argument("--epochs", type=_int, default=50, help="maximum number of epochs")
    t.add_argument("--tol", type=_finite_float, default=1e-4,
                   help="convergence: minimum improvement of the monitored loss")
    t.add_argument("--patience", type=_int, default=10,
                   help="epochs without a --tol improvement before stopping")
    t.add_argument("--dropout", type=_fraction, default=0.0, help="dropout probability")
    t.add_argument("--batch-norm", action="store_true", help="batch normalisation")
    t.add_argument("--class-weight", choices=("none", "balanced"), default="none",
                   help="classification only: weight classes by inverse frequency")
    t.add_argument("--val-split", type=_fraction, default=0.2,
                   help="fraction of rows for validation (early stopping)")
    t.add_argument("--test-split", type=_fraction, default=0.2,
                   help="fraction of rows held out for the final score")
    t.add_argument("--seed", type=_nonnegative_int, default=0,
                   help="seed of the split, the initial weights and the batch order")
    t.add_argument("--out", metavar="RUN_DIR",
                   help="run directory (default: runs/<name>-<time>)")
    t.add_argument("--checkpoint-every", type=_int, default=None, metavar="STEPS",
                   help="also checkpoint every STEPS optimizer steps (always at epoch ends)")
    t.add_argument("--keep-checkpoints", type=_int, default=3,
                   help="number of checkpoints kept")
    t.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its newest valid checkpoint")
    t.add_argument("--quiet", action="store_true", help="no per-epoch output")

    e = sub.add_parser("evaluate", help="score a trained model on labelled data")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--data", metavar="FILE", required=True)
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")

    r = sub.add_parser("predict", help="predict with a trained model")
    r.add_argument("run_dir", metavar="RUN_DIR")
    r.add_argument("--data", metavar="FILE", required=True)
    r.add_argument("--proba", action="store_true", help="also write class probabilities")
    r.add_argument("--out", metavar="FILE", required=True,
                   help="CSV file to write ('-': standard output); never the input file or "
                        "a file inside the run directory")
    r.add_argument("--force", action="store_true", help="overwrite an existing --out file")

    pl = sub.add_parser("plot", help="(re)draw a run's plots")
    pl.add_argument("run_dir", metavar="RUN_DIR")

    sub.add_parser("datasets", help="list the built-in datasets")
    return p


# ------------------------------------------------------------------ train
def _check_train_args(a):
    if a.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {a.epochs}")
    if a.patience < 1:
        raise UsageError(f"--patience must be at least 1, got {a.patience}")
    if a.tol < 0:
        raise UsageError(f"--tol must be >= 0, got {a.tol}")
    if a.weight_decay < 0:
        raise UsageError(f"--weight-decay must be >= 0, got {a.weight_decay}")
    if a.val_split + a.test_split >= 0.9:
        raise UsageError(f"--val-split + --test-split must leave data to train on, got "
                         f"{a.val_split} + {a.test_split}")
    if a.checkpoint_every is not None and a.checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every must be at least 1, got {a.checkpoint_every}")
    if a.keep_checkpoints < 1:
        raise UsageError(f"--keep-checkpoints must be at least 1, got {a.keep_checkpoints}")
    if a.data is not None and a.target is None and not a.data.endswith(".npz"):
        raise UsageError("--data needs --target COL (the column to predict)")
    if a.data is None and a.target is not None:
        raise UsageError("--target is only used with --data")


def _load_source(cfg):
    from .data import load_dataset, read_table

    if cfg["data"] is not None:
        table = read_table(cfg["data"], target=cfg["target"], task=cfg["task"])
    else:
        table = load_dataset(cfg["dataset"] or DEFAULT_DATASET)
        if cfg["task"] != "auto" and cfg["task"] != table.task:
            raise UsageError(f"dataset {cfg['dataset']!r} is a {table.task} dataset, not "
                             f"{cfg['task']}")
    if table.y is None:
        raise ChainruleError(f"{table.source}: no target to train on")
    if table.task == "classification" and len(np.unique(table.y)) < 2:
        raise ChainruleError(f"{table.source}: the target {table.target_name!r} has fewer than "
                             f"2 classes; classification needs at least 2")
    return table


def _split(table, cfg):
    """Shuffled (and, for classes, stratified) train / validation / test indices."""
    from .data import split_indices

    n = table.n_samples
    classify = table.task == "classification"
    y = np.asarray(table.y)
    test_size = cfg["test_split"]
    rest, test = (split_indices(n, test_size, seed=cfg["seed"], stratify=y if classify else None)
                  if test_size > 0 else (np.arange(n), np.arange(0)))
    val_size = cfg["val_split"] / (1 - test_size) if cfg["val_split"] else 0
    if val_size > 0:
        tr, va = split_indices(len(rest), val_size, seed=cfg["seed"] + 1,
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


def _default_run_dir(cfg):
    name = cfg["dataset"] or (os.path.splitext(os.path.basename(cfg["data"]))[0]
                              if cfg["data"] else DEFAULT_DATASET)
    return os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")


def _setup(cfg):
    """Everything a run needs, built deterministically from its config."""
    import chainrule as cr

    from . import optim
    from .data import StandardScaler
    from .nn import MLP
    from .train import CheckpointManager, EarlyStopping, MetricLogger, Trainer
    from .train.heads import make_head

    table = _load_source(cfg)
    train, val, test = _split(table, cfg)
    X = np.asarray(table.X, dtype=np.float32).reshape(table.n_samples, -1)
    scaler = StandardScaler().fit(X[train])
    Xs = scaler.transform(X).astype(np.float32)
    y = np.asarray(table.y)
    classify = table.task == "classification"
    n_classes = len(table.classes) if classify and table.classes else int(y.max()) + 1 \
        if classify else None
    n_out = 1 if not classify and y.ndim == 1 else (y.shape[1] if not classify else None)
    head = make_head(table.task, n_classes=n_classes, head=cfg["head"],
                     n_outputs=n_out or 1, loss=cfg["loss"])
    cr.manual_seed(cfg["seed"])
    model = MLP(Xs.shape[1], cfg["hidden"], head.n_outputs, cfg["activation"],
                cfg["dropout"], cfg["batch_norm"])
    optimizer = optim.get_optimizer(cfg["optimizer"], model.parameters(), lr=cfg["lr"],
                                    weight_decay=cfg["weight_decay"])
    scheduler = None
    if cfg["schedule"] != "constant":
        kwargs = {"step": {"step_size": max(cfg["epochs"] // 3, 1), "gamma": 0.1},
                  "exponential": {"gamma": 0.95},
                  "inverse-time": {"decay_rate": 0.1},
                  "cosine": {"T_max": cfg["epochs"]}}[cfg["schedule"]]
        scheduler = optim.lr_scheduler.get_scheduler(cfg["schedule"], optimizer, **kwargs)
    run_dir = cfg["out"]
    callbacks = [MetricLogger(os.path.join(run_dir, "history.csv"))]
    has_val = len(val) > 0
    if has_val:
        callbacks.append(EarlyStopping("val_loss", patience=cfg["patience"],
                                       min_delta=cfg["tol"], verbose=not cfg["quiet"]))
    resume = f"chainrule train --resume {shlex.quote(run_dir)}"
    checkpoint = CheckpointManager(os.path.join(run_dir, "checkpoints"),
                                   every_steps=cfg["checkpoint_every"],
                                   keep=cfg["keep_checkpoints"], resume_command=resume)
    trainer = Trainer(model, head=head, optimizer=optimizer, scheduler=scheduler,
                      callbacks=callbacks, tol=None if has_val else cfg["tol"],
                      n_iter_no_change=cfg["patience"],
                      class_weight=None if cfg["class_weight"] == "none" else cfg["class_weight"],
                      checkpoint=checkpoint, verbose=0 if cfg["quiet"] else 1)
    loader = cr.data.DataLoader(cr.data.ArrayDataset(Xs[train], y[train]),
                                batch_size=cfg["batch_size"], shuffle=True, seed=cfg["seed"])
    parts = {"train": train, "val": val, "test": test}
    return table, scaler, Xs, y, head, model, trainer, loader, parts


def _config_from_args(a):
    cfg = {k: getattr(a, k) for k in (
        "data", "dataset", "target", "task", "hidden", "activation", "head", "loss", "optimizer",
        "lr", "weight_decay", "schedule", "batch_size", "epochs", "tol", "patience", "dropout",
        "batch_norm", "class_weight", "val_split", "test_split", "seed", "checkpoint_every",
        "keep_checkpoints", "quiet", "out")}
    cfg["hidden"] = list(cfg["hidden"])
    if cfg["data"] is None and cfg["dataset"] is None:
        cfg["dataset"] = DEFAULT_DATASET
    if cfg["data"] is not None:
        cfg["data"] = os.path.abspath(cfg["data"])
    cfg["out"] = cfg["out"] or _default_run_dir(cfg)
    return cfg


def _read_config(run_dir):
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise ChainruleError(f"{run_dir}: not a chainrule run directory (no config.json)")
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise ChainruleError(f"{path}: cannot be read ({e})") from None
    if not isinstance(cfg, dict) or "hidden" not in cfg:
        raise ChainruleError(f"{path}: not a chainrule run configuration")
    return cfg


def _check_resume_args(a):
    """--resume continues the run as its config.json describes; refuse other settings."""
    defaults = vars(_build_parser().parse_args(["train"]))
    changed = [k for k, v in vars(a).items()
               if k not in ("resume", "quiet", "command") and v != defaults.get(k)]
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise UsageError(f"--resume continues the run exactly as configured in "
                         f"{a.resume}/config.json; it cannot be combined with {flags}")


def cmd_train(a):
    from .io.runlock import RunDirectory
    from .io.tensorfile import require_safetensors
    from .train.checkpoint import latest_checkpoint
    from .train.evaluate import evaluate

    require_safetensors()  # fail before training, not when saving its result
    if a.resume:
        _check_resume_args(a)
        cfg = _read_config(a.resume)
        cfg["out"] = a.resume
        cfg["quiet"] = a.quiet or cfg.get("quiet", False)
        state_path, state = latest_checkpoint(os.path.join(a.resume, "checkpoints"))
        if state is None:
            # NOTE: killed before its first checkpoint; a run is a pure function of its
            # config, so starting it again is the exact continuation.
            print(f"{a.resume}: no valid checkpoint yet; running it again from the start",
                  file=sys.stderr)
    else:
        _check_train_args(a)
        cfg = _config_from_args(a)
        if os.path.exists(os.path.join(cfg["out"], "config.json")):
            raise UsageError(f"{cfg['out']} already holds a run; choose another --out or "
                             f"continue it with --resume {cfg['out']}")
        state = None
    lock = RunDirectory(cfg["out"])
    lock.check_free()  # a concurrent run on the same --out is refused at once
    table, scaler, Xs, y, head, model, trainer, loader, parts = _setup(cfg)
    lock.acquire()  # atomic: exactly one of two concurrent runs gets here
    ok = False
    try:
        code = _train_body(a, cfg, state, state_path if a.resume else None, table, scaler, Xs,
                           y, head, model, trainer, loader, parts)
        ok = True
        return code
    finally:
        lock.release(failed=not ok)  # a failed fresh run leaves no directory behind


def _train_body(a, cfg, state, state_path, table, scaler, Xs, y, head, model, trainer, loader,
                parts):
    from .io import save
    from .io.atomic import write_json
    from .train import TrainingInterrupted

    if not a.resume and os.path.exists(os.path.join(cfg["out"], "config.json")):
        raise UsageError(f"{cfg['out']} already holds a run; choose another --out or "
                         f"continue it with --resume {cfg['out']}")
    if not a.resume:
        write_json(os.path.join(cfg["out"], "config.json"), cfg)
    elif state is not None:
        print(f"Resuming from {state_path} (epoch {state['epoch']}, step {state['step']})",
              file=sys.stderr)
    val = parts["val"]
    val_data = (Xs[val], y[val]) if len(val) else None
    if not cfg["quiet"]:
        print(f"Training on {table.source}: {len(parts['train'])} train / {len(val)} validation "
              f"/ {len(parts['test'])} test samples, {Xs.shape[1]} features, task "
              f"{table.task}", file=sys.stderr)
    try:
        # overflow on the way to a divergence is reported by TrainingDiverged, in one line
        with np.errstate(over="ignore", invalid="ignore"):
            history = trainer.fit(loader, val_data, epochs=cfg["epochs"], resume=state)
    except TrainingInterrupted as e:
        print(str(e), file=sys.stderr)
        return 130
    test = parts["test"]
    eval_idx = test if len(test) else parts["train"]
    metrics = evaluate(model, (Xs[eval_idx], y[eval_idx]), head, trainer.loss_fn)
    split_name = "test" if len(test) else "train"
    metadata = {
        "task": table.task, "head": head.config(), "classes": table.classes,
        "feature_names": list(table.feature_names), "target_name": table.target_name,
        "scaler": {"mean": scaler.mean_, "scale": scaler.scale_},
        "config": cfg,
    }
    save(model, os.path.join(cfg["out"], "model.safetensors"), metadata=metadata)
    write_json(os.path.join(cfg["out"], "metrics.json"),
               {"split": split_name, "n_samples": int(len(eval_idx)), **metrics,
                "epochs": history.epochs})
    _plots(cfg["out"], history.history, model, head, Xs[eval_idx], y[eval_idx], table.classes)
    main_metric = "accuracy" if table.task == "classification" else "r2"
    print(f"{split_name} {main_metric}: {metrics[main_metric]:.4f}  "
          + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != main_metric))
    print(f"run written to {cfg['out']}", file=sys.stderr)
    return 0


_PLOTTED = ("epoch", "loss", "val_loss", "accuracy", "val_accuracy", "val_r2", "val_mae", "lr")


def _plots(run_dir, history, model, head, X, y, classes):
    history = {k: v for k, v in history.items() if k in _PLOTTED}
    try:
        from .train.plots import plot_confusion_matrix, plot_history
    except ImportError:
        return
    try:
        plot_history(history, os.path.join(run_dir, "history.png"))
        if head.task == "classification" and len(y):
            from .train.evaluate import predict
            from .train.metrics import confusion_matrix

            pred = predict(model, X, head)
            k = head.n_classes
            cm = confusion_matrix(y, pred, labels=list(range(k)))
            labels = [str(c) for c in classes] if classes else [str(i) for i in range(k)]
            plot_confusion_matrix(cm, labels, os.path.join(run_dir, "confusion_matrix.png"))
    except ImportError as e:
        print(f"note: plots skipped ({e})", file=sys.stderr)


# ------------------------------------------------------------------ use a run
def _load_run(run_dir):
    from .io import load_with_metadata

    model, meta = load_with_metadata(run_dir)
    for key in ("task", "head", "feature_names", "scaler"):
        if key not in meta:
            raise ChainruleError(f"{run_dir}: the model file lacks {key!r}; was it written by "
                                 f"'chainrule train'?")
    return model, meta


def _features(path, meta, need_target):
    from .data import read_table

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


def _encode_targets(table, meta, path):
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


def cmd_evaluate(a):
    model, meta = _load_run(a.run_dir)
    table, X = _features(a.data, meta, need_target=True)
    if table.y is None:
        raise ChainruleError(f"{a.data}: has no target column {meta.get('target_name')!r}")
    from .train import head_from_config
    from .train.evaluate import evaluate

    y = _encode_targets(table, meta, a.data)
    head = head_from_config(meta["head"])
    metrics = evaluate(model, (X, y), head, head.loss_module())
    if a.json:
        print(json.dumps({"n_samples": int(len(y)), **metrics}, indent=2))
    else:
        for k, v in metrics.items():
            print(f"{k:>20s}  {v:.6g}")
    return 0


def _check_predict_out(a):
    """Refuse an --out that would destroy data: the input, the run, an existing file."""
    if a.out == "-":
        return
    out = os.path.realpath(a.out)
    if os.path.isdir(a.out):
        raise UsageError(f"--out {a.out} is a directory; give a file name (or '-' for "
                         f"standard output)")
    if os.path.exists(a.data) and os.path.exists(a.out) and os.path.samefile(a.data, a.out):
        raise UsageError(f"--out {a.out} is the input file --data; predictions would "
                         f"overwrite it")
    run_dir = os.path.realpath(a.run_dir)
    if os.path.isdir(run_dir) and os.path.commonpath([out, run_dir]) == run_dir:
        raise UsageError(f"--out {a.out} is inside the run directory {a.run_dir}; write "
                         f"predictions elsewhere")
    if os.path.exists(a.out) and not a.force:
        raise UsageError(f"--out {a.out} already exists; pass --force to overwrite it")


def cmd_predict(a):
    from .io.atomic import write_csv

    _check_predict_out(a)
    model, meta = _load_run(a.run_dir)
    table, X = _features(a.data, meta, need_target=False)
    from .train import head_from_config
    from .train.evaluate import predict_outputs

    head = head_from_config(meta["head"])
    out = predict_outputs(model, X, n_outputs=head.n_outputs)
    header, cols = [], []
    if head.task == "classification":
        classes = meta.get("classes") or list(range(head.n_classes))
        pred = head.predict(out)
        header.append("prediction")
        cols.append([classes[i] for i in pred])
        if a.proba:
            proba = head.proba(out)
            for j, c in enumerate(classes):
                header.append(f"proba_{c}")
                cols.append(proba[:, j].tolist())
    else:
        if a.proba:
            raise UsageError("--proba is only for classification models")
        name = meta.get("target_name") or "prediction"
        for j in range(out.shape[1]):
            header.append(name if out.shape[1] == 1 else f"{name}_{j}")
            cols.append(out[:, j].tolist())
    if a.out == "-":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(zip(*cols))
        sys.stdout.flush()
        return 0
    write_csv(a.out, header, list(zip(*cols)))
    print(f"wrote {len(out)} predictions to {a.out}", file=sys.stderr)
    return 0


def cmd_plot(a):
    import csv

    path = os.path.join(a.run_dir, "history.csv")
    if not os.path.isfile(path):
        raise ChainruleError(f"{a.run_dir}: not a chainrule run directory (no history.csv)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ChainruleError(f"{path}: holds no epochs yet")
    history = {k: [float(r[k]) if r[k] != "" else float("nan") for r in rows]
               for k in rows[0] if k in _PLOTTED}
    from .train.plots import plot_history

    out = os.path.join(a.run_dir, "history.png")
    plot_history(history, out)
    print(f"wrote {out}")
    return 0


def cmd_datasets(a):
    from .data import list_datasets

    print(f"{'name':<15}{'task':<16}{'samples':>8}{'features':>10}  description")
    for name, task, n, d, desc in list_datasets():
        print(f"{name:<15}{task:<16}{n:>8}{d:>10}  {desc}")
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "plot": cmd_plot, "datasets": cmd_datasets}


def main(argv=None):
    """Entry point of the ``chainrule`` console script; returns the exit code."""
    parser = _build_parser()
    try:
        a = parser.parse_args(argv)
        if a.command is None:
            parser.print_help()
            return 2
        return COMMANDS[a.command](a)
    except BrokenPipeError:  # the reader went away (e.g. `chainrule datasets | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ChainruleError, ValueError, ImportError, OSError) as e:
        msg = str(e) if not isinstance(e, OSError) or not e.filename else \
            f"{e.filename}: {e.strerror}"
        print(f"chainrule: error: {msg.splitlines()[0] if msg else type(e).__name__}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
