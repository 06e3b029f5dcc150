"""Test helpers: the one-line op check (tinygrad's ``helper_test_op``) and input makers.

``check_op(fn, ref, *shapes)`` runs ``fn`` (on chainrule tensors) in float32 and
compares it with ``ref`` (on float64 NumPy arrays of the same values), then
runs ``cr.gradcheck`` on ``fn`` in float64. Inputs come from a seeded generator,
so every check is deterministic.

The CLI's tests share ``run`` (``chainrule ...`` in a subprocess, floating-point warnings
as errors), ``run_many``, ``assert_ok``, ``assert_bad_input`` (exit code 2, one line on
stderr, no traceback), ``write_csv`` and ``read_csv``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import chainrule as cr

# (rtol, atol) for comparing a forward pass in this dtype with a float64 reference.
TOLERANCE = {
    np.dtype(np.float32): (1e-4, 1e-5),
    np.dtype(np.float64): (1e-10, 1e-12),
}


def rng(seed=0):
    return np.random.default_rng(seed)


def uniform(shape, low=-2.0, high=2.0, seed=0):
    return rng(seed).uniform(low, high, shape)


def nonzero(shape, low=0.2, high=2.0, seed=0):
    """Values of magnitude in [low, high] with random signs: away from kinks at 0."""
    r = rng(seed)
    return r.uniform(low, high, shape) * r.choice([-1.0, 1.0], shape)


def positive(shape, low=0.5, high=2.0, seed=0):
    return rng(seed).uniform(low, high, shape)


def distinct(shape, seed=0):
    """Values in [-2, 2) spaced at least 4/size apart: no ties for max/min."""
    size = int(np.prod(shape, dtype=np.int64))
    return (rng(seed).permutation(size).reshape(shape) + 0.5) * (4.0 / max(size, 1)) - 2.0


def assert_close(actual, expected, dtype=np.float32, rtol=None, atol=None):
    r, a = TOLERANCE[np.dtype(dtype)]
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected,
                               rtol=r if rtol is None else rtol, atol=a if atol is None else atol)


def check_op(fn, ref, *shapes, inputs=None, make=uniform, grad=True, rtol=None, atol=None,
             tol64=None, seed=0, gradcheck_kwargs=None):
    """Check ``fn`` (tensors -> Tensor) against ``ref`` (float64 arrays -> array).

    Parameters
    ----------
    fn, ref : callable
        The chainrule computation and its plain NumPy definition.
    *shapes : tuple of int
        One shape per input; values from ``make(shape, seed=...)``.
    inputs : list of ndarray, optional
        Explicit input values instead of ``shapes``.
    grad : bool or sequence of bool
        Which inputs gradcheck differentiates (all by default; False: none).
    rtol, atol : float, optional
        Forward tolerance in float32 (default: ``TOLERANCE``).
    tol64 : (rtol, atol), optional
        Forward tolerance in float64, for ops that approximate (gelu's erf).
    """
    if inputs is None:
        inputs = [make(s, seed=seed + i) for i, s in enumerate(shapes)]
    inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
    if isinstance(grad, bool):
        grad = [grad] * len(inputs)

    # (1) float32 forward against a float64 reference on the same (float32-rounded) values.
    x32 = [a.astype(np.float32) for a in inputs]
    t32 = [cr.tensor(a, requires_grad=g) for a, g in zip(x32, grad)]
    out = fn(*t32)
    expected = np.asarray(ref(*[a.astype(np.float64) for a in x32]))
    assert out.dtype == np.float32, f"float32 inputs gave a {out.dtype} output"
    assert out.shape == expected.shape, f"shape {out.shape}, reference {expected.shape}"
    assert_close(out.numpy(), expected, np.float32, rtol, atol)

    # float32 backward: every gradient is float32 and has its input's shape.
    if any(grad):
        out.backward(np.ones(out.shape, dtype=np.float32))
        for t, g in zip(t32, grad):
            if g:
                assert t.grad is not None, "an input that requires grad got no gradient"
                assert t.grad.dtype == np.float32, f"float32 input got a {t.grad.dtype} grad"
                assert t.grad.shape == t.shape

    # (2) float64 forward and central-difference gradcheck.
    t64 = [cr.tensor(a, requires_grad=g) for a, g in zip(inputs, grad)]
    out64 = fn(*t64)
    assert out64.dtype == np.float64, "float64 inputs must stay float64"
    assert_close(out64.numpy(), np.asarray(ref(*inputs)), np.float64, *(tol64 or (None, None)))
    if any(grad):
        assert cr.gradcheck(fn, *t64, **(gradcheck_kwargs or {}))


# ---------------------------------------------------------------- hypothesis strategies
def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Small array shapes for gradchecks (at most 64 elements)."""
    from hypothesis.extra.numpy import array_shapes

    return array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                        max_side=max_side)


def broadcast_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4):
    """Mutually broadcastable input shapes (``.input_shapes``, ``.result_shape``)."""
    from hypothesis.extra.numpy import mutually_broadcastable_shapes

    return mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims,
                                         max_dims=max_dims, max_side=max_side)


