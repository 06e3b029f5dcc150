"""The argument checks shared by the optimizers and the schedulers (``optim/_check.py``)."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import SGD
from chainrule.optim._check import (
    build,
    choice,
    in_range,
    integer,
    is_real,
    non_negative,
    positive,
)
from chainrule.optim.lr_scheduler import StepLR


def test_is_real():
    assert is_real(0.5) and is_real(-3) and is_real(np.float32(2.0))
    assert not is_real(True) and not is_real("1") and not is_real(None)


@pytest.mark.parametrize("check, ok, bad, rule", [
    (non_negative, [0, 0.0, 2.5], [-1e-9, float("nan"), True, "1"], "a number >= 0"),
    (positive, [1e-9, 3], [0, -1, float("nan"), True], "a number > 0"),
])
def test_sign_checks(check, ok, bad, rule):
    for v in ok:
        assert check("x", v) == v
    for v in bad:
        with pytest.raises(ValueError, match=rf"^invalid x: .* \(must be {rule}\)$"):
            check("x", v)


def test_in_range_is_half_open_unless_hi_closed():
    assert in_range("a", 0.0, 0, 1) == 0.0 and in_range("a", 0.999, 0, 1) == 0.999
    assert in_range("a", 1.0, 0, 1, hi_closed=True) == 1.0
    for v in (1.0, 2.0, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match=r"^invalid a: .* \(must be in \[0, 1\)\)$"):
            in_range("a", v, 0, 1)
    for v in (1.5, -0.1):
        with pytest.raises(ValueError, match=r"^invalid a: .* \(must be in \[0, 1\]\)$"):
            in_range("a", v, 0, 1, hi_closed=True)


def test_integer():
    assert integer("n", 0) == 0 and integer("n", 5, minimum=5) == 5
    got = integer("n", np.int64(3))
    assert got == 3 and type(got) is int
    for v, minimum in ((-1, 0), (4, 5), (1.0, 0), (True, 0)):
        with pytest.raises(ValueError, match=rf"^invalid n: .* \(must be an integer >= "
                                             rf"{minimum}\)$"):
            integer("n", v, minimum)


def test_choice():
    assert choice("mode", "max", ("min", "max")) == "max"
    with pytest.raises(ValueError, match=r"^invalid mode: 'mean' \(must be one of 'min', "
                                         r"'max'\)$"):
        choice("mode", "mean", ("min", "max"))


def test_build_normalises_the_name_applies_defaults_and_refuses_unknowns():
    p = cr.tensor(np.ones(3), requires_grad=True)
    registry = {"momentum": (SGD, {"momentum": 0.5})}
    opt = build(registry, "optimizer", " Momentum ", [p], lr=0.1)
    assert type(opt) is SGD and opt.defaults["momentum"] == 0.5 and opt.defaults["lr"] == 0.1
    assert build(registry, "optimizer", "momentum", [p], lr=0.1, momentum=0.7) \
        .defaults["momentum"] == 0.7
    with pytest.raises(ValueError, match=r"^unknown optimizer 'adam'; valid names: momentum$"):
        build(registry, "optimizer", "adam", [p], lr=0.1)
    with pytest.raises(ValueError, match=r"^optimizer 'momentum': unknown keyword "
                                         r"argument\(s\) params, rho$"):
        build(registry, "optimizer", "momentum", lr=0.1, params=[p], rho=1)
    schedules = {"step": (StepLR, {})}
    with pytest.raises(ValueError, match=r"^schedule 'step': unknown keyword argument\(s\) "
                                         r"optimizer$"):
        build(schedules, "schedule", "step", step_size=2, optimizer=SGD([p], lr=0.1))
