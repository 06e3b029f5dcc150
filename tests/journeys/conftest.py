"""The runs the journeys share, each trained once per session at its default sizes.

A fixture trains what a user would train (``chainrule train`` with the defaults of what the
journey exercises) into a temporary directory; the journey's tests then use that run
directory and the files the fixture wrote, as the next command a user types would.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from journey_steps import (
    chainrule,
    customers,
    digits,
    digits_columns,
    houses,
    table_rows,
    write_csv,
)


@pytest.fixture(scope="session")
def digits_files(tmp_path_factory):
    """Digits feature rows as a user's CSV files: ``new.csv`` (features only) and
    ``labelled.csv`` (features and ``target``); every third digit, 599 rows."""
    d = tmp_path_factory.mktemp("digits_files")
    X, y = digits()
    X, y = X[::3], y[::3]
    names = digits_columns()
    write_csv(d / "new.csv", names, X.astype(int).tolist())
    write_csv(d / "labelled.csv", names + ["target"],
              [[*map(int, x), int(t)] for x, t in zip(X, y)])
    return SimpleNamespace(new=d / "new.csv", labelled=d / "labelled.csv",
                           X=X.astype(np.float32), y=y)


def _train(tmp_path_factory, name, *args, ranks=0):
    d = tmp_path_factory.mktemp(name)
    r = chainrule(d, "train", *args, "--out", d / "run", ranks=ranks)
    return SimpleNamespace(dir=d / "run", cwd=d, train=r)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """Journey 1: the README's first command, ``chainrule train`` (default everything)."""
    return _train(tmp_path_factory, "readme")


@pytest.fixture(scope="session")
def cnn_run(tmp_path_factory):
    """Journey 4: ``chainrule train --model cnn`` (the default CNN on digits)."""
    return _train(tmp_path_factory, "cnn", "--model", "cnn")


@pytest.fixture(scope="session")
def mpi_run(tmp_path_factory):
    """Journey 7: ``mpiexec -n 2 chainrule train`` (default everything, two ranks)."""
    return _train(tmp_path_factory, "mpi", ranks=2)


@pytest.fixture(scope="session")
def customers_run(tmp_path_factory):
    """Journey 2: a 3,000-row churn table (string, missing and numeric cells) trained with
    the defaults; ``new`` holds 500 new customers (no target) in the training order of
    columns, with their ids and true labels alongside."""
    d = tmp_path_factory.mktemp("customers")
    cols, churn = customers(3500, seed=0)
    header, rows = table_rows(cols)
    write_csv(d / "customers.csv", header + ["churn"],
              [r + [c] for r, c in zip(rows[:3000], churn[:3000])])
    r = chainrule(d, "train", "--data", "customers.csv", "--target", "churn", "--out",
                  d / "run")
    new = {k: v[3000:] for k, v in cols.items()}
    ids = [f"C{10000 + i}" for i in range(500)]
    return SimpleNamespace(dir=d / "run", cwd=d, train=r, new=new, ids=ids,
                           truth=np.array(churn[3000:]))


@pytest.fixture(scope="session")
def houses_run(tmp_path_factory):
    """Journey 3: 4,000 California-like houses (price in dollars) trained with the
    defaults; ``holdout.csv`` holds 1,000 other houses with their prices."""
    d = tmp_path_factory.mktemp("houses")
    cols, value = houses(5000, seed=1)
    header, rows = table_rows(cols)
    write_csv(d / "houses.csv", header + ["value"],
              [r + [v] for r, v in zip(rows[:4000], value[:4000])])
    write_csv(d / "holdout.csv", header + ["value"],
              [r + [v] for r, v in zip(rows[4000:], value[4000:])])
    r = chainrule(d, "train", "--data", "houses.csv", "--target", "value", "--out", d / "run")
    return SimpleNamespace(dir=d / "run", cwd=d, train=r, holdout=d / "holdout.csv",
                           train_values=np.array(value[:4000]),
                           holdout_values=np.array(value[4000:]))
