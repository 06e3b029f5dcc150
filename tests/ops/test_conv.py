"""conv1d and conv2d: forward against a direct loop, float64 gradcheck, chunking, errors."""

import numpy as np
import pytest
from helpers import check_op, uniform
from hypothesis import assume, given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F
from chainrule.ops import conv as conv_ops


def _pairs(padding, kernel, dilation):
    if padding == "valid":
        return [(0, 0), (0, 0)]
    if padding == "same":
        tot = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [(t // 2, t - t // 2) for t in tot]
    p = (padding, padding) if isinstance(padding, int) else padding
    return [(p[0], p[0]), (p[1], p[1])]


def ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """The definition, one output element at a time."""
    s = (stride, stride) if isinstance(stride, int) else stride
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    xp = np.pad(x, [(0, 0), (0, 0)] + _pairs(padding, w.shape[2:], d))
    n, _, h, wd = xp.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    oh = (h - d[0] * (kh - 1) - 1) // s[0] + 1
    ow = (wd - d[1] * (kw - 1) - 1) // s[1] + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(n):
        for c in range(o):
            g = c // og
            for r in range(oh):
                for q in range(ow):
                    patch = xp[i, g * cg:(g + 1) * cg, r * s[0]:r * s[0] + d[0] * (kh - 1) + 1:d[0],
                               q * s[1]:q * s[1] + d[1] * (kw - 1) + 1:d[1]]
                    out[i, c, r, q] = (patch * w[c]).sum() + (0.0 if b is None else b[c])
    return out


@st.composite
def conv_case(draw):
    groups = draw(st.integers(1, 2))
    depthwise = draw(st.booleans())
    cg = 1 if depthwise else draw(st.integers(1, 2))
    og = draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.sampled_from([1, 2, (1, 2)]))
    dilation = draw(st.sampled_from([1, 2, (2, 1)]))
    padding = draw(st.sampled_from([0, 1, (1, 0), "valid", "same"]))
    if padding == "same":
        stride = 1
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    n = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    return dict(x=(n, cg * groups, h, w), w=(og * groups, cg, kh, kw), bias=bias,
                stride=stride, padding=padding, dilation=dilation, groups=groups)


def _fits(case):
    d = case["dilation"]
    d = (d, d) if isinstance(d, int) else d
    pairs = _pairs(case["padding"], case["w"][2:], d)
    return all(case["x"][2 + i] + sum(pairs[i]) >= d[i] * (case["w"][2 + i] - 1) + 1
               for i in range(2))


@given(conv_case())
def test_conv2d(case):
    assume(_fits(case))
    opts = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    shapes = [case["x"], case["w"]] + ([(case["w"][0],)] if case["bias"] else [])
    check_op(lambda x, w, *b: F.conv2d(x, w, *b, **opts),
             lambda x, w, *b: ref_conv2d(x, w, *b, **opts), *shapes)


@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 7), st.sampled_from([1, 2]), st.sampled_from([1, 2]),
       st.sampled_from([0, 1, "same", "valid"]), st.booleans())
def test_conv1d(n, c, o, k, length, stride, dilation, padding, bias):
    if padding == "same":
        stride = 1
    p = {"valid": 0, "same": 0}.get(padding, padding)
    assume(length + 2 * p + (dilation * (k - 1) if padding == "same" else 0)
           >= dilation * (k - 1) + 1)
    opts = dict(stride=stride, padding=padding, dilation=dilation)
    pad2 = padding if isinstance(padding, str) else (0, padding)

    def ref(x, w, *b):
        return ref_conv2d(x[:, :, None], w[:, :, None], *b, stride=(1, stride), padding=pad2,
                          dilation=(1, dilation))[:, :, 0]

    shapes = [(n, c, length), (o, c, k)] + ([(o,)] if bias else [])
    check_op(lambda x, w, *b: F.conv1d(x, w, *b, **opts), ref, *shapes)


def test_same_padding_with_an_even_kernel_puts_the_extra_zero_after():
    x = cr.tensor(np.arange(4.0).reshape(1, 1, 4))
    w = cr.tensor(np.ones((1, 1, 2)))
    np.testing.assert_array_equal(F.conv1d(x, w, padding="same").numpy()[0, 0], [1, 3, 5, 3])


