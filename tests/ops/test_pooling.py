"""Pooling and padding: forward against direct loops, float64 gradcheck, arg-max routing."""

import numpy as np
import pytest
from helpers import check_op, distinct, uniform
from hypothesis import assume, given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F


def ref_pool2d(x, kernel, stride, padding, reduce, count_include_pad=True):
    """Pool by looping over output pixels; padding is -inf for max, 0 for the mean."""
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    fill = -np.inf if reduce == "max" else 0.0
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)], constant_values=fill)
    real = np.pad(np.ones(x.shape[2:]), [(ph, ph), (pw, pw)])
    n, c, h, w = xp.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            if reduce == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                div = kh * kw if count_include_pad else real[i * sh:i * sh + kh,
                                                             j * sw:j * sw + kw].sum()
                out[:, :, i, j] = win.sum(axis=(2, 3)) / div
    return out


@st.composite
def pool_case(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.sampled_from([None, 1, 2, (2, 1)]))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 6)),
             draw(st.integers(1, 6)))
    assume(all(shape[2 + i] + 2 * padding[i] >= kernel[i] for i in range(2)))
    return shape, kernel, stride, padding


def _stride(stride, kernel):
    if stride is None:
        return kernel
    return (stride, stride) if isinstance(stride, int) else stride


@given(pool_case())
def test_max_pool2d(case):
    shape, kernel, stride, padding = case
    check_op(lambda x: F.max_pool2d(x, kernel, stride, padding),
             lambda x: ref_pool2d(x, kernel, _stride(stride, kernel), padding, "max"),
             shape, make=distinct)


@given(pool_case(), st.booleans())
def test_avg_pool2d(case, count_include_pad):
    shape, kernel, stride, padding = case
    check_op(lambda x: F.avg_pool2d(x, kernel, stride, padding, count_include_pad),
             lambda x: ref_pool2d(x, kernel, _stride(stride, kernel), padding, "avg",
                                  count_include_pad), shape)


@given(st.integers(1, 3), st.sampled_from([None, 1, 2]), st.integers(0, 1), st.integers(2, 7),
       st.sampled_from(["max", "avg"]))
def test_pool1d(k, stride, padding, length, kind):
    assume(2 * padding <= k and length + 2 * padding >= k)
    s = k if stride is None else stride
    fn = F.max_pool1d if kind == "max" else F.avg_pool1d
    check_op(lambda x: fn(x, k, stride, padding),
             lambda x: ref_pool2d(x[:, :, None], (1, k), (1, s), (0, padding), kind)[:, :, 0],
             (2, 2, length), make=distinct)


