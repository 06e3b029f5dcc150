"""The ``chainrule`` command: train, evaluate, predict, export, plot, datasets.

Bad input gets one line on stderr and exit code 2, before anything is written.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

from .cli_args import UsageError, _build_parser
from .errors import ChainruleError
from .train.run import DEFAULT_DATASET, PLOTTED

__all__ = ["main", "UsageError"]

DEFAULT_EPOCHS = 50


# ------------------------------------------------------------------ train
def _check_train_args(a):
    a.epochs = DEFAULT_EPOCHS if a.epochs is None else a.epochs
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
    if a.max_categories is not None and a.max_categories < 1:
        raise UsageError(f"--max-categories must be at least 1, got {a.max_categories}")
    _check_table_args(a)


_TABLE_FLAGS = ("delimiter", "missing", "max_categories", "drop", "features")


def _check_table_args(a):
    """The table options apply to CSV/TSV/Parquet --data only: refuse them elsewhere."""
    from .train.tables import is_table_file

    given = [f"--{k.replace('_', '-')}" for k in _TABLE_FLAGS if getattr(a, k) is not None]
    if given and not is_table_file(a.data):
        what = f"--data {a.data}" if a.data else f"--dataset {a.dataset or DEFAULT_DATASET}"
        raise UsageError(f"{given[0]} applies to tables (CSV, TSV or Parquet --data), not to "
                         f"{what}")
    if a.drop and a.features:
        both = sorted(set(a.drop) & set(a.features))
        if both:
            raise UsageError(f"column {both[0]!r} is in both --drop and --features")


def _default_run_dir(recipe):
    d = recipe.data
    name = d.dataset or (os.path.splitext(os.path.basename(d.path))[0] if d.path
                         else DEFAULT_DATASET)
    return os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")


def _model_spec(a):
    """The recipe's model spec from --model and its options."""
    if a.model == "cnn":
        from .train.recipe import CNN_DEFAULTS

        if a.hidden is not None and len(a.hidden) != 1:
            raise UsageError(f"--model cnn has one hidden Linear layer: give --hidden one "
                             f"width, got {','.join(map(str, a.hidden))}")
        return {"kind": "cnn", "input_shape": a.input_shape,
                "channels": list(a.channels or CNN_DEFAULTS["channels"]),
                "hidden": a.hidden[0] if a.hidden else CNN_DEFAULTS["hidden"],
                "dropout": a.dropout, "batch_norm": True}
    for flag, value in (("--channels", a.channels), ("--input-shape", a.input_shape)):
        if value is not None:
            raise UsageError(f"{flag} is only used with --model cnn")
    return {"kind": "mlp", "hidden": list(a.hidden if a.hidden is not None else (256, 128)),
            "activation": a.activation, "dropout": a.dropout, "batch_norm": a.batch_norm}


def _recipe_from_args(a):
    """The run recipe the ``train`` arguments describe."""
    from .train.recipe import (
        CheckpointSpec,
        DataSpec,
        LoaderSpec,
        OptimizerSpec,
        Recipe,
        cli_schedule,
    )
    from .train.tables import is_table_file

    data = DataSpec(path=os.path.abspath(a.data) if a.data is not None else None,
                    dataset=a.dataset if a.data is not None or a.dataset else DEFAULT_DATASET,
                    target=a.target, task=a.task, val_split=a.val_split,
                    test_split=a.test_split)
    if is_table_file(a.data):
        data.preprocess = {"kind": "table"}
        data.delimiter = a.delimiter
        data.missing = a.missing or "impute"
        data.max_categories = 50 if a.max_categories is None else a.max_categories
        data.drop = list(a.drop or [])
        data.features = a.features
    recipe = Recipe(
        data=data,
        model=_model_spec(a),
        head={"head": a.head or "softmax", "loss": a.loss or "squared_error"},
        optimizer=OptimizerSpec(a.optimizer, a.lr, a.weight_decay),
        schedule=cli_schedule(a.schedule, a.epochs),
        loader=LoaderSpec(batch_size=a.batch_size), epochs=a.epochs, tol=a.tol,
        patience=a.patience,
        class_weight=None if a.class_weight in (None, "none") else a.class_weight,
        seed=a.seed, checkpoint=CheckpointSpec(a.checkpoint_every, a.keep_checkpoints),
        device=a.device, quiet=a.quiet)
    recipe.out = a.out or _default_run_dir(recipe)
    # flags the user set, checked against the task once the data are read (not saved)
    recipe.given = {f: v for f, v in (("--head", a.head), ("--loss", a.loss),
                                      ("--class-weight", a.class_weight)) if v is not None}
    return recipe