def test_depthwise_conv_is_a_per_channel_conv():
    x = uniform((2, 3, 5, 5))
    w = uniform((3, 1, 3, 3), seed=1)
    out = F.conv2d(cr.tensor(x), cr.tensor(w), groups=3, padding=1).numpy()
    for c in range(3):
        one = F.conv2d(cr.tensor(x[:, c:c + 1]), cr.tensor(w[c:c + 1]), padding=1).numpy()
        np.testing.assert_allclose(out[:, c:c + 1], one, rtol=1e-5, atol=1e-5)


def test_chunked_batch_matches_whole_batch(monkeypatch):
    x = uniform((5, 2, 6, 6))
    w = uniform((3, 2, 3, 3), seed=1)
    b = uniform((3,), seed=2)

    def run():
        ts = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = F.conv2d(*ts, stride=2, padding=1)
        (y * cr.tensor(uniform(y.shape, seed=3))).sum().backward()
        return [y.numpy()] + [t.grad for t in ts]

    whole = run()
    per_sample = 2 * 9 * 9 * 8  # C * kH * kW * OH * OW * itemsize
    monkeypatch.setattr(conv_ops, "COLUMN_BUFFER_LIMIT", 2 * per_sample)  # chunks of 2
    chunked = run()
    for a, b_ in zip(whole, chunked):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)
    xt = cr.tensor(x[:3], requires_grad=True)
    wt = cr.tensor(w, requires_grad=True)
    assert cr.gradcheck(lambda x_, w_: F.conv2d(x_, w_, padding=1), xt, wt)


def test_one_by_one_conv_matches_reference():
    check_op(lambda x, w: F.conv2d(x, w), lambda x, w: ref_conv2d(x, w), (2, 3, 4, 5),
             (4, 3, 1, 1))


@pytest.mark.parametrize("kwargs, shapes, match", [
    ({}, ((1, 3, 5, 5), (2, 2, 3, 3)), "3 channels"),
    ({"stride": 2, "padding": "same"}, ((1, 1, 5, 5), (1, 1, 3, 3)), "stride 1"),
    ({}, ((1, 1, 2, 2), (1, 1, 3, 3)), "larger than the padded input"),
    ({"padding": "full"}, ((1, 1, 5, 5), (1, 1, 3, 3)), "'same' or 'valid'"),
    ({"stride": 0}, ((1, 1, 5, 5), (1, 1, 3, 3)), "stride"),
    ({"groups": 2}, ((1, 2, 5, 5), (3, 1, 3, 3)), "groups=2"),
])
def test_conv2d_errors_name_the_problem(kwargs, shapes, match):
    x, w = (cr.tensor(np.zeros(s, dtype=np.float32)) for s in shapes)
    with pytest.raises(ValueError, match=match):
        F.conv2d(x, w, **kwargs)


