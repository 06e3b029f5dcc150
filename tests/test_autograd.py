"""Graph semantics of backward: accumulation, repeated calls, deep graphs, errors, aliasing."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule.autograd import apply


def _leaf(values):
    return cr.tensor(np.array(values, dtype=np.float64), requires_grad=True)


# ---------------------------------------------------------------- accumulation
# Each expected value below is derived by hand; a backward that overwrote a
# gradient instead of adding the contribution of every path would miss a term.
def test_x_times_x():
    x = _leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, -4.0, 6.0])  # overwrite would give x


def test_diamond():
    x = _leaf([1.0, 2.0])
    a = x * 2.0
    b = a * 3.0  # b = 6x
    c = a * 4.0  # c = 8x
    (b * c).sum().backward()  # 48 x^2 -> 96 x
    np.testing.assert_array_equal(x.grad, [96.0, 192.0])


def test_reused_non_leaf():
    x = _leaf([0.5, -1.0])
    h = x + 1.0
    y = h * h + h * 3.0 - h.exp()  # dy/dx = 2h + 3 - exp(h)
    y.sum().backward()
    hv = np.array([1.5, 0.0])
    np.testing.assert_allclose(x.grad, 2 * hv + 3 - np.exp(hv), rtol=1e-15)
    assert h.grad is None  # non-leaves keep no .grad


def test_residual_block():
    x = _leaf([0.3, -0.7, 1.2])
    w = _leaf([0.5, 2.0, -1.0])
    y = x + (x * w).tanh()  # y = x + f(x)
    y.sum().backward()
    xv, wv = np.array([0.3, -0.7, 1.2]), np.array([0.5, 2.0, -1.0])
    d = 1 - np.tanh(xv * wv) ** 2
    np.testing.assert_allclose(x.grad, 1 + wv * d, rtol=1e-15)
    np.testing.assert_allclose(w.grad, xv * d, rtol=1e-15)


def test_leaf_used_by_two_ops_of_one_node():
    x = _leaf([2.0])
    w = _leaf([[1.0, 2.0], [3.0, 4.0]])
    (w @ w).sum().backward()  # d/dW sum(W W) = 1 W^T + W^T 1
    ones = np.ones((2, 2))
    wv = w.numpy()
    np.testing.assert_array_equal(w.grad, ones @ wv.T + wv.T @ ones)
    (x * x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [12.0])


def test_doubling_graph_visits_each_node_once():
    x = _leaf([1.0])
    y = x
    for _ in range(60):
        y = y + y  # 2^60 paths from y to x: a walk per path would never finish
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0**60])


# ---------------------------------------------------------------- repeated backward
def test_retain_graph_second_backward_accumulates():
    x = _leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    y.backward()
    np.testing.assert_array_equal(x.grad, [6.0, 12.0])


def test_fresh_graph_accumulates():
    x = _leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0 + 2.0, 3.0 + 4.0])


def test_second_backward_through_freed_graph_raises():
    x = _leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # the failed call changed nothing


def test_freed_intermediate_reused_in_a_new_graph_raises():
    x = _leaf([1.0, 2.0])
    h = x * 2.0
    h.sum().backward()
    assert h._parents == ()  # the graph is released
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (h * 3.0).sum().backward()


# ---------------------------------------------------------------- deep graphs
def test_chain_of_100k_ops():
    x = _leaf([1.0])
    c = 1.0 + 1e-5
    y = x
    for i in range(100_000):
        y = y * c if i % 2 == 0 else y + 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [c**50_000], rtol=1e-9)


# ---------------------------------------------------------------- errors
def test_backward_of_non_scalar_needs_grad():
    x = _leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"shape \(2,\)"):
        (x * 2.0).backward()
    y = x * 2.0
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])


def test_backward_grad_of_wrong_shape_raises():
    x = _leaf([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * 2.0).backward(np.ones(3))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()
    x = _leaf([1.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        x.detach().sum().backward()


# ---------------------------------------------------------------- shapes, dtypes, aliasing
@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 1), (4,)), ((), (2, 3)), ((2, 1, 3), (4, 1)), ((1, 1), (1,)),
])
def test_broadcast_operand_gradients_have_operand_shape(a_shape, b_shape):
    a = cr.tensor(np.full(a_shape, 2.0), requires_grad=True)
    b = cr.tensor(np.full(b_shape, 3.0), requires_grad=True)
    out = a * b
    out.sum().backward()
    assert a.grad.shape == a_shape and b.grad.shape == b_shape
    # each element of a met out.size / a.size elements of b, each equal to 3
    np.testing.assert_array_equal(a.grad, np.full(a_shape, 3.0 * out.size / a.data.size))
    np.testing.assert_array_equal(b.grad, np.full(b_shape, 2.0 * out.size / b.data.size))


def test_leaf_grads_never_alias():
    x, y = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    (x + y).sum().backward()
    x.grad[0] = 99.0
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])

    x, y = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    seed = np.array([1.0, 2.0])
    z = x + y
    z.backward(seed, retain_graph=True)
    seed[:] = 0.0  # the caller's array is not the grad either
    z.backward(np.array([1.0, 2.0]))  # in-place accumulation must not leak across leaves
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    np.testing.assert_array_equal(y.grad, [2.0, 4.0])
    assert not np.shares_memory(x.grad, y.grad)


def test_grads_of_split_outputs_own_their_memory():
    x, y = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    F.stack([x, y.reshape(2)]).backward(np.arange(4.0).reshape(2, 2))
    assert x.grad.flags.owndata and y.grad.flags.owndata
    x.grad += 10.0
    np.testing.assert_array_equal(y.grad, [2.0, 3.0])
    a, b = _leaf([1.0]), _leaf([2.0, 3.0])
    F.concat([a, b]).backward(np.array([5.0, 6.0, 7.0]))
    assert not np.shares_memory(a.grad, b.grad)
    np.testing.assert_array_equal(b.grad, [6.0, 7.0])


@pytest.mark.parametrize("fn", [
    lambda x: x * 2.0, lambda x: x / 3, lambda x: x**2, lambda x: 3 - x, lambda x: x.mean(),
    lambda x: x.var(), lambda x: F.gelu(x), lambda x: F.mse_loss(x, [0.0, 1.0]),
    lambda x: F.cross_entropy(x.reshape(1, 2), [1]), lambda x: x.logsumexp(),
])
def test_float32_graphs_give_float32_grads(fn):
    x = cr.tensor([0.5, 2.0], requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_float32_leaf_in_float64_graph_gets_float32_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor(np.array([3.0, 4.0]), requires_grad=True)
    (x * w).sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_scalar_leaf_grad_is_an_array():
    x = cr.tensor(2.0, requires_grad=True)
    (x * x).backward()
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == () and x.grad == 4.0


# ---------------------------------------------------------------- what is recorded
def test_only_leaves_that_require_grad_get_grads():
    x = _leaf([1.0, 2.0])
    c = cr.tensor(np.array([5.0, 6.0]))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [5.0, 6.0])


def test_no_grad_inside_a_graph_makes_a_constant():
    x = _leaf([1.0, 2.0])
    with cr.no_grad():
        c = x * 2.0
    assert not c.requires_grad and c.is_leaf
    (c * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # not 4x: c is a constant


def test_no_grad_decorator_records_nothing():
    @cr.no_grad()
    def step(t):
        return t * t

    x = _leaf([3.0])
    y = step(x)
    assert not y.requires_grad and y._parents == ()


def test_detach_stops_the_gradient():
    x = _leaf([3.0])
    (x * x.detach()).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0])


# ---------------------------------------------------------------- shared gradients
# A backward may update its incoming gradient in place only when it owns it. When one
# upstream gradient reaches several consumers (``a + b`` hands the same array to both),
# each must receive it read-only: a consumer that masks it in place (relu, the fused
# linear_relu) would otherwise corrupt what the others read. The seed is passed
# explicitly, so the shared array is writeable to begin with (``.sum()``'s broadcast
# view would be read-only anyway and hide the bug).
_SHARED = {
    "mul_and_relu": (lambda a, b, w: a * 2.0 + b.relu(),
                     lambda av, bv, wv: (np.full(3, 2.0), (bv > 0) * 1.0, None)),
    "relu_and_mul": (lambda a, b, w: b.relu() + a * 2.0,
                     lambda av, bv, wv: (np.full(3, 2.0), (bv > 0) * 1.0, None)),
    "relu_and_relu": (lambda a, b, w: a.relu() + b.relu(),
                      lambda av, bv, wv: ((av > 0) * 1.0, (bv > 0) * 1.0, None)),
    "mul_and_linear_relu": (
        lambda a, b, w: a * 2.0 + F.linear_relu(b.reshape(1, 3), w).reshape(3),
        lambda av, bv, wv: (np.full(3, 2.0), ((wv @ bv) > 0) @ wv, None)),
    "identity_and_linear_relu": (
        lambda a, b, w: (b * 1.0 + F.linear_relu(b.reshape(1, 3), w).reshape(3)) * a,
        lambda av, bv, wv: (bv + np.maximum(wv @ bv, 0),
                            av + (((wv @ bv) > 0) * av) @ wv, None)),
}


@pytest.mark.parametrize("name", list(_SHARED))
def test_a_shared_gradient_is_not_overwritten_by_an_in_place_consumer(name):
    fn, expected = _SHARED[name]
    av, bv = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 1.0, -1.0])
    wv = np.array([[1.0, 0.5, 0.0], [-1.0, 0.0, 0.5], [0.0, -2.0, 1.0]])
    a, b, w = _leaf(av), _leaf(bv), cr.tensor(wv)
    seed = np.ones(3)
    fn(a, b, w).backward(seed)
    ga, gb, _ = expected(av, bv, wv)
    np.testing.assert_array_equal(a.grad, ga)
    np.testing.assert_array_equal(b.grad, gb)
    np.testing.assert_array_equal(seed, np.ones(3))  # the caller's seed is untouched


def test_a_shared_gradient_stays_intact_through_a_chain_of_in_place_ops():
    # x feeds relu(relu(x)) and x * 3: the inner relus may reuse their own gradients
    # in place, but not the one they share with the product.
    x = _leaf([-2.0, 0.5, 1.5, -0.1])
    (x.relu().relu() * 1.0 + x * 3.0).backward(np.ones(4))
    np.testing.assert_array_equal(x.grad, [3.0, 4.0, 4.0, 3.0])


# ---------------------------------------------------------------- found by mutation testing
def test_backward_on_a_leaf_itself():
    x = _leaf([1.0, 2.0])
    seed = np.array([3.0, 4.0])
    x.backward(seed)
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    seed[0] = 0.0  # .grad is the engine's own copy
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    x.backward(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(x.grad, [4.0, 5.0])


def test_a_node_that_receives_no_gradient_does_not_stop_the_walk():
    # An op that gives one input no gradient (None) although it needs one: that input's
    # node (created after h, so walked before it) gets nothing, and the walk must go on
    # to h and x behind it. (functional losses cut a target's graph, so an op is built.)
    def first_only(a, b):
        return a * 1.0, lambda g, needs: (g, None)

    x = _leaf([0.5, -1.0])
    h = x * 2.0
    t = x * 3.0  # a node, created after h
    apply(first_only, h, t).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_a_leaf_keeps_an_owned_gradient_without_a_copy():
    # the README's promise: a gradient no other consumer can see becomes .grad as it is
    made = []

    def op(a):
        def backward(g, needs):
            made.append(np.full(a.shape, 7.0))
            return (made[-1],)

        return a.copy(), backward

    x = _leaf([1.0, 2.0])
    apply(op, x).backward(np.ones(2))
    assert x.grad is made[0]


def test_an_op_error_is_one_value_error_named_after_the_op():
    def bad_op(a):
        raise ValueError("operands do not fit")

    def named_op(a):
        raise ValueError("named_op: already named")

    with pytest.raises(ValueError) as e:
        apply(bad_op, _leaf([1.0]))
    assert str(e.value) == "bad_op: operands do not fit"
    with pytest.raises(ValueError) as e:
        apply(named_op, _leaf([1.0]))
    assert str(e.value) == "named_op: already named"  # not prefixed twice


def test_a_gradient_for_an_input_that_needs_none_is_dropped():
    # an op may compute a gradient it was not asked for; a constant still gets no .grad
    def careless_mul(a, b):
        def backward(g, needs):
            return g * b, g * a  # ignores needs

        return a * b, backward

    x = _leaf([1.0, 2.0])
    c = cr.tensor(np.array([3.0, 4.0]))
    apply(careless_mul, x, c).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    assert c.grad is None


# op_name reads the op's name from its backward closure's __qualname__ (module level here)
def _private_op(a):
    def backward(g, needs):
        return (g,)
    return a, backward


def __(a):  # a name that is all underscores
    def backward(g, needs):
        return (g,)
    return a, backward


class _Outer:
    class Inner:
        @staticmethod
        def scale(a):
            def backward(g, needs):
                return (g * 2,)
            return a * 2, backward


def test_op_name_of_private_functions_and_methods():
    x = cr.tensor([1.0], requires_grad=True)
    assert cr.autograd.op_name(cr.autograd.apply(_private_op, x)) == "private_op"
    assert cr.autograd.op_name(cr.autograd.apply(__, x)) == "op"
    assert cr.autograd.op_name(cr.autograd.apply(_Outer.Inner.scale, x)) == "scale"
