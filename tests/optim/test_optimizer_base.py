"""The Optimizer base: groups, state, zero_grad, state_dict round trips, validation."""

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

SHAPES = [(2, 3), (3,), (1,)]


def make_params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [cr.tensor(rng.normal(size=s).astype(dtype), requires_grad=True) for s in SHAPES]


def grads_for(step, dtype=np.float64):
    rng = np.random.default_rng(100 + step)
    return [(rng.normal(size=s) * (1 + step)).astype(dtype) for s in SHAPES]


OPTIMIZERS = [
    (SGD, dict(lr=0.1)),
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.2, maximize=True)),
    (Adam, dict(lr=0.01)),
    (Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    (AdamW, dict(lr=0.01, maximize=True)),
    (RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (Adagrad, dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1)),
]
IDS = [f"{c.__name__}-{','.join(k)}" for c, k in OPTIMIZERS]


def two_groups(cls, kwargs, params):
    return cls([{"params": params[:2]}, {"params": params[2:], "lr": kwargs["lr"] / 2}],
               **kwargs)


def run(opt, params, steps):
    for t in steps:
        for p, g in zip(params, grads_for(t, params[0].dtype), strict=True):
            p.grad = g
        opt.step()


def through_checkpoint(sd):
    """What a checkpoint does: arrays aside, the rest to JSON and back (int keys -> str)."""
    arrays = {f"{i}.{k}": v for i, s in sd["state"].items() for k, v in s.items()
              if isinstance(v, np.ndarray)}
    rest = {"state": {i: {k: v for k, v in s.items() if not isinstance(v, np.ndarray)}
                      for i, s in sd["state"].items()},
            "param_groups": sd["param_groups"]}
    rest = json.loads(json.dumps(rest, allow_nan=False))
    for name, v in arrays.items():
        i, k = name.split(".")
        rest["state"][i][k] = v.copy()
    return rest


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
def test_state_dict_round_trip_is_bitwise_exact(cls, kwargs):
    params = make_params()
    opt = two_groups(cls, kwargs, params)
    run(opt, params, range(3))
    at_k = [p.data.copy() for p in params]
    sd = opt.state_dict()
    run(opt, params, range(3, 6))

    fresh = [cr.tensor(a, requires_grad=True) for a in at_k]
    opt2 = two_groups(cls, {**kwargs, "lr": 123.0}, fresh)  # hyper-parameters come from sd
    opt2.load_state_dict(through_checkpoint(sd))
    run(opt2, fresh, range(3, 6))
    for a, b in zip(params, fresh, strict=True):
        assert np.array_equal(a.data, b.data)
    assert opt2.param_groups[1]["lr"] == kwargs["lr"] / 2


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
def test_state_dict_holds_only_safe_types_and_copies(cls, kwargs):
    params = make_params()
    opt = two_groups(cls, kwargs, params)
    run(opt, params, range(2))
    sd = opt.state_dict()

    def check(x):
        if isinstance(x, dict):
            for k, v in x.items():
                assert isinstance(k, (str, int))
                check(v)
        elif isinstance(x, list):
            for v in x:
                check(v)
        else:
            assert x is None or isinstance(x, (np.ndarray, bool, int, float, str)), type(x)

    check(sd)
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    arrays = [v for s in sd["state"].values() for v in s.values() if isinstance(v, np.ndarray)]
    saved = [a.copy() for a in arrays]
    run(opt, params, range(2, 3))
    for a, b in zip(arrays, saved, strict=True):  # later steps do not touch the saved state
        assert np.array_equal(a, b)
    assert opt.state_dict()["param_groups"] == sd["param_groups"]


def test_state_dict_layout():
    params = make_params()
    opt = Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}], betas=(0.8, 0.9))
    params[0].grad = np.ones(SHAPES[0])
    params[2].grad = np.ones(SHAPES[2])
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert set(sd["state"]) == {0, 2}  # parameter 1 had no gradient: no state
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["state"][2]["step"] == 1
    assert sd["param_groups"][0] == dict(lr=1e-3, betas=[0.8, 0.9], eps=1e-8, weight_decay=0,
                                         amsgrad=False, maximize=False, params=[0, 1])
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][1]["params"] == [2]
    opt.load_state_dict(through_checkpoint(sd))
    assert opt.param_groups[0]["betas"] == (0.8, 0.9)  # tuples come back as tuples


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
def test_float32_parameters_stay_float32_and_keep_identity(cls, kwargs):
    params = make_params(np.float32)
    arrays = [p.data for p in params]
    initial = [a.copy() for a in arrays]
    opt = cls(params, **kwargs)
    run(opt, params, range(4))
    for p, a, a0 in zip(params, arrays, initial, strict=True):
        assert p.data is a and p.data.dtype == np.float32
        assert not np.array_equal(a, a0)  # it did move
    for s in opt.state.values():
        for v in s.values():
            assert not isinstance(v, np.ndarray) or v.dtype == np.float32


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
def test_each_optimizer_descends_a_quadratic_or_ascends_when_maximizing(cls, kwargs):
    w = cr.tensor(np.array([2.0, -3.0, 1.5]), requires_grad=True)
    opt = cls([w], **kwargs)

    def loss():
        return (w * w).sum()

    start = float(loss().item())
    for _ in range(20):
        opt.zero_grad()
        loss().backward()
        opt.step()
    if kwargs.get("maximize"):
        assert float(loss().item()) > 1.1 * start
    else:
        assert float(loss().item()) < 0.9 * start


