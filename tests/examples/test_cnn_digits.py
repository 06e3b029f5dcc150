"""examples/cnn_digits.py runs: a short run already classifies most test digits and plots."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="the digits come from scikit-learn")
pytest.importorskip("matplotlib", reason="the example plots with matplotlib")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "cnn_digits.py"


def test_cnn_digits_short_run(tmp_path):
    spec = importlib.util.spec_from_file_location("cnn_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(epochs=3, seed=0, out=str(tmp_path))
    assert result["accuracy"] >= 0.9
    assert result["losses"][-1] < result["losses"][0]
    assert (tmp_path / "cnn_digits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
