"""What the journeys share: the ``chainrule`` console script run as a user runs it, CSV
files written and read, the data of each journey, and ONNX Runtime.

The console script (not ``python -m chainrule``) is what the README tells a user to type;
``PYTHONPATH`` points it at this checkout, whichever checkout the installed script was
installed from.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    # a floating-point warning is an error in the commands as in the suite
    env.update(PYTHONWARNINGS="error::RuntimeWarning", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    for k in [k for k in env if k.startswith(("PMI_", "OMPI_", "PMIX_", "MPI_LOCAL"))]:
        del env[k]  # a pytest itself run under mpiexec must not pass its world on
    return env


def _find(name):
    """``name`` next to this Python (a virtualenv's bin), else on PATH, else None."""
    local = BIN / name
    return str(local) if local.exists() else shutil.which(name)


def console_script():
    """The installed ``chainrule`` command; a clear failure when it is not installed."""
    exe = _find("chainrule")
    if exe is None:
        pytest.fail("the chainrule console script is not installed: pip install -e '.[dev]'")
    return exe


def mpiexec():
    """The mpiexec that mpi4py will meet; skip when MPI is absent (as tests/distributed)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install 'chainrule[mpi]')")
    exe = _find("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec found (pip install mpich, or the site's MPI)")
    return exe


def chainrule(cwd, *args, ranks=0, ok=True, timeout=300):
    """``chainrule *args`` in ``cwd`` (under ``mpiexec -n ranks`` when ranks > 0).

    Returns the CompletedProcess, with ``seconds`` (wall time); with ``ok``, fails the
    test unless it exited 0 without a traceback, showing what it printed.
    """
    cmd = [console_script(), *map(str, args)]
    if ranks:
        cmd = [mpiexec(), "-n", str(ranks), *cmd]
    start = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True,
                       timeout=timeout)
    r.seconds = time.monotonic() - start
    if ok and (r.returncode != 0 or "Traceback" in r.stderr):
        pytest.fail(f"`{' '.join(cmd[cmd.index(console_script()):])}` exited {r.returncode}"
                    f"\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}",
                    pytrace=False)
    return r


# ------------------------------------------------------------------ files
def write_csv(path, header, rows):
    """``header`` and ``rows`` as a CSV file (a None cell is written empty: missing)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([["" if v is None else v for v in row] for row in rows])
    return path


def read_csv(path):
    """``(header, rows)``: the header and each row as a dict, every cell a string."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or ()), list(reader)


def column(rows, name, dtype=str):
    return np.array([dtype(r[name]) for r in rows])


def probabilities(rows, classes):
    return np.array([[float(r[f"proba_{c}"]) for c in classes] for r in rows])


def onnx_run(path, **inputs):
    """The ONNX file's outputs on ``inputs`` in ONNX Runtime, by output name."""
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, inputs)))


