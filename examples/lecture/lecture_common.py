"""Plumbing shared by the lecture examples: the command line, fast mode, saving a figure.

Every example is ``python examples/lecture/NAME.py [--fast] [--out DIR]``; ``--fast`` (or
the environment variable ``CHAINRULE_FAST=1``) runs fewer steps, which is what the tests
run. Each writes ``DIR/NAME.png`` (default ``examples/lecture/figures/``) and prints the
numbers its plot shows; each has a ``main(fast=False, out=None)`` that returns them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)

HERE = Path(__file__).resolve().parent


def fast_mode(fast: bool | None) -> bool:
    """``fast`` if given, else whether ``CHAINRULE_FAST`` is set to something other than 0."""
    if fast is not None:
        return bool(fast)
    return os.environ.get("CHAINRULE_FAST", "0") not in ("", "0")


def cli(main, doc: str) -> None:
    """Parse ``--fast`` and ``--out`` and call ``main(fast=..., out=...)``."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--fast", action="store_true", default=None,
                        help="fewer steps and points (what the tests run); "
                             "CHAINRULE_FAST=1 does the same")
    parser.add_argument("--out", default=None,
                        help="folder for the PNG (default: examples/lecture/figures)")
    args = parser.parse_args()
    main(fast=args.fast, out=args.out)


def save(fig, name: str, out) -> Path:
    """Write ``fig`` to ``out/name.png`` (atomically), close it and say where it went."""
    folder = Path(out) if out is not None else HERE / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    tmp = folder / f".{name}.png.tmp"
    fig.savefig(tmp, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    print(f"wrote {path}")
    return path
