"""Run every lecture example and write all their plots into one folder.

Run: python examples/lecture/run_all.py [--fast] [--out DIR]
(the documentation's figures: python examples/lecture/run_all.py --out docs/img/lecture)
"""

from __future__ import annotations

import importlib
import time

from lecture_common import cli

EXAMPLES = ("gd_paths", "batch_noise", "learning_rate", "momentum_adam", "linear_regression",
            "logistic_regression", "stable_softmax", "softmax_jacobian", "ovr_vs_softmax",
            "chain_rule", "residual")


def main(fast: bool | None = None, out=None) -> dict:
    results = {}
    for name in EXAMPLES:
        start = time.perf_counter()
        print(f"== {name}")
        results[name] = importlib.import_module(name).main(fast=fast, out=out)
        print(f"   ({time.perf_counter() - start:.1f} s)")
    return results


if __name__ == "__main__":
    cli(main, __doc__)