def test_max_pool_gradient_goes_to_the_first_arg_max_only():
    x = cr.tensor(np.array([[[[1.0, 3.0], [3.0, 0.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 1], [0, 0]])


def test_overlapping_max_pool_accumulates_on_a_shared_maximum():
    x = cr.tensor(np.array([[[0.0, 5.0, 1.0, 2.0]]]), requires_grad=True)
    F.max_pool1d(x, 2, stride=1).sum().backward()  # windows (0,5) (5,1) (1,2)
    np.testing.assert_array_equal(x.grad[0, 0], [0, 2, 0, 1])


def _ref_adaptive(x, oh, ow):
    n, c, h, w = x.shape
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
            w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.integers(1, 4))
def test_adaptive_avg_pool2d(h, w, oh, ow):
    check_op(lambda x: F.adaptive_avg_pool2d(x, (oh, ow)), lambda x: _ref_adaptive(x, oh, ow),
             (2, 2, h, w))


def test_global_average_pool():
    check_op(lambda x: F.adaptive_avg_pool2d(x, 1),
             lambda x: x.mean(axis=(2, 3), keepdims=True), (3, 2, 4, 5))


def test_adaptive_bins_overlap_when_the_input_does_not_divide():
    x = np.arange(5.0).reshape(1, 1, 1, 5)
    out = F.adaptive_avg_pool2d(cr.tensor(x), (1, 3)).numpy()[0, 0, 0]
    np.testing.assert_allclose(out, [0.5, 2.0, 3.5])  # bins [0,2) [1,4) [3,5)


@given(st.lists(st.integers(0, 2), min_size=2, max_size=6).filter(lambda p: len(p) % 2 == 0))
def test_pad(pads):
    shape = (2, 3, 2)
    widths = [(0, 0)] * 3
    for i in range(len(pads) // 2):
        widths[2 - i] = (pads[2 * i], pads[2 * i + 1])
    check_op(lambda x: F.pad(x, tuple(pads), value=0.5),
             lambda x: np.pad(x, widths, constant_values=0.5), shape)


def test_pool_and_pad_errors():
    x = cr.tensor(uniform((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="at most half the kernel"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.avg_pool2d(cr.tensor(uniform((4, 4))), 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.max_pool2d(x, 5)
    with pytest.raises(ValueError, match="even-length"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="constant"):
        F.pad(x, (1, 1), mode="reflect")


# ---------------------------------------------------------------- found by mutation testing
@pytest.mark.parametrize("x, kwargs, want", [
    ([[2.0, 2.0], [2.0, 2.0]], dict(kernel_size=2), [[1, 0], [0, 0]]),  # all tied: the first
    ([[0.0, 0.0], [1.0, 1.0]], dict(kernel_size=2), [[0, 0], [1, 0]]),  # the last two tied
    ([[1.0, 1.0, 1.0]], dict(kernel_size=(1, 2), stride=1), [[1, 1, 0]]),  # overlapping
])
def test_max_pool_ties_give_the_gradient_to_the_first_arg_max_only(x, kwargs, want):
    from chainrule import ops

    x = np.array([[x]])
    out, backward = ops.pooling.max_pool2d(x, **kwargs)
    (gx,) = backward(np.ones(out.shape), (True,))
    np.testing.assert_array_equal(gx[0, 0], want)


@pytest.mark.parametrize("call, match", [
    (lambda o, x4, x3: o.max_pool2d(x4, 0), r"^max_pool2d: kernel_size must be"),
    (lambda o, x4, x3: o.max_pool2d(x4, 2, stride=0), r"^max_pool2d: stride must be"),
    (lambda o, x4, x3: o.max_pool2d(x4, 2, padding=-1), r"^max_pool2d: padding must be"),
    (lambda o, x4, x3: o.max_pool2d(x3, 2), r"^max_pool2d: input must have shape \(N, C, H, W\)"),
    (lambda o, x4, x3: o.avg_pool2d(x4, 0), r"^avg_pool2d: kernel_size must be"),
    (lambda o, x4, x3: o.avg_pool2d(x3, 2), r"^avg_pool2d: input must have shape \(N, C, H, W\)"),
    (lambda o, x4, x3: o.max_pool1d(x3, 0), r"^max_pool1d: kernel_size must be"),
    (lambda o, x4, x3: o.max_pool1d(x3, 2, stride=0), r"^max_pool1d: stride must be"),
    (lambda o, x4, x3: o.max_pool1d(x3, 2, padding=-1), r"^max_pool1d: padding must be"),
    (lambda o, x4, x3: o.max_pool1d(x3, (2, 2)), r"^max_pool1d: kernel_size must be"),
    (lambda o, x4, x3: o.avg_pool1d(x4, 2), r"^avg_pool1d: input must have shape \(N, C, L\)"),
    (lambda o, x4, x3: o.avg_pool1d(x3, 2, stride=0), r"^avg_pool1d: stride must be"),
    (lambda o, x4, x3: o.adaptive_avg_pool2d(x4, 0), r"^adaptive_avg_pool2d: output_size must"),
    (lambda o, x4, x3: o.adaptive_avg_pool2d(x3, 1), r"^adaptive_avg_pool2d: input must have"),
    (lambda o, x4, x3: o.max_pool2d(x4, 5), r"^max_pool2d: the kernel"),
    (lambda o, x4, x3: o.max_pool1d(x3, 5), r"^max_pool1d: the kernel"),
])
def test_pool_errors_start_with_the_op_and_the_argument(call, match):
    from chainrule import ops

    with pytest.raises(ValueError, match=match):
        call(ops.pooling, np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 4)))


def test_pool_defaults_and_one_element_tuples_for_1d():
    from chainrule import ops

    x = uniform((1, 2, 4, 6))
    p = ops.pooling
    assert p.max_pool2d(x, 2)[0].shape == (1, 2, 2, 3)  # stride = kernel, no padding
    assert p.avg_pool2d(x, 2)[0].shape == (1, 2, 2, 3)
    assert p.avg_pool1d(x[:, :, 0], 2)[0].shape == (1, 2, 3)
    # count_include_pad=True by default: a border window of 3x3 divides by 9
    out = p.avg_pool2d(x, 3, stride=1, padding=1)[0]
    np.testing.assert_allclose(out[0, 0, 0, 0], x[0, 0, :2, :2].sum() / 9, rtol=1e-12)
    x1 = x[:, :, 0]
    assert p.max_pool1d(x1, 2)[0].shape == (1, 2, 3)
    out = p.avg_pool1d(x1, 3, stride=1, padding=1)[0]
    np.testing.assert_allclose(out[0, 0, 0], x1[0, 0, :2].sum() / 3, rtol=1e-12)
    np.testing.assert_array_equal(p.max_pool1d(x1, (2,), stride=(2,), padding=(0,))[0],
                                  p.max_pool1d(x1, 2)[0])


@pytest.mark.parametrize("size", [(2, 1), (1, 2), (1, 1), (2, 3)])
def test_adaptive_pool_shapes_that_are_not_global(size):
    x = uniform((1, 2, 4, 6))
    np.testing.assert_allclose(F.adaptive_avg_pool2d(cr.tensor(x), size).numpy(),
                               _ref_adaptive(x, *size), rtol=1e-12)


@pytest.mark.parametrize("name, args", [("max_pool2d", (2,)), ("avg_pool2d", (2,)),
                                        ("adaptive_avg_pool2d", (1,)),
                                        ("adaptive_avg_pool2d", (3,))])
def test_pool_backward_keeps_float32(name, args):
    from chainrule import ops

    x = uniform((1, 2, 4, 6)).astype(np.float32)
    out, backward = getattr(ops.pooling, name)(x, *args)
    assert backward(np.ones(out.shape, np.float32), (True,))[0].dtype == np.float32
    out, backward = ops.pooling.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    assert out.dtype == np.float32