def _read_recipe(run_dir):
    from .train.recipe import Recipe

    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise ChainruleError(f"{run_dir}: not a chainrule run directory (no config.json)")
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise ChainruleError(f"{path}: cannot be read ({e})") from None
    if not isinstance(cfg, dict):
        raise ChainruleError(f"{path}: not a chainrule run configuration")
    try:
        return Recipe.from_dict(cfg)
    except (KeyError, TypeError, ValueError) as e:
        raise ChainruleError(f"{path}: not a chainrule run configuration ({e})") from None


def _check_resume_args(a):
    """--resume continues the run as its config.json describes (--epochs may extend it);
    refuse other settings."""
    defaults = vars(_build_parser().parse_args(["train"]))
    changed = [k for k, v in vars(a).items()
               if k not in ("resume", "quiet", "command", "epochs", "threads", "distributed")
               and v != defaults.get(k)]
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise UsageError(f"--resume continues the run exactly as configured in "
                         f"{a.resume}/config.json; it cannot be combined with {flags}")


def cmd_train(a):
    from . import distributed as dist
    from .io.runlock import RunDirectory
    from .io.tensorfile import require_safetensors
    from .train import run
    from .train.checkpoint import latest_checkpoint

    require_safetensors()  # fail before training, not when saving its result
    # under `mpiexec -n N` (N > 1) every rank runs this; rank 0 alone locks, prints, writes
    world = dist.init(force=a.distributed, verbose=not a.quiet)
    main = dist.is_main()
    say = print if main else _silent
    state_path = None
    if a.threads is not None:
        from .backend import set_num_threads

        set_num_threads(a.threads)
    if a.resume:
        _check_resume_args(a)
        recipe = _read_recipe(a.resume)
        recipe.out = a.resume
        recipe.quiet = a.quiet or recipe.quiet
        state_path, state = latest_checkpoint(os.path.join(a.resume, "checkpoints"),
                                              warn=main)
        if a.epochs is not None:  # extend a finished or stopped run
            done = state["epoch"] if state is not None else 0
            if a.epochs <= done:
                raise UsageError(f"--epochs {a.epochs}: {a.resume} already has {done} epochs; "
                                 f"give more to extend it")
            recipe.epochs = a.epochs
        if state is None:
            # NOTE: killed before its first checkpoint; a run is a pure function of its
            # recipe, so starting it again is the exact continuation.
            say(f"{a.resume}: no valid checkpoint yet; running it again from the start",
                file=sys.stderr)
    else:
        _check_train_args(a)
        recipe = _recipe_from_args(a)
        if os.path.exists(os.path.join(recipe.out, "config.json")):
            raise UsageError(f"{recipe.out} already holds a run; choose another --out or "
                             f"continue it with --resume {recipe.out}")
        state = None
    lock = RunDirectory(recipe.out) if main else None
    if lock is not None:
        lock.check_free()  # a concurrent run on the same --out is refused at once
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = run.prepare(recipe)
    r.trainer.distributed = world > 1 or a.distributed
    say(_task_line(r), file=sys.stderr)
    for note in _notes(r, caught):
        say(note, file=sys.stderr)
    dist.barrier()  # every rank has checked the run directory before rank 0 writes to it
    if lock is None:
        return _train_body(a, r, state, state_path, main, world)
    lock.acquire()  # atomic: exactly one of two concurrent runs gets here
    ok = False
    try:
        code = _train_body(a, r, state, state_path, main, world)
        ok = True
        return code
    finally:
        lock.release(failed=not ok)  # a failed fresh run leaves no directory behind


