"""Layers: Linear, Sequential, Residual, Identity, Flatten, Dropout, BatchNorm1d, LayerNorm."""

import math

import numpy as np
import pytest
from helpers import host

import chainrule as cr
from chainrule import nn

EPS = 1e-5


def _normal(shape, seed=0, scale=1.0, loc=0.0):
    return np.random.default_rng(seed).normal(loc, scale, shape)


def gradcheck_module(module, *inputs):
    """``cr.gradcheck`` of ``module(*inputs)`` w.r.t. the inputs and every parameter, in float64.

    The module is converted with ``double()``; gradcheck's float64 copies of the
    parameters are put in place of the originals while it runs, then restored.
    """
    module.double()
    slots = [(m, name) for _, m in module.named_modules()
             for name, v in vars(m).items() if isinstance(v, nn.Parameter)]
    originals = [getattr(m, name) for m, name in slots]
    k = len(inputs)

    def fn(*args):
        for (m, name), p in zip(slots, args[k:]):
            object.__setattr__(m, name, p)  # bypass registration: temporary stand-ins
        return module(*args[:k])

    try:
        return cr.gradcheck(fn, *inputs, *originals)
    finally:
        for (m, name), p in zip(slots, originals):
            object.__setattr__(m, name, p)


# ---------------------------------------------------------------- Linear
def test_linear_is_x_wT_plus_b():
    lin = nn.Linear(4, 3)
    assert lin.weight.shape == (3, 4) and lin.bias.shape == (3,)
    assert lin.weight.dtype == np.float32
    x = _normal((5, 4)).astype(np.float32)
    out = lin(cr.tensor(x))
    assert out.shape == (5, 3) and out.dtype == np.float32
    expected = x.astype(np.float64) @ host(lin.weight).astype(np.float64).T + host(lin.bias)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_linear_accepts_arrays_and_extra_leading_axes():
    lin = nn.Linear(3, 2)
    x = _normal((2, 5, 3)).astype(np.float32)
    expected = x @ host(lin.weight).T + host(lin.bias)
    np.testing.assert_allclose(lin(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_linear_without_bias():
    lin = nn.Linear(3, 2, bias=False)
    assert lin.bias is None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    x = _normal((4, 3))
    np.testing.assert_allclose(lin(cr.tensor(x)).numpy(), x @ host(lin.weight).T, rtol=1e-5,
                               atol=1e-6)


def test_linear_default_init_is_pytorchs():
    fan_in = 400
    lin = nn.Linear(fan_in, 300)
    bound = 1 / math.sqrt(fan_in)
    w, b = host(lin.weight), host(lin.bias)
    assert np.all(np.abs(w) <= bound) and np.all(np.abs(b) <= bound)
    # U(-bound, bound): the whole interval is used, with std bound / sqrt(3) and mean 0.
    assert np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(w.mean()) < 0.01 * bound
    assert np.abs(b).max() > 0.9 * bound


def test_linear_init_deterministic_under_manual_seed():
    cr.manual_seed(7)
    a = nn.Linear(5, 4)
    cr.manual_seed(7)
    b = nn.Linear(5, 4)
    c = nn.Linear(5, 4)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(host(b.weight), host(c.weight))


@pytest.mark.parametrize("args", [(0, 3), (3, 0), (2.5, 3), (3, True), (-1, 2)])
def test_linear_rejects_bad_sizes(args):
    with pytest.raises(ValueError, match="Linear"):
        nn.Linear(*args)


def test_linear_gradients_by_hand():
    lin = nn.Linear(3, 2).double()
    x = _normal((4, 3))
    g = _normal((4, 2), seed=1)
    xt = cr.tensor(x, requires_grad=True)
    lin(xt).backward(g)
    np.testing.assert_allclose(lin.weight.grad, g.T @ x, rtol=1e-12)
    np.testing.assert_allclose(lin.bias.grad, g.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(xt.grad, g @ host(lin.weight), rtol=1e-12)


def test_linear_gradcheck_float64():
    lin = nn.Linear(3, 2)
    assert gradcheck_module(lin, cr.tensor(_normal((4, 3)), requires_grad=True))
    assert lin.weight.dtype == np.float64
    assert dict(lin.named_parameters())["weight"] is lin.weight  # stand-ins removed


def test_linear_gradcheck_catches_a_wrong_gradient():
    # The helper really differentiates the parameters: a layer that scales the
    # weight's gradient (forward unchanged) is caught.
    class Broken(nn.Linear):
        def forward(self, x):
            w = self.weight * 2 - self.weight.detach()  # value w, gradient 2x
            return cr.functional.linear(x, w, self.bias)

    with pytest.raises(AssertionError, match="input 1"):
        gradcheck_module(Broken(3, 2), cr.tensor(_normal((4, 3))))


def test_mlp_gradcheck_float64():
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2), nn.Sigmoid())
    assert gradcheck_module(model, cr.tensor(_normal((4, 3)), requires_grad=True))


# ---------------------------------------------------------------- Sequential
def test_sequential_indexing_len_iteration():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3
    assert list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    with pytest.raises(IndexError):
        model[3]


def test_sequential_forward_composes_in_order():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    x = cr.tensor(_normal((6, 2)))
    expected = model[2](model[1](model[0](x)))
    np.testing.assert_array_equal(model(x).numpy(), expected.numpy())


def test_sequential_append_registers():
    model = nn.Sequential(nn.Linear(2, 3))
    tail = nn.Linear(3, 1)
    assert model.append(nn.Tanh()).append(tail) is model
    assert len(model) == 3 and model[2] is tail
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                       "2.bias"]
    assert model(cr.tensor(np.ones((4, 2)))).shape == (4, 1)


