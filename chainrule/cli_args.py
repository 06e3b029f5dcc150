"""The ``chainrule`` command's argument parser: subcommands, flags, value types, help.

No flag is ever abbreviated (``allow_abbrev=False`` in every parser), ``train --help``
shows each option's default, and a bad value is one :class:`UsageError` naming the flag.
"""

from __future__ import annotations

import argparse
import math

from ._version import __version__
from .errors import ChainruleError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("constant", "step", "exponential", "inverse-time", "cosine")


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


def _delimiter(text):
    from .data.dialect import parse_delimiter

    try:
        return parse_delimiter(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _names(text):
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"empty column name in {text!r}; expected COL,COL,...")
    return names


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
    n = _int(text, "a positive integer or 'full'")
    if n < 1:
        raise argparse.ArgumentTypeError(f"batch size must be positive, got {n}")
    return n


def _fraction(text):
    v = _number(text, what="a number in [0, 1)")
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return v


def _positive_float(text):
    v = _finite_float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


def _number(text, convert=float, what="a number"):
    """``convert(text)``, or an argparse error saying that ``what`` was expected."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _finite_float(text):
    v = _number(text)
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return v


def _nonnegative_int(text):
    v = _int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


def _device(text):
    """--device: a device chainrule can use here, checked before anything is written."""
    from .device import DeviceError, device

    try:
        return str(device(text))
    except DeviceError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _int(text, what="an integer"):
    return _number(text, int, what)


def _positive_int(text):
    v = _int(text, "a positive integer")
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return v


def _input_shape(text):
    from .data import parse_shape
    from .errors import DataError

    try:
        return list(parse_shape(text, what="C,H,W"))
    except DataError as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[1]) from None


def _run_on_data(sub, name, help, description=None, dataset=None):
    """A subcommand that reads a run directory and a data file (evaluate, predict), or
    with ``dataset`` (its help) a built-in dataset instead."""
    cmd = sub.add_parser(name, help=help, description=description)
    cmd.add_argument("run_dir", metavar="RUN_DIR")
    if dataset is None:
        cmd.add_argument("--data", metavar="FILE", required=True)
    else:
        # NOTE: not required=True: a mistyped --dat then reads "unrecognized arguments",
        # not "one of --data --dataset is required" (the command checks it)
        src = cmd.add_mutually_exclusive_group()
        src.add_argument("--data", metavar="FILE", help="CSV, TSV, Parquet, .npy or .npz file: "
                                                        "all its rows")
        src.add_argument("--dataset", metavar="NAME", help=dataset)
    cmd.add_argument("--delimiter", type=_delimiter, default=None, metavar="CHAR",
                     help="force the CSV delimiter (detected by default)")
    return cmd


def _build_parser():
    from .train.heads import ACTIVATIONS, REGRESSION_LOSSES

    p = _Parser(prog="chainrule", description="Train neural networks by SGD with "
                                               "backpropagation, on NumPy.")
    p.add_argument("--version", action="version", version=f"chainrule {__version__}",
                   help="print 'chainrule VERSION' and exit")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    t = sub.add_parser("train", help="train a network and write a run directory",
                       formatter_class=_DefaultsFormatter,
                       description="Train an MLP (or a CNN: --model cnn) on a file or a "
                                   "built-in dataset (default: digits) and write RUN_DIR "
                                   "with the model, config, "
                                   "history.csv, metrics.json and plots.")
    src = t.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="FILE", help="CSV, TSV, Parquet, .npy or .npz file")
    src.add_argument("--dataset", metavar="NAME", help="a built-in dataset (chainrule datasets)")
    t.add_argument("--target", metavar="COL", help="the target column of --data")
    t.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                   help="auto: float target -> regression; string/bool target -> "
                        "classification; integer target -> classification if <= 20 values "
                        "and >= 5 rows per value")
    t.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                   help="mlp: Linear layers of --hidden widths; cnn: per --channels entry "
                        "Conv3x3-BatchNorm-ReLU-MaxPool2, then Linear(--hidden, default 64)-"
                        "ReLU-Linear, on images of --input-shape")
    t.add_argument("--hidden", type=_hidden, default=None, metavar="W1,W2,...",
                   help="hidden layer widths; with --model cnn one width, default 64 "
                        "(default: 256,128)")
    t.add_argument("--channels", type=_hidden, default=None, metavar="C1,C2,...",
                   help="cnn: output channels of each convolution block (default: 16,32)")
    t.add_argument("--input-shape", type=_input_shape, default=None, metavar="C,H,W",
                   help="cnn: shape of one image when the data are rows of features (a CSV); "
                        "inferred from (N, H, W) or (N, C, H, W) arrays and for digits")
    t.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                   help="hidden-layer activation")
    t.add_argument("--head", choices=("softmax", "ovr"), default=None,
                   help="classification only: multi-class strategy, softmax or one-vs-all "
                        "sigmoids (default: softmax)")
    t.add_argument("--loss", choices=sorted(REGRESSION_LOSSES), default=None,
                   help="regression only: the loss (default: squared_error)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="optimizer")
    t.add_argument("--lr", type=_positive_float, default=1e-3, help="learning rate")
    t.add_argument("--weight-decay", type=_finite_float, default=0.0,
                   help="L2 penalty (decoupled for adamw)")
    t.add_argument("--schedule", choices=SCHEDULES, default="constant",
                   help="learning-rate schedule")
    t.add_argument("--batch-size", type=_batch_size, default=32, metavar="N|full",
                   help="minibatch size, or full for full-batch gradient descent")
    t.add_argument("--epochs", type=_int, default=None,
                   help="maximum number of epochs; with --resume, extends the run to this "
                        "many (default: 50)")
    t.add_argument("--tol", type=_finite_float, default=1e-4,
                   help="convergence: minimum improvement of the monitored loss")
    t.add_argument("--patience", type=_int, default=10,
                   help="epochs without a --tol improvement before stopping")
    t.add_argument("--dropout", type=_fraction, default=0.0, help="dropout probability")
    t.add_argument("--batch-norm", action="store_true", help="batch normalisation")
    t.add_argument("--class-weight", choices=("none", "balanced"), default=None,
                   help="classification only: weight classes by inverse frequency "
                        "(default: none)")
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
    t.add_argument("--device", type=_device, default="cpu", metavar="cpu|cuda|cuda:N|auto",
                   help="where to train (auto: a GPU when CuPy sees one, else the CPU)")
    t.add_argument("--quiet", action="store_true", help="no per-epoch output")
    t.add_argument("--distributed", action="store_true",
                   help="data-parallel training over MPI: automatic when mpiexec starts "
                        "several ranks; --batch-size is then the global batch")
    t.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="BLAS threads (default: chosen per product, one for small ones and "
                        "on a busy machine)")
    tab = t.add_argument_group("tables (CSV, TSV, Parquet --data)")
    tab.add_argument("--delimiter", type=_delimiter, default=None, metavar="CHAR",
                     help="force the delimiter (',', ';', tab, space for runs of spaces); "
                          "detected by default")
    tab.add_argument("--missing", choices=("impute", "drop", "error"), default=None,
                     help="missing cells (NA, NaN, nan, N/A, null, ?, empty): impute (median "
                          "+ indicator column, or a 'missing' category), drop the rows, or "
                          "refuse them (default: impute)")
    tab.add_argument("--max-categories", type=_int, default=None, metavar="N",
                     help="refuse a string column with more distinct values (default: 50)")
    tab.add_argument("--drop", type=_names, default=None, metavar="COL,...",
                     help="columns not to use")
    tab.add_argument("--features", type=_names, default=None, metavar="COL,...",
                     help="the only columns to use as features")

    e = _run_on_data(
        sub, "evaluate", "score a trained model on labelled data",
        description="Score a trained model on labelled data: a file (--data) or a built-in "
                    "dataset (--dataset). The metrics go to standard output; with "
                    "--dataset, which rows were scored is said on standard error (and as "
                    "'split' in --json).",
        dataset="a built-in dataset (chainrule datasets): the run's own test split when the "
                "run was trained on NAME and recorded its split (seed and --test-split, as "
                "every run does), else all its rows")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")

    r = _run_on_data(sub, "predict", "predict with a trained model",
                     description="Predict for each row of --data and write a CSV file. Its "
                                 "columns: the --keep columns, cell by cell as --data writes "
                                 "them; then 'prediction', the class label or the value in the "
                                 "target's units ('prediction_0', 'prediction_1', ... for a "
                                 "model with several outputs); then, with --proba, "
                                 "'proba_<class>' for each class.")
    r.add_argument("--keep", type=_names, default=None, metavar="COL,...",
                   help="columns of --data (identifiers...) to copy, unchanged, to the front "
                        "of the output")
    r.add_argument("--proba", action="store_true", help="also write class probabilities")
    r.add_argument("--out", metavar="FILE", required=True,
                   help="CSV file to write ('-': standard output); never the input file or "
                        "a file inside the run directory")
    r.add_argument("--force", action="store_true", help="overwrite an existing --out file")

    x = sub.add_parser("export", help="export a run as one ONNX graph (needs chainrule[onnx])",
                       description="Write the run's preprocessing, network and head as one "
                                   "ONNX graph from raw feature rows to predictions.")
    x.add_argument("run_dir", metavar="RUN_DIR")
    x.add_argument("--onnx", metavar="FILE", required=True, help=".onnx file to write")
    x.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    x.add_argument("--force", action="store_true", help="overwrite an existing --onnx file")

    pl = sub.add_parser("plot", help="(re)draw a run's plots")
    pl.add_argument("run_dir", metavar="RUN_DIR")

    sub.add_parser("datasets", help="list the built-in datasets")
    return p
