"""End-to-end convergence: backpropagation + (stochastic) gradient descent solve the problems
of the lecture.

Each test builds a model from chainrule.nn, writes the training loop by hand in PyTorch
style (``opt.zero_grad(); loss = loss_fn(model(X), y); loss.backward(); opt.step()``)
and checks the result against a known answer: the least-squares solution, the closed-form
logistic-regression gradient, or a training accuracy. Seeds are fixed (``cr.manual_seed``
for the weights, NumPy generators for the data), so every run is the same.
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

# ---------------------------------------------------------------- data


def _regression(n=200, d=3, noise=0.1, seed=0):
    """y = X w + b + noise, and the least-squares (w, b) from np.linalg.lstsq."""
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, d))
    y = X @ np.array([1.5, -2.0, 0.5])[:d] + 0.7 + noise * r.normal(size=n)
    A = np.hstack([X, np.ones((n, 1))])
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    best = np.mean((A @ sol - y) ** 2)
    return X, y[:, None], sol[:d], sol[d], best


def _separable_2d(n=200, margin=0.5, seed=0):
    """Two classes split by the line x0 + 2 x1 = 1, no point closer than ``margin``."""
    r = np.random.default_rng(seed)
    X = r.uniform(-3, 3, size=(4 * n, 2))
    s = (X[:, 0] + 2 * X[:, 1] - 1) / np.sqrt(5)
    keep = np.abs(s) > margin
    X, s = X[keep][:n], s[keep][:n]
    return X, (s > 0).astype(np.float64)


def _blobs(n_per_class=100, seed=0):
    """Three well-separated Gaussian blobs: a linearly separable 3-class problem."""
    r = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [-3.0, -2.0], [3.0, -2.0]])
    X = np.concatenate([c + 0.8 * r.normal(size=(n_per_class, 2)) for c in centers])
    y = np.repeat(np.arange(3), n_per_class)
    return X, y


def _spiral(n_per_class=100, classes=3, seed=0):
    """CS231n's spiral: ``classes`` arms of ``n_per_class`` points, not linearly separable."""
    r = np.random.default_rng(seed)
    X = np.zeros((n_per_class * classes, 2))
    y = np.zeros(n_per_class * classes, dtype=np.int64)
    for j in range(classes):
        ix = slice(n_per_class * j, n_per_class * (j + 1))
        radius = np.linspace(0.0, 1.0, n_per_class)
        theta = (np.linspace(j * 4, (j + 1) * 4, n_per_class)
                 + 0.2 * r.normal(size=n_per_class))
        X[ix] = np.c_[radius * np.sin(theta), radius * np.cos(theta)]
        y[ix] = j
    return X, y


def _fit(model, loss_fn, X, y, opt, steps):
    """Full-batch training: one step on the whole data set per iteration; the losses."""
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _accuracy(model, X, y):
    model.eval()
    with cr.no_grad():
        out = model(X).numpy()
    model.train()
    pred = out.argmax(axis=1) if out.shape[1] > 1 else (out[:, 0] > 0).astype(y.dtype)
    return float(np.mean(pred == y))


# ---------------------------------------------------------------- linear regression
def test_full_batch_gradient_descent_reaches_least_squares():
    X, y, w_star, b_star, best = _regression()
    cr.manual_seed(0)
    model = nn.Linear(3, 1).double()
    loss_fn = nn.MSELoss()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    losses = _fit(model, loss_fn, cr.tensor(X), y, opt, steps=300)
    np.testing.assert_allclose(model.weight.data[0], w_star, atol=1e-4)
    np.testing.assert_allclose(model.bias.data[0], b_star, atol=1e-4)
    assert losses[-1] == pytest.approx(best, rel=1e-6)
    assert all(b <= a + 1e-15 for a, b in zip(losses, losses[1:]))  # GD on a convex quadratic


def test_lecture_update_by_hand_matches_sgd():
    # w <- w - alpha dE/dw with E = 1/2 (y - t)^2 summed, written out with .grad and no_grad.
    X, y, w_star, b_star, _ = _regression(n=50, noise=0.0)
    cr.manual_seed(0)
    model = nn.Linear(3, 1).double()
    loss_fn = nn.MSELoss(reduction="sum", half=True)
    alpha = 0.01
    Xt = cr.tensor(X)
    for _ in range(500):
        model.zero_grad()
        loss_fn(model(Xt), y).backward()
        with cr.no_grad():
            for p in model.parameters():
                p.data -= alpha * p.grad
    np.testing.assert_allclose(model.weight.data[0], w_star, atol=1e-8)
    np.testing.assert_allclose(model.bias.data[0], b_star, atol=1e-8)


