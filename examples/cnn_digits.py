"""A small CNN on scikit-learn's 8x8 digits: >= 0.98 test accuracy in seconds.

The 1,797 images are split 75/25, stratified by class (seed 0). The network is the
CLI's default CNN, ``nn.CNN(1, 10, (8, 8))``: two blocks Conv3x3 -> BatchNorm -> ReLU
-> MaxPool2 (16 and 32 channels), then Linear(128, 64) -> ReLU -> Linear(64, 10); it
trains with Adam (lr 3e-3, cosine decay, batch 64) for 30 epochs. The script prints the test
accuracy and the time, and writes a figure: the training loss and the test accuracy
per epoch, and the test images it gets wrong.

Run: python examples/cnn_digits.py [--epochs 30] [--seed 0] [--out examples/figures]
Needs scikit-learn (the data) and matplotlib (the figure): pip install "chainrule[sklearn,plot]"
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim
from chainrule.data import ArrayDataset, DataLoader, load_dataset, train_test_split


def accuracy(model, X, y):
    model.eval()
    with cr.no_grad():
        pred = model(X).numpy().argmax(axis=1)
    model.train()
    return float((pred == y).mean()), pred


def main(epochs: int = 30, seed: int = 0, out: str | None = "examples/figures") -> dict:
    cr.manual_seed(seed)
    table = load_dataset("digits")
    X = (table.X / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)  # pixels 0..16 -> 0..1
    X_train, X_test, y_train, y_test = train_test_split(X, table.y, test_size=0.25, seed=seed,
                                                        stratify=table.y)
    model = nn.CNN(1, 10, (8, 8))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loader = DataLoader(ArrayDataset(X_train, y_train), batch_size=64, seed=seed)
    losses, accs = [], []
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        total = 0.0
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
        schedule.step()
        losses.append(total / len(y_train))
        accs.append(accuracy(model, X_test, y_test)[0])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    acc, pred = accuracy(model, X_test, y_test)
    print(f"digits CNN: test accuracy {acc:.4f} ({int((pred == y_test).sum())}/{len(y_test)}) "
          f"after {epochs} epochs in {seconds:.1f} s ({cpu:.1f} s of CPU time; seed {seed})")
    if out:
        _figure(losses, accs, X_test, y_test, pred, os.path.join(out, "cnn_digits.png"))
    return {"accuracy": acc, "seconds": seconds, "cpu_seconds": cpu, "losses": losses,
            "accuracies": accs}


def _figure(losses, accs, X, y, pred, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wrong = np.flatnonzero(pred != y)[:8]
    fig = plt.figure(figsize=(11, 3.4))
    grid = fig.add_gridspec(2, 11)
    ax = fig.add_subplot(grid[:, 0:3])
    ax.plot(range(1, len(losses) + 1), losses)
    ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="cross-entropy")
    ax = fig.add_subplot(grid[:, 4:7])
    ax.plot(range(1, len(accs) + 1), accs, color="C2")
    ax.axhline(0.98, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="epoch", ylabel="test accuracy", ylim=(0.9, 1.0),
           title=f"test accuracy {accs[-1]:.3f}")
    for k, i in enumerate(wrong):
        ax = fig.add_subplot(grid[k // 4, 7 + k % 4])
        ax.imshow(X[i, 0], cmap="gray_r")
        ax.set_title(f"{y[i]}→{pred[i]}", fontsize=9)
        ax.axis("off")
    fig.suptitle("nn.CNN(1, 10, (8, 8)) on sklearn digits; right: test errors (true→predicted)",
                 fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="examples/figures", help="folder of the figure ('' for none)")
    a = p.parse_args()
    main(a.epochs, a.seed, a.out or None)
