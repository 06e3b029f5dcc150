"""Journey 2: a user's table, with string, missing and numeric cells.

``chainrule train --data customers.csv --target churn`` (the defaults), then ``chainrule
predict`` on new customers written as the user's other system writes them: the columns in
another order, an extra ``id`` column, the rows reordered. The predictions, matched by the
``id`` that ``--keep id`` carries through, are those of the same rows in the training order
of columns.
"""

import numpy as np
import pytest
from journey_steps import chainrule, column, probabilities, read_csv, table_rows, write_csv

CLASSES = ["no", "yes"]


@pytest.fixture(scope="module")
def plain(customers_run):
    """Predictions for the new rows as training saw its columns (no id, same order)."""
    d = customers_run.cwd
    header, rows = table_rows(customers_run.new)
    write_csv(d / "new.csv", header, rows)
    chainrule(d, "predict", customers_run.dir, "--data", "new.csv", "--proba", "--out",
              "plain.csv")
    header, out = read_csv(d / "plain.csv")
    assert header == ["prediction"] + [f"proba_{c}" for c in CLASSES]
    return column(out, "prediction"), probabilities(out, CLASSES)


def test_train_reads_strings_numbers_and_missing_cells(customers_run):
    line = customers_run.train.stdout.splitlines()[0]
    assert line.startswith("test accuracy: ")
    assert float(line.split()[2]) >= 0.8
    assert "task: classification (target 'churn'" in customers_run.train.stderr


def test_new_rows_are_predicted_well(customers_run, plain):
    labels, proba = plain
    assert set(labels) <= set(CLASSES)
    assert np.mean(labels == customers_run.truth) >= 0.8
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


def test_shuffled_columns_an_extra_column_and_kept_ids(customers_run, plain, tmp_path):
    new, ids = customers_run.new, customers_run.ids
    # the other system's file: id first, the columns in another order, the rows reversed
    cols = {"id": ids, **new}
    order = ["id", "calls", "region", "income", "tenure", "plan", "age"]
    assert sorted(order[1:]) == sorted(new) and order[1:] != list(new)
    header, rows = table_rows(cols, order)
    write_csv(tmp_path / "shuffled.csv", header, rows[::-1])
    chainrule(tmp_path, "predict", customers_run.dir, "--data", "shuffled.csv", "--keep",
              "id", "--proba", "--out", "p.csv")
    header, out = read_csv(tmp_path / "p.csv")
    assert sorted(header) == sorted(["id", "prediction"] + [f"proba_{c}" for c in CLASSES])
    assert column(out, "id").tolist() == ids[::-1]  # each row keeps its own id
    row_of = {name: i for i, name in enumerate(ids)}
    back = np.argsort([row_of[r["id"]] for r in out])  # the output in the plain order
    labels, proba = plain
    np.testing.assert_array_equal(column(out, "prediction")[back], labels)
    np.testing.assert_allclose(probabilities(out, CLASSES)[back], proba, rtol=1e-6,
                               atol=1e-7)