# ------------------------------------------------------------------ data
def digits():
    """scikit-learn's bundled digits: features (1797, 64) float and labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data, d.target


def digits_columns():
    """The column names ``chainrule train`` gives the digits features."""
    return [f"pixel_{i}_{j}" for i in range(8) for j in range(8)]


def customers(n, seed):
    """A churn table: numeric, integer, string and missing cells, and a string label.

    Columns ``age`` (float, 6% missing), ``income`` (float, 6% missing), ``plan``
    (basic/plus/premium, 4% missing), ``region`` (north/south/east/west), ``tenure``
    (months, int), ``calls`` (support calls, int) and ``churn`` (yes/no), which follows
    a logistic law of the others (about 85% predictable).
    """
    rng = np.random.default_rng(seed)
    age = rng.normal(45, 14, n).clip(18, 90).round(1)
    income = np.exp(rng.normal(10.8, 0.5, n)).round(-2)
    plan = rng.choice(["basic", "plus", "premium"], n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], n)
    tenure = rng.integers(1, 120, n)
    calls = rng.poisson(2.0, n)
    logit = (1.2 * calls - 0.04 * tenure - 0.03 * (age - 45) + 1.5 * (plan == "basic")
             - 1.0 * (plan == "premium") + 0.8 * (region == "south")
             - 0.8 * (np.log(income) - 10.8) - 0.6)
    churn = np.where(rng.random(n) < 1 / (1 + np.exp(-2 * logit)), "yes", "no")
    cols = {"age": age.tolist(), "income": income.tolist(), "plan": plan.tolist(),
            "region": region.tolist(), "tenure": tenure.tolist(), "calls": calls.tolist()}
    for name, rate in (("age", 0.06), ("income", 0.06), ("plan", 0.04)):
        for i in np.flatnonzero(rng.random(n) < rate):
            cols[name][i] = None
    return cols, churn.tolist()


def houses(n, seed):
    """California-like house prices: ``value`` in dollars (mean ~240k, std ~110k).

    Columns ``income`` (median income, tens of thousands of dollars), ``age``, ``rooms``,
    ``latitude``, ``longitude``, ``ocean`` (a string category) and ``value``; about 90%
    of the variance of ``value`` is explained by the others.
    """
    rng = np.random.default_rng(seed)
    income = np.exp(rng.normal(1.25, 0.45, n)).round(4)
    age = rng.integers(1, 53, n)
    rooms = rng.normal(5.4, 1.1, n).clip(1.5, 10).round(3)
    latitude = rng.uniform(32.5, 42.0, n).round(2)
    longitude = (-124.3 + (42.0 - latitude) * 0.9 + rng.normal(0, 0.8, n)).round(2)
    ocean = rng.choice(["<1H OCEAN", "INLAND", "NEAR BAY", "NEAR OCEAN"], n,
                       p=[0.45, 0.3, 0.1, 0.15])
    value = (40_000 * income + 900 * age + 8_000 * (rooms - 5.4)
             - 70_000 * (ocean == "INLAND") + 30_000 * (ocean == "NEAR BAY")
             - 6_000 * (latitude - 36) + 35_000)
    value = (value + rng.normal(0, 30_000, n)).clip(15_000, None).round(-2)
    cols = {"income": income.tolist(), "age": age.tolist(), "rooms": rooms.tolist(),
            "latitude": latitude.tolist(), "longitude": longitude.tolist(),
            "ocean": ocean.tolist()}
    return cols, value.tolist()


def table_rows(cols, order=None):
    """``(header, rows)`` of a dict of columns, in ``order`` (default: as given)."""
    order = list(order or cols)
    return order, [list(r) for r in zip(*(cols[c] for c in order))]


# ------------------------------------------------------------------ a digits run, used
DIGIT_CLASSES = list(range(10))


def predict_digits(run_dir, files, out):
    """``chainrule predict RUN --data new.csv --out OUT --proba``: (labels, probabilities)."""
    chainrule(out.parent, "predict", run_dir, "--data", files.new, "--out", out, "--proba")
    header, rows = read_csv(out)
    assert header == ["prediction"] + [f"proba_{c}" for c in DIGIT_CLASSES]
    assert len(rows) == len(files.y)
    return column(rows, "prediction", int), probabilities(rows, DIGIT_CLASSES)


def export_digits(run_dir, files, out):
    """``chainrule export RUN --onnx OUT``, run in ONNX Runtime on the raw rows of new.csv:
    (labels, probabilities)."""
    r = chainrule(out.parent, "export", run_dir, "--onnx", out)
    assert f"wrote {out}" in r.stderr
    got = onnx_run(out, features=files.X)
    return got["label"], got["probabilities"]


def load_digits_run(run_dir, X):
    """``cr.load(RUN)`` in Python, fed the rows scaled as the run's metadata says:
    (labels, probabilities)."""
    import chainrule as cr

    model = cr.load(run_dir)
    _, meta = cr.io.load_with_metadata(run_dir)
    mean, scale = meta["scaler"]["mean"], meta["scaler"]["scale"]
    with cr.no_grad():
        logits = model(cr.tensor(((X - mean) / scale).astype(np.float32))).numpy()
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba = z / z.sum(axis=1, keepdims=True)
    classes = np.array(meta["classes"])
    return classes[proba.argmax(axis=1)], proba


def assert_same_predictions(got, want, what):
    """The same labels, and probabilities equal to float32 precision."""
    (labels, proba), (want_labels, want_proba) = got, want
    np.testing.assert_array_equal(labels, want_labels, err_msg=f"{what}: labels differ")
    np.testing.assert_allclose(proba, want_proba, rtol=1e-5, atol=1e-6,
                               err_msg=f"{what}: probabilities differ")
