"""BLAS threads that fit the work: one thread for small products, the user's choice kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import _blas

pytest.importorskip("threadpoolctl")


def _run(code, **env_vars):
    env = {k: v for k, v in os.environ.items() if k not in _blas.USER_VARS}
    env.update(env_vars)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(cr.__file__)),
                                         os.environ.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


PROBE = """
import json, numpy as np, chainrule as cr
from threadpoolctl import threadpool_info
def blas():  # NumPy's BLAS (SciPy may load another one)
    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    mine = [p for p in pools if "numpy" in p["filepath"]] or pools
    return mine[0]["num_threads"]
start = blas()
x = cr.tensor(np.ones((4, 8), np.float32), requires_grad=True)
lin = cr.nn.Linear(8, 3)
lin(x).sum().backward()        # a tiny product: one thread
small = blas()
{extra}
print(json.dumps([start, small, cr.get_num_threads(), {result}]))
"""


def test_small_products_run_on_one_thread():
    start, small, got, _ = _run(PROBE.format(extra="", result="0"),
                                **{"OPENBLAS_NUM_THREADS": ""})
    assert small == 1 and got == 1
    assert start >= 1


def test_a_user_environment_variable_is_left_alone():
    start, small, got, auto = _run(PROBE.format(extra="", result="cr._blas.is_automatic()"),
                                   OPENBLAS_NUM_THREADS="2")
    assert start == small == got == 2
    assert auto is False


def test_set_num_threads_fixes_the_count_until_none():
    code = PROBE.format(extra="cr.set_num_threads(2); lin(x).sum().backward(); fixed = blas()\n"
                              "cr.set_num_threads(None); lin(x).sum().backward()",
                        result="[fixed, blas(), cr._blas.is_automatic()]")
    _, _, got, (fixed, back, auto) = _run(code)
    assert fixed == 2 and back == 1 and auto is True and got == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="set_num_threads"):
        cr.set_num_threads(bad)


def test_wide_count_leaves_out_the_cores_other_processes_use(monkeypatch):
    # two samples one second apart: all CPUs busy, of which this process used one core
    ncpu = os.cpu_count() or 1
    samples = iter([(0, 100 * ncpu), (100 * ncpu, 200 * ncpu)])
    clock = iter([0.0, 1.0])
    cpu = iter([0.0, 1.0])
    monkeypatch.setattr(_blas, "_proc_stat", lambda: next(samples))
    monkeypatch.setattr(_blas.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(_blas.time, "process_time", lambda: next(cpu))
    monkeypatch.setattr(_blas, "_sample", None)
    monkeypatch.setattr(_blas, "_max", ncpu)
    _blas._look()
    _blas._look()
    assert _blas._wide == 1  # the other ncpu - 1 cores are busy with other processes


def test_results_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((64, 300)).astype(np.float32))
    lin = cr.nn.Linear(300, 200)
    before = lin(x).numpy().copy()
    try:
        cr.set_num_threads(1)
        one = lin(x).numpy()
    finally:
        cr.set_num_threads(None)
    np.testing.assert_allclose(one, before, rtol=1e-5, atol=1e-5)


def test_cli_threads_must_be_positive(capsys):
    from chainrule.cli import main

    assert main(["train", "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err


def test_numpys_blas_is_found_when_scipy_loads_its_own():
    pytest.importorskip("scipy")
    code = "import scipy.linalg\n" + PROBE.format(extra="", result="cr._blas.is_automatic()")
    _, small, got, auto = _run(code)
    assert auto is True and small == 1 and got == 1


def test_niced_work_of_other_processes_leaves_the_cores_free(monkeypatch, tmp_path):
    # /proc/stat's first line: user nice system idle iowait irq softirq steal
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 900 0 0 0 0 0 0 0 0\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: real_open(
        stat if f == "/proc/stat" else f, *a, **k))
    monkeypatch.setattr(_blas, "_own_nice", lambda: 0)
    assert _blas._proc_stat() == (100, 1000)  # the niced 900 count as free
    monkeypatch.setattr(_blas, "_own_nice", lambda: 10)
    assert _blas._proc_stat() == (1000, 1000)  # niced ourselves: they compete with us


@pytest.mark.parametrize("running, own, wide", [
    (1, 1, 4),   # only this thread runs: every core is free
    (3, 1, 2),   # two other threads run: two cores left
    (3, 3, 4),   # the others are this process's own spinning BLAS threads
    (9, 1, 1),   # more running than cores: one thread
    (2, 0, 3),   # this thread always counts as one of the running
])
def test_first_guess_leaves_out_the_threads_running_now(monkeypatch, running, own, wide):
    monkeypatch.setattr(_blas, "_running_threads", lambda: (running, own))
    monkeypatch.setattr(_blas.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(_blas, "_max", 4)
    assert _blas._free_now() == wide


def test_first_guess_is_one_thread_without_proc(monkeypatch):
    def unreadable():
        raise OSError("no /proc")

    monkeypatch.setattr(_blas, "_running_threads", unreadable)
    monkeypatch.setattr(_blas, "_max", 4)
    assert _blas._free_now() == 1


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="needs Linux's /proc")
def test_running_threads_counts_this_thread():
    running, own = _blas._running_threads()
    assert running >= 1 and own >= 1  # the reading thread itself is running


def test_the_first_guess_is_the_wide_count_until_the_first_reading(monkeypatch):
    for name in _blas.USER_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in (("_ready", False), ("_auto", True), ("_setter", None), ("_max", 1),
                        ("_wide", 1), ("_current", None), ("_sample", None)):
        monkeypatch.setattr(_blas, name, value)  # restored after the test
    monkeypatch.setattr(_blas, "_find_blas", lambda: (lambda n: None, 4))
    monkeypatch.setattr(_blas, "_free_now", lambda: 3)
    _blas._init()
    assert _blas._wide == 3  # _init's own first reading has no interval to measure yet
