"""The fused GPU kernels (chainrule/kernels.py) against the NumPy code they replace.

These need CuPy and a GPU; elsewhere they skip (benchmarks/gpu_check.sh runs them).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule import kernels
from chainrule.optim.adam import adam_update
from chainrule.optim.sgd import sgd_update

cupy = pytest.importorskip("cupy", reason="the GPU kernels need CuPy")
try:
    if cupy.cuda.runtime.getDeviceCount() < 1:
        pytest.skip("no GPU visible to CuPy", allow_module_level=True)
except Exception as e:  # no driver
    pytest.skip(f"no usable GPU ({type(e).__name__})", allow_module_level=True)

RNG = np.random.default_rng(0)
TOL = {np.float32: dict(rtol=2e-6, atol=1e-7), np.float64: dict(rtol=1e-12, atol=1e-14)}


def _pair(shape, dtype, low=-2.0, high=2.0):
    a = RNG.uniform(low, high, shape).astype(dtype)
    return a, cupy.asarray(a)


def test_on_gpu_only_for_cupy():
    assert kernels.on_gpu(cupy) and not kernels.on_gpu(np)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, ref", [
    ("relu_backward", lambda g, out: g * (out > 0)),
    ("sigmoid_backward", lambda g, out: g * out * (1 - out)),
    ("tanh_backward", lambda g, out: g * (1 - out * out)),
])
def test_activation_backward_kernels(name, ref, dtype):
    g, gd = _pair((37, 11), dtype)
    out, outd = _pair((37, 11), dtype, 0.0, 1.0)
    out[::3] = 0.0
    outd = cupy.asarray(out)
    got = getattr(kernels, name)(gd, outd)
    np.testing.assert_allclose(cupy.asnumpy(got), ref(g, out), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_backward_kernel(dtype):
    z, _ = _pair((9, 5), dtype)
    t = RNG.integers(0, 5, 9)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    s = e.sum(axis=1, keepdims=True)
    scale = np.asarray(1 / 9, dtype=dtype)
    p = e / s
    p[np.arange(9), t] -= 1
    got = kernels.softmax_xent_backward(cupy.asarray(e), cupy.asarray(s), cupy.asarray(t),
                                        cupy.asarray(scale))
    np.testing.assert_allclose(cupy.asnumpy(got), p * scale, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nesterov, dampening, wd, maximize",
                         [(False, 0.0, 0.0, False), (True, 0.0, 0.01, False),
                          (False, 0.1, 0.0, True)])
def test_sgd_kernels(dtype, nesterov, dampening, wd, maximize):
    p, pd = _pair((50,), dtype)
    hyper = dict(lr=0.1, momentum=0.9, dampening=dampening, nesterov=nesterov,
                 weight_decay=wd, maximize=maximize)
    buf = bufd = None
    for step in range(3):
        g, gd = _pair((50,), dtype)
        buf = sgd_update(p, g, buf, **hyper)
        if bufd is None:
            bufd = cupy.empty_like(pd)
        kernels.sgd_momentum(pd, gd, bufd, first=step == 0, **hyper)
        np.testing.assert_allclose(cupy.asnumpy(pd), p, **TOL[dtype])
        np.testing.assert_allclose(cupy.asnumpy(bufd), buf, **TOL[dtype])
    g, gd = _pair((50,), dtype)
    sgd_update(p, g, None, lr=0.1)
    kernels.sgd_plain(pd, gd, 0.1)
    np.testing.assert_allclose(cupy.asnumpy(pd), p, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("wd, maximize", [(0.0, False), (0.01, True)])
def test_adam_kernel(dtype, wd, maximize):
    p, pd = _pair((64,), dtype)
    m, v = np.zeros_like(p), np.zeros_like(p)
    md, vd = cupy.zeros_like(pd), cupy.zeros_like(pd)
    b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
    for step in range(1, 4):
        g, gd = _pair((64,), dtype)
        adam_update(p, g, m, v, step=step, lr=lr, beta1=b1, beta2=b2, eps=eps,
                    weight_decay=wd, maximize=maximize)
        kernels.adam(pd, gd, md, vd, step_size=lr / (1 - b1**step),
                     bias_correction2_sqrt=math.sqrt(1 - b2**step), beta1=b1, beta2=b2,
                     eps=eps, weight_decay=wd, maximize=maximize)
        np.testing.assert_allclose(cupy.asnumpy(pd), p, **TOL[dtype])
        np.testing.assert_allclose(cupy.asnumpy(md), m, **TOL[dtype])
        np.testing.assert_allclose(cupy.asnumpy(vd), v, **TOL[dtype])
