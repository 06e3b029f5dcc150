"""fused=True: one update per parameter group on flat buffers, bitwise equal to unfused."""

import numpy as np
import pytest
from helpers import check_fast_training

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim

CASES = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    (optim.Adam, dict(lr=1e-2, amsgrad=True, weight_decay=1e-3)),
    (optim.AdamW, dict(lr=1e-2)),
    (optim.RMSprop, dict(lr=1e-2, momentum=0.5, centered=True)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01)),
]


def _model():
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def _train(model, opt, steps, seed=1, skip_bias_at=None):
    rng = np.random.default_rng(seed)
    for i in range(steps):
        x = rng.standard_normal((8, 5)).astype(np.float32)
        y = rng.integers(0, 3, 8)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if i == skip_bias_at:
            model[2].bias.grad = None  # this step cannot be fused
        opt.step()
    return [p.data.copy() for p in model.parameters()]


@pytest.mark.parametrize("cls, kw", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_fused_equals_per_parameter_bitwise_across_a_state_dict_round_trip(cls, kw):
    results = []
    for fused in (False, True):
        model = _model()
        opt = cls(model.parameters(), fused=fused, **kw)
        _train(model, opt, 4)
        again = cls(model.parameters(), fused=fused, **kw)
        again.load_state_dict(opt.state_dict())
        results.append(_train(model, again, 3, seed=2))
        if fused:
            assert len(again._flat) == 1  # it really ran fused
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_parameters_become_views_of_one_buffer_and_keep_their_layout():
    model = _model()
    opt = optim.Adam(model.parameters(), lr=1e-2, fused=True)
    _train(model, opt, 1)
    flat = opt._flat[0]
    for p in model.parameters():
        assert p.data.base is flat.param
    assert model[0].weight.data.flags.f_contiguous  # Linear keeps its Fortran order
    assert opt.state[model[0].weight]["exp_avg"].base is flat.state["exp_avg"]


def test_a_step_that_cannot_be_fused_falls_back_and_stays_exact():
    runs = []
    for fused in (False, True):
        model = _model()
        opt = optim.Adam(model.parameters(), lr=1e-2, fused=fused)
        runs.append(_train(model, opt, 5, skip_bias_at=2))
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


def test_rebinding_a_parameter_rebuilds_the_buffers():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, fused=True)
    _train(model, opt, 2)
    model[0].weight.data = model[0].weight.data * 0.5  # e.g. a user edit
    _train(model, opt, 1)
    assert model[0].weight.data.base is opt._flat[0].param


def test_a_pickled_copy_rebuilds_its_buffers_and_trains_identically():
    import pickle

    model = _model()
    opt = optim.Adam(model.parameters(), lr=1e-2, fused=True)
    _train(model, opt, 2)
    model2, opt2 = pickle.loads(pickle.dumps((model, opt)))
    assert opt2._flat == {} and opt2._scratch == {} and opt2._mine == {}  # not pickled
    a = _train(model, opt, 3, seed=5)
    b = _train(model2, opt2, 3, seed=5)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert model2[0].weight.data.base is opt2._flat[0].param


def _setup(cls, kw, fused):
    model = _model()  # seeded: both paths start from the same weights
    opt = cls(model.parameters(), fused=fused, **kw)

    def step(x, y):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return model, step


def _batches(n, seed=3):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 3, 8))
            for _ in range(n)]


@pytest.mark.parametrize("cls, kw", CASES + [(optim.SGD, dict(lr=0.1, maximize=True)),
                                             (optim.Adam, dict(lr=1e-2, maximize=True))],
                         ids=lambda c: getattr(c, "__name__", ""))
def test_fused_training_consumes_the_same_gradients_step_by_step(cls, kw):
    # Once fused, every parameter is a view of the flat buffer (the first Linear's weight
    # a Fortran-order one): the gradients backpropagated into those views, and every
    # step, must be bitwise those of the per-parameter path.
    check_fast_training(lambda: _setup(cls, kw, True), lambda: _setup(cls, kw, False),
                        _batches(4))