def test_empty_sequential_is_identity():
    x = cr.tensor(np.ones((2, 2)))
    assert len(nn.Sequential()) == 0
    np.testing.assert_array_equal(nn.Sequential()(x).numpy(), x.numpy())


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="argument 1"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    model = nn.Sequential(nn.ReLU())
    with pytest.raises(TypeError, match="Module"):
        model.append(lambda x: x)  # would otherwise be silently dropped from the forward
    assert len(model) == 1


# ---------------------------------------------------------------- Residual
def test_residual_forward_is_x_plus_block():
    block = nn.Linear(3, 3)
    res = nn.Residual(block)
    x = cr.tensor(_normal((4, 3)))
    np.testing.assert_allclose(res(x).numpy(), x.numpy() + block(x).numpy(), rtol=1e-6)
    assert list(res.children()) == [block]
    assert [n for n, _ in res.named_parameters()] == ["block.weight", "block.bias"]


def test_residual_gradient_accumulates_both_paths():
    # y = x + x W^T + b, L = sum(y * G):  dL/dx = G + G W  (identity path + block path).
    res = nn.Residual(nn.Linear(3, 3)).double()
    W = host(res.block.weight)
    x = cr.tensor(_normal((4, 3)), requires_grad=True)
    G = _normal((4, 3), seed=1)
    (res(x) * cr.tensor(G)).sum().backward()
    np.testing.assert_allclose(x.grad, G + G @ W, rtol=1e-12, atol=1e-12)
    # Neither path alone:
    assert not np.allclose(host(x.grad), G) and not np.allclose(host(x.grad), G @ W)


def test_residual_gradient_accumulates_inside_the_graph():
    # The input of the residual is an intermediate result (not a leaf): the two
    # contributions must be summed before flowing on to the first layer.
    first = nn.Linear(2, 3)
    res = nn.Residual(nn.Linear(3, 3))
    model = nn.Sequential(first, res).double()
    x = _normal((5, 2))
    G = _normal((5, 3), seed=2)
    model(cr.tensor(x)).backward(G)
    W = host(res.block.weight)
    g_h = G + G @ W  # gradient at the residual's input
    np.testing.assert_allclose(first.weight.grad, g_h.T @ x, rtol=1e-12)
    np.testing.assert_allclose(first.bias.grad, g_h.sum(axis=0), rtol=1e-12)
    h = x @ host(first.weight).T + host(first.bias)
    np.testing.assert_allclose(res.block.weight.grad, G.T @ h, rtol=1e-12)


