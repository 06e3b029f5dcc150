"""chainrule.sklearn against scikit-learn's MLP: test scores and fit times.

    python benchmarks/sklearn_compare.py [--seeds 5] [--repeats 3] [--threads 1] [--quick]
                                         [--baseline REF]

On digits, breast_cancer (classification, accuracy) and diabetes (regression,
R^2 of the standardised target), both frameworks train the same network
(hidden (100,), relu, adam, learning_rate_init 1e-3, alpha 1e-4, batch 200)
for exactly ``--epochs`` epochs (tol=0 and n_iter_no_change > epochs, so
neither stops early), on the same standardised 75/25 split for each seed.

Every (dataset, seed, framework) runs in its own child process, the two
frameworks alternating which goes first; a child fits once untimed (warm-up),
then ``--repeats`` times with the same seed and reports the fastest fit (the
machine may be shared: the minimum is the least disturbed run). The children
get ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` removed from their
environment (they slow current NumPy's OpenBLAS) and ``--threads`` BLAS
threads. Two input precisions are measured: float64 data (what scikit-learn's
loaders return: both train in float64, since chainrule's estimators follow the
input's dtype like scikit-learn's MLP) and float32 data (both train in float32).

``--baseline REF`` also runs chainrule at a git revision (``chainrule/`` extracted
from git, imported through PYTHONPATH) as a third framework in the same rotation,
and adds the time ratio of the working tree over it: before/after under the same load.

Writes a markdown report to benchmarks/results/sklearn_compare.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from machine import cpu_model, extract_baseline  # benchmarks/ is on sys.path (a script)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "sklearn_compare.md"
DATASETS = ("digits", "breast_cancer", "diabetes")
MARK = "@@RESULT@@"


# ---------------------------------------------------------------------- child
def _data(name, seed, dtype):
    import numpy as np
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    classify = name != "diabetes"
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed,
                                              stratify=y if classify else None)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr).astype(dtype), scaler.transform(X_te).astype(dtype)
    if not classify:
        mu, sd = y_tr.mean(), y_tr.std()
        y_tr, y_te = (y_tr - mu) / sd, (y_te - mu) / sd
    return np.ascontiguousarray(X_tr), X_te, y_tr, y_te, classify


def _estimator(framework, classify, seed, epochs):
    params = dict(hidden_layer_sizes=(100,), activation="relu", solver="adam", alpha=1e-4,
                  batch_size=200, learning_rate_init=1e-3, max_iter=epochs, shuffle=True,
                  tol=0.0, n_iter_no_change=epochs + 1, random_state=seed)
    if framework == "sklearn":
        from sklearn.neural_network import MLPClassifier, MLPRegressor
    else:
        from chainrule.sklearn import NeuralNetClassifier as MLPClassifier
        from chainrule.sklearn import NeuralNetRegressor as MLPRegressor
    return (MLPClassifier if classify else MLPRegressor)(**params)


def child(args):
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_info

    warnings.simplefilter("ignore", ConvergenceWarning)
    X_tr, X_te, y_tr, y_te, classify = _data(args.dataset, args.seed, args.dtype)
    _estimator(args.framework, classify, args.seed, 2).fit(X_tr, y_tr)  # warm-up
    times = []
    for _ in range(args.repeats):
        est = _estimator(args.framework, classify, args.seed, args.epochs)
        t0 = time.perf_counter()
        est.fit(X_tr, y_tr)
        times.append(time.perf_counter() - t0)
    blas = [{k: pool.get(k) for k in ("internal_api", "version", "architecture",
                                       "num_threads")}
            for pool in threadpool_info() if pool.get("user_api") == "blas"]
    import chainrule

    out = {"score": float(est.score(X_te, y_te)), "fit_s": min(times), "times": times,
           "n_iter": int(est.n_iter_), "blas": blas, "chainrule": chainrule.__file__}
    print(MARK, json.dumps(out))


# ---------------------------------------------------------------------- parent
def _env(threads):
    env = dict(os.environ)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(var, None)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def run_child(framework, dataset, seed, dtype, args):
    env = _env(args.threads)
    if framework == "base":  # chainrule at the baseline revision
        env["PYTHONPATH"] = os.pathsep.join(p for p in (args.base_tree, env.get("PYTHONPATH"))
                                            if p)
        framework = "chainrule"
    else:  # the working tree's chainrule, whatever is installed
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent), env.get("PYTHONPATH"))
                                            if p)
    cmd = [sys.executable, __file__, "--child", "--framework", framework, "--dataset", dataset,
           "--seed", str(seed), "--dtype", dtype, "--epochs", str(args.epochs),
           "--repeats", str(args.repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")


def _mean_std(xs):
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def _table(results, dtype, seeds, base=None):
    extra = f" chainrule at {base} fit (s) | ratio chainrule / {base} |" if base else ""
    lines = ["| dataset (metric) | scikit-learn score | chainrule score | scikit-learn fit (s) "
             "| chainrule fit (s) | fit time ratio chainrule / sklearn |" + extra,
             "|---|---|---|---|---|---|" + ("---|---|" if base else "")]
    for name in DATASETS:
        sk = [results[(name, s, dtype, "sklearn")] for s in seeds]
        cr = [results[(name, s, dtype, "chainrule")] for s in seeds]
        s_sk, s_cr = _mean_std([r["score"] for r in sk]), _mean_std([r["score"] for r in cr])
        t_sk, t_cr = _mean_std([r["fit_s"] for r in sk]), _mean_std([r["fit_s"] for r in cr])
        ratios = [c["fit_s"] / s["fit_s"] for s, c in zip(sk, cr)]
        metric = "R^2" if name == "diabetes" else "accuracy"
        lines.append(f"| {name} ({metric}) | {s_sk[0]:.4f} ± {s_sk[1]:.4f} | "
                     f"{s_cr[0]:.4f} ± {s_cr[1]:.4f} | {t_sk[0]:.3f} ± {t_sk[1]:.3f} | "
                     f"{t_cr[0]:.3f} ± {t_cr[1]:.3f} | {t_cr[0] / t_sk[0]:.2f} "
                     f"(per seed {min(ratios):.2f}-{max(ratios):.2f}) |")
        if base:
            b = [results[(name, s, dtype, "base")] for s in seeds]
            t_b = _mean_std([r["fit_s"] for r in b])
            per = [c["fit_s"] / r["fit_s"] for r, c in zip(b, cr)]
            lines[-1] += (f" {t_b[0]:.3f} ± {t_b[1]:.3f} | {statistics.median(per):.2f} "
                          f"(per seed {min(per):.2f}-{max(per):.2f}) |")
    return lines


def parent(args):
    import numpy
    import sklearn

    import chainrule

    seeds = list(range(args.seeds))
    dtypes = ("float64", "float32")
    results = {}
    for dtype in dtypes:
        for name in DATASETS:
            for seed in seeds:
                frameworks = ["sklearn", "chainrule"] + (["base"] if args.baseline else [])
                k = seed % len(frameworks)  # who goes first rotates with the seed
                for fw in frameworks[k:] + frameworks[:k]:
                    r = run_child(fw, name, seed, dtype, args)
                    results[(name, seed, dtype, fw)] = r
                    print(f"{dtype} {name:13s} seed {seed} {fw:9s} score {r['score']:.4f} "
                          f"fit {r['fit_s']:.3f}s (n_iter {r['n_iter']})", flush=True)
                    want = args.base_tree if fw == "base" else str(HERE.parent)
                    if fw != "sklearn" and not r["chainrule"].startswith(want):
                        raise RuntimeError(f"{fw} imported {r['chainrule']}, not from {want}")
                    if r["n_iter"] != args.epochs:
                        raise RuntimeError(f"{fw} ran {r['n_iter']} epochs, not {args.epochs}")
    blas = next(iter(results.values()))["blas"]
    lines = [
        "# chainrule.sklearn vs scikit-learn MLP",
        "",
        f"Written by `benchmarks/sklearn_compare.py` on {time.strftime('%Y-%m-%d')}: Python "
        f"{platform.python_version()}, NumPy {numpy.__version__}, scikit-learn "
        f"{sklearn.__version__}, chainrule {chainrule.__version__}, {cpu_model()}.",
        f"BLAS (threadpoolctl, in the children): {json.dumps(blas)}; "
        f"{args.threads} BLAS thread(s); OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset.",
        "",
        f"Same network and training for both: hidden (100,), relu, adam (lr 1e-3), alpha 1e-4, "
        f"batch 200, exactly {args.epochs} epochs (tol=0), standardised features, a 75/25 "
        f"split per seed (stratified for classification); diabetes' target standardised. "
        f"Scores on the test split, mean ± std over {len(seeds)} seeds (split, init and "
        f"shuffling); fit time: the fastest of {args.repeats} fits per seed, each framework "
        f"in its own process after a warm-up fit, mean ± std over seeds.",
        "",
    ]
    for dtype in dtypes:
        how = "both train in float64" if dtype == "float64" else "both train in float32"
        lines += [f"## {dtype} input ({how})", ""] + _table(
            results, dtype, seeds, args.baseline_rev) + [""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"\nwritten to {RESULTS}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="2 seeds, 1 repeat, 20 epochs")
    p.add_argument("--baseline", metavar="REF",
                   help="also run chainrule at this git revision (or from this folder)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--framework", choices=("sklearn", "chainrule"), help=argparse.SUPPRESS)
    p.add_argument("--dataset", choices=DATASETS, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    p.add_argument("--dtype", choices=("float64", "float32"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.repeats, args.epochs = 2, 1, 20
    if args.child:
        child(args)
        return
    args.baseline_rev = None
    with tempfile.TemporaryDirectory(prefix="chainrule-baseline-") as tree:
        if args.baseline:
            args.baseline_rev = extract_baseline(args.baseline, tree)
            args.base_tree = args.baseline_rev if os.path.isdir(args.baseline_rev) else tree
        parent(args)


if __name__ == "__main__":
    main()
