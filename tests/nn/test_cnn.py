"""CNN, ResidualBlock and ResNet: shapes, gradients of a 2-block ResNet, a deep one trains."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim
from chainrule.io import build, describe
from chainrule.nn.module import Parameter


def test_cnn_shapes_and_arguments():
    model = nn.CNN(1, 10, (8, 8))
    assert model(cr.randn(4, 1, 8, 8)).shape == (4, 10)
    assert nn.CNN(3, 2, (5, 1), channels=(4, 4, 4), hidden=0)(cr.randn(2, 3, 5, 1)).shape == (2, 2)
    n_weights = sum(p.size for p in model.parameters()) + sum(
        b.size for _, b in model.named_buffers())
    assert n_weights <= nn.CNN._parameter_count(1, 10, (8, 8))
    with pytest.raises(ValueError, match="input_size"):
        nn.CNN(1, 10, (8, 0))


def test_residual_block_shortcut():
    x = cr.randn(2, 4, 6, 6)
    same = nn.ResidualBlock(4)
    assert isinstance(same.shortcut, nn.Identity) and same(x).shape == (2, 4, 6, 6)
    down = nn.ResidualBlock(4, 8, stride=2)
    assert isinstance(down.shortcut, nn.Sequential) and down(x).shape == (2, 8, 3, 3)
    for cls, args in ((nn.ResidualBlock, (4, 8, 2)), (nn.ResNet, (1, 10, 4, 8, 2))):
        model = cls(*args)
        count = sum(p.size for p in model.parameters()) + sum(
            b.size for _, b in model.named_buffers())
        assert count <= cls._parameter_count(*args)
        assert describe(build(describe(model), max_elements=count)) == describe(model)


def _swap_parameters(model, values):
    """Make ``model`` read its parameters from ``values`` (gradcheck's float64 copies)."""
    slots = [(m, name) for m in model.modules() for name, p in m._parameters.items()
             if p is not None]
    for (m, name), v in zip(slots, values):
        object.__setattr__(m, name, v)


def test_two_block_resnet_gradients_match_finite_differences():
    cr.manual_seed(0)
    model = nn.ResNet(1, 3, blocks=2, width=2, downsample_every=1).double()
    params = list(model.parameters())
    x = cr.tensor(np.random.default_rng(0).normal(size=(2, 1, 4, 4)), requires_grad=True)

    def fn(x_, *ps):
        _swap_parameters(model, ps)
        return model(x_)

    try:
        assert cr.gradcheck(fn, x, *params)
    finally:
        _swap_parameters(model, params)
    assert all(isinstance(p, Parameter) for p in model.parameters())


def test_eight_block_resnet_trains_without_nan():
    cr.manual_seed(0)
    r = np.random.default_rng(0)
    x = r.normal(size=(16, 1, 8, 8)).astype(np.float32)
    y = r.integers(0, 4, size=16)
    model = nn.ResNet(1, 4, blocks=8, width=8, downsample_every=4)
    assert sum(isinstance(m, nn.ResidualBlock) for m in model.modules()) == 8
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(8):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        assert all(np.isfinite(p.grad).all() for p in model.parameters())
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.8 * losses[0]  # it fits the batch