def test_fused_gradients_through_view_parameters_pass_gradcheck():
    # The fused optimizer's parameters are views of one buffer; backprop through them
    # is checked by central differences (in float64, on the views themselves).
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).double()
    opt = optim.SGD(model.parameters(), lr=0.1, fused=True)
    x = np.random.default_rng(0).standard_normal((6, 5))
    y = np.array([0, 1, 2, 0, 1, 2])
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()  # now fused: every parameter is a view
    flat = opt._flat[0].param
    params = list(model.parameters())
    assert all(p.data.base is flat for p in params)
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    eps = 1e-6
    for p in params:
        num = np.zeros_like(p.data)
        for idx in np.ndindex(p.shape):
            old = p.data[idx]
            p.data[idx] = old + eps
            with cr.no_grad():
                up = F.cross_entropy(model(x), y).item()
            p.data[idx] = old - eps
            with cr.no_grad():
                down = F.cross_entropy(model(x), y).item()
            p.data[idx] = old
            num[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(p.grad, num, rtol=1e-5, atol=1e-8)


def test_the_flat_buffers_are_built_once_and_reused():
    model = _model()
    opt = optim.Adam(model.parameters(), lr=1e-2, fused=True)
    _train(model, opt, 1)
    flat, params = opt._flat[0], list(model.parameters())
    moments = [opt.state[p]["exp_avg"] for p in params]
    _train(model, opt, 2, seed=2)
    assert opt._flat[0] is flat  # not rebuilt at every step
    assert all(opt.state[p]["exp_avg"] is m for p, m in zip(params, moments))


@pytest.mark.parametrize("cls, kw", [(optim.Adam, dict(lr=1e-2)),
                                     (optim.SGD, dict(lr=0.1, momentum=0.9))],
                         ids=["Adam", "SGD"])
def test_loading_a_state_dict_into_the_running_fused_optimizer(cls, kw):
    # the flat buffers must follow the loaded state (a saved one, then an empty one)
    runs = []
    for fused in (False, True):
        model = _model()
        opt = cls(model.parameters(), fused=fused, **kw)
        empty = opt.state_dict()
        _train(model, opt, 2)
        saved = opt.state_dict()
        _train(model, opt, 2, seed=2)
        opt.load_state_dict(saved)
        _train(model, opt, 2, seed=3)
        opt.load_state_dict(empty)
        runs.append(_train(model, opt, 2, seed=4))
    for a, b in zip(*runs, strict=True):
        assert np.array_equal(a, b)


def _params():
    rng = np.random.default_rng(5)
    return [cr.tensor(rng.standard_normal((3, 4)), requires_grad=True),  # C order, float64
            cr.tensor(rng.standard_normal(5).astype(np.float32), requires_grad=True)]


@pytest.mark.parametrize("groups", [
    lambda ps: [ps[0]],  # one parameter
    lambda ps: ps,  # float64 and float32 in one group: not fusable, per parameter
    lambda ps: [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05}],  # two fused groups
], ids=["one-parameter", "mixed-dtypes", "two-groups"])
def test_groups_of_every_shape_fuse_exactly(groups):
    runs = []
    for fused in (False, True):
        params = _params()
        opt = optim.Adam(groups(params), lr=1e-2, fused=fused)
        rng = np.random.default_rng(6)
        for step in range(5):
            for p in params:
                p.grad = rng.standard_normal(p.shape).astype(p.dtype)
            opt.step()
            if step == 2:  # the buffers are rebuilt from states that exist
                opt.load_state_dict(opt.state_dict())
        runs.append(params)
    for a, b in zip(*runs, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a.data, b.data)
    assert runs[1][0].data.flags.c_contiguous  # the view keeps the parameter's C order


def test_a_state_entry_replaced_by_the_user_is_used():
    runs = []
    for fused in (False, True):
        model = _model()
        opt = optim.Adam(model.parameters(), lr=1e-2, fused=fused)
        _train(model, opt, 2)
        for p in model.parameters():  # e.g. resetting the first moments by hand
            opt.state[p]["exp_avg"] = np.zeros_like(p.data)
        runs.append(_train(model, opt, 2, seed=2))
    for a, b in zip(*runs, strict=True):
        assert np.array_equal(a, b)
