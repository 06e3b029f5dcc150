"""The lecture examples run in fast mode, and the numbers their plots show are right."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the lecture examples plot with matplotlib")

ROOT = Path(__file__).resolve().parents[2]
LECTURE = ROOT / "examples" / "lecture"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lecture")
    sys.path.insert(0, str(LECTURE))
    results = {}

    def get(name):
        if name not in results:
            results[name] = __import__(name).main(fast=True, out=out)
            png = results[name]["png"]
            assert png == out / f"{name}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        return results[name]

    yield get
    sys.path.remove(str(LECTURE))


def test_every_example_has_a_test(run):
    import run_all

    missing = [n for n in run_all.EXAMPLES if f"test_{n}" not in globals()]
    assert not missing, missing
    scripts = {p.stem for p in LECTURE.glob("*.py")} - {"lecture_common", "run_all"}
    assert scripts == set(run_all.EXAMPLES)


def test_gd_paths(run):
    r = run("gd_paths")
    assert r["gd_final_distance"] < 1e-2                      # GD reaches the closed form
    assert r["sgd_tail_distance"] > 2 * r["minibatch_tail_distance"]   # B = 1 is noisiest
    assert r["minibatch_tail_distance"] > r["gd_tail_distance"]


def test_batch_noise(run):
    r = run("batch_noise")
    for b, v in r["variance"].items():                        # E|g_B - g|^2 = sigma^2 / |B|
        assert 0.8 < v * b / r["sigma2"] < 1.25, (b, v)
    assert abs(r["slope"] + 1) < 0.1


def test_learning_rate(run):
    r = run("learning_rate")
    start, final = r["gd_initial_excess"], r["gd_final_excess"]
    assert final["right"] < 1e-4 * start
    assert 1e-2 < final["too small"] < start                  # still crawling
    assert final["too large"] > 100 * start                   # diverged
    assert r["schedule_error"] < 1e-12                        # rho0 / (1 + k tau)
    assert r["sgd_decayed_tail"] < r["sgd_constant_tail"] / 3


def test_momentum_adam(run):
    r = run("momentum_adam")
    assert r["momentum_final_loss"] < r["sgd_final_loss"] / 10
    assert r["adam_final_loss"] < r["sgd_final_loss"] / 10
    assert r["momentum_steps_to_1e-3"] is not None and r["adam_steps_to_1e-3"] is not None


def test_linear_regression(run):
    r = run("linear_regression")
    assert r["max_difference"] < 1e-6                         # GD = lstsq
    assert r["gradient_error"] < 1e-12                        # dE/dw = (y - t) x


def test_logistic_regression(run):
    r = run("logistic_regression")
    assert r["branch_error"] < 1e-6                           # -log h, -log(1 - h)
    assert r["cost_y1"][0] > 6 and r["cost_y1"][1] < 2e-3     # wrong: large, right: ~0
    assert r["cost_y0"][0] < 2e-3 and r["cost_y0"][1] > 6
    assert r["gradient_error"] < 1e-12                        # 1/m sum (h - y) x
    assert r["accuracy"] >= 0.95


def test_stable_softmax(run):
    r = run("stable_softmax")
    assert np.isnan(r["naive_big"]).all()
    assert np.isfinite(r["stable_big"]).all()
    assert abs(r["stable_big"].sum() - 1) < 1e-6
    np.testing.assert_allclose(r["stable_big"], r["shifted"], rtol=1e-6)
    assert r["stable_all_finite"] and r["stable_sum_error"] < 1e-6
    # the first nan appears once the largest logit (s + 2) passes log(float32 max)
    assert r["overflow_limit"] - 2 - 2.5 <= r["first_nan_shift"] <= r["overflow_limit"]


def test_softmax_jacobian(run):
    r = run("softmax_jacobian")
    assert r["jacobian_error"] < 1e-6                         # diag(p) - p p^T
    assert r["row_sum"] < 1e-12
    assert r["cross_entropy_error"] < 1e-12                   # p - y


def test_ovr_vs_softmax(run):
    r = run("ovr_vs_softmax")
    assert r["accuracy_ovr"] >= 0.85 and r["accuracy_softmax"] >= 0.9
    assert r["unclaimed"] + r["contested"] > 0.05             # one-vs-all leaves gaps
    assert r["softmax_sum_error"] < 1e-12
    lo, hi = r["ovr_sum_range"]
    assert lo < 0.9 and hi > 1.1


def test_chain_rule(run):
    r = run("chain_rule")
    assert r["k1_error"] < 1e-12
    assert r["formula_error"] < 1e-12
    assert r["whole_error"] < 1e-12
    text = r["graph"].text()                                  # cr.viz of the whole network
    assert "tanh" in text and "W1  (3, 2) float64  grad (3, 2)" in text


def test_residual(run):
    r = run("residual")
    np.testing.assert_allclose(r["grad"], r["skip"] + r["through_block"], atol=1e-12)
    assert r["sum_error"] < 1e-12
    assert r["plain_norms"][-1] < 1e-2 * r["plain_norms"][0]  # vanishes without the skip
    assert r["residual_norms"][-1] > 0.5 * r["residual_norms"][0]


def test_command_line_fast_mode_from_the_environment(tmp_path):
    env = dict(os.environ, CHAINRULE_FAST="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(LECTURE / "chain_rule.py"), "--out",
                           str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "de/dW1" in proc.stdout and "max difference 0.0e+00" in proc.stdout
    assert (tmp_path / "chain_rule.png").stat().st_size > 1000
