"""Adagrad against PyTorch's algorithm written out in NumPy, in float64."""

import numpy as np
import pytest
from helpers import optimizer_trajectory

import chainrule as cr
from chainrule.optim import Adagrad, adagrad_update

THETA0 = np.array([0.5, -1.5, 2.0, 1.0, 0.25, -0.75])
GRADS = [np.random.default_rng(s).normal(size=THETA0.shape) * (1 + s) for s in range(5)]


def reference_adagrad(theta, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                      initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    theta = theta.copy()
    s, out = np.full_like(theta, initial_accumulator_value), []
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        g = g + weight_decay * theta
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        theta = theta - clr * g / (np.sqrt(s) + eps)
        out.append(theta)
    return out


def run(kwargs, grads=GRADS):
    return optimizer_trajectory(Adagrad, kwargs, grads, THETA0)


CONFIGS = [
    dict(),
    dict(lr=0.5, lr_decay=0.3),
    dict(lr=0.5, weight_decay=0.2),
    dict(lr=0.5, initial_accumulator_value=0.7),
    dict(lr=0.5, eps=0.1),
    dict(lr=0.5, maximize=True),
    dict(lr=0.5, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.2,
         maximize=True),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: ",".join(k) or "defaults")
def test_matches_reference(kwargs):
    got, _, _ = run(kwargs)
    want = reference_adagrad(THETA0, GRADS, **kwargs)
    for t, (a, b) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg=f"step {t + 1}")


def test_accumulator_is_the_sum_of_squares():
    _, opt, p = run(dict(initial_accumulator_value=0.5))
    np.testing.assert_allclose(opt.state[p]["sum"], 0.5 + sum(g * g for g in GRADS))
    assert opt.state[p]["step"] == len(GRADS)


def test_functional_update_lr_decay():
    param, g = THETA0.copy(), GRADS[0].copy()
    s = np.zeros_like(param)
    adagrad_update(param, g, s, step=3, lr=0.6, lr_decay=0.5, eps=0.0)
    np.testing.assert_allclose(param, THETA0 - 0.3 * np.sign(GRADS[0]))  # 0.6 / (1 + 2 * 0.5)


def test_functional_update_defaults():
    # lr_decay 0 (the rate stays lr at step 3) and eps 1e-10
    param, g = THETA0.copy(), GRADS[0].copy()
    adagrad_update(param, g, np.zeros_like(param), step=3, lr=0.6)
    np.testing.assert_allclose(param, THETA0 - 0.6 * g / (np.abs(g) + 1e-10), rtol=1e-14)


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=-0.01), "lr"),
    (dict(lr_decay=-0.1), "lr_decay"),
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (dict(eps=-1.0), "eps"),
])
def test_invalid_arguments(kwargs, name):
    p = cr.tensor(THETA0.copy(), requires_grad=True)
    with pytest.raises(ValueError, match=f"^invalid {name}: "):
        Adagrad([p], **kwargs)


def test_fused_is_off_by_default():
    assert Adagrad([cr.tensor(THETA0.copy(), requires_grad=True)]).fused is False
