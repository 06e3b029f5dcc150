"""A tiny data-parallel training run, started by the tests under ``mpiexec`` (or alone).

    python worker.py MODE OPTIMIZER OUT        (settings from the environment)

MODE ``fit`` trains with ``fit(..., distributed=True)``: validation data, early
stopping, WEIGHTED=1 for sample weights, checkpoints in CKPT_DIR every EVERY_STEPS
steps, RESUME=<path or dir>; rank 0 also writes OUT.history.json. MODE ``loop``
trains with the primitives (sharded DataLoader + GradientAllreduce). Rank 0 writes
the final weights to OUT (.npz) and every rank writes OUT.rank<r>.npz, so the test
can check that the ranks agree bit for bit.

Faults, from the environment: FAULT=raise:<step> (rank 1 raises at that step),
FAULT=stop:<step> (rank 1 stops itself with SIGSTOP: a hung peer), STEP_SLEEP=<s>
(sleep after each step), PIDDIR=<dir> (each rank writes rank<r>.pid there).
"""

import os
import sys

import numpy as np

import chainrule as cr
import chainrule.functional as F
from chainrule import distributed as dist
from chainrule.data import ArrayDataset, DataLoader

N, D, K = 34, 6, 3  # 34 rows at batch 8: a tail of 2 rows, empty on one of 3 ranks


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    return X, y


def model_and_optimizer(name):
    cr.manual_seed(int(os.environ.get("SEED", "0")))
    model = cr.nn.Sequential(cr.nn.Linear(D, 16), cr.nn.Tanh(), cr.nn.Linear(16, K))
    if name == "sgd":
        opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = cr.optim.Adam(model.parameters(), lr=0.01)
    return model, opt


def fault_hook():
    """Called after every step with the step number; injects the FAULT of the environment."""
    import signal
    import time

    piddir = os.environ.get("PIDDIR")
    if piddir:
        path = os.path.join(piddir, f"rank{dist.rank()}.pid")
        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(path + ".tmp", path)
    kind, _, at = os.environ.get("FAULT", "").partition(":")
    pause = float(os.environ.get("STEP_SLEEP", "0"))

    def hook(step):
        if pause:
            time.sleep(pause)
        if kind and dist.rank() == 1 and step == int(at):
            if kind == "raise":
                raise RuntimeError(f"injected failure at step {step}")
            if kind == "stop":
                os.kill(os.getpid(), signal.SIGSTOP)

    return hook


def run_loop(opt_name, out, epochs=3, batch=8):
    hook = fault_hook()
    epochs = int(os.environ.get("EPOCHS", epochs))
    model, opt = model_and_optimizer(opt_name)
    dist.broadcast_parameters(model)
    X, y = data()
    loader = DataLoader(ArrayDataset(X, y), batch_size=batch, seed=1,
                        num_replicas=dist.world_size(), rank=dist.rank())
    reducer = dist.GradientAllreduce(model.parameters())
    step = 0
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            n = len(yb.data)
            if n:
                F.cross_entropy(model(xb), yb).backward()
            reducer.reduce(n)
            opt.step()
            step += 1
            hook(step)
    save(model, out)


def run_fit(opt_name, out):
    import json

    from chainrule.train import CheckpointManager, EarlyStopping, LambdaCallback, fit

    hook = fault_hook()
    model, opt = model_and_optimizer(opt_name)
    X, y = data()
    rng = np.random.default_rng(1)
    Xv = rng.normal(size=(20, D)).astype(np.float32)
    yv = (Xv[:, 0] + Xv[:, 1] > 0).astype(np.int64) + (Xv[:, 2] > 1)
    ckpt = None
    if os.environ.get("CKPT_DIR"):
        ckpt = CheckpointManager(os.environ["CKPT_DIR"], keep=100,
                                 every_steps=int(os.environ.get("EVERY_STEPS", "0")) or None)
    callbacks = [EarlyStopping(patience=int(os.environ.get("PATIENCE", "3"))),
                 LambdaCallback(on_batch_end=lambda trainer, step, logs: hook(step))]
    train = (X, y)
    if os.environ.get("WEIGHTED"):  # sample weights: shares weighted by their total weight
        train = (X, y, np.random.default_rng(2).uniform(0.1, 3.0, size=len(y)))
    history = fit(model, cr.nn.CrossEntropyLoss(), opt, train, (Xv, yv),
                  epochs=int(os.environ.get("EPOCHS", "3")), batch_size=8, seed=1,
                  callbacks=callbacks, checkpoint=ckpt, distributed=True,
                  resume=os.environ.get("RESUME") or None)
    save(model, out)
    if dist.is_main():
        rows = [{k: v for k, v in r.items() if k != "time"} for r in history.rows]
        with open(f"{out}.history.json", "w") as f:
            json.dump(rows, f)


def save(model, out):
    arrays = {k: v for k, v in model.state_dict().items()}
    np.savez(f"{out}.rank{dist.rank()}.npz", **arrays)
    if dist.is_main():
        np.savez(out, **arrays)


if __name__ == "__main__":
    mode, opt_name, out = sys.argv[1:4]
    dist.init()
    if mode == "loop":
        run_loop(opt_name, out)
    elif mode == "fit":
        run_fit(opt_name, out)
    else:
        raise SystemExit(f"unknown mode {mode}")
