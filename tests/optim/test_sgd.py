"""SGD against PyTorch's algorithm written out in NumPy, step by step, in float64."""

import numpy as np
import pytest
from helpers import optimizer_trajectory

import chainrule as cr
from chainrule.optim import SGD, sgd_update

THETA0 = np.array([[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]])
GRADS = [np.random.default_rng(s).normal(size=THETA0.shape) * (s + 1) for s in range(5)]


def reference_sgd(theta, grads, lr, momentum=0.0, dampening=0.0, nesterov=False,
                  weight_decay=0.0, maximize=False):
    """PyTorch's SGD: the trajectory of theta, one array a step."""
    theta, buf, out = theta.copy(), None, []
    for g in grads:
        g = -g if maximize else g.copy()
        g = g + weight_decay * theta
        if momentum != 0:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        theta = theta - lr * g
        out.append(theta)
    return out


def run(opt_kwargs, grads=GRADS, theta0=THETA0):
    return optimizer_trajectory(SGD, opt_kwargs, grads, theta0)


CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, weight_decay=0.2),
    dict(lr=0.1, maximize=True),
    dict(lr=0.05, momentum=0.7, dampening=0.5, weight_decay=0.1, maximize=True),
    dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.05, maximize=True),
    dict(lr=0.05, momentum=0.9, dampening=1.0),  # the buffer only decays after step 1
    dict(lr=0.05, momentum=1.0),  # momentum 1 is momentum, not the plain step
    dict(lr=0.05, weight_decay=1.0),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: ",".join(k))
def test_matches_reference_step_by_step(kwargs):
    got, _, _ = run(kwargs)
    want = reference_sgd(THETA0, GRADS, **kwargs)
    for t, (a, b) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14, err_msg=f"step {t + 1}")


def test_plain_step_is_theta_minus_lr_grad():
    got, _, _ = run(dict(lr=0.3), grads=GRADS[:1])
    np.testing.assert_allclose(got[0], THETA0 - 0.3 * GRADS[0], rtol=1e-15)


def test_first_momentum_buffer_is_the_gradient_not_dampened():
    _, opt, p = run(dict(lr=0.1, momentum=0.9, dampening=0.5), grads=GRADS[:1])
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], GRADS[0])
    np.testing.assert_allclose(p.data, THETA0 - 0.1 * GRADS[0], rtol=1e-15)


def test_momentum_buffer_after_two_steps():
    _, opt, p = run(dict(lr=0.1, momentum=0.9, dampening=0.25), grads=GRADS[:2])
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"],
                               0.9 * GRADS[0] + 0.75 * GRADS[1], rtol=1e-14)


def test_no_state_without_momentum():
    _, opt, p = run(dict(lr=0.1))
    assert opt.state[p] == {}
    assert opt.state_dict()["state"] == {}


def test_functional_update_in_place_and_returns_buffer():
    param, grad = THETA0.copy(), GRADS[0].copy()
    assert sgd_update(param, grad, None, lr=0.5) is None
    np.testing.assert_allclose(param, THETA0 - 0.5 * GRADS[0])
    np.testing.assert_array_equal(grad, GRADS[0])  # the gradient is not modified
    buf = sgd_update(param, grad, None, lr=0.5, momentum=0.9, weight_decay=0.1)
    np.testing.assert_allclose(buf, GRADS[0] + 0.1 * (THETA0 - 0.5 * GRADS[0]))
    before, old = param.copy(), buf.copy()
    same = sgd_update(param, grad, buf, lr=0.5, momentum=0.9)  # dampening 0, not Nesterov
    assert same is buf
    np.testing.assert_allclose(buf, 0.9 * old + GRADS[0], rtol=1e-15)
    np.testing.assert_allclose(param, before - 0.5 * buf, rtol=1e-15)


def test_defaults_are_pytorchs():
    opt = SGD([cr.tensor(THETA0.copy(), requires_grad=True)])
    assert opt.defaults == dict(lr=1e-3, momentum=0, dampening=0, nesterov=False,
                                weight_decay=0, maximize=False)
    assert opt.fused is False


def test_full_batch_gradient_descent_solves_least_squares():
    rng = np.random.default_rng(0)
    X, w_true = rng.normal(size=(50, 3)), np.array([1.0, -2.0, 0.5])
    y = X @ w_true
    w = cr.tensor(np.zeros(3), requires_grad=True)
    opt = SGD([w], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        r = cr.tensor(X) @ w - cr.tensor(y)
        ((r * r).mean() * 0.5).backward()
        opt.step()
    np.testing.assert_allclose(w.data, w_true, atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(lr=0.05), dict(lr=0.02, momentum=0.9),
                                    dict(lr=0.02, momentum=0.9, nesterov=True)])
def test_minibatch_sgd_converges(kwargs):
    rng = np.random.default_rng(1)
    X, w_true = rng.normal(size=(256, 4)), np.array([0.5, -1.0, 2.0, 0.0])
    y = X @ w_true + 0.01 * rng.normal(size=256)
    w = cr.tensor(np.zeros(4), requires_grad=True)
    opt = SGD([w], **kwargs)
    for _ in range(20):
        for idx in np.array_split(rng.permutation(256), 16):
            opt.zero_grad()
            r = cr.tensor(X[idx]) @ w - cr.tensor(y[idx])
            (r * r).mean().backward()
            opt.step()
    np.testing.assert_allclose(w.data, w_true, atol=0.02)


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=-0.1), "lr"),
    (dict(lr=0.1, momentum=-0.5), "momentum"),
    (dict(lr=0.1, weight_decay=-1e-4), "weight_decay"),
    (dict(lr=0.1, momentum=0.9, dampening=1.5), "dampening"),
    (dict(lr=0.1, nesterov=True), "nesterov"),
    (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (dict(lr=float("nan")), "lr"),
])
def test_invalid_arguments(kwargs, name):
    p = cr.tensor(THETA0.copy(), requires_grad=True)
    with pytest.raises(ValueError, match=f"^invalid {name}: "):
        SGD([p], **kwargs)
