"""One benchmark case for one framework, in this process only.

    python benchmarks/workers/worker.py --case mlp --framework chainrule [--quick]

Prints one line ``@@RESULT@@ {json}`` with the case's metrics (each a median
over the timed repetitions inside this process, with the raw samples), the
BLAS/OpenMP pools that threadpoolctl sees, and details. benchmarks/run.py
starts one such process per (case, framework, repeat).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import sys
import time
import traceback

import cnn
import common as C
import numpy as np

MARK = "@@RESULT@@"

FRAMEWORK_MODULES = {
    "chainrule": "fw_chainrule",
    "torch": "fw_torch",
    "numpy": "fw_numpy",
    "jax": "fw_jax",
    "compiled": "fw_chainrule_compiled",  # chainrule through cr.compile (step capture)
    "baseline": "fw_chainrule",  # chainrule from another tree (run.py --baseline REF)
}


def _metric(samples, unit, higher_is_better=True, stat="median"):
    """One metric of this process: the median of its samples, or the best (``stat='best'``)."""
    if stat == "best":
        value = max(samples) if higher_is_better else min(samples)
    else:
        value = C.median(samples)
    return {"value": value, "unit": unit, "samples": samples, "stat": stat,
            "higher_is_better": higher_is_better}


def _rate_metric(rates):
    """Throughput of timed epochs or calls: the best of this process's few repetitions.

    As timeit does: other load on the machine only ever adds time, so the least
    disturbed repetition is the best estimate of a framework's own cost. The
    runner then takes the median over processes.
    """
    return _metric(rates, "samples/s", stat="best")


# ---------------------------------------------------------------------- cases
def case_mlp(fw, quick):
    x, y = C.mlp_data()
    epochs = 1 if quick else 3
    out = {}
    for batch in C.MLP_BATCHES:
        step = fw.trainer("mlp", C.MLP_SIZES, x, y, "sgd", C.SGD_LR)
        out[f"train b{batch}"] = _rate_metric(C.time_epochs(step, len(x), batch, epochs))
    return out, {"epochs_timed": epochs, "n_samples": len(x)}


def case_adam(fw, quick):
    x, y = C.mlp_data()
    epochs = 1 if quick else 3
    step = fw.trainer("mlp", C.MLP_SIZES, x, y, "adam", C.ADAM_LR)
    rates = C.time_epochs(step, len(x), 128, epochs)
    return {"train b128 adam": _rate_metric(rates)}, {"epochs_timed": epochs}


def case_residual(fw, quick):
    x, y = C.mlp_data()
    epochs = 1 if quick else 3
    sizes = (C.N_FEATURES, C.N_CLASSES)
    step = fw.trainer("residual", sizes, x, y, "sgd", C.SGD_LR)
    rates = C.time_epochs(step, len(x), C.RESIDUAL_BATCH, epochs)
    return {f"train b{C.RESIDUAL_BATCH}": _rate_metric(rates)}, {"epochs_timed": epochs}


def case_tiny(fw, quick):
    x, y = C.tiny_data()
    steps = 1000 if quick else 3000
    step = fw.trainer("tiny", C.TINY_SIZES, x, y, "sgd", C.SGD_LR)
    us = C.time_steps_us(step, len(x), 32, steps)
    m = _metric(us, "us/step", higher_is_better=False)  # the median of thousands of steps
    m["samples"] = []  # thousands of values: keep quantiles instead
    m["quantiles"] = {q: float(np.quantile(us, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)}
    return {"step b32": m}, {"steps_timed": steps}


def case_inference(fw, quick):
    x, _ = C.mlp_data()
    b = C.INFERENCE_BATCH
    forward = fw.predictor("mlp", C.MLP_SIZES, x)
    slices = [(0, b), (b, 2 * b)]
    state = {"i": 0}

    def call():
        s, e = slices[state["i"] % 2]
        state["i"] += 1
        forward(s, e)

    secs = C.time_calls(call, 4 if quick else 10)
    return {f"forward b{b}": _rate_metric([b / t for t in secs])}, {}


def case_memory(fw, quick):
    """Peak RSS increase over one epoch at batch 128, measured from a fresh process."""
    x, y = C.mlp_data()
    step = fw.trainer("mlp", C.MLP_SIZES, x, y, "sgd", C.SGD_LR)
    bounds = C.batch_bounds(len(x), 128)

    def epoch():
        for s, e in bounds:
            step(s, e)

    mb, details = C.peak_increase_mb(epoch)
    m = _metric([mb], "MB", higher_is_better=False)
    return {"peak RSS increase, 1 epoch b128": m}, details


def case_rss_growth(fw, quick):
    x, y = C.tiny_data()
    step = fw.trainer("tiny", C.TINY_SIZES, x, y, "sgd", C.SGD_LR)
    mb, details = C.rss_growth_mb(step, len(x), 32)
    m = _metric([mb], "MB", higher_is_better=False)
    return {f"RSS growth, {C.RSS_STEPS:,} tiny steps": m}, details


def case_sklearn(framework, quick):
    import fw_sklearn

    x, y = C.mlp_data()
    fits = 1 if quick else 3
    details = {"fits_timed": fits}
    if framework == "chainrule":
        fw = importlib.import_module("fw_chainrule")
        step = fw.trainer("mlp", C.MLP_SIZES, x, y, "sgd", C.SGD_LR)
        rates = C.time_epochs(step, len(x), 128, fits)
        return {"1 epoch b128 SGD": _rate_metric(rates)}, details
    if framework == "sklearn":
        make = fw_sklearn.mlp_classifier
    else:  # chainrule_sklearn
        make, kwargs = fw_sklearn.chainrule_classifier()
        details["kwargs"] = {k: repr(v) for k, v in kwargs.items()}
    fit = fw_sklearn.fit_fn(make, x, y)
    secs = C.time_calls(fit, fits, warm=1)
    est = fit()
    coefs = getattr(est, "coefs_", None)
    if coefs is not None:
        details["coef_dtype"] = str(coefs[0].dtype)
    return {"1 epoch b128 SGD": _rate_metric([len(x) / t for t in secs])}, details


def case_gemm(fw, quick):
    """GFLOP/s of each GEMM of the MLP step at batch 32 / 128 / 1024, and their summed time."""
    rng = np.random.default_rng(C.SEED)
    out = {}
    for batch in C.MLP_BATCHES:
        total = 0.0
        for name, a_shape, b_shape, transposed in C.mlp_gemms(batch):
            a, b = C.gemm_operands(rng, a_shape, b_shape, transposed)
            m, k, n = a_shape[0], a_shape[1], b_shape[1]
            flops = 2.0 * m * k * n
            us = C.time_gemm_us(fw.gemm_call(a, b), flops, 0.03 if quick else 0.08)
            total += us
            out[f"b{batch} {name} {m}x{k}x{n}"] = _metric([flops / us / 1e3], "GFLOP/s")
        out[f"b{batch} 8 GEMMs"] = _metric([total], "us/step", higher_is_better=False)
    return out, {}


CASES = {
    "gemm": case_gemm,
    "mlp": case_mlp,
    "tiny": case_tiny,
    "residual": case_residual,
    "inference": case_inference,
    "memory": case_memory,
    "rss_growth": case_rss_growth,
    "adam": case_adam,
    "cnn": cnn.case_cnn,  # issue 13: LeNet b128 and the digits CNN b64 (workers/cnn.py)
}


# ---------------------------------------------------------------------- entry
def _pools():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl is not installed"}]
    keys = ("user_api", "internal_api", "prefix", "version", "architecture", "num_threads",
            "threading_layer")
    return [{k: p.get(k) for k in keys if k in p} for p in threadpool_info()]


def run(case, framework, quick):
    t0 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    info = {"python": platform.python_version(), "numpy": np.__version__, "pid": os.getpid()}
    if case == "sklearn":
        import fw_sklearn

        info.update(fw_sklearn.info())
        metrics, details = case_sklearn(framework, quick)
    else:
        fw = importlib.import_module(FRAMEWORK_MODULES[framework])
        info.update(fw.info())
        metrics, details = CASES[case](fw, quick)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    # Preemptions by other processes: a large count means a noisy measurement.
    info["involuntary_context_switches"] = ru1.ru_nivcsw - ru0.ru_nivcsw
    # Fresh pages touched: allocator churn (arrays freed to the OS and faulted back in).
    info["minor_page_faults"] = ru1.ru_minflt - ru0.ru_minflt
    info["threadpools"] = _pools()
    info["env_OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE")
    info["env_OPENBLAS_L2_SIZE"] = os.environ.get("OPENBLAS_L2_SIZE")
    return {"ok": True, "case": case, "framework": framework, "metrics": metrics,
            "details": details, "info": info, "worker_s": time.perf_counter() - t0}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True, choices=[*CASES, "sklearn"])
    p.add_argument("--framework", required=True,
                   choices=[*FRAMEWORK_MODULES, "sklearn", "chainrule_sklearn"])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    try:
        result = run(args.case, args.framework, args.quick)
    except Exception as e:  # reported to the runner, which prints it as a note
        result = {"ok": False, "case": args.case, "framework": args.framework,
                  "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    print(MARK, json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
