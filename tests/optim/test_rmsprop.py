"""RMSprop against PyTorch's algorithm written out in NumPy, in float64."""

import numpy as np
import pytest
from helpers import optimizer_trajectory

import chainrule as cr
from chainrule.optim import RMSprop, rmsprop_update

THETA0 = np.array([0.5, -1.5, 2.0, 1.0, 0.25, -0.75])
GRADS = [np.random.default_rng(s).normal(size=THETA0.shape) * (1 + s) for s in range(5)]


def reference_rmsprop(theta, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                      momentum=0.0, centered=False, maximize=False):
    theta = theta.copy()
    v, gbar, b, out = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta), []
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * theta
        v = alpha * v + (1 - alpha) * g * g
        if centered:
            gbar = alpha * gbar + (1 - alpha) * g
            denom = np.sqrt(v - gbar**2) + eps
        else:
            denom = np.sqrt(v) + eps
        if momentum > 0:
            b = momentum * b + g / denom
            theta = theta - lr * b
        else:
            theta = theta - lr * g / denom
        out.append(theta)
    return out


def run(kwargs, grads=GRADS):
    return optimizer_trajectory(RMSprop, kwargs, grads, THETA0)


CONFIGS = [
    dict(),
    dict(lr=0.05, alpha=0.9, eps=1e-4),
    dict(lr=0.05, centered=True),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, alpha=0.8, momentum=0.5, centered=True),
    dict(lr=0.05, weight_decay=0.3),
    dict(lr=0.05, maximize=True),
    dict(lr=0.05, weight_decay=0.1, momentum=0.7, centered=True, maximize=True),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: ",".join(k) or "defaults")
def test_matches_reference(kwargs):
    got, _, _ = run(kwargs)
    want = reference_rmsprop(THETA0, GRADS, **kwargs)
    for t, (a, b) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg=f"step {t + 1}")


def test_state_entries_follow_the_options():
    _, opt, p = run(dict())
    assert set(opt.state[p]) == {"step", "square_avg"}
    _, opt, p = run(dict(momentum=0.9, centered=True))
    assert set(opt.state[p]) == {"step", "square_avg", "grad_avg", "momentum_buffer"}
    assert opt.state[p]["step"] == len(GRADS)
    np.testing.assert_allclose(opt.state[p]["grad_avg"],
                               sum(0.01 * 0.99 ** (4 - i) * g for i, g in enumerate(GRADS)))


def test_functional_update():
    param, g = THETA0.copy(), GRADS[0].copy()
    v = np.zeros_like(param)
    rmsprop_update(param, g, v, lr=0.1, alpha=0.5, eps=0.0)
    np.testing.assert_allclose(v, 0.5 * GRADS[0] ** 2)
    np.testing.assert_allclose(param, THETA0 - 0.1 * np.sign(GRADS[0]) * np.sqrt(2))


@pytest.mark.parametrize("kwargs, name", [(dict(centered=True), "grad_avg"),
                                          (dict(momentum=0.9), "momentum_buffer")])
def test_functional_update_names_a_missing_buffer(kwargs, name):
    param, g = THETA0.copy(), GRADS[0].copy()
    with pytest.raises(ValueError, match=name):
        rmsprop_update(param, g, np.zeros_like(param), lr=0.1, alpha=0.5, eps=1e-8, **kwargs)
    np.testing.assert_array_equal(param, THETA0)  # nothing was written


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=-0.01), "lr"),
    (dict(alpha=-0.1), "alpha"),
    (dict(alpha=1.5), "alpha"),
    (dict(eps=-1.0), "eps"),
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(momentum=-0.9), "momentum"),
])
def test_invalid_arguments(kwargs, name):
    p = cr.tensor(THETA0.copy(), requires_grad=True)
    with pytest.raises(ValueError, match=f"^invalid {name}: "):
        RMSprop([p], **kwargs)


def test_fused_is_off_by_default():
    assert RMSprop([cr.tensor(THETA0.copy(), requires_grad=True)]).fused is False