def test_residual_gradcheck_float64():
    model = nn.Residual(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)))
    assert gradcheck_module(model, cr.tensor(_normal((2, 3)), requires_grad=True))


@pytest.mark.parametrize("stem", ["none", "linear", "residual"])
def test_residual_of_fused_linear_relu_gradcheck_float64(stem):
    # Sequential(Linear, ReLU) runs as the fused linear_relu, which masks its incoming
    # gradient in place when it owns it; inside a Residual that gradient is shared with
    # the identity path, so it must arrive read-only. The stem makes the residual's
    # input a leaf, the output of a Linear, or the output of another residual block.
    def block():
        return nn.Residual(nn.Sequential(nn.Linear(3, 3), nn.ReLU()))

    first = {"none": [], "linear": [nn.Linear(3, 3)], "residual": [block()]}[stem]
    model = nn.Sequential(*first, block())
    assert gradcheck_module(model, cr.tensor(_normal((4, 3)), requires_grad=True))


def test_residual_rejects_non_module():
    with pytest.raises(TypeError, match="Residual"):
        nn.Residual(lambda x: x)


# ---------------------------------------------------------------- Identity, Flatten
def test_identity():
    ident = nn.Identity(54, unused_argument=0.1)  # arguments are ignored, as in PyTorch
    x = cr.tensor(_normal((3, 2)), requires_grad=True)
    y = ident(x)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((3, 2), 3.0))
    assert list(ident.parameters()) == []


@pytest.mark.parametrize("start,end,shape", [
    (1, -1, (2, 60)),
    (0, -1, (120,)),
    (1, 2, (2, 12, 5)),
    (2, 3, (2, 3, 20)),
    (1, 1, (2, 3, 4, 5)),
    (-2, -1, (2, 3, 20)),
])
def test_flatten(start, end, shape):
    x = cr.tensor(np.arange(120.0).reshape(2, 3, 4, 5), requires_grad=True)
    y = nn.Flatten(start, end)(x)
    assert y.shape == shape
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(shape))
    y.backward(np.arange(120.0).reshape(shape))
    np.testing.assert_array_equal(x.grad, np.arange(120.0).reshape(2, 3, 4, 5))


def test_flatten_default_keeps_batch_axis():
    assert nn.Flatten()(cr.tensor(np.zeros((7, 2, 3)))).shape == (7, 6)


# ---------------------------------------------------------------- Dropout
def test_dropout_inverted_scaling_preserves_mean():
    p = 0.3
    x = cr.tensor(np.ones((500, 400)), requires_grad=True)
    y = nn.Dropout(p)(x).numpy()
    zero_frac = np.mean(y == 0)
    assert abs(zero_frac - p) < 0.005  # 200k Bernoulli draws: std 0.001
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-6)  # survivors scaled
    assert abs(y.mean() - 1.0) < 0.01  # E[y] = x


def test_dropout_gradient_uses_the_same_mask():
    p = 0.5
    x = cr.tensor(_normal((100, 50)), requires_grad=True)
    y = nn.Dropout(p)(x)
    y.sum().backward()
    kept = y.numpy() != 0
    np.testing.assert_allclose(x.grad, kept / (1 - p))


def test_dropout_identity_in_eval():
    drop = nn.Dropout(0.5).eval()
    x = cr.tensor(_normal((50, 20)), requires_grad=True)
    y = drop(x)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((50, 20)))


def test_dropout_p0_and_p1():
    x = cr.tensor(_normal((30, 30)), requires_grad=True)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    y = nn.Dropout(1.0)(x)
    np.testing.assert_array_equal(y.numpy(), np.zeros((30, 30)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((30, 30)))


def test_dropout_deterministic_under_manual_seed():
    x = cr.tensor(np.ones((40, 40)))
    drop = nn.Dropout(0.5)
    cr.manual_seed(3)
    a = drop(x).numpy()
    b = drop(x).numpy()
    cr.manual_seed(3)
    np.testing.assert_array_equal(drop(x).numpy(), a)
    np.testing.assert_array_equal(drop(x).numpy(), b)
    assert not np.array_equal(a, b)  # a fresh mask each call


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="p must be in"):
        nn.Dropout(p)