def test_param_groups_take_defaults_and_overrides():
    params = make_params()
    opt = SGD([{"params": params[:2], "momentum": 0.5}, {"params": params[2]}], lr=0.1,
              momentum=0.9)
    assert [len(g["params"]) for g in opt.param_groups] == [2, 1]
    assert opt.param_groups[0]["momentum"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["nesterov"] is False
    extra = cr.tensor(np.zeros(2), requires_grad=True)
    opt.add_param_group({"params": [extra], "lr": 0.3})
    assert opt.param_groups[2]["lr"] == 0.3 and opt.param_groups[2]["momentum"] == 0.9
    extra.grad = np.ones(2)
    opt.step()
    np.testing.assert_allclose(extra.data, [-0.3, -0.3])


def test_group_learning_rates_are_used():
    a, b = (cr.tensor(np.zeros(2), requires_grad=True) for _ in range(2))
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = np.ones(2), np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, [-0.1, -0.1])
    np.testing.assert_allclose(b.data, [-0.5, -0.5])


def test_duplicate_parameters_raise():
    params = make_params()
    with pytest.raises(ValueError, match="more than once"):
        SGD([params[0], params[1], params[0]], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        SGD([{"params": params[:2]}, {"params": [params[1]]}], lr=0.1)
    opt = SGD(params[:2], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [params[2], params[0]]})
    assert len(opt.param_groups) == 1


