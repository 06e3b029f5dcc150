"""The fusion rules (chainrule/compiler/fusion.py): each fused forward against its plain
composition in float64 (values, gradients, gradcheck), and every container runs them."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import check_fast_path, nonzero

import chainrule as cr
from chainrule import nn
from chainrule.autograd import graph_inputs, op_name
from chainrule.compiler import fusion
from chainrule.nn import layers

# rule name -> the modules it joins, small enough for gradcheck (a new rule adds one)
EXAMPLES = {
    "linear_relu": lambda dtype: (nn.Linear(3, 4, dtype=dtype), nn.ReLU()),
}


def test_every_rule_has_an_example():
    assert {r.name for r in fusion.RULES} == set(EXAMPLES)


@pytest.mark.parametrize("rule", fusion.RULES, ids=lambda r: r.name)
def test_fused_forward_matches_the_plain_composition_in_float64(rule):
    cr.manual_seed(0)
    first, then = EXAMPLES[rule.name]("float64")
    assert (type(first), type(then)) == (rule.first, rule.then)
    names = [n for n, _ in first.named_parameters()]

    def bind(ps):  # the parameters as the checked tensors (stand-ins, as in gradcheck_module)
        for name, p in zip(names, ps):
            object.__setattr__(first, name, p)

    def fast(x, *ps):
        bind(ps)
        return rule.forward(first, x)

    def plain(x, *ps):
        bind(ps)
        return then(first(x))

    params = [p.numpy().copy() for p in first.parameters()]
    check_fast_path(fast, plain, inputs=[nonzero((5, 3)), *params])


def test_groups_match_exact_types_left_to_right():
    class MyReLU(nn.ReLU):
        pass

    lin = [nn.Linear(2, 2) for _ in range(3)]
    relu = nn.ReLU()
    mods = [relu, lin[0], relu, lin[1], MyReLU(), lin[2]]
    got = [(tuple(type(m).__name__ for m in g), r and r.name) for g, r in fusion.groups(mods)]
    assert got == [(("ReLU",), None), (("Linear", "ReLU"), "linear_relu"),
                   (("Linear",), None), (("MyReLU",), None), (("Linear",), None)]
    assert fusion.groups([]) == []


def _model():
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(),
                         nn.Linear(8, 3), nn.ReLU())


def _ops(y):
    """The op names along the chain of first inputs from ``y`` back to the input."""
    names = []
    while op_name(y) is not None:
        names.append(op_name(y))
        y = graph_inputs(y)[0]
    return names[::-1]


def test_sequential_runs_the_fused_steps_and_matches_the_plain_loop():
    model = _model()
    x = cr.tensor(np.random.default_rng(0).standard_normal((5, 4)), dtype=np.float32)
    fused = model(x)
    assert _ops(fused) == ["linear_relu", "linear", "tanh", "linear_relu"]
    layers.register_chain_planner(None)  # no planner: each child in turn
    try:
        plain = model(x)
        assert _ops(plain) == ["linear", "relu", "linear", "tanh", "linear", "relu"]
    finally:
        layers.register_chain_planner(fusion.steps)
    np.testing.assert_array_equal(fused.numpy(), plain.numpy())
    assert _ops(model(x)) == _ops(fused)  # planned again with the planner back


def test_a_changed_child_is_planned_again():
    model = _model()
    x = cr.ones((2, 4))
    assert _ops(model(x))[0] == "linear_relu"
    setattr(model, "1", nn.Tanh())  # the ReLU after the first Linear is gone
    assert _ops(model(x))[0] == "linear"
    model.append(nn.Linear(3, 2)).append(nn.ReLU())
    assert _ops(model(x))[-1] == "linear_relu" and model(x).shape == (2, 2)


def test_a_deep_copy_runs_its_own_parameters():
    model = _model()
    x = cr.ones((2, 4))
    model(x)  # plan the original first: the copy must not reuse its steps
    before = model(x).numpy()
    twin = copy.deepcopy(model)
    twin[0].weight.data[...] = 0.0
    twin[0].bias.data[...] = 0.0
    # the twin's first fused step reads the twin's zeroed Linear, the original's its own
    np.testing.assert_array_equal(twin(x).numpy(), twin[2:](cr.zeros((2, 8))).numpy())
    np.testing.assert_array_equal(model(x).numpy(), before)
    assert np.any(before != twin(x).numpy())


def test_residual_blocks_and_mlp_get_the_fusion():
    cr.manual_seed(0)
    res = nn.Residual(nn.Sequential(nn.Linear(3, 3), nn.ReLU()))
    assert op_name(graph_inputs(res(cr.ones((2, 3))))[1]) == "linear_relu"
    mlp = nn.MLP(3, [4, 4], 2)
    assert _ops(mlp(cr.ones((2, 3)))) == ["linear_relu", "linear_relu", "linear"]
