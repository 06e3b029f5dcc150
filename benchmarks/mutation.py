"""Mutation testing of chainrule's core with mutmut: run before a release, not in CI.

    pip install -e ".[dev,mutation]"
    python benchmarks/mutation.py                         # every target
    python benchmarks/mutation.py ops.activation optim.adam   # some targets
    python benchmarks/mutation.py --list                  # the targets and their tests

mutmut changes one thing at a time in the code (``>`` to ``>=``, ``+`` to ``-``, a
constant, a dropped argument...) and runs the tests; a change that no test notices (a
*survivor*) is either a missing test or an equivalent change (one that cannot alter any
result). Each target mutates its own files and runs only its own test files (mutmut then
runs, for each mutant, only the tests that reach the mutated function), in a throw-away
copy of the working tree, so the checkout is never modified.

Writes ``benchmarks/results/mutation/<target>.txt``: the command, the duration, the
counts by outcome and the diff of every survivor (``--rerun-survivors``, after adding
tests, runs only those again and writes ``<target>.rerun.txt``). ``benchmarks/results/mutation.md``
lists the survivors of the last run by hand, each killed by a test or explained.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "mutation"

# the optimizers' shared tests: fused (flat) and in-place (work buffer) updates
_OPTIM = ["tests/optim/test_fused.py", "tests/optim/test_inplace.py"]

# target: (files to mutate, the test files that own them)
TARGETS = {
    "ops.activation": (["chainrule/ops/activation.py"],
                       ["tests/ops/test_activation.py", "tests/ops/test_extreme_inputs.py",
                        "tests/ops/test_fused.py"]),
    "ops.softmax": (["chainrule/ops/softmax.py"],
                    ["tests/ops/test_softmax.py", "tests/ops/test_extreme_inputs.py",
                     "tests/ops/test_fused.py"]),
    "ops.loss": (["chainrule/ops/loss.py"],
                 ["tests/ops/test_loss.py", "tests/ops/test_extreme_inputs.py",
                  "tests/ops/test_fused.py"]),
    "ops.linalg": (["chainrule/ops/linalg.py"],
                   ["tests/ops/test_linalg.py", "tests/ops/test_fused.py",
                    "tests/ops/test_activation.py"]),  # linear_relu's relu half
    "ops.reduction": (["chainrule/ops/reduction.py"],
                      ["tests/ops/test_reduction.py", "tests/ops/test_extreme_inputs.py"]),
    "ops.arithmetic": (["chainrule/ops/arithmetic.py"], ["tests/ops/test_arithmetic.py"]),
    "ops.shape": (["chainrule/ops/shape.py"], ["tests/ops/test_shape.py"]),
    "ops.exponential": (["chainrule/ops/exponential.py"], ["tests/ops/test_exponential.py"]),
    "ops.normalization": (["chainrule/ops/normalization.py"],
                          ["tests/ops/test_normalization.py", "tests/ops/test_fused.py"]),
    "ops.conv": (["chainrule/ops/conv.py"], ["tests/ops/test_conv.py"]),
    "ops.pooling": (["chainrule/ops/pooling.py", "chainrule/ops/window.py"],
                    ["tests/ops/test_pooling.py", "tests/ops/test_conv.py"]),
    "ops.random": (["chainrule/ops/random.py"], ["tests/ops/test_random.py"]),
    # test_device: apply's device check; test_viz: op_name and graph_inputs
    "autograd": (["chainrule/autograd.py"], ["tests/test_autograd.py", "tests/test_tensor.py",
                                             "tests/test_device.py", "tests/test_viz.py"]),
    # the Tensor's methods are the API the op tests call (check_op runs them on tensors)
    "tensor": (["chainrule/tensor.py", "chainrule/tensor_methods.py"],
               ["tests/test_tensor.py", "tests/test_tensor_methods.py", "tests/test_autograd.py",
                "tests/ops/test_arithmetic.py", "tests/ops/test_shape.py",
                "tests/ops/test_reduction.py", "tests/ops/test_exponential.py",
                "tests/ops/test_activation.py", "tests/ops/test_softmax.py"]),
    "optim.sgd": (["chainrule/optim/sgd.py"], [*_OPTIM, "tests/optim/test_sgd.py"]),
    "optim.adam": (["chainrule/optim/adam.py"], [*_OPTIM, "tests/optim/test_adam.py"]),
    "optim.rmsprop": (["chainrule/optim/rmsprop.py"], [*_OPTIM, "tests/optim/test_rmsprop.py"]),
    "optim.adagrad": (["chainrule/optim/adagrad.py"], [*_OPTIM, "tests/optim/test_adagrad.py"]),
    # effective_grad (weight decay, maximize) is checked by each optimizer's formula tests
    "optim.optimizer": (["chainrule/optim/optimizer.py", "chainrule/optim/_check.py"],
                        [*_OPTIM, "tests/optim/test_optimizer_base.py",
                         "tests/optim/test_check.py", "tests/optim/test_sgd.py",
                         "tests/optim/test_adam.py", "tests/optim/test_rmsprop.py",
                         "tests/optim/test_adagrad.py"]),
    "optim.clip": (["chainrule/optim/clip.py"], ["tests/optim/test_clip.py"]),
    "optim.schedulers": (["chainrule/optim/lr_scheduler.py", "chainrule/optim/_scheduler.py",
                          "chainrule/optim/plateau.py", "chainrule/optim/schedules.py"],
                         ["tests/optim/test_lr_scheduler.py"]),
    "data.loader": (["chainrule/data/loader.py"], ["tests/data/test_loader.py",
                                                 "tests/data/test_loader_shard.py"]),
    "train.heads": (["chainrule/train/heads.py"], ["tests/train/test_heads.py"]),
}

MUTMUT = """
[tool.mutmut]
source_paths = {sources}
also_copy = ["chainrule/", "tests/", "examples/"]
pytest_add_cli_args_test_selection = {tests}
pytest_add_cli_args = {pytest_args}
do_not_mutate_patterns = {patterns}
"""

# Tests that list a class's attributes see the functions mutmut adds to it (one per
# mutant) and fail in every run, the clean one included: they check an inventory, not
# values, so mutation runs leave them out.
DESELECT = ["tests/test_tensor_methods.py::test_every_method_has_a_case"]
PYTEST_ARGS = ["-p", "no:cacheprovider", "-q", "-x",
               *(arg for test in DESELECT for arg in ("--deselect", test))]

# Lines left alone: the wording of error messages and warnings. Tests pin the words that
# identify a problem (the argument, the shape, the valid values), not every letter, so
# mutating the rest of a message only adds noise to the survivors.
MESSAGE_LINES = [r"^\s*raise ", r"warnings\.warn\(", r"^\s*f[\x22\x27]",
                 r"^\s*\x22[^\x22]*\x22\)*,?\s*$"]  # \x22 is ", \x27 is ' (TOML-safe)


def _tracked_tree(dest):
    """Copy the working tree's tracked files (their current contents) to ``dest``."""
    files = subprocess.run(["git", "ls-files", "-z", "chainrule", "tests", "examples",
                            "pyproject.toml"], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def _toml_list(items):
    return "[" + ", ".join("'" + i + "'" for i in items) + "]"  # literal strings: no escapes


def _survivors(name):
    """The survivors listed in the target's last report."""
    path = OUT / f"{name}.txt"
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run the target first")
    # survived or "no tests" (a timeout was detected: the walk did not end)
    return [ln.split(":")[0] for ln in path.read_text().splitlines()
            if ln.startswith("chainrule.") and ln.endswith((": survived", ": no tests"))]


def run_target(name, jobs, rerun=False, message_lines=True):
    """Run mutmut on one target; ``rerun``: only the survivors of its last report."""
    sources, tests = TARGETS[name]
    only = _survivors(name) if rerun else []
    work = Path(tempfile.mkdtemp(prefix=f"chainrule-mutation-{name}-"))
    try:
        _tracked_tree(work)
        with open(work / "pyproject.toml", "a") as f:
            f.write(MUTMUT.format(sources=_toml_list(sources), tests=_toml_list(tests),
                                  pytest_args=_toml_list(PYTEST_ARGS),
                                  patterns=_toml_list(MESSAGE_LINES if message_lines
                                                      else [])))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children",
                              str(jobs), *only], cwd=work, env=env, capture_output=True,
                             text=True)
        seconds = time.perf_counter() - start
        listing = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                                 cwd=work, env=env, capture_output=True, text=True).stdout
        outcomes = {}
        for line in listing.splitlines():
            m = re.match(r"\s*(\S+): (.+)$", line)
            if m and (not only or m.group(1) in only):
                outcomes[m.group(1)] = m.group(2).strip()
        if run.returncode or not outcomes:
            tail = (run.stdout + run.stderr)[-3000:]
            raise RuntimeError(f"{name}: mutmut failed (exit {run.returncode}):\n{tail}")
        counts = {}
        for status in outcomes.values():
            counts[status] = counts.get(status, 0) + 1
        what = (f"rerun of the {len(only)} survivors of the previous report, " if rerun
                else "") + ("" if message_lines else "message lines mutated too, ")
        lines = [f"target {name}: mutate {', '.join(sources)}; tests {' '.join(tests)}",
                 f"mutmut run --max-children {jobs}: {what}{seconds:.0f} s, "
                 f"{len(outcomes)} mutants, "
                 + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), ""]
        for mutant, status in sorted(outcomes.items()):
            if status == "killed":
                continue
            diff = subprocess.run([sys.executable, "-m", "mutmut", "show", mutant], cwd=work,
                                  env=env, capture_output=True, text=True).stdout
            changed = [ln for ln in diff.splitlines()
                       if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
            lines += [f"{mutant}: {status}", *("    " + ln for ln in changed), ""]
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{name}{'.rerun' if rerun else ''}.txt").write_text("\n".join(lines) + "\n")
        print(lines[1], flush=True)
        return seconds, counts
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("targets", nargs="*", help="targets to run (default: all)")
    p.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    p.add_argument("--list", action="store_true", help="list the targets and exit")
    p.add_argument("--rerun-survivors", action="store_true",
                   help="run only the survivors of each target's last report (after adding "
                        "tests); use the same --all-lines setting as that run")
    p.add_argument("--all-lines", action="store_true",
                   help="mutate the wording of messages too (mutant names then differ)")
    a = p.parse_args(argv)
    if a.list:
        for name, (sources, tests) in TARGETS.items():
            print(f"{name}: {' '.join(sources)} <- {' '.join(tests)}")
        return 0
    unknown = [t for t in a.targets if t not in TARGETS]
    if unknown:
        p.error(f"unknown target(s) {', '.join(unknown)}; valid: {', '.join(TARGETS)}")
    total = 0.0
    for name in a.targets or TARGETS:
        print(f"{name} ...", flush=True)
        seconds, _ = run_target(name, a.jobs, rerun=a.rerun_survivors,
                                message_lines=not a.all_lines)
        total += seconds
    print(f"total {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