def test_invalid_groups_and_params():
    params = make_params()
    with pytest.raises(ValueError, match="momentun"):
        SGD([{"params": params, "momentun": 0.9}], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        SGD([{"params": params[:1]}, {"params": params[1:], "lr": -1.0}], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError):
        SGD(params[0], lr=0.1)  # a Tensor, not an iterable of Tensors
    with pytest.raises(TypeError):
        SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([params[0] * 2], lr=0.1)


def test_state_is_lazy_and_params_without_grad_are_skipped():
    params = make_params()
    opt = Adam(params, lr=0.1)
    assert opt.state == {}
    before = [p.data.copy() for p in params]
    params[1].grad = np.ones(SHAPES[1])
    opt.step()
    assert len(opt.state) == 1 and next(iter(opt.state)) is params[1]
    assert np.array_equal(params[0].data, before[0]) and np.array_equal(params[2].data, before[2])
    assert not np.array_equal(params[1].data, before[1])


def test_gradient_of_the_wrong_shape_raises():
    params = make_params()
    params[1].grad = np.ones(4)
    with pytest.raises(ValueError, match="shape"):
        SGD(params, lr=0.1).step()


def test_zero_grad():
    params = make_params()
    opt = SGD(params, lr=0.1)
    for p, g in zip(params, grads_for(0), strict=True):
        p.grad = g
    kept = params[0].grad
    opt.zero_grad(set_to_none=False)
    assert params[0].grad is kept and not kept.any()
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_step_with_closure_returns_the_loss():
    w = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert float(opt.step(closure).item()) == 5.0
    np.testing.assert_allclose(w.data, [0.5, 1.0])


def stepped_adam():
    params = make_params()
    opt = Adam([{"params": params[:2]}, {"params": params[2:]}], lr=0.1)
    run(opt, params, range(2))
    return opt, opt.state_dict()


def test_load_state_dict_mismatched_groups():
    _, sd = stepped_adam()
    with pytest.raises(ValueError, match="2 parameter group"):
        Adam(make_params(), lr=0.1).load_state_dict(sd)


def test_load_state_dict_mismatched_group_size():
    _, sd = stepped_adam()
    params = make_params()
    other = Adam([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="parameter group 0"):
        other.load_state_dict(sd)


def test_load_state_dict_wrong_state_shape_names_the_parameter():
    opt, sd = stepped_adam()
    sd["state"][1]["exp_avg_sq"] = np.zeros(7)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=r"exp_avg_sq.*parameter 1 \(group 0\)"):
        opt.load_state_dict(sd)
    after = opt.state_dict()  # nothing changed
    assert np.array_equal(after["state"][1]["exp_avg_sq"], before["state"][1]["exp_avg_sq"])


def test_load_state_dict_other_optimizer_or_bad_index():
    _, sd = stepped_adam()
    params = make_params()
    sgd = SGD([{"params": params[:2]}, {"params": params[2:]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="exp_avg"):
        sgd.load_state_dict(sd)
    opt, sd = stepped_adam()
    sd["state"][7] = sd["state"].pop(0)
    with pytest.raises(ValueError, match="parameter 7"):
        opt.load_state_dict(sd)
    with pytest.raises(ValueError, match="param_groups"):
        opt.load_state_dict({"state": {}})
    _, sd = stepped_adam()
    sd["param_groups"][1]["lr"] = -1.0
    with pytest.raises(ValueError, match="group 1.*lr"):
        opt.load_state_dict(sd)


@pytest.mark.parametrize("name, cls, hyper", [
    ("sgd", SGD, dict(momentum=0, nesterov=False)),
    ("momentum", SGD, dict(momentum=0.9, nesterov=False)),
    ("nesterov", SGD, dict(momentum=0.9, nesterov=True)),
    ("adam", Adam, dict(weight_decay=0)),
    ("adamw", AdamW, dict(weight_decay=1e-2)),
    ("rmsprop", RMSprop, dict(alpha=0.99)),
    ("Adagrad", Adagrad, dict(lr_decay=0)),
])
def test_get_optimizer(name, cls, hyper):
    opt = optim.get_optimizer(name, make_params(), lr=0.05)
    assert type(opt) is cls and opt.param_groups[0]["lr"] == 0.05
    for k, v in hyper.items():
        assert opt.param_groups[0][k] == v


def test_get_optimizer_errors_and_overrides():
    opt = optim.get_optimizer("momentum", make_params(), lr=0.1, momentum=0.5, weight_decay=0.1)
    assert opt.param_groups[0]["momentum"] == 0.5
    with pytest.raises(ValueError, match="sgd.*momentum.*nesterov.*adam.*adamw.*rmsprop"):
        optim.get_optimizer("lbfgs", make_params(), lr=0.1)
    with pytest.raises(ValueError, match="betas"):
        optim.get_optimizer("sgd", make_params(), lr=0.1, betas=(0.9, 0.99))
    with pytest.raises(ValueError, match="lr"):
        optim.get_optimizer("adam", make_params(), lr=-0.1)


def test_public_api():
    for name in ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "clip_grad_norm_",
                 "clip_grad_value_", "lr_scheduler", "get_optimizer"]:
        assert hasattr(optim, name)
    assert issubclass(AdamW, Optimizer) and cr.optim is optim


def test_step_without_closure_returns_none_and_skips_only_grad_less_parameters():
    params = make_params()
    before = [p.data.copy() for p in params]
    params[2].grad = np.ones(SHAPES[2])  # the first two have no gradient
    assert SGD(params, lr=0.5).step() is None
    assert np.array_equal(params[0].data, before[0])
    np.testing.assert_array_equal(params[2].data, before[2] - 0.5)


def test_a_group_that_is_not_a_dict_with_params_is_a_type_error():
    opt = SGD(make_params(), lr=0.1)
    for group in ({"lr": 0.1}, [make_params()[0]]):
        with pytest.raises(TypeError, match="'params' entry"):
            opt.add_param_group(group)


def test_a_loaded_state_takes_the_parameters_dtype_and_is_a_copy():
    params = make_params()
    opt = Adam(params, lr=0.01)
    run(opt, params, range(2))
    sd = opt.state_dict()
    params32 = make_params(np.float32)
    opt32 = Adam(params32, lr=0.01)
    opt32.load_state_dict(sd)
    assert all(opt32.state[p][k].dtype == np.float32 for p in params32
               for k in ("exp_avg", "exp_avg_sq"))
    kept = {i: {k: v.copy() for k, v in s.items() if hasattr(v, "shape")}
            for i, s in sd["state"].items()}
    again = make_params()
    opt2 = Adam(again, lr=0.01)
    opt2.load_state_dict(sd)
    run(opt2, again, [2])  # updates its own state, not the state_dict's arrays
    for i, s in kept.items():
        for k, v in s.items():
            np.testing.assert_array_equal(sd["state"][i][k], v)


def test_an_optimizer_pickled_before_the_work_buffers_existed_still_steps():
    import pickle

    params = make_params()
    opt = SGD(params, lr=0.1, momentum=0.9)
    run(opt, params, [0])
    state = pickle.loads(pickle.dumps(opt)).__dict__.copy()
    del state["_scratch"], state["_mine"]  # what an older chainrule pickled
    old = SGD.__new__(SGD)
    old.__setstate__(state)
    copies = [p for g in old.param_groups for p in g["params"]]
    run(opt, params, [1])
    run(old, copies, [1])
    for p, q in zip(params, copies, strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_repr_lists_each_group():
    params = make_params()
    opt = SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}], lr=0.1)
    assert repr(opt) == (
        "SGD (\n"
        "  group 0: 2 params, lr=0.1, momentum=0, dampening=0, nesterov=False, "
        "weight_decay=0, maximize=False\n"
        "  group 1: 1 params, lr=0.5, momentum=0, dampening=0, nesterov=False, "
        "weight_decay=0, maximize=False\n)")
