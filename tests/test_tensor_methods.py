"""The differentiable methods of Tensor (chainrule/tensor_methods.py): each is its F function,
against NumPy, in the graph, gradient-checked; PyTorch's dim/keepdim names."""

import inspect

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule.tensor import axis_arg
from chainrule.tensor_methods import METHODS


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# method name -> (the call on a tensor of shape (2, 1, 3), its NumPy reference)
CASES = {
    "sum": (lambda t: t.sum(axis=[0, 2]), lambda a: a.sum(axis=(0, 2))),
    "mean": (lambda t: t.mean(-1, keepdims=True), lambda a: a.mean(-1, keepdims=True)),
    "max": (lambda t: t.max(axis=2), lambda a: a.max(axis=2)),
    "min": (lambda t: t.min(), lambda a: a.min()),
    "var": (lambda t: t.var(axis=2, correction=0), lambda a: a.var(axis=2)),
    "logsumexp": (lambda t: t.logsumexp(axis=0), lambda a: np.log(np.exp(a).sum(axis=0))),
    "exp": (lambda t: t.exp(), np.exp),
    "log": (lambda t: t.log(), np.log),
    "sqrt": (lambda t: t.sqrt(), np.sqrt),
    "abs": (lambda t: (t - 1.2).abs(), lambda a: np.abs(a - 1.2)),
    "tanh": (lambda t: t.tanh(), np.tanh),
    "sigmoid": (lambda t: t.sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
    "relu": (lambda t: (t - 1.2).relu(), lambda a: np.maximum(a - 1.2, 0)),
    "clip": (lambda t: t.clip(0.9, 1.5), lambda a: np.clip(a, 0.9, 1.5)),
    "clamp": (lambda t: t.clamp(hi=1.5), lambda a: np.minimum(a, 1.5)),
    "softmax": (lambda t: t.softmax(axis=2), lambda a: _softmax(a, 2)),
    "log_softmax": (lambda t: t.log_softmax(0), lambda a: np.log(_softmax(a, 0))),
    "reshape": (lambda t: t.reshape(3, -1), lambda a: a.reshape(3, -1)),
    "view": (lambda t: t.view((6,)), lambda a: a.reshape(6)),
    "flatten": (lambda t: t.flatten(1), lambda a: a.reshape(2, 3)),
    "transpose": (lambda t: t.transpose(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    "squeeze": (lambda t: t.squeeze(), lambda a: a.squeeze()),
    "unsqueeze": (lambda t: t.unsqueeze(-1), lambda a: a[..., None]),
    "expand": (lambda t: t.expand(2, 4, 3), lambda a: np.broadcast_to(a, (2, 4, 3))),
}


def test_every_method_has_a_case():
    assert set(METHODS) == set(CASES)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_method_is_its_f_function(name):
    fn = METHODS[name]
    assert cr.Tensor.__dict__[name] is fn and getattr(F, fn.__name__) is fn
    assert fn.__name__ in F.__all__ and fn.__doc__
    # the bound method's signature is the function's, without the tensor
    params = list(inspect.signature(fn).parameters.values())
    x = cr.tensor([1.0])
    assert list(inspect.signature(getattr(x, name)).parameters.values()) == params[1:]
    assert getattr(x, name).__doc__ == fn.__doc__


def test_parameters_have_the_methods_too():
    p = cr.nn.Parameter(np.ones((2, 3), dtype=np.float32))
    assert p.sum().item() == 6.0 and p.T.shape == (3, 2)


@pytest.mark.parametrize("name", sorted(CASES))
def test_method_matches_numpy_and_is_differentiable(name):
    call, ref = CASES[name]
    # away from the kinks of abs, relu and clip (|x - 1.2|, |x - 0.9|, |x - 1.5| > 0.05)
    a = np.array([0.55, 0.8, 1.0, 1.3, 1.7, 2.0]).reshape(2, 1, 3)
    x = cr.tensor(a, requires_grad=True)
    out = call(x)
    assert out.dtype == np.float64 and out.requires_grad and not out.is_leaf
    np.testing.assert_allclose(out.numpy(), ref(a), rtol=1e-12, atol=1e-12)
    assert cr.gradcheck(call, x)


def test_axis_arg():
    assert axis_arg([0, 1]) == (0, 1) and axis_arg(None) is None and axis_arg(-1) == -1
    assert axis_arg(0, dim=[1, 2]) == (1, 2) and axis_arg(None, dim=1) == 1


def test_reductions_give_zero_dim_arrays():
    x = cr.tensor([1.0, 2.0, 3.0])
    for y in (x.sum(), x.mean(), x.max(), x.min(), x.var(), x.logsumexp()):
        assert isinstance(y.numpy(), np.ndarray) and y.shape == ()
        assert "tensor(" in repr(y)


def test_pytorch_dim_and_keepdim_names_are_accepted():
    import chainrule.functional as F

    x = cr.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(x.sum(dim=1).numpy(), x.sum(axis=1).numpy())
    assert x.mean(dim=0, keepdim=True).shape == (1, 3)
    np.testing.assert_array_equal(F.softmax(x, dim=0).numpy(), F.softmax(x, axis=0).numpy())
    np.testing.assert_array_equal(x.log_softmax(dim=0).numpy(), x.log_softmax(0).numpy())
    np.testing.assert_array_equal(x.softmax(dim=0).numpy(), x.softmax(axis=0).numpy())
    assert x.sum(dim=0, keepdim=True).shape == (1, 3)



def test_the_new_f_functions_take_arrays_and_lists():
    a = np.arange(6.0).reshape(2, 1, 3)
    for got, want in [
        (F.sum(a, dim=[0, 2]), a.sum(axis=(0, 2))), (F.mean(a.tolist(), 2), a.mean(2)),
        (F.max(a, axis=[0, 2]), a.max(axis=(0, 2))), (F.min(a, 0, keepdims=True),
                                                       a.min(0, keepdims=True)),
        (F.var(a, correction=0), a.var()), (F.abs(-a), a),
        (F.logsumexp(a, axis=[0, 1]), np.log(np.exp(a).sum(axis=(0, 1)))),
        (F.reshape(a, 3, 2), a.reshape(3, 2)), (F.reshape(a, (6,)), a.reshape(6)),
        (F.transpose(a), a.T), (F.transpose(a, (1, 0, 2)), a.transpose(1, 0, 2)),
        (F.flatten(a, 1), a.reshape(2, 3)), (F.squeeze(a, 1), a[:, 0]),
        (F.unsqueeze(a, 0), a[None]), (F.expand(a, (2, 4, 3)), np.broadcast_to(a, (2, 4, 3))),
    ]:
        np.testing.assert_array_equal(got.numpy(), want)