def optimizer_trajectory(cls, kwargs, grads, theta0):
    """Run ``cls([p], **kwargs)`` on a parameter starting at ``theta0``, one step per
    gradient in ``grads``; returns (parameter after each step, optimizer, parameter)."""
    p = cr.tensor(theta0.copy(), requires_grad=True)
    opt = cls([p], **kwargs)
    out = []
    for g in grads:
        p.grad = g.copy()
        opt.step()
        out.append(p.data.copy())
    return out, opt, p


def host(a):
    """``a`` (an array on any device, or a Tensor) as a NumPy array, for assertions.

    Tests that look at ``.grad`` or ``.data`` with NumPy go through this, so they also
    run with ``CHAINRULE_TEST_DEVICE`` set (see conftest.py).
    """
    from chainrule.device import to_host

    return to_host(a.data if isinstance(a, cr.Tensor) else a)


# ---------------------------------------------------------------- fast paths
def _grads_through(fn, arrays, upstream, shared):
    """Value of ``fn`` and the gradients of ``sum(fn(...) * upstream)`` w.r.t. the inputs.

    ``shared=False`` hands the output an upstream gradient that it owns (a backward may
    overwrite it in place); ``shared=True`` adds a zero tensor that requires grad to the
    output, so ``out`` and that tensor share one gradient array and ``out``'s backward
    sees it read-only. A fast path must be right in both cases.
    """
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    if shared:
        other = cr.zeros(out.shape, dtype=out.dtype, requires_grad=True)
        (out + other).backward(np.asarray(upstream, dtype=out.dtype))
        np.testing.assert_array_equal(host(other.grad), np.asarray(upstream, dtype=out.dtype),
                                      err_msg="the fast path wrote into a shared gradient")
    else:
        out.backward(np.asarray(upstream, dtype=out.dtype))
    return out.numpy(), [None if t.grad is None else host(t.grad) for t in ts]


def check_fast_path(fast_fn, plain_fn, *shapes, inputs=None, make=uniform, seed=0,
                    rtol=1e-10, atol=1e-12, rtol32=1e-5, atol32=1e-6, gradcheck_kwargs=None):
    """Check a fast path (fused op, in-place backward, captured step...) against its
    plain composition: the same values and the same gradients, then gradcheck.

    Adding a fast path's check is one line::

        check_fast_path(lambda x, w, b: F.linear_relu(x, w, b),
                        lambda x, w, b: F.relu(x @ w.T + b), (4, 3), (5, 3), (5,))

    Parameters
    ----------
    fast_fn, plain_fn : callable
        Tensors -> Tensor; ``plain_fn`` builds the same function from plain,
        separately gradient-checked ops.
    *shapes : tuple of int
        One shape per input; values from ``make(shape, seed=...)`` (keep them away
        from kinks such as relu's 0: ``make=nonzero``).
    inputs : list of ndarray, optional
        Explicit float64 input values instead of ``shapes``.
    rtol, atol : float
        Tolerance between the two paths in float64.
    rtol32, atol32 : float
        Tolerance between the two paths in float32.
    gradcheck_kwargs : dict, optional
        Passed to ``cr.gradcheck`` of ``fast_fn``.

    What it checks, in float64 and in float32:

    1. the forward values of both paths agree;
    2. the gradients of ``sum(out * r)`` (a fixed random ``r``) w.r.t. every input agree,
       once with an upstream gradient the fast path owns (it may write into it in
       place) and once with one it shares with another consumer (read-only);
    3. the fast path's inputs and the caller's arrays are left unchanged;
    4. ``cr.gradcheck(fast_fn)`` passes in float64 (central differences).
    """
    if inputs is None:
        inputs = [make(s, seed=seed + i) for i, s in enumerate(shapes)]
    inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
    for dtype, rt, at in ((np.float64, rtol, atol), (np.float32, rtol32, atol32)):
        arrays = [a.astype(dtype) for a in inputs]
        kept = [a.copy() for a in arrays]
        with cr.no_grad():
            ref_out = plain_fn(*[cr.tensor(a) for a in arrays]).numpy()
        r = rng(seed + 99).standard_normal(ref_out.shape)
        _, ref_grads = _grads_through(plain_fn, arrays, r, False)
        for shared in (False, True):
            out, grads = _grads_through(fast_fn, arrays, r, shared)
            assert out.dtype == dtype, f"{np.dtype(dtype)} inputs gave a {out.dtype} output"
            np.testing.assert_allclose(out, ref_out, rtol=rt, atol=at,
                                       err_msg="forward: fast path != plain composition")
            for i, (g, ref) in enumerate(zip(grads, ref_grads)):
                what = f"gradient of input {i} ({'shared' if shared else 'owned'} upstream)"
                assert g is not None and ref is not None, f"{what}: missing"
                assert g.dtype == dtype and g.shape == arrays[i].shape, what
                np.testing.assert_allclose(g, ref, rtol=rt, atol=at,
                                           err_msg=f"{what}: fast path != plain composition")
        for a, k in zip(arrays, kept):
            np.testing.assert_array_equal(a, k, err_msg="the fast path modified an input")
    assert cr.gradcheck(fast_fn, *[cr.tensor(a, requires_grad=True) for a in inputs],
                        **(gradcheck_kwargs or {}))


