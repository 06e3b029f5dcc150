"""Module and Parameter: registration, traversal, modes, gradients, state and repr."""

import numpy as np
import pytest
from helpers import host

import chainrule as cr
from chainrule import nn


class Block(nn.Module):
    """A hand-written module: a Parameter attribute, a child module, a plain attribute."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.inner = nn.Linear(3, 3)
        self.note = "not registered"
        self.array = np.zeros(3)  # a plain array is no parameter

    def forward(self, x):
        return self.inner(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(2, 3)
        self.block = Block()
        self.last = nn.Linear(3, 1)

    def forward(self, x):
        return self.last(self.block(self.first(x)).relu())


def _mlp():
    return nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))


# ---------------------------------------------------------------- Parameter
def test_parameter_requires_grad_and_is_a_tensor():
    p = nn.Parameter(np.zeros((2, 3), dtype=np.float32))
    assert isinstance(p, cr.Tensor)
    assert p.requires_grad and p.is_leaf
    assert p.shape == (2, 3) and p.dtype == np.float32
    assert repr(p).startswith("Parameter containing:")


def test_parameter_rejects_integers():
    with pytest.raises(ValueError, match="floating point"):
        nn.Parameter(np.zeros(3, dtype=np.int64))


# ---------------------------------------------------------------- registration
def test_parameters_registered_by_attribute_nested():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["first.weight", "first.bias", "block.scale", "block.inner.weight",
                     "block.inner.bias", "last.weight", "last.bias"]
    params = list(net.parameters())
    assert len(params) == 7
    assert params[2] is net.block.scale
    assert params[3] is net.block.inner.weight
    assert sum(p.size for p in params) == (2 * 3 + 3) + 3 + (3 * 3 + 3) + (3 + 1)


def test_sequential_parameter_names():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                       "2.bias"]
    outer = nn.Sequential(nn.Linear(3, 3))
    outer.block = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    assert [n for n, _ in outer.named_parameters()] == ["0.weight", "0.bias", "block.0.weight",
                                                       "block.0.bias"]


def test_shared_parameter_counted_once():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight  # tied weights
    model = nn.Sequential(a, b)
    params = list(model.parameters())
    assert len(params) == 3  # one weight, two biases
    assert sum(p is a.weight for p in params) == 1
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_shared_module_counted_once():
    lin = nn.Linear(2, 2)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(model.parameters())) == 2
    assert sum(m is lin for m in model.modules()) == 1


def test_reassigning_and_deleting_attributes_unregisters():
    net = Block()
    net.scale = "replaced"  # no longer a Parameter
    assert "scale" not in dict(net.named_parameters())
    net.inner = nn.Identity()
    assert [n for n, _ in net.named_parameters()] == []
    net.extra = nn.Linear(1, 1)
    del net.extra
    assert list(net.children()) == [net.inner]
    assert not hasattr(net, "extra")


def test_children_and_modules():
    net = Net()
    assert list(net.children()) == [net.first, net.block, net.last]
    assert [n for n, _ in net.named_children()] == ["first", "block", "last"]
    mods = list(net.modules())
    assert mods == [net, net.first, net.block, net.block.inner, net.last]
    assert [n for n, _ in net.named_modules()] == ["", "first", "block", "block.inner", "last"]


def test_apply_visits_every_module():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Net", "Linear", "Block", "Linear", "Linear"]


# ---------------------------------------------------------------- modes
def test_train_eval_propagate_to_every_descendant():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(2)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not model[1][1].training


# ---------------------------------------------------------------- gradients
def test_zero_grad_clears_every_parameter():
    model = _mlp()
    model(cr.tensor(np.ones((3, 2)))).sum().backward()
    assert all(p.grad is not None and np.any(host(p.grad) != 0) for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(host(p.grad)) for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_gradients_accumulate_until_zero_grad():
    model = _mlp()
    x = cr.tensor(np.ones((3, 2)))
    model(x).sum().backward()
    first = [p.grad.copy() for p in model.parameters()]
    model(x).sum().backward()
    for p, g in zip(model.parameters(), first):
        np.testing.assert_allclose(p.grad, 2 * g, rtol=1e-6)


def test_requires_grad_freezes():
    model = _mlp()
    x = cr.tensor(np.ones((3, 2)))
    model(x).sum().backward()
    expected = model[2].weight.grad.copy()
    model.zero_grad()
    model[0].requires_grad_(False)
    model(x).sum().backward()
    assert model[0].weight.grad is None and model[0].bias.grad is None
    # the layers after the frozen one get the same gradient as before
    np.testing.assert_array_equal(model[2].weight.grad, expected)
    assert np.any(expected != 0)


# ---------------------------------------------------------------- state_dict
def test_state_dict_round_trip():
    cr.manual_seed(1)
    src = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    src(cr.tensor(np.random.default_rng(0).normal(size=(8, 2))))  # moves the running stats
    state = src.state_dict()
    assert sorted(state) == ["0.bias", "0.weight", "1.bias", "1.running_mean",
                             "1.running_var", "1.weight", "2.bias", "2.weight"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    cr.manual_seed(2)
    dst = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    assert not np.array_equal(host(dst[0].weight), host(src[0].weight))
    w_before = dst[0].weight
    assert dst.load_state_dict(state) is dst
    assert dst[0].weight is w_before  # loaded in place: an optimizer's references stay valid
    for name, value in dst.state_dict().items():
        np.testing.assert_array_equal(value, state[name], err_msg=name)
    x = cr.tensor(np.random.default_rng(1).normal(size=(5, 2)))
    src.eval()
    dst.eval()
    np.testing.assert_array_equal(dst(x).numpy(), src(x).numpy())


def test_state_dict_is_a_snapshot():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    state = model.state_dict()
    saved = {k: v.copy() for k, v in state.items()}
    model[0].weight.data += 1.0
    model(cr.tensor(np.arange(8.0).reshape(4, 2)))  # updates running stats in place
    for k, v in state.items():
        np.testing.assert_array_equal(v, saved[k], err_msg=k)
    state["0.bias"][...] = 99.0
    assert not np.any(host(model[0].bias) == 99.0)


def test_load_state_dict_missing_entry_raises_naming_it():
    model = _mlp()
    state = model.state_dict()
    del state["2.bias"]
    with pytest.raises(ValueError, match=r"2\.bias"):
        model.load_state_dict(state)


def test_load_state_dict_extra_entry_raises_naming_it():
    model = _mlp()
    state = model.state_dict()
    state["3.weight"] = np.zeros((1, 1), dtype=np.float32)
    with pytest.raises(ValueError, match=r"3\.weight"):
        model.load_state_dict(state)


def test_load_state_dict_wrong_shape_raises_naming_it():
    model = _mlp()
    state = model.state_dict()
    state["0.weight"] = np.zeros((2, 4), dtype=np.float32)  # transposed
    with pytest.raises(ValueError, match=r"0\.weight"):
        model.load_state_dict(state)
    with pytest.raises(ValueError, match=r"0\.weight"):
        model.load_state_dict(state, strict=False)  # a shape mismatch is never tolerated


def test_load_state_dict_failed_strict_load_changes_nothing():
    model = _mlp()
    before = model.state_dict()
    state = {k: v + 1 for k, v in before.items()}
    del state["0.bias"]
    with pytest.raises(ValueError):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_load_state_dict_non_strict_tolerates_missing_and_extra():
    model = _mlp()
    before = model.state_dict()
    state = {"0.weight": np.full((4, 2), 0.5, dtype=np.float32), "unused.weight": np.zeros(3)}
    model.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(model[0].weight.data, 0.5)
    np.testing.assert_array_equal(model[0].bias.data, before["0.bias"])  # missing: unchanged
    np.testing.assert_array_equal(model[2].weight.data, before["2.weight"])


def test_load_state_dict_accepts_tensors_and_keeps_dtype():
    model = _mlp()
    state = {k: cr.tensor(np.full(v.shape, 0.25)) for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert all(np.all(host(p) == 0.25) for p in model.parameters())


# ---------------------------------------------------------------- dtype
def test_double_and_float_convert_parameters_and_buffers():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    w = model[0].weight.data.copy()
    assert model.double() is model
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model[1].running_mean.dtype == np.float64
    assert model[1].running_var.dtype == np.float64
    assert all(v.dtype == np.float64 for v in model.state_dict().values())
    np.testing.assert_array_equal(model[0].weight.data, w)  # values kept exactly
    out = model(cr.tensor(np.ones((5, 3))))
    assert out.dtype == np.float64
    out.sum().backward()
    assert model[0].weight.grad.dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert model[1].running_var.dtype == np.float32
    assert all(p.grad is None for p in model.parameters())


def test_to_float64_and_to_none():
    model = _mlp()
    assert model.to(None) is model and model[0].weight.dtype == np.float32
    assert model.to(np.float64) is model
    assert model[2].bias.dtype == np.float64
    model.to("float32")
    assert model[2].bias.dtype == np.float32


def test_double_model_keeps_float64_through_batchnorm_running_stats():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).double()
    model(cr.tensor(np.random.default_rng(0).normal(size=(6, 2))))
    assert model[1].running_mean.dtype == np.float64  # updated in place, not replaced


# ---------------------------------------------------------------- repr
def test_repr_of_nested_sequential_matches_pytorch():
    model = nn.Sequential(
        nn.Linear(2, 8),
        nn.ReLU(),
        nn.Sequential(nn.Linear(8, 8), nn.Tanh()),
        nn.Linear(8, 1, bias=False),
    )
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Linear(in_features=8, out_features=8, bias=True)\n"
        "    (1): Tanh()\n"
        "  )\n"
        "  (3): Linear(in_features=8, out_features=1, bias=False)\n"
        ")"
    )


def test_repr_of_custom_module_names_children():
    text = repr(Net())
    assert text.startswith("Net(\n  (first): Linear(in_features=2, out_features=3, bias=True)")
    assert "  (block): Block(\n    (inner): Linear(" in text
    assert text.endswith("  (last): Linear(in_features=3, out_features=1, bias=True)\n)")


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Empty"):
        type("Empty", (nn.Module,), {})()(1)