# ---------------------------------------------------------------- BatchNorm1d
def test_batchnorm_train_normalises_with_batch_statistics():
    bn = nn.BatchNorm1d(4)
    x = _normal((256, 4), scale=3.0, loc=5.0) * np.array([1.0, 2.0, 0.5, 10.0])
    y = bn(cr.tensor(x)).numpy().astype(np.float64)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=0), 1.0, atol=1e-4)
    expected = (x - x.mean(0)) / np.sqrt(x.var(0) + EPS)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_batchnorm_affine_parameters():
    bn = nn.BatchNorm1d(3)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(bn.weight.data, 1.0)
    np.testing.assert_array_equal(bn.bias.data, 0.0)
    bn.weight.data[...] = [1.0, 2.0, 3.0]
    bn.bias.data[...] = [0.0, -1.0, 1.0]
    x = _normal((32, 3))
    y = bn(cr.tensor(x)).numpy()
    expected = (x - x.mean(0)) / np.sqrt(x.var(0) + EPS) * [1.0, 2.0, 3.0] + [0.0, -1.0, 1.0]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_batchnorm_running_stats_as_pytorch():
    # PyTorch: running_mean <- (1 - momentum) running_mean + momentum * mean(x)
    #          running_var  <- (1 - momentum) running_var  + momentum * var(x, ddof=1)
    momentum = 0.3
    bn = nn.BatchNorm1d(3, momentum=momentum).double()
    np.testing.assert_array_equal(bn.running_mean, 0.0)
    np.testing.assert_array_equal(bn.running_var, 1.0)
    rm, rv = np.zeros(3), np.ones(3)
    for seed, n in [(0, 10), (1, 7), (2, 4)]:
        x = _normal((n, 3), seed=seed, scale=2.0, loc=1.0)
        bn(cr.tensor(x))
        rm = (1 - momentum) * rm + momentum * x.mean(axis=0)
        rv = (1 - momentum) * rv + momentum * x.var(axis=0, ddof=1)
        np.testing.assert_allclose(bn.running_mean, rm, rtol=1e-12)
        np.testing.assert_allclose(bn.running_var, rv, rtol=1e-12)


def test_batchnorm_running_stats_3d_input_count_n_times_l():
    bn = nn.BatchNorm1d(2).double()
    x = _normal((3, 2, 5), seed=4)
    bn(cr.tensor(x))
    flat = x.transpose(1, 0, 2).reshape(2, -1)  # (C, N * L)
    np.testing.assert_allclose(bn.running_mean, 0.1 * flat.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * flat.var(axis=1, ddof=1),
                               rtol=1e-12)


def test_batchnorm_eval_uses_running_stats():
    bn = nn.BatchNorm1d(3).double()
    bn.weight.data[...] = [0.5, 1.0, 2.0]
    bn.bias.data[...] = [1.0, 0.0, -1.0]
    for seed in range(3):
        bn(cr.tensor(_normal((16, 3), seed=seed, loc=2.0)))
    rm, rv = host(bn.running_mean).copy(), host(bn.running_var).copy()
    bn.eval()
    x = _normal((5, 3), seed=9)
    y = bn(cr.tensor(x)).numpy()
    expected = (x - rm) / np.sqrt(rv + EPS) * [0.5, 1.0, 2.0] + [1.0, 0.0, -1.0]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, rm)  # eval does not update
    np.testing.assert_array_equal(bn.running_var, rv)
    # A single sample is fine in evaluation mode, and the output is per-sample.
    np.testing.assert_allclose(bn(cr.tensor(x[:1])).numpy(), expected[:1], rtol=1e-12)


def test_batchnorm_eval_gradient():
    bn = nn.BatchNorm1d(3)
    bn(cr.tensor(_normal((8, 3), loc=1.0)))
    bn.eval()
    assert gradcheck_module(bn, cr.tensor(_normal((4, 3), seed=1), requires_grad=True))


