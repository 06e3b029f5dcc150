"""Adam and AdamW against PyTorch's algorithm written out in NumPy, in float64."""

import math

import numpy as np
import pytest
from helpers import optimizer_trajectory

import chainrule as cr
from chainrule.optim import Adam, AdamW, adam_update

THETA0 = np.array([0.5, -1.5, 2.0, 1.0, 0.25, -0.75])
# Large gradients first, then small ones: v decreases, so AMSGrad's max matters.
SCALES = [3.0, 0.2, 1.0, 0.1, 0.05]
GRADS = [np.random.default_rng(s).normal(size=THETA0.shape) * c for s, c in enumerate(SCALES)]


def reference_adam(theta, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                   amsgrad=False, maximize=False, decoupled=False):
    """PyTorch's Adam (decoupled=False) and AdamW (decoupled=True)."""
    b1, b2 = betas
    theta = theta.copy()
    m, v, vmax, out = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta), []
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if decoupled:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        vmax = np.maximum(vmax, v)
        m_hat = m / (1 - b1**t)
        v_hat = (vmax if amsgrad else v) / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return out


def run(cls, kwargs, grads=GRADS):
    return optimizer_trajectory(cls, kwargs, grads, THETA0)


CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, betas=(0.8, 0.9), eps=1e-3),
    dict(lr=0.1, weight_decay=0.3),
    dict(lr=0.1, amsgrad=True),
    dict(lr=0.1, maximize=True),
    dict(lr=0.1, betas=(0.5, 0.6), weight_decay=0.2, amsgrad=True, maximize=True),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: ",".join(k))
def test_adam_matches_reference(kwargs):
    got, _, _ = run(Adam, kwargs)
    for t, (a, b) in enumerate(zip(got, reference_adam(THETA0, GRADS, **kwargs), strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg=f"step {t + 1}")


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: ",".join(k))
def test_adamw_matches_reference(kwargs):
    kwargs = {"weight_decay": 0.1, **kwargs}
    got, _, _ = run(AdamW, kwargs)
    want = reference_adam(THETA0, GRADS, decoupled=True, **kwargs)
    for t, (a, b) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg=f"step {t + 1}")


def test_amsgrad_changes_the_trajectory():
    plain, _, _ = run(Adam, dict(lr=0.1))
    ams, opt, p = run(Adam, dict(lr=0.1, amsgrad=True))
    assert not np.allclose(plain[-1], ams[-1])
    assert np.all(opt.state[p]["max_exp_avg_sq"] >= opt.state[p]["exp_avg_sq"])


def test_adamw_decay_is_decoupled_from_adam_l2():
    adam, _, _ = run(Adam, dict(lr=0.1, weight_decay=0.5))
    adamw, _, _ = run(AdamW, dict(lr=0.1, weight_decay=0.5))
    assert not np.allclose(adam[-1], adamw[-1])


def test_adamw_default_weight_decay():
    p = cr.tensor(THETA0.copy(), requires_grad=True)
    assert AdamW([p]).param_groups[0]["weight_decay"] == 1e-2
    assert Adam([p]).param_groups[0]["weight_decay"] == 0


def test_first_step_moves_each_coordinate_by_about_lr():
    # bias correction: m_hat = g, v_hat = g**2 at step 1, so the step is lr * sign(g)
    got, _, _ = run(Adam, dict(lr=0.01), grads=GRADS[:1])
    np.testing.assert_allclose(got[0], THETA0 - 0.01 * np.sign(GRADS[0]), rtol=1e-7)


def test_state_and_step_counter():
    _, opt, p = run(Adam, dict(lr=0.1))
    state = opt.state[p]
    assert state["step"] == len(GRADS) and isinstance(state["step"], int)
    b1, b2 = 0.9, 0.999
    m = sum((1 - b1) * b1 ** (len(GRADS) - 1 - i) * g for i, g in enumerate(GRADS))
    v = sum((1 - b2) * b2 ** (len(GRADS) - 1 - i) * g**2 for i, g in enumerate(GRADS))
    np.testing.assert_allclose(state["exp_avg"], m, rtol=1e-13)
    np.testing.assert_allclose(state["exp_avg_sq"], v, rtol=1e-13)
    assert "max_exp_avg_sq" not in state


def test_functional_update():
    param, grad = THETA0.copy(), GRADS[0].copy()
    m, v = np.zeros_like(param), np.zeros_like(param)
    adam_update(param, grad, m, v, step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    np.testing.assert_allclose(m, 0.1 * GRADS[0])
    np.testing.assert_allclose(v, 0.001 * GRADS[0] ** 2)
    denom = np.sqrt(v) / math.sqrt(0.001) + 1e-8
    np.testing.assert_allclose(param, THETA0 - 0.1 / 0.1 * m / denom, rtol=1e-14)
    np.testing.assert_array_equal(grad, GRADS[0])
    # weight decay is an L2 term in the gradient unless decoupled=True is asked for
    param, m, v = THETA0.copy(), np.zeros_like(param), np.zeros_like(param)
    adam_update(param, grad, m, v, step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0.5)
    np.testing.assert_allclose(m, 0.1 * (GRADS[0] + 0.5 * THETA0), rtol=1e-14)


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_defaults_are_pytorchs(cls):
    opt = cls([cr.tensor(THETA0.copy(), requires_grad=True)])
    assert opt.defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                                weight_decay=1e-2 if cls is AdamW else 0, amsgrad=False,
                                maximize=False)
    assert opt.fused is False


def test_adamw_with_weight_decay_one():
    # the largest decay still decoupled: theta shrinks by 1 - lr before the Adam step
    kwargs = dict(lr=0.1, weight_decay=1.0)
    got, _, _ = run(AdamW, kwargs)
    for t, (a, b) in enumerate(zip(got, reference_adam(THETA0, GRADS, decoupled=True, **kwargs),
                                   strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg=f"step {t + 1}")


@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=-1e-3), "lr"),
    (dict(betas=(1.0, 0.999)), r"betas\[0\]"),
    (dict(betas=(0.9, -0.1)), r"betas\[1\]"),
    (dict(betas=(0.9, 1.0)), r"betas\[1\]"),
    (dict(betas=0.9), "betas"),
    (dict(eps=-1e-8), "eps"),
    (dict(weight_decay=-0.1), "weight_decay"),
])
def test_invalid_arguments(cls, kwargs, name):
    p = cr.tensor(THETA0.copy(), requires_grad=True)
    with pytest.raises(ValueError, match=f"^invalid {name}: "):
        cls([p], **kwargs)
