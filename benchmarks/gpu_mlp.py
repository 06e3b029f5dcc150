"""MLP training on a GPU: chainrule (CuPy) against PyTorch CUDA, each in its own process.

    python benchmarks/gpu_mlp.py [--device cuda] [--rounds 3] [--out FILE]

Times Adam training steps of an MLP 784-1024-1024-10 (float32) at batch 64,
1024 and 8192 on synthetic data already on the device. Each (framework, round)
runs in a fresh process, frameworks alternate, and the table reports the median
step time per framework and the median of the within-round ratios. Batch 64
shows the per-kernel launch cost (a step there is launch-bound, not GEMM-bound);
the script also times an empty CuPy kernel launch to put a number on it.

``--device fake`` runs chainrule through the test suite's CPU stand-in device
(no GPU needed): a smoke test of the script, not a speed figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BATCHES = (64, 1024, 8192)
SIZES = (784, 1024, 1024, 10)
MARK = "@@GPU@@"


def _sync(framework):
    if framework == "torch":
        import torch

        torch.cuda.synchronize()
    else:
        try:
            import cupy

            cupy.cuda.get_current_stream().synchronize()
        except ImportError:
            pass


def _training_step(model, opt, loss_fn, x, y):
    """One training step, written once: chainrule and PyTorch share the API here."""
    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _steps_chainrule(device, batch, steps):
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "tests"))
    import numpy as np

    import chainrule as cr
    from chainrule import nn

    if device == "fake":
        import fake_device

        fake_device.install()
    dev = cr.device(device)
    cr.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).to(dev)
    opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((batch, SIZES[0]), dtype=np.float32), device=dev)
    y = cr.tensor(rng.integers(0, SIZES[-1], batch), device=dev)
    return _training_step(model, opt, nn.CrossEntropyLoss(), x, y)


def _steps_torch(device, batch, steps):
    import torch

    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, SIZES[0], device=device)
    y = torch.randint(0, SIZES[-1], (batch,), device=device)
    return _training_step(model, opt, torch.nn.CrossEntropyLoss(), x, y)


def _launch_us():
    """Microseconds per launch of an empty-ish CuPy kernel (1-element add)."""
    try:
        import cupy
    except ImportError:
        return None
    a = cupy.zeros(1, dtype=cupy.float32)
    for _ in range(100):
        a += 1
    cupy.cuda.get_current_stream().synchronize()
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        a += 1
    cupy.cuda.get_current_stream().synchronize()
    return (time.perf_counter() - t0) / n * 1e6


def worker(framework, device, steps):
    out = {"framework": framework, "ms_per_step": {}}
    for batch in BATCHES:
        make = _steps_torch if framework == "torch" else _steps_chainrule
        step = make("cuda" if framework == "torch" else device, batch, steps)
        for _ in range(3):  # warm-up: kernel compilation, allocator pools
            step()
        _sync(framework)
        n = max(3, steps if batch <= 1024 else steps // 4)
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        _sync(framework)
        out["ms_per_step"][str(batch)] = (time.perf_counter() - t0) / n * 1e3
    if framework == "chainrule":
        out["launch_us"] = _launch_us()
    print(MARK, json.dumps(out), flush=True)


def _run(framework, device, steps):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework,
           "--device", device, "--steps", str(steps)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    for line in r.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    sys.stderr.write(f"{framework} worker failed:\n{r.stdout[-2000:]}{r.stderr[-4000:]}\n")
    return None


def _fmt(v):
    return f"{statistics.median(v):.3f}" if v else "n/a"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="chainrule's device: cuda or fake")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--out", default=None, help="also write the table (Markdown) here")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker, a.device, a.steps)
        return 0
    frameworks = ["chainrule"]
    if a.device == "cuda":
        try:
            import torch

            if torch.cuda.is_available():
                frameworks.append("torch")
        except ImportError:
            pass
    results = {f: [] for f in frameworks}
    for _ in range(a.rounds):
        for f in frameworks:
            r = _run(f, a.device, a.steps)
            if r is not None:
                results[f].append(r)
    lines = [f"MLP {'-'.join(map(str, SIZES))}, Adam, float32, device {a.device}; "
             f"median ms per training step over {a.rounds} rounds (one process per "
             "framework and round)", "",
             "| batch | chainrule ms | PyTorch ms | chainrule / PyTorch |", "|---|---|---|---|"]
    for b in map(str, BATCHES):
        cr_ms = [r["ms_per_step"][b] for r in results["chainrule"]]
        th_ms = [r["ms_per_step"][b] for r in results.get("torch", [])]
        ratios = [c / t for c, t in zip(cr_ms, th_ms)]
        ratio = f"{statistics.median(ratios):.2f}" if ratios else "n/a"
        lines.append(f"| {b} | {_fmt(cr_ms)} | {_fmt(th_ms)} | {ratio} |")
    launches = [r.get("launch_us") for r in results["chainrule"] if r.get("launch_us")]
    if launches:
        lines.append("")
        lines.append(f"CuPy kernel launch (1-element add): {statistics.median(launches):.1f} us")
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    return 0 if results["chainrule"] else 1


if __name__ == "__main__":
    sys.exit(main())