# ---------------------------------------------------------------- found by mutation testing
@pytest.mark.parametrize("kwargs, shapes, match", [
    ({}, ((1, 1, 5), (1, 1, 3, 3)), r"^conv2d: input and weight must have 4 dimensions"),
    ({}, ((1, 1, 5, 5), (1, 1, 3)), r"^conv2d: input and weight must have 4 dimensions"),
    ({"groups": 0}, ((1, 1, 5, 5), (1, 1, 3, 3)), r"^conv2d: groups must be a positive int"),
    ({"groups": 1.0}, ((1, 1, 5, 5), (1, 1, 3, 3)), r"^conv2d: groups must be a positive int"),
    ({"groups": True}, ((1, 1, 5, 5), (1, 1, 3, 3)), r"^conv2d: groups must be a positive"),
    ({"stride": 0}, ((1, 1, 5, 5), (1, 1, 3, 3)), r"^conv2d: stride must be"),
    ({"dilation": 0}, ((1, 1, 5, 5), (1, 1, 3, 3)), r"^conv2d: dilation must be"),
    ({"padding": -1}, ((1, 1, 5, 5), (1, 1, 3, 3)), r"^conv2d: padding must be"),
    ({}, ((1, 1, 2, 2), (1, 1, 3, 3)), r"^conv2d: the kernel"),
    ({"bias": np.zeros(2, np.float32)}, ((1, 1, 5, 5), (1, 1, 3, 3)), r"^conv2d: bias of"),
])
def test_conv2d_errors_start_with_the_op_and_the_argument(kwargs, shapes, match):
    x, w = (np.zeros(s, dtype=np.float32) for s in shapes)
    with pytest.raises(ValueError, match=match):
        conv_ops.conv2d(x, w, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(stride=0), r"^conv1d: stride must be"), (dict(dilation=0), r"^conv1d: dilation"),
    (dict(padding=-1), r"^conv1d: padding must be"), (dict(groups=0), r"^conv1d: groups"),
])
def test_conv1d_errors_name_conv1d_and_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv_ops.conv1d(np.zeros((1, 1, 5)), np.zeros((1, 1, 3)), **kwargs)
    with pytest.raises(ValueError, match=r"^conv1d: input must have shape"):
        conv_ops.conv1d(np.zeros((1, 5)), np.zeros((1, 1, 3)))


def test_op_defaults_are_stride_1_no_padding_dilation_1_one_group():
    x, w = uniform((1, 2, 5, 6)), uniform((2, 2, 3, 2), seed=1)
    np.testing.assert_allclose(conv_ops.conv2d(x, w)[0], ref_conv2d(x, w), rtol=1e-12)
    x1, w1 = x[:, :, 0], w[:, :, 0]
    np.testing.assert_allclose(conv_ops.conv1d(x1, w1)[0],
                               ref_conv2d(x1[:, :, None], w1[:, :, None])[:, :, 0], rtol=1e-12)


@pytest.mark.parametrize("conv, x_shape, w_shape", [
    (F.conv2d, (2, 2, 5, 4), (3, 2, 3, 2)), (F.conv1d, (2, 2, 6), (3, 2, 3))])
def test_only_the_input_or_only_the_weight_needing_a_gradient(conv, x_shape, w_shape):
    x, w = uniform(x_shape), uniform(w_shape, seed=1)
    r = uniform(conv(cr.tensor(x), cr.tensor(w), padding=1).shape, seed=2)
    both = [cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)]
    (conv(*both, padding=1) * cr.tensor(r)).sum().backward()
    for i in (0, 1):
        one = [cr.tensor(x, requires_grad=i == 0), cr.tensor(w, requires_grad=i == 1)]
        (conv(*one, padding=1) * cr.tensor(r)).sum().backward()
        np.testing.assert_allclose(one[i].grad, both[i].grad, rtol=1e-12, atol=1e-12)
        assert one[1 - i].grad is None


def test_a_one_by_one_kernel_with_a_stride():
    check_op(lambda x, w: F.conv2d(x, w, stride=(2, 1)),
             lambda x, w: ref_conv2d(x, w, stride=(2, 1)), (2, 3, 5, 4), (2, 3, 1, 1))


def test_float32_stays_float32_in_the_chunked_path_and_the_backward(monkeypatch):
    x = uniform((3, 2, 5, 5)).astype(np.float32)
    w = uniform((2, 2, 3, 3), seed=1).astype(np.float32)
    for limit in (conv_ops.COLUMN_BUFFER_LIMIT, 1):  # whole batch, then one sample a chunk
        monkeypatch.setattr(conv_ops, "COLUMN_BUFFER_LIMIT", limit)
        out, backward = conv_ops.conv2d(x, w)
        gx, gw, _ = backward(np.ones(out.shape, np.float32), (True, True, False))
        assert out.dtype == gx.dtype == gw.dtype == np.float32


def test_conv1d_takes_one_element_tuples():
    x, w = uniform((1, 2, 9)), uniform((2, 2, 3), seed=1)
    np.testing.assert_array_equal(
        conv_ops.conv1d(x, w, stride=(2,), padding=(1,), dilation=(2,))[0],
        conv_ops.conv1d(x, w, stride=2, padding=1, dilation=2)[0])
