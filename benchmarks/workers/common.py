"""What every framework worker shares: the data, the timing loops and the memory probes.

A framework module (fw_*.py) only builds a model and says how to run one
training step or one forward pass on ``X[start:stop]``; the loops that time
those calls live here, so every framework is timed by the same code. chainrule
and PyTorch share the API the models and steps below are written in (``nn.Linear``,
``opt.zero_grad()``, ``loss.backward()``...): each is written once, for both.
"""

from __future__ import annotations

import gc
import statistics
import time

import numpy as np

SEED = 0
N_SAMPLES = 12_000          # the MLP's one epoch
N_FEATURES = 784
N_CLASSES = 10
MLP_SIZES = (784, 256, 256, 10)
TINY_SIZES = (16, 32, 32, 2)
TINY_SAMPLES = 4096
RESIDUAL_WIDTH = 256
RESIDUAL_BLOCKS = 8
RESIDUAL_BATCH = 256
INFERENCE_BATCH = 4096
MLP_BATCHES = (32, 128, 1024)
SGD_LR = 0.01
ADAM_LR = 1e-3
RSS_STEPS = 20_000




def mlp_gemms(batch, sizes=MLP_SIZES):
    """The GEMMs of one training step of the MLP ``sizes`` at ``batch``, as the engines run them.

    Returns ``(name, (m, k), (k, n), transposed)`` tuples: the forward products
    ``h @ W``, the weight gradients ``h.T @ g`` (``transposed`` = the left operand
    is a transposed view) and the input gradients ``g @ W.T`` of every layer but
    the first (no engine computes the input's gradient): 8 GEMMs for 784-256-256-10.
    """
    pairs = list(zip(sizes[:-1], sizes[1:]))
    out = []
    for i, (a, b) in enumerate(pairs):
        out.append((f"fwd{i + 1}", (batch, a), (a, b), ""))
    for i, (a, b) in enumerate(pairs):
        out.append((f"dW{i + 1}", (a, batch), (batch, b), "A"))
    for i, (a, b) in enumerate(pairs[1:], start=1):
        out.append((f"dX{i + 1}", (batch, b), (b, a), "B"))
    return out


def gemm_operands(rng, a_shape, b_shape, transposed):
    """float32 operands of the given shapes; ``'A'``/``'B'`` makes that one a transposed view."""
    def make(shape, t):
        if t:
            return rng.standard_normal(shape[::-1], dtype=np.float32).T
        return rng.standard_normal(shape, dtype=np.float32)

    return make(a_shape, "A" in transposed), make(b_shape, "B" in transposed)


def time_gemm_us(call, flops, budget_s=0.08, min_calls=15):
    """Median microseconds of ``call()`` over enough calls to fill ``budget_s``."""
    for _ in range(3):
        call()
    t0 = time.perf_counter()
    call()
    est = max(time.perf_counter() - t0, 1e-7)
    n = max(min_calls, int(budget_s / est))
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - t0) / 1e3)
    return statistics.median(times)


