"""Tensor: creation, dtype rules, grad mode, detach, item, numpy and errors."""

import numpy as np
import pytest

import chainrule as cr


# ---------------------------------------------------------------- dtype rules
@pytest.mark.parametrize("data, dtype", [
    ([1.0], np.float32),
    (1.5, np.float32),
    ([[1.0, 2.0]], np.float32),
    (np.array([1.0]), np.float64),
    (np.array([1.0], dtype=np.float32), np.float32),
    (np.array([1.0], dtype=np.float16), np.float32),
    ([1, 2], np.int64),
    (3, np.int64),
    (np.array([1, 2], dtype=np.int32), np.int32),
    ([True, False], np.bool_),
    (True, np.bool_),
])
def test_dtype_rules(data, dtype):
    assert cr.tensor(data).dtype == dtype


def test_explicit_dtype_wins():
    assert cr.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert cr.tensor(np.array([1.5]), dtype="float32").dtype == np.float32
    assert cr.tensor([1.7], dtype=np.int64).numpy().tolist() == [1]


def test_tensor_copies_its_data():
    a = np.array([1.0, 2.0])
    t = cr.tensor(a)
    a[0] = 100.0
    assert t.numpy()[0] == 1.0
    u = cr.tensor(t)
    t.data[1] = -1.0
    assert u.numpy()[1] == 2.0 and u.dtype == np.float64


def test_as_tensor_does_not_copy_a_tensor():
    t = cr.tensor([1.0])
    assert cr.as_tensor(t) is t
    assert cr.as_tensor(t, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("bad", ["abc", [object()], {"a": 1}, [1.0, "x"]])
def test_non_numeric_data_raises_type_error(bad):
    with pytest.raises(TypeError, match="tensor"):
        cr.tensor(bad)


@pytest.mark.parametrize("dtype", [str, "U3", object])
def test_non_numeric_dtype_raises_type_error(dtype):
    with pytest.raises(TypeError, match="dtype"):
        cr.tensor([1.0], dtype=dtype)


def test_ragged_data_raises_type_error():
    with pytest.raises(TypeError, match="tensor"):
        cr.tensor([[1.0, 2.0], [3.0]])


# ---------------------------------------------------------------- requires_grad
@pytest.mark.parametrize("data", [[1, 2], [True, False], np.array([1], dtype=np.uint8)])
def test_integer_and_bool_tensors_refuse_requires_grad(data):
    with pytest.raises(ValueError, match="floating"):
        cr.tensor(data, requires_grad=True)
    with pytest.raises(ValueError, match="floating"):
        cr.tensor(data).requires_grad_()


def test_creation_helpers_refuse_integer_requires_grad():
    with pytest.raises(ValueError, match="floating"):
        cr.zeros(2, dtype=np.int64, requires_grad=True)
    with pytest.raises(ValueError, match="floating"):
        cr.ones_like(cr.tensor([1, 2]), requires_grad=True)


def test_requires_grad_flag():
    x = cr.tensor([1.0], requires_grad=True)
    assert x.requires_grad and x.is_leaf and x.grad is None
    y = x * 2
    assert y.requires_grad and not y.is_leaf
    assert not (cr.tensor([1.0]) * 2).requires_grad
    assert cr.tensor([1.0]).requires_grad_().requires_grad


def test_integer_arithmetic_never_requires_grad():
    i = cr.tensor([1, 2, 3])
    x = cr.tensor([1.0, 1.0, 1.0], requires_grad=True)
    y = (i * 2 + 1)
    assert y.dtype == np.int64 and not y.requires_grad
    (x * i).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])
    assert i.grad is None


