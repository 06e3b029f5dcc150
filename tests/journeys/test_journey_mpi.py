"""Journey 7: two MPI ranks train the README's default run (``mpiexec -n 2 chainrule
train``: digits, the default MLP, each minibatch split over the ranks), and every other
command uses it as it would a one-process run: ``predict``, ``evaluate``, ``export --onnx``
(run in ONNX Runtime) and ``cr.load(RUN)``. Skipped where MPI is absent."""

import json

import numpy as np
import pytest
from journey_steps import (
    assert_same_predictions,
    chainrule,
    export_digits,
    load_digits_run,
    predict_digits,
)


@pytest.fixture(scope="module")
def predictions(mpi_run, digits_files, tmp_path_factory):
    return predict_digits(mpi_run.dir, digits_files,
                          tmp_path_factory.mktemp("mpi_predict") / "p.csv")


def test_two_ranks_train_one_run(mpi_run):
    out, err = mpi_run.train.stdout, mpi_run.train.stderr
    assert err.count("distributed: 2 ranks") == 1
    assert out.count("test accuracy: ") == 1 and err.count("run written to") == 1
    assert float(out.splitlines()[0].split()[2]) >= 0.95
    config = json.loads((mpi_run.dir / "config.json").read_text())
    assert config["model"]["hidden"] == [256, 128]


def test_predict(digits_files, predictions):
    labels, _ = predictions
    assert np.mean(labels == digits_files.y) >= 0.95


def test_predicts_as_the_one_process_run(digits_run, digits_files, predictions, tmp_path):
    """The global minibatch is the one-process run's: the same model, to rounding."""
    one = predict_digits(digits_run.dir, digits_files, tmp_path / "one.csv")
    assert np.mean(one[0] == predictions[0]) >= 0.995
    np.testing.assert_allclose(predictions[1], one[1], atol=1e-3)


def test_evaluate(mpi_run, digits_files, predictions, tmp_path):
    r = chainrule(tmp_path, "evaluate", mpi_run.dir, "--data", digits_files.labelled,
                  "--json")
    metrics = json.loads(r.stdout)
    assert metrics["accuracy"] == pytest.approx(np.mean(predictions[0] == digits_files.y),
                                                abs=1e-9)
    r = chainrule(tmp_path, "evaluate", mpi_run.dir, "--dataset", "digits", "--json")
    assert json.loads(r.stdout)["accuracy"] >= 0.95


def test_onnx_export_predicts_as_predict(mpi_run, digits_files, predictions, tmp_path):
    got = export_digits(mpi_run.dir, digits_files, tmp_path / "mpi.onnx")
    assert_same_predictions(got, predictions, "ONNX Runtime vs chainrule predict (MPI run)")


def test_cr_load_predicts_as_predict(mpi_run, digits_files, predictions):
    got = load_digits_run(mpi_run.dir, digits_files.X)
    assert_same_predictions(got, predictions, "cr.load(RUN) vs chainrule predict (MPI run)")