def test_batchnorm_without_running_stats_always_uses_batch():
    bn = nn.BatchNorm1d(2, track_running_stats=False).eval()
    assert bn.running_mean is None
    assert sorted(bn.state_dict()) == ["bias", "weight"]
    x = _normal((20, 2), loc=3.0)
    y = bn(cr.tensor(x)).numpy()
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + EPS), rtol=1e-4,
                               atol=1e-5)


def test_batchnorm_without_affine():
    bn = nn.BatchNorm1d(2, affine=False)
    assert list(bn.parameters()) == []
    assert sorted(bn.state_dict()) == ["running_mean", "running_var"]


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2)])
def test_batchnorm_gradcheck_train_mode(shape):
    bn = nn.BatchNorm1d(3)
    bn.weight.data[...] = [0.5, 1.5, -1.0]
    bn.bias.data[...] = [0.1, -0.2, 0.3]
    assert bn.training
    assert gradcheck_module(bn, cr.tensor(_normal(shape, seed=3), requires_grad=True))


def test_batchnorm_gradient_sums_to_zero_over_batch():
    # Shifting every sample by the same amount does not change a normalised output.
    bn = nn.BatchNorm1d(4).double()
    x = cr.tensor(_normal((10, 4)), requires_grad=True)
    (bn(x) * cr.tensor(_normal((10, 4), seed=1))).sum().backward()
    np.testing.assert_allclose(x.grad.sum(axis=0), 0.0, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 5), (4,), (2, 3, 4, 5), (4, 2, 3)])
def test_batchnorm_shape_errors(shape):
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"BatchNorm1d.*\(N, 3\)"):
        bn(cr.tensor(np.zeros(shape)))


def test_batchnorm_training_needs_more_than_one_value():
    with pytest.raises(ValueError, match="more than one value"):
        nn.BatchNorm1d(3)(cr.tensor(np.zeros((1, 3))))


# ---------------------------------------------------------------- LayerNorm
def _np_layer_norm(x, axes, w=None, b=None):
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + EPS)
    return y * (1 if w is None else w) + (0 if b is None else b)


def test_layernorm_forward_matches_numpy():
    ln = nn.LayerNorm(5)
    assert ln.weight.shape == (5,) and ln.bias.shape == (5,)
    ln.weight.data[...] = np.linspace(0.5, 2.0, 5)
    ln.bias.data[...] = np.linspace(-1.0, 1.0, 5)
    x = _normal((4, 5), scale=3.0, loc=2.0)
    expected = _np_layer_norm(x, (-1,), np.linspace(0.5, 2.0, 5), np.linspace(-1.0, 1.0, 5))
    np.testing.assert_allclose(ln(cr.tensor(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
    ln.double()
    np.testing.assert_allclose(ln(cr.tensor(x)).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_layernorm_over_trailing_axes():
    ln = nn.LayerNorm((3, 4), elementwise_affine=False)
    assert list(ln.parameters()) == []
    x = _normal((2, 3, 4))
    np.testing.assert_allclose(ln(cr.tensor(x)).numpy(), _np_layer_norm(x, (1, 2)),
                               rtol=1e-4, atol=1e-5)


def test_layernorm_same_in_train_and_eval():
    ln = nn.LayerNorm(3)
    x = cr.tensor(_normal((4, 3)))
    y = ln(x).numpy()
    np.testing.assert_array_equal(ln.eval()(x).numpy(), y)


@pytest.mark.parametrize("norm_shape,shape", [(4, (3, 4)), ((2, 3), (2, 2, 3))])
def test_layernorm_gradcheck(norm_shape, shape):
    ln = nn.LayerNorm(norm_shape)
    ln.weight.data[...] = 1 + _normal(ln.weight.shape, seed=5) * 0.5
    ln.bias.data[...] = _normal(ln.bias.shape, seed=6)
    assert gradcheck_module(ln, cr.tensor(_normal(shape, seed=7), requires_grad=True))


def test_layernorm_shape_error():
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(4)(cr.tensor(np.zeros((2, 3))))