# ---------------------------------------------------------------- creation helpers
def test_creation_helpers():
    assert cr.zeros(2, 3).shape == (2, 3) and cr.zeros(2, 3).dtype == np.float32
    assert cr.zeros((2, 3)).shape == (2, 3)
    np.testing.assert_array_equal(cr.ones(2).numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(cr.full((2,), 7.0).numpy(), [7.0, 7.0])
    like = cr.tensor(np.ones((2, 2)))
    assert cr.zeros_like(like).dtype == np.float64 and cr.zeros_like(like).shape == (2, 2)
    assert cr.ones_like(like, dtype=np.float32).dtype == np.float32
    assert cr.arange(5).dtype == np.int64 and cr.arange(0.0, 1.0, 0.5).dtype == np.float32
    np.testing.assert_array_equal(cr.arange(2, 5).numpy(), [2, 3, 4])
    assert cr.randn(3, 4).shape == (3, 4) and cr.randn(3).dtype == np.float32
    r = cr.rand(1000).numpy()
    assert r.min() >= 0.0 and r.max() < 1.0
    assert cr.zeros(2, requires_grad=True).requires_grad


def test_manual_seed_makes_randomness_reproducible():
    cr.manual_seed(42)
    a = cr.randn(5).numpy()
    b = cr.rand(5).numpy()
    cr.manual_seed(42)
    np.testing.assert_array_equal(cr.randn(5).numpy(), a)
    np.testing.assert_array_equal(cr.rand(5).numpy(), b)
    cr.manual_seed(43)
    assert not np.array_equal(cr.randn(5).numpy(), a)


@pytest.mark.parametrize("seed", [-1, 1.5, "1", True])
def test_manual_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        cr.manual_seed(seed)


# ---------------------------------------------------------------- grad mode
def test_no_grad_records_nothing():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = x * 2
        z = (x @ x) + y.sum()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y._parents == ()
    assert not z.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_as_decorator_and_nesting():
    @cr.no_grad()
    def infer(t):
        assert not cr.is_grad_enabled()
        with cr.enable_grad():
            assert cr.is_grad_enabled()
            inner = t * 3
        return t * 2, inner

    x = cr.tensor([1.0], requires_grad=True)
    y, inner = infer(x)
    assert infer.__name__ == "infer"
    assert not y.requires_grad and inner.requires_grad
    assert cr.is_grad_enabled()


def test_no_grad_restores_mode_after_an_exception():
    with pytest.raises(KeyError), cr.no_grad():
        raise KeyError("boom")
    assert cr.is_grad_enabled()


# ---------------------------------------------------------------- conversion
def test_detach_shares_data_and_cuts_the_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad is None
    assert np.shares_memory(d.data, y.data)
    (d * x).sum().backward()  # d is a constant: x.grad = d
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])


def test_item():
    assert cr.tensor(2.5).item() == 2.5 and isinstance(cr.tensor(2.5).item(), float)
    assert cr.tensor([[7]]).item() == 7 and isinstance(cr.tensor([[7]]).item(), int)
    assert cr.tensor([1.0, 2.0]).sum().item() == 3.0
    assert float(cr.tensor([1.5])) == 1.5 and int(cr.tensor(3)) == 3
    with pytest.raises(ValueError, match=r"item.*\(2,\)"):
        cr.tensor([1.0, 2.0]).item()


def test_numpy():
    x = cr.tensor([[1.0, 2.0]])
    a = x.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    np.testing.assert_array_equal(a, [[1.0, 2.0]])
    np.testing.assert_array_equal(np.asarray(x), a)
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert x.tolist() == [[1.0, 2.0]]


