"""The learning rate: too small, about right, too large; and the decaying rate rho0 / (1 + k tau).

Gradient descent theta <- theta - rho grad L on a quadratic loss converges only if
rho < 2 / lambda_max, lambda_max the largest curvature (eigenvalue of the Hessian). Left:
full-batch GD on least squares with rho = 0.05 / lambda_max (crawls), 1 / lambda_max
(converges), 2.1 / lambda_max (diverges). Right: SGD on single samples never settles with
a constant rate, it hovers at a noise floor proportional to rho; the schedule
rho(tau) = rho0 / (1 + k tau) (optim.lr_scheduler.InverseTimeLR) shrinks the steps so the
iterates keep approaching the minimum.

Run: python examples/lecture/learning_rate.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from lecture_common import cli, fast_mode, plt, save

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import ArrayDataset, DataLoader
from chainrule.optim.lr_scheduler import InverseTimeLR


def make_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) * np.array([1.0, 0.4])
    t = X @ np.array([[1.5], [-2.0]]) + 0.3 + rng.normal(0.0, 0.5, size=(n, 1))
    return X, t


def full_loss(model, X, t):
    with cr.no_grad():
        return nn.MSELoss(half=True)(model(cr.tensor(X)), cr.tensor(t)).item()


def new_model():
    model = nn.Linear(2, 1, dtype="float64")
    model.weight.data[...] = [[-2.0, 2.0]]
    model.bias.data[...] = 2.0
    return model


def run(X, t, rate, steps, batch_size=None, decay=0.0, seed=0):
    """Losses on the whole dataset after each update, and the rates used."""
    model = new_model()
    opt = optim.SGD(model.parameters(), lr=rate)
    sched = InverseTimeLR(opt, decay_rate=decay) if decay else None
    loss_fn = nn.MSELoss(half=True)
    loader = DataLoader(ArrayDataset(X, t), batch_size=batch_size, seed=seed, prefetch=False)
    losses, rates = [full_loss(model, X, t)], []
    while len(rates) < steps:
        for xb, tb in loader:
            rates.append(opt.param_groups[0]["lr"])
            opt.zero_grad()
            loss_fn(model(xb), tb).backward()
            opt.step()
            if sched is not None:
                sched.step()                       # rho(tau) = rho0 / (1 + k tau)
            losses.append(full_loss(model, X, t))
            if len(rates) == steps or not np.isfinite(losses[-1]):
                break
        if not np.isfinite(losses[-1]):
            break
    return np.array(losses), np.array(rates)


def main(fast: bool | None = None, out=None) -> dict:
    fast = fast_mode(fast)
    X, t = make_data()
    design = np.hstack([X, np.ones((len(X), 1))])
    hessian = design.T @ design / len(X)                   # of L = 1/n sum 1/2 (y - t)^2
    lam_max = float(np.linalg.eigvalsh(hessian)[-1])
    best = np.linalg.lstsq(design, t[:, 0], rcond=None)[0]
    l_star = float(0.5 * np.mean((design @ best - t[:, 0]) ** 2))
    gd_steps = 40
    curves = {}
    print(f"largest curvature lambda_max = {lam_max:.3f}: GD converges for rho < "
          f"{2 / lam_max:.3f}; minimum loss L* = {l_star:.5f}")
    for label, factor in (("too small", 0.05), ("right", 1.0), ("too large", 2.1)):
        losses, _ = run(X, t, factor / lam_max, gd_steps)
        curves[label] = losses
        print(f"rho = {factor:4.2f} / lambda_max ({label:9s}): L - L* after {gd_steps} steps "
              f"= {losses[-1] - l_star:.3e} (started at {losses[0] - l_star:.3f})")

    sgd_steps = 800 if fast else 3000
    rho0, k = 0.2, 0.02
    const, _ = run(X, t, rho0, sgd_steps, batch_size=1)
    decayed, rates = run(X, t, rho0, sgd_steps, batch_size=1, decay=k)
    schedule = rho0 / (1 + k * np.arange(sgd_steps))
    tail = sgd_steps // 4
    const_tail = float(np.mean(const[-tail:] - l_star))
    decayed_tail = float(np.mean(decayed[-tail:] - l_star))
    print(f"SGD, one sample a step, {sgd_steps} steps: mean L - L* over the last {tail}: "
          f"constant rho0 = {rho0}: {const_tail:.2e}; rho0 / (1 + {k} tau): {decayed_tail:.2e}")
    print(f"InverseTimeLR rates vs rho0 / (1 + k tau): max difference "
          f"{np.abs(rates - schedule).max():.1e}")

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, c in zip(curves, ("C1", "C2", "C3")):
        a.semilogy(np.maximum(curves[label] - l_star, 1e-16), "o-", ms=3, color=c,
                   label=f"{label}")
    a.set_ylim(1e-8, 1e4)
    a.set_xlabel("step")
    a.set_ylabel("L - L*")
    a.set_title(r"full-batch GD: $\rho$ = 0.05, 1, 2.1 $\times\ 1/\lambda_{max}$")
    a.legend()
    b.semilogy(const - l_star, lw=0.6, color="C3", label=rf"constant $\rho_0$ = {rho0}")
    b.semilogy(decayed - l_star, lw=0.6, color="C0",
               label=rf"$\rho(\tau) = \rho_0 / (1 + {k}\,\tau)$")
    b.set_xlabel(r"step $\tau$")
    b.set_ylabel("L - L*")
    b.set_title("SGD (|B| = 1): a decaying rate gets below the noise floor")
    b.legend(loc="upper right")
    return {"lambda_max": lam_max, "l_star": l_star,
            "gd_final_excess": {k_: float(v[-1] - l_star) for k_, v in curves.items()},
            "gd_initial_excess": float(curves["right"][0] - l_star),
            "sgd_constant_tail": const_tail, "sgd_decayed_tail": decayed_tail,
            "schedule_error": float(np.abs(rates - schedule).max()),
            "png": save(fig, "learning_rate", out)}


if __name__ == "__main__":
    cli(main, __doc__)