# ---------------------------------------------------------------------- data
def mlp_data(n=N_SAMPLES, d=N_FEATURES, classes=N_CLASSES, seed=SEED):
    """Random float32 inputs and int64 labels, shuffled once (a fixed permutation).

    Generated directly in float32 (no float64 temporary), so the memory case's
    baseline is the data itself.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    y = rng.integers(0, classes, size=n, dtype=np.int64)
    perm = rng.permutation(n)
    return np.ascontiguousarray(x[perm]), np.ascontiguousarray(y[perm])


def tiny_data():
    return mlp_data(TINY_SAMPLES, TINY_SIZES[0], TINY_SIZES[-1], SEED + 1)


def batch_bounds(n, batch):
    """(start, stop) of each batch of one epoch; the last one may be shorter (drop_last=False)."""
    return [(s, min(s + batch, n)) for s in range(0, n, batch)]


# ---------------------------------------------------------------------- timing
def warm_up(step, bounds, n_steps=10):
    """Run the last (possibly partial) batch once, then the first ``n_steps`` batches."""
    step(*bounds[-1])
    for s, e in bounds[:n_steps]:
        step(s, e)


def time_epochs(step, n, batch, epochs):
    """Samples per second of each of ``epochs`` timed epochs, after a warm-up."""
    bounds = batch_bounds(n, batch)
    warm_up(step, bounds)
    rates = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for s, e in bounds:
            step(s, e)
        rates.append(n / (time.perf_counter() - t0))
    return rates


def time_steps_us(step, n, batch, steps, warm=200):
    """Microseconds of each of ``steps`` single training steps (cycling over the data)."""
    bounds = batch_bounds(n, batch)
    if bounds[-1][1] - bounds[-1][0] != batch:
        bounds = bounds[:-1]
    for i in range(warm):
        step(*bounds[i % len(bounds)])
    clock = time.perf_counter_ns
    out = []
    for i in range(steps):
        s, e = bounds[i % len(bounds)]
        t0 = clock()
        step(s, e)
        out.append((clock() - t0) / 1e3)
    return out


def time_calls(fn, calls, warm=2):
    """Seconds of each of ``calls`` calls of ``fn()`` after ``warm`` untimed ones."""
    for _ in range(warm):
        fn()
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median(xs):
    return statistics.median(xs)


# ---------------------------------------------------------------------- memory
def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_mb():
    return _status_kb("VmRSS") / 1024


def hwm_mb():
    return _status_kb("VmHWM") / 1024


def reset_peak():
    """Reset the peak RSS (VmHWM) to the current RSS; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_increase_mb(run):
    """Peak RSS increase (MB) while ``run()`` executes, above the RSS just before it."""
    gc.collect()
    reset = reset_peak()
    before = rss_mb()
    hwm_before = hwm_mb()
    run()
    after = hwm_mb()
    if not reset and after <= hwm_before:
        # The peak was set before (data generation); the run did not exceed it.
        return max(0.0, after - before), {"hwm_reset": False, "peak_before_mb": hwm_before}
    return after - before, {"hwm_reset": reset, "rss_before_mb": before, "hwm_after_mb": after}


def rss_growth_mb(step, n, batch, steps=RSS_STEPS, warm=500):
    """RSS (MB) after ``steps`` training steps minus RSS after a warm-up, both after gc."""
    bounds = batch_bounds(n, batch)
    bounds = [b for b in bounds if b[1] - b[0] == batch]
    for i in range(warm):
        step(*bounds[i % len(bounds)])
    gc.collect()
    before = rss_mb()
    for i in range(steps):
        step(*bounds[i % len(bounds)])
    gc.collect()
    after = rss_mb()
    return after - before, {"rss_before_mb": before, "rss_after_mb": after, "steps": steps}


# ---------------------------------------------------------------------- models and steps
def mlp(nn, sizes):
    """Linear layers of ``sizes`` with ReLU between them, in the framework ``nn``."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def residual_net(nn, residual, d_in, d_out, width=RESIDUAL_WIDTH, blocks=RESIDUAL_BLOCKS):
    """Linear(d_in, width), ``blocks`` residual blocks (``residual(body)``: x + body(x)) of
    Linear-ReLU-Linear, Linear(width, d_out)."""
    body = [residual(nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width)))
            for _ in range(blocks)]
    return nn.Sequential(nn.Linear(d_in, width), *body, nn.Linear(width, d_out))


def train_step(model, opt, loss_fn, xt, yt):
    """A function ``step(start, stop)``: one optimizer step on the batch ``xt[start:stop]``."""
    def step(s, e):
        opt.zero_grad()
        loss = loss_fn(model(xt[s:e]), yt[s:e])
        loss.backward()
        opt.step()

    return step


def forward_fn(model, xt, no_grad):
    """A function ``forward(start, stop)``: the outputs of ``xt[start:stop]``, under no_grad."""
    def forward(s, e):
        with no_grad():
            return model(xt[s:e])

    return forward


# ---------------------------------------------------------------------- init
def uniform_init(rng, fan_in, shape):
    """PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)
