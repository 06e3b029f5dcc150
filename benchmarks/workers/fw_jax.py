"""JAX (jit, XLA on the CPU), float32: the compiled peer a speed-minded user picks.

The whole training step (forward, loss, gradient, update) is one jitted function
with the parameters donated, so XLA updates them in place; every step blocks
until its result is ready (XLA dispatches asynchronously), so a step's time is
its real cost. The init is PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as
for the other frameworks; weights are stored (in, out).
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from common import RESIDUAL_BLOCKS, RESIDUAL_WIDTH, SEED, uniform_init  # noqa: E402


def info():
    return {"jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()]}


def _init(shapes):
    rng = np.random.default_rng(SEED)
    return [(jnp.asarray(uniform_init(rng, a, (a, b))), jnp.asarray(uniform_init(rng, a, (b,))))
            for a, b in shapes]


def _shapes(arch, sizes):
    if arch == "residual":
        w = RESIDUAL_WIDTH
        return [(sizes[0], w)] + [(w, w)] * (2 * RESIDUAL_BLOCKS) + [(w, sizes[-1])]
    return list(zip(sizes[:-1], sizes[1:]))


def _forward(arch, params, x):
    if arch == "residual":
        (w0, b0), *body, (wl, bl) = params
        h = x @ w0 + b0
        for k in range(RESIDUAL_BLOCKS):
            (w1, b1), (w2, b2) = body[2 * k], body[2 * k + 1]
            h = h + jnp.maximum(h @ w1 + b1, 0) @ w2 + b2
        return h @ wl + bl
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = jnp.maximum(h, 0)
    return h


def _loss(arch, params, x, y):
    logits = _forward(arch, params, x)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def trainer(arch, sizes, x, y, optimizer="sgd", lr=0.01):
    params = _init(_shapes(arch, sizes))
    grad_fn = jax.grad(lambda p, xb, yb: _loss(arch, p, xb, yb))

    if optimizer == "sgd":
        def sgd(params, xb, yb):
            g = grad_fn(params, xb, yb)
            return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)

        update = jax.jit(sgd, donate_argnums=0)
        state = {"params": params}

        def step(s, e):
            state["params"] = update(state["params"], x[s:e], y[s:e])
            jax.block_until_ready(state["params"])

        return step

    b1, b2, eps = 0.9, 0.999, 1e-8  # PyTorch's Adam

    def adam(params, m, v, t, xb, yb):
        g = grad_fn(params, xb, yb)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
        v = jax.tree_util.tree_map(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
        step_size = lr / (1 - b1**t)
        inv = 1 / jnp.sqrt(1 - b2**t)
        params = jax.tree_util.tree_map(
            lambda p, m_, v_: p - step_size * m_ / (jnp.sqrt(v_) * inv + eps), params, m, v)
        return params, m, v, t

    update = jax.jit(adam, donate_argnums=(0, 1, 2))
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = {"p": params, "m": zeros, "v": jax.tree_util.tree_map(jnp.zeros_like, params),
             "t": jnp.asarray(0.0, jnp.float32)}

    def step(s, e):
        state["p"], state["m"], state["v"], state["t"] = update(
            state["p"], state["m"], state["v"], state["t"], x[s:e], y[s:e])
        jax.block_until_ready(state["p"])

    return step


def predictor(arch, sizes, x):
    params = _init(_shapes(arch, sizes))
    fwd = jax.jit(lambda p, xb: _forward(arch, p, xb))

    def forward(s, e):
        return jax.block_until_ready(fwd(params, x[s:e]))

    return forward


def gemm_call(a, b):
    """One jitted call of ``a @ b`` (a transposed operand is stored transposed, as XLA sees it)."""
    ta, tb = a.flags.f_contiguous and not a.flags.c_contiguous, \
        b.flags.f_contiguous and not b.flags.c_contiguous
    ja = jnp.asarray(np.ascontiguousarray(a.T) if ta else a)
    jb = jnp.asarray(np.ascontiguousarray(b.T) if tb else b)
    fn = jax.jit(lambda x, y: (x.T if ta else x) @ (y.T if tb else y))
    return lambda: jax.block_until_ready(fn(ja, jb))