def _train_body(a, r, state, state_path, main=True, world=1):
    from .io.atomic import write_json
    from .train import TrainingInterrupted, run

    recipe = r.recipe
    say = print if main else _silent
    if main and not a.resume and os.path.exists(os.path.join(recipe.out, "config.json")):
        raise UsageError(f"{recipe.out} already holds a run; choose another --out or "
                         f"continue it with --resume {recipe.out}")
    if main and (not a.resume or a.epochs is not None):
        write_json(os.path.join(recipe.out, "config.json"), recipe.to_dict())
    if a.resume and state is not None:
        say(f"Resuming from {state_path} (epoch {state['epoch']}, step {state['step']})",
            file=sys.stderr)
    if not recipe.quiet:
        ranks = f", each minibatch split over {world} ranks" if world > 1 else ""
        say(f"Training on {r.table.source}: {len(r.train_idx)} train / {len(r.val_idx)} "
            f"validation / {len(r.test_idx)} test samples, {r.X.shape[1]} features, task "
            f"{r.table.task}{ranks}", file=sys.stderr)
    try:
        history = run.train(r, state)
    except TrainingInterrupted as e:
        say(str(e), file=sys.stderr)
        say(run.interrupted_note(r), file=sys.stderr)
        return 130
    if not main:  # rank 0 scores the model and writes the run
        return 0
    r.notes = []
    split_name, metrics, note = run.finish(r, history)
    if note:
        print(f"note: {note}", file=sys.stderr)
    for line in r.notes:
        print(line, file=sys.stderr)
    main_metric = "accuracy" if r.table.task == "classification" else "r2"
    print(f"{split_name} {main_metric}: {metrics[main_metric]:.4f}  "
          + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != main_metric))
    print(f"run written to {recipe.out}", file=sys.stderr)
    return 0


def _task_line(r):
    """The first line of a run: its task, why, and the flag that changes it (when the
    target allows the other task)."""
    from .train.run import can_switch_task
    from .train.tables import task_line

    table = r.table
    switch = can_switch_task(table, r.recipe)
    if r.tabular is not None:
        return task_line(table.task, r.tabular.reason, table.target_name, switch)
    if r.recipe.data.path is None:
        return f"task: {table.task} (the built-in dataset {r.recipe.data.dataset!r})"
    if r.recipe.data.task != "auto":
        return task_line(table.task, f"--task {r.recipe.data.task}", table.target_name, switch)
    return task_line(table.task, "numeric target" if table.task == "regression"
                     else "labels", table.target_name or "y", switch)


def _notes(r, caught):
    out = []
    if r.tabular is not None and r.tabular.dropped:
        why = ("a missing value (--missing drop)" if r.recipe.data.missing == "drop"
               else "no target value")
        out.append(f"note: {r.tabular.dropped} rows with {why} left out")
    out += [f"note: {n}" for n in r.notes]
    out += [f"note: {w.message}" for w in caught]
    return out


# ------------------------------------------------------------------ use a run
def cmd_evaluate(a):
    from .train import head_from_config, run

    if a.data is None and a.dataset is None:
        raise UsageError("chainrule evaluate: give the data to score: --data FILE or --dataset "
                         "NAME (see 'chainrule evaluate --help')")
    if a.dataset is not None and a.delimiter is not None:
        raise UsageError(f"--delimiter applies to CSV --data, not to --dataset {a.dataset}")
    model, meta = run.load_run(a.run_dir)
    extra = {}
    if a.dataset is not None:
        rows, split, note = run.dataset_rows(meta, a.dataset, a.run_dir)
        table, X = run.table_features(rows, meta)
        source = rows.source
        extra = {"dataset": a.dataset, "split": split}
    else:
        table, X = run.features(a.data, meta, need_target=True, delimiter=a.delimiter)
        source, note = a.data, None
    _print_notes(table)
    if table.y is None:
        raise ChainruleError(f"{source}: has no target column {meta.get('target_name')!r}")
    y = run.encode_targets(table, meta, source)
    head = head_from_config(meta["head"])
    metrics = run.score_model(model, meta, head, X, y)
    if note:
        print(note, file=sys.stderr)
    if a.json:
        print(json.dumps({**extra, "n_samples": int(len(y)), **metrics}, indent=2))
    else:
        for k, v in metrics.items():
            print(f"{k:>20s}  {v:.6g}")
    return 0