def test_properties_and_python_protocols():
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    assert (x.shape, x.ndim, x.size, x.numel(), len(x)) == ((2, 3), 2, 6, 6, 2)
    rows = list(x)
    assert len(rows) == 2 and rows[1].shape == (3,)
    np.testing.assert_array_equal(rows[1].numpy(), [3.0, 4.0, 5.0])
    assert bool(cr.tensor([1.0])) and not bool(cr.tensor(0.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)
    with pytest.raises(TypeError):
        len(cr.tensor(1.0))
    with pytest.raises(TypeError):
        iter(cr.tensor(1.0))
    assert repr(cr.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert "dtype=float64" in repr(cr.tensor(np.array([1.0])))


def test_comparisons_give_bool_tensors():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for y, expected in [(x > 2, [0, 0, 1]), (x >= 2, [0, 1, 1]), (x < 2, [1, 0, 0]),
                        (x <= 2, [1, 1, 0]), (x == 2, [0, 1, 0]), (x != 2, [1, 0, 1]),
                        (x > cr.tensor([0.0, 5.0, 0.0]), [1, 0, 1])]:
        assert y.dtype == np.bool_ and not y.requires_grad
        np.testing.assert_array_equal(y.numpy(), np.array(expected, dtype=bool))


def test_astype_is_differentiable_between_floats():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    i = x.astype(np.int64)
    assert i.dtype == np.int64 and not i.requires_grad


def test_zero_grad():
    x = cr.tensor([1.0], requires_grad=True)
    (x * 2).sum().backward()
    x.zero_grad()
    assert x.grad is None


# ---------------------------------------------------------------- found by mutation testing
def test_python_scalars_take_the_tensors_float_dtype():
    x = cr.tensor(np.array([1.0, 2.0]))  # float64
    np.testing.assert_array_equal((x + 0.1).numpy(), np.array([1.0, 2.0]) + 0.1)
    np.testing.assert_array_equal((x - 1.5).numpy(), [-0.5, 0.5])
    i = cr.tensor([1, 2])
    assert (i * 2.5).numpy().tolist() == [2.5, 5.0] and (i * 2).dtype == i.dtype


def test_matmul_with_an_array_on_either_side():
    a = np.arange(6.0).reshape(2, 3)
    x = cr.tensor(np.ones((3, 2)), requires_grad=True)
    np.testing.assert_array_equal((x @ a).numpy(), np.ones((3, 2)) @ a)
    y = a @ x  # ndarray @ Tensor: Tensor.__rmatmul__
    assert isinstance(y, cr.Tensor)
    np.testing.assert_array_equal(y.numpy(), a @ np.ones((3, 2)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, a.T @ np.ones((2, 2)))


def test_array_protocol_and_numpy_scalars():
    x = cr.tensor([1.0, 2.5])
    assert np.asarray(x).dtype == np.float32 and np.asarray(x) is x.numpy() is x.data
    assert np.asarray(x, dtype=np.int64).tolist() == [1, 2]
    assert type(x[0].data) is np.ndarray and x[0].shape == ()  # not a NumPy scalar
    assert cr.tensor([[3.0]]).item() == 3.0
    assert np.asarray(x.argmax()).item() == 1 and np.asarray(x.argmin()).item() == 0
    m = cr.tensor([[1.0, 5.0], [7.0, 0.0]])
    assert m.argmax(axis=1).numpy().tolist() == [1, 0]
    assert m.argmin(axis=0, keepdims=True).numpy().tolist() == [[0, 1]]
    assert m.argmax().numpy().shape == () and m.argmin().numpy().shape == ()


def test_float_and_astype_to_float32():
    x = cr.tensor(np.array([1.5, 2.5]), requires_grad=True)
    for y in (x.float(), x.astype(np.float32), x.to(np.float32)):
        assert y.dtype == np.float32 and y.requires_grad
    assert x.to(np.float64) is x and x.to("cpu") is x and x.cpu() is x
    (x.float() * 2).sum().backward()
    assert x.grad.dtype == np.float64 and x.grad.tolist() == [2.0, 2.0]
    with pytest.raises(cr.DeviceError, match="cuda"):
        x.cuda()  # no GPU here: the device is refused, not ignored


def test_backward_seeds_take_the_tensors_dtype():
    x = cr.tensor([1.0, 2.0], requires_grad=True)  # float32
    (x * x).sum().backward()
    assert x.grad.dtype == np.float32
    x.zero_grad()
    (x * 3).backward([1.0, 0.5])  # a list; float64 values
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 1.5]
    x.zero_grad()
    (x * 3).backward(cr.tensor(np.array([2.0, 1.0])))  # a float64 Tensor
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [6.0, 3.0]


def test_repr():
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(cr.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)) == (
        "tensor([[1., 2.],\n        [3., 4.]], dtype=float64, requires_grad=True)")


def test_indexing_and_numpy_on_a_device():
    import fake_device

    fake_device.install()
    x = cr.tensor(np.arange(12.0).reshape(3, 4), device="fake")
    from chainrule.tensor import as_array

    assert as_array(x.data, None, fake_device.fake).dtype == np.float64  # kept float64
    a = x.numpy()
    assert type(a) is np.ndarray
    np.testing.assert_array_equal(a, np.arange(12.0).reshape(3, 4))
    rows = np.array([2, 0])
    for grad in (False, True):
        x.requires_grad = grad
        for index, want in ((rows, a[rows]), ((rows, 1), a[rows, 1]),
                            ([0, 2], a[[0, 2]])):
            got = x[index]
            assert type(got.data) is fake_device.FakeArray
            np.testing.assert_array_equal(got.numpy(), want)
    h = cr.tensor([1.0, 2.0], requires_grad=True)
    d = h.to("fake")
    assert type(d.data) is fake_device.FakeArray and d.requires_grad
    (d * 3).sum().backward()  # the gradient comes back to the host
    assert type(h.grad) is np.ndarray and h.grad.tolist() == [3.0, 3.0]
    assert d.to("fake") is d and type(d.cpu().data) is np.ndarray


def test_gradients_reach_float32_ops_in_float32():
    # a spy op records the dtype of the gradient it receives: the walk casts a leaf's
    # gradient to the leaf's dtype, so only an intermediate op can see a wrong dtype
    seen = []

    def spy(a):
        def backward(g, needs):
            seen.append(g.dtype)
            return (g,)
        return a, backward

    x = cr.tensor([1.0, 2.0], requires_grad=True)  # float32
    cr.autograd.apply(spy, x).astype(np.float64).sum().backward()  # astype's backward
    cr.autograd.apply(spy, x).sum().backward()  # the seed of a one-element output
    (cr.autograd.apply(spy, x) * 2).backward(np.ones(2))  # a float64 seed given
    (cr.autograd.apply(spy, x) * 2).backward([1.0, 1.0])  # a list
    assert seen == [np.float32] * 4


# ------------------------------------------------- PyTorch's promotion of integers
@pytest.mark.parametrize("expr, dtype, value", [
    (lambda i, f: i * 2.5, np.float32, [2.5, 5.0]),        # int tensor, Python float
    (lambda i, f: 2.5 * i, np.float32, [2.5, 5.0]),
    (lambda i, f: i / 2, np.float32, [0.5, 1.0]),          # integers divided
    (lambda i, f: 1 / i, np.float32, [1.0, 0.5]),
    (lambda i, f: 3.0 - i, np.float32, [2.0, 1.0]),        # reflected: operand order kept
    (lambda i, f: 2.0 ** i, np.float32, [2.0, 4.0]),
    (lambda i, f: i ** 0.5, np.float32, [1.0, 2 ** 0.5]),
    (lambda i, f: i + f, np.float32, [1.5, 2.5]),          # int tensor, float32 tensor
    (lambda i, f: f - i, np.float32, [-0.5, -1.5]),
    (lambda i, f: i * cr.tensor(np.array([0.5, 0.5])), np.float64, [0.5, 1.0]),  # its dtype
    (lambda i, f: i * 2, np.int64, [2, 4]),                # integers stay integers
    (lambda i, f: i ** 2, np.int64, [1, 4]),
    (lambda i, f: (i > 1) * 2.5, np.float32, [0.0, 2.5]),  # bool, Python float
])
def test_integers_meeting_floats_promote_as_in_pytorch(expr, dtype, value):
    i, f = cr.tensor([1, 2]), cr.tensor([0.5, 0.5])
    out = expr(i, f)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), value, rtol=1e-6)


def test_a_float_tensor_times_an_integer_tensor_keeps_its_gradient_and_dtype():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * cr.tensor([2, 3])).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])
    x64 = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = cr.tensor([2, 3]) / x64  # reflected division, float64 kept
    y.sum().backward()
    assert y.dtype == np.float64 and x64.grad.dtype == np.float64
    np.testing.assert_allclose(x64.grad, [-2.0, -0.75])
