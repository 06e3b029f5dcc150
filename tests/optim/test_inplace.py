"""Optimizer updates write into reused work buffers: no temporaries, bitwise the same result.

Every optimizer, per parameter and fused, is run against its pure update function
called without work buffers (which allocates its temporaries, as the update did
before) and, for SGD, against the formula written out with NumPy operators; the
parameters and states must agree bit for bit. A step after the first allocates
(almost) nothing: tracemalloc sees NumPy's allocations.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from helpers import check_fast_training

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    RMSprop,
    adagrad_update,
    adam_update,
    rmsprop_update,
    sgd_update,
)

SHAPES = [((7, 5), "F"), ((7, 5), "C"), ((5,), "C"), ((3, 4), "C")]
STEPS = 4

CONFIGS = [
    (SGD, dict(lr=0.1)),
    (SGD, dict(lr=0.1, weight_decay=0.1, maximize=True)),
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (Adam, dict(lr=0.01)),
    (Adam, dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    (AdamW, dict(lr=0.01, weight_decay=0.1)),
    (RMSprop, dict(lr=0.01)),
    (RMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1, maximize=True)),
    (Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
]
IDS = [f"{c.__name__}-{','.join(f'{k}={v}' for k, v in kw.items())}" for c, kw in CONFIGS]


def _params(dtype=np.float32):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape).astype(dtype, order=order) for shape, order in SHAPES]


def _grads(step, dtype=np.float32):
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(shape).astype(dtype, order=order) for shape, order in SHAPES]


def _pure_update(cls, kw, p, g, st, t):
    """Step ``t`` of ``cls(**kw)`` on the array ``p``: its pure update function, called
    without work buffers (temporaries allocated); ``st`` keeps the state."""
    if cls is SGD:
        hyper = dict(lr=kw["lr"], momentum=kw.get("momentum", 0.0),
                     dampening=kw.get("dampening", 0.0), nesterov=kw.get("nesterov", False),
                     weight_decay=kw.get("weight_decay", 0.0),
                     maximize=kw.get("maximize", False))
        st["buf"] = sgd_update(p, g, st.get("buf"), **hyper)
    elif cls in (Adam, AdamW):
        st.setdefault("m", np.zeros_like(p))
        st.setdefault("v", np.zeros_like(p))
        st.setdefault("vmax", np.zeros_like(p))
        adam_update(p, g, st["m"], st["v"], st["vmax"] if kw.get("amsgrad") else None,
                    step=t, lr=kw["lr"], beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=kw.get("weight_decay", 1e-2 if cls is AdamW else 0.0),
                    decoupled_weight_decay=cls is AdamW, maximize=kw.get("maximize", False))
    elif cls is RMSprop:
        for k in ("sq", "avg", "buf"):
            st.setdefault(k, np.zeros_like(p))
        rmsprop_update(p, g, st["sq"], st["avg"], st["buf"], lr=kw["lr"], alpha=0.99,
                       eps=1e-8, weight_decay=kw.get("weight_decay", 0.0),
                       momentum=kw.get("momentum", 0.0), centered=kw.get("centered", False),
                       maximize=kw.get("maximize", False))
    else:
        st.setdefault("sum", np.full_like(p, kw.get("initial_accumulator_value", 0.0)))
        adagrad_update(p, g, st["sum"], step=t, lr=kw["lr"], lr_decay=kw.get("lr_decay", 0.0),
                       weight_decay=kw.get("weight_decay", 0.0), eps=1e-10)


def _reference(cls, kw, dtype):
    """The pure update functions without work buffers (temporaries allocated)."""
    params = _params(dtype)
    states = [{} for _ in params]
    for t in range(1, STEPS + 1):
        for p, g, st in zip(params, _grads(t, dtype), states):
            _pure_update(cls, kw, p, g, st, t)
    return params


def _run(cls, kw, fused, dtype=np.float32):
    params = [cr.Tensor(a, requires_grad=True) for a in _params(dtype)]
    opt = cls(params, fused=fused, **kw)
    for t in range(1, STEPS + 1):
        for p, g in zip(params, _grads(t, dtype)):
            p.grad = g
        opt.step()
    return [p.data for p in params], opt


@pytest.mark.parametrize("fused", [False, True], ids=["per-parameter", "fused"])
@pytest.mark.parametrize(("cls", "kw"), CONFIGS, ids=IDS)
def test_bitwise_equal_to_the_update_with_temporaries(cls, kw, fused):
    got, _ = _run(cls, kw, fused)
    for a, b in zip(got, _reference(cls, kw, np.float32), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_sgd_is_the_formula_bit_for_bit(dtype):
    got, _ = _run(SGD, dict(lr=0.03), fused=False, dtype=dtype)
    want = _params(dtype)
    for t in range(1, STEPS + 1):
        for p, g in zip(want, _grads(t, dtype)):
            p -= g * 0.03  # theta <- theta - lr * g, with a temporary
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("cls", "kw"), CONFIGS, ids=IDS)
def test_a_step_allocates_no_parameter_sized_temporary(cls, kw):
    p = cr.Tensor(np.zeros((200, 100), np.float32, order="F"), requires_grad=True)
    p.grad = np.full((200, 100), 0.5, np.float32, order="F")
    opt = cls([p], **kw)
    opt.step()  # the first step creates the state and the work buffers
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < p.data.nbytes // 4


def test_work_buffers_are_shared_by_shape_and_not_saved():
    params = [cr.Tensor(np.zeros((4, 3), np.float32), requires_grad=True) for _ in range(3)]
    opt = Adam(params, lr=0.1)
    for p in params:
        p.grad = np.ones((4, 3), np.float32)
    opt.step()
    assert len(opt._scratch) == 2  # two buffers of shape (4, 3), for three parameters
    assert len({id(buf) for _, buf in opt._mine.values()}) == 2  # shared, not one each
    assert set(opt.state_dict()["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}


def _mlp64():
    cr.manual_seed(0)  # the 64 x 64 weight (4096 elements) takes plain SGD's buffer path
    return nn.Sequential(nn.Linear(5, 64, dtype="float64"), nn.ReLU(),
                         nn.Linear(64, 64, dtype="float64"), nn.ReLU(),
                         nn.Linear(64, 3, dtype="float64"))


@pytest.mark.parametrize(("cls", "kw"), CONFIGS, ids=IDS)
def test_float64_training_equals_the_update_with_temporaries(cls, kw):
    # helpers.check_fast_training: a float64 network (Fortran-order weights) trained by
    # the optimizer (work buffers) and by its pure update function with temporaries;
    # bitwise the same parameters and gradients after every step
    def buffered():
        model = _mlp64()
        opt = cls(model.parameters(), **kw)

        def run(x, y):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        return model, run

    def plain():
        model = _mlp64()
        params, states, t = list(model.parameters()), {}, [0]

        def run(x, y):
            for p in params:
                p.grad = None
            F.cross_entropy(model(x), y).backward()
            t[0] += 1
            for p in params:
                _pure_update(cls, kw, p.data, p.grad, states.setdefault(id(p), {}), t[0])
        return model, run

    rng = np.random.default_rng(7)
    batches = [(rng.standard_normal((8, 5)), rng.integers(0, 3, 8)) for _ in range(STEPS)]
    check_fast_training(buffered, plain, batches)