# ---------------------------------------------------------------- logistic regression
@pytest.mark.parametrize("head", ["logits", "sigmoid"])
def test_logistic_regression_separates_separable_data(head):
    X, y = _separable_2d()
    cr.manual_seed(0)
    if head == "logits":
        model, loss_fn = nn.Linear(2, 1), nn.BCEWithLogitsLoss()
    else:
        model, loss_fn = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), nn.BCELoss()
    Xt = cr.tensor(X.astype(np.float32))
    opt = cr.optim.SGD(model.parameters(), lr=0.5)
    losses = _fit(model, loss_fn, Xt, y[:, None], opt, steps=300)
    with cr.no_grad():
        out = model(Xt).numpy()[:, 0]
    pred = out > (0 if head == "logits" else 0.5)
    assert np.mean(pred == y) == 1.0
    assert losses[-1] < 0.1 * losses[0]


@pytest.mark.parametrize("head", ["logits", "sigmoid"])
def test_logistic_regression_gradient_is_the_lectures_closed_form(head):
    # J = -1/m sum[y log h + (1 - y) log(1 - h)]  =>  dJ/dtheta_j = 1/m sum (h - y) x_j
    X, y = _separable_2d(n=40, seed=1)
    cr.manual_seed(3)
    lin = nn.Linear(2, 1).double()
    if head == "logits":
        model, loss_fn = lin, nn.BCEWithLogitsLoss()
    else:
        model, loss_fn = nn.Sequential(lin, nn.Sigmoid()), nn.BCELoss()
    loss = loss_fn(model(cr.tensor(X)), y[:, None])
    loss.backward()
    w, b = lin.weight.data[0], lin.bias.data[0]
    h = 1 / (1 + np.exp(-(X @ w + b)))
    m = len(y)
    assert loss.item() == pytest.approx(-np.mean(y * np.log(h) + (1 - y) * np.log(1 - h)),
                                        rel=1e-12)
    np.testing.assert_allclose(lin.weight.grad[0], (h - y) @ X / m, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(lin.bias.grad[0], np.sum(h - y) / m, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- multi-class
def test_softmax_regression_on_blobs():
    X, y = _blobs()
    cr.manual_seed(0)
    model = nn.Linear(2, 3)
    Xt = cr.tensor(X.astype(np.float32))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    _fit(model, nn.CrossEntropyLoss(), Xt, y, opt, steps=200)
    assert _accuracy(model, Xt, y) >= 0.95


def test_one_vs_all_on_blobs():
    # The lecture's N binary classifiers: one sigmoid output per class, each trained with
    # BCE on its own column of the one-hot targets; predict the most confident one.
    X, y = _blobs()
    onehot = np.eye(3)[y]
    cr.manual_seed(0)
    model = nn.Linear(2, 3)
    Xt = cr.tensor(X.astype(np.float32))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    _fit(model, nn.BCEWithLogitsLoss(), Xt, onehot, opt, steps=300)
    assert _accuracy(model, Xt, y) >= 0.95
    # Each column really is a binary classifier of its own class.
    with cr.no_grad():
        out = model(Xt).numpy()
    for c in range(3):
        assert np.mean((out[:, c] > 0) == (y == c)) >= 0.9


def test_mlp_beats_softmax_regression_on_the_spiral():
    X, y = _spiral()
    Xt = cr.tensor(X.astype(np.float32))
    loss_fn = nn.CrossEntropyLoss()

    cr.manual_seed(0)
    linear = nn.Linear(2, 3)
    _fit(linear, loss_fn, Xt, y, cr.optim.SGD(linear.parameters(), lr=0.5), steps=200)
    linear_acc = _accuracy(linear, Xt, y)

    cr.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(2, 100), nn.ReLU(), nn.Linear(100, 3))
    losses = _fit(mlp, loss_fn, Xt, y, cr.optim.Adam(mlp.parameters(), lr=0.02), steps=500)
    mlp_acc = _accuracy(mlp, Xt, y)

    # A linear classifier cuts the spiral into three sectors: about half right, never all.
    assert 0.45 < linear_acc < 0.7
    assert mlp_acc >= 0.95
    assert losses[-1] < 0.1


def test_mlp_learns_xor():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    Xt = cr.tensor(X.astype(np.float32))
    losses = _fit(model, nn.BCEWithLogitsLoss(), Xt, y[:, None],
                  cr.optim.Adam(model.parameters(), lr=0.05), steps=300)
    with cr.no_grad():
        out = model(Xt).numpy()[:, 0]
    np.testing.assert_array_equal(out > 0, y == 1)
    assert losses[-1] < 0.05


# ---------------------------------------------------------------- deep residual network
def test_residual_mlp_with_8_blocks_trains():
    r = np.random.default_rng(0)
    X = r.uniform(-2, 2, size=(128, 4))
    y = (np.sin(X[:, :1]) + X[:, 1:2] * X[:, 2:3] - 0.5 * X[:, 3:4]).astype(np.float32)
    cr.manual_seed(0)
    width = 16
    blocks = [nn.Residual(nn.Sequential(nn.Linear(width, width), nn.ReLU(),
                                        nn.Linear(width, width)))
              for _ in range(8)]
    model = nn.Sequential(nn.Linear(4, width), *blocks, nn.Linear(width, 1))
    assert len([m for m in model.modules() if isinstance(m, nn.Residual)]) == 8
    Xt = cr.tensor(X.astype(np.float32))
    losses = _fit(model, nn.MSELoss(), Xt, y, cr.optim.SGD(model.parameters(), lr=0.005,
                                                          momentum=0.9), steps=150)
    assert np.all(np.isfinite(losses))
    assert all(np.all(np.isfinite(p.data)) for p in model.parameters())
    assert losses[-1] < 0.2 * losses[0]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])