def _print_notes(table):
    for note in getattr(table, "notes", ()):
        print(f"note: {note}", file=sys.stderr)


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


def _read_kept(a):
    """--keep: the input read once (a Frame, for the features too) and the kept columns'
    cells as the file writes them; ``(None, [])`` without --keep."""
    if not a.keep:
        return None, []
    from .data import read_frame
    from .train.tables import cells_as_written, is_table_file

    twice = sorted({n for n in a.keep if a.keep.count(n) > 1})
    if twice:
        raise UsageError(f"--keep names the column {twice[0]!r} twice")
    if not is_table_file(a.data):
        raise UsageError(f"--keep applies to tables (CSV, TSV or Parquet --data); {a.data} "
                         f"has no named columns")
    frame = read_frame(a.data, a.delimiter)
    absent = [n for n in a.keep if n not in frame]
    if absent:
        raise UsageError(f"--keep {absent[0]}: {a.data} has no column {absent[0]!r}; its "
                         f"columns: {frame.names}")
    return frame, cells_as_written(frame, a.keep)


def cmd_predict(a):
    from .io.atomic import write_csv
    from .train import head_from_config, run
    from .train.evaluate import predict_outputs

    _check_predict_out(a)
    frame, kept = _read_kept(a)
    model, meta = run.load_run(a.run_dir)
    head = head_from_config(meta["head"])
    if a.proba and head.task != "classification":
        raise UsageError("--proba is only for classification models")
    classes = meta.get("classes") or list(range(head.n_classes)) \
        if head.task == "classification" else None
    if classes is not None:
        names = ["prediction"] + ([f"proba_{c}" for c in classes] if a.proba else [])
    else:  # one name whatever the target was called
        names = ["prediction"] if head.n_outputs == 1 else \
            [f"prediction_{j}" for j in range(head.n_outputs)]
    clash = next((n for n in names if n in (a.keep or ())), None)
    if clash is not None:
        raise UsageError(f"--keep {clash}: the predictions have a column {clash!r} of their "
                         f"own; rename that column of {a.data}")
    if frame is not None and "preprocessor" not in meta:
        # a model trained on arrays takes every column as a feature: the kept identifier
        # columns are not features (a kept column that is one stays in)
        features = set(meta["feature_names"])
        frame = frame.select([n for n in frame.names if n not in a.keep or n in features])
    table, X = run.features(a.data, meta, need_target=False, delimiter=a.delimiter,
                            frame=frame)
    _print_notes(table)
    out = predict_outputs(model, X, n_outputs=head.n_outputs)
    if classes is not None:
        cols = [[classes[i] for i in head.predict(out)]]
        if a.proba:
            cols += head.proba(out).T.tolist()
    else:
        cols = run.unscale_outputs(out, meta).T.tolist()  # in the target's units
    header, cols = list(a.keep or ()) + names, kept + cols
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


def cmd_export(a):
    from .onnx import export_run, signature

    if os.path.exists(a.onnx) and not a.force:
        raise UsageError(f"--onnx {a.onnx} already exists; pass --force to overwrite it")
    proto = export_run(a.run_dir, a.onnx, opset=a.opset)
    print(f"wrote {a.onnx} (opset {a.opset}): {signature(proto)}", file=sys.stderr)
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
               for k in rows[0] if k in PLOTTED}
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
            "export": cmd_export, "plot": cmd_plot, "datasets": cmd_datasets}


def _silent(*args, **kwargs):
    pass


def _fail(msg, error):
    """Print ``msg``; return 2. In an MPI world, an error only some ranks may have met
    (any but a divergence, which every rank detects at the same step) aborts all ranks,
    so that none is left waiting for the others."""
    from . import distributed as dist
    from .train import TrainingDiverged

    if dist.is_initialized() and not isinstance(error, TrainingDiverged):
        dist.abort(msg, 2)
    if dist.is_main():
        print(msg, file=sys.stderr)
    return 2


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
        return _fail(f"chainrule: error: {msg.splitlines()[0] if msg else type(e).__name__}",
                     e)
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