def check_fast_training(make_fast, make_plain, batches, exact=True, rtol=1e-6, atol=1e-7,
                        grads=True):
    """Check a fast training path (fused optimizer, captured step...) against the plain one:
    after every step, the same parameters and the same gradients.

    Adding one is a line::

        check_fast_training(lambda: _setup(fused=True), lambda: _setup(fused=False), batches)

    Parameters
    ----------
    make_fast, make_plain : callable
        ``() -> (model, step)``: a fresh model (built from the same seed by both) and
        ``step(x, y)``, one training step on it (zero_grad, forward, backward, update).
    batches : list of (x, y)
        The batches, one step each.
    exact : bool, default True
        Bitwise equality (what a fused optimizer promises); otherwise ``rtol`` / ``atol``.
    grads : bool, default True
        Also compare each parameter's ``.grad`` after each step: the gradients the fast
        path consumed (its parameters may be views of a flat buffer).
    """
    (m1, step1), (m2, step2) = make_fast(), make_plain()
    named1, named2 = list(m1.named_parameters()), list(m2.named_parameters())
    assert [n for n, _ in named1] == [n for n, _ in named2]
    for (n, p1), (_, p2) in zip(named1, named2):
        np.testing.assert_array_equal(p1.data, p2.data, err_msg=f"{n}: different start")
    compare = (np.testing.assert_array_equal if exact else
               lambda a, b, err_msg: np.testing.assert_allclose(a, b, rtol, atol,
                                                                err_msg=err_msg))
    for i, (x, y) in enumerate(batches):
        step1(x, y)
        step2(x, y)
        for (n, p1), (_, p2) in zip(named1, named2):
            if grads:
                compare(p1.grad, p2.grad, err_msg=f"step {i + 1}: gradient of {n}")
            compare(p1.data, p2.data, err_msg=f"step {i + 1}: {n}")


# ---------------------------------------------------------------------- NumPy references
def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_log_softmax(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_reduce(per, reduction, denom=None):
    """A per-sample loss reduced as chainrule's ``reduction=``: 'none', 'sum' or 'mean'
    (over ``denom``, by default the number of elements)."""
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per.sum() / (per.size if denom is None else denom)


def np_cross_entropy(z, t, reduction="mean", weight=None, label_smoothing=0.0):
    """PyTorch's definition, written out: loss_i = -sum_c w_c q_ic log p_ic; 'mean' divides
    by sum_i w_{t_i} for class indices, by n for probabilities."""
    n, c = z.shape
    w = np.ones(c) if weight is None else weight
    if t.dtype.kind == "i":
        q = np.eye(c)[t] * (1 - label_smoothing) + label_smoothing / c
        denom = w[t].sum()
    else:
        q = t * (1 - label_smoothing) + label_smoothing / c
        denom = n
    return np_reduce(-(w * q * np_log_softmax(z)).sum(axis=1), reduction, denom)


# ---------------------------------------------------------------------- training
def linear_data(n=40, seed=0, noise=0.05):
    """y = X @ [1, -2, 0.5] + 0.3 + noise, float32, y of shape (n, 1)."""
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + noise * r.normal(size=n)
    return X, y.astype(np.float32).reshape(-1, 1)


def weights_of(model):
    """A copy of ``model.state_dict()`` (arrays by name)."""
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_weights_equal(model, expected):
    """``model``'s state holds exactly the names and values of ``expected``."""
    got = model.state_dict()
    assert got.keys() == expected.keys()
    for k in got:
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)


# ---------------------------------------------------------------------- the CLI and its files
def run(cwd, *args, exe=None, timeout=120):
    """``chainrule *args`` (or ``exe *args``) in a subprocess in ``cwd``: its CompletedProcess."""
    cmd = [exe] if exe else [sys.executable, "-m", "chainrule"]
    # other warnings are silenced (stderr is asserted line by line), but a floating-point
    # warning is an error in the CLI as in the suite (PYTHONWARNINGS: the last entry wins)
    env = dict(os.environ, PYTHONWARNINGS="ignore,error::RuntimeWarning", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run(cmd + [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def run_many(jobs, workers=3):
    """``{name: (cwd, args)}`` -> ``{name: CompletedProcess}``, a few at a time."""
    with ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(run, cwd, *args) for name, (cwd, args) in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


def assert_ok(r):
    """Exit code 0 and no traceback."""
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr


def assert_bad_input(r, *words):
    """Exit code 2, one non-empty stderr line naming ``words``, no traceback."""
    assert r.returncode == 2, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{r.stderr}"
    line = lines[0]
    assert line.startswith("chainrule: error: ")
    for w in words:
        assert w in line, f"{w!r} not in {line!r}"
    return line


def write_csv(path, header, rows):
    """A CSV file of a header row and ``rows``."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def read_csv(path):
    """The rows of a CSV file as dicts keyed by its header."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