# ---------------------------------------------------------------- stochastic gradient descent
def _minibatch_sgd(model, X, y, opt, epochs, batch_size, seed, scheduler=None):
    r = np.random.default_rng(seed)
    loss_fn = nn.MSELoss()
    n = len(X)
    for _ in range(epochs):
        order = r.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]  # B ~ a random subset of the indices
            opt.zero_grad()
            loss = loss_fn(model(cr.tensor(X[idx])), y[idx])
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()


def test_minibatch_sgd_with_inverse_time_decay_converges():
    # rho(tau) = rho0 / (1 + k tau), stepped once per batch: the Robbins-Monro rates.
    X, y, w_star, b_star, _ = _regression(n=200, noise=0.5, seed=1)
    cr.manual_seed(0)
    model = nn.Linear(3, 1).double()
    rho0, k = 0.1, 0.01
    opt = cr.optim.SGD(model.parameters(), lr=rho0)
    sched = cr.optim.lr_scheduler.InverseTimeLR(opt, decay_rate=k)
    epochs, batch_size = 60, 10
    _minibatch_sgd(model, X, y, opt, epochs, batch_size, seed=2, scheduler=sched)
    steps = epochs * (200 // batch_size)
    assert opt.param_groups[0]["lr"] == pytest.approx(rho0 / (1 + k * steps), rel=1e-12)
    np.testing.assert_allclose(model.weight.data[0], w_star, atol=5e-3)
    np.testing.assert_allclose(model.bias.data[0], b_star, atol=5e-3)


def test_minibatch_sgd_constant_rate_stalls_where_decay_converges():
    # The same problem with a constant rate keeps jittering around the optimum (the
    # gradient noise never averages out), so the decay above is what makes it converge.
    X, y, w_star, b_star, _ = _regression(n=200, noise=0.5, seed=1)
    errors = {}
    for decay in (0.0, 0.01):
        cr.manual_seed(0)
        model = nn.Linear(3, 1).double()
        opt = cr.optim.SGD(model.parameters(), lr=0.1)
        sched = cr.optim.lr_scheduler.InverseTimeLR(opt, decay_rate=decay)
        _minibatch_sgd(model, X, y, opt, 60, 10, seed=2, scheduler=sched)
        errors[decay] = np.abs(np.append(model.weight.data[0] - w_star,
                                         model.bias.data[0] - b_star)).max()
    assert errors[0.01] < 0.5 * errors[0.0]


@pytest.mark.parametrize("make_opt", [
    lambda ps: cr.optim.SGD(ps, lr=0.02, momentum=0.9),
    lambda ps: cr.optim.SGD(ps, lr=0.02, momentum=0.9, nesterov=True),
    lambda ps: cr.optim.Adam(ps, lr=0.05),
], ids=["momentum", "nesterov", "adam"])
def test_momentum_and_adam_reach_a_low_loss(make_opt):
    X, y, w_star, b_star, best = _regression(seed=3)
    cr.manual_seed(0)
    model = nn.Linear(3, 1).double()
    losses = _fit(model, nn.MSELoss(), cr.tensor(X), y, make_opt(model.parameters()),
                  steps=300)
    assert losses[-1] < best + 1e-4
    np.testing.assert_allclose(model.weight.data[0], w_star, atol=1e-2)
    np.testing.assert_allclose(model.bias.data[0], b_star, atol=1e-2)


def test_momentum_beats_plain_gd_on_an_ill_conditioned_problem():
    # Loss curvatures 2 var(x_j): 0.18, 2 and 18 (and 2 for the bias). Plain GD at a rate
    # stable for the steepest one crawls along the flattest (factor 1 - 0.009 per step);
    # heavy-ball momentum contracts by about sqrt(0.9) per step there.
    X, y, *_ = _regression(seed=4)
    X = X * np.array([1.0, 0.3, 3.0])
    A = np.hstack([X, np.ones((len(X), 1))])
    sol = np.linalg.lstsq(A, y[:, 0], rcond=None)[0]
    best = np.mean((A @ sol - y[:, 0]) ** 2)
    gaps = {}
    for momentum in (0.0, 0.9):
        cr.manual_seed(0)
        model = nn.Linear(3, 1).double()
        opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=momentum)
        losses = _fit(model, nn.MSELoss(), cr.tensor(X), y, opt, steps=200)
        gaps[momentum] = losses[-1] - best
    assert gaps[0.9] < 1e-6 < gaps[0.0]
