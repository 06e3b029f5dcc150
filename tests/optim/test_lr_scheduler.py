"""Learning-rate schedulers against their closed forms; composition; plateau; state_dict."""

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import SGD, Adam, lr_scheduler, schedules
from chainrule.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    InverseTimeLR,
    LambdaLR,
    LinearWarmup,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
    get_scheduler,
)

BASE = 0.4


def make_opt(lrs=(BASE,), cls=SGD):
    groups = [{"params": [cr.tensor(np.zeros(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return cls(groups, lr=lrs[0])


def lr_sequence(sched, n):
    """The lr in force at steps 0..n-1 (the scheduler is stepped after each step)."""
    out = []
    for _ in range(n):
        out.append([g["lr"] for g in sched.optimizer.param_groups])
        assert sched.get_last_lr() == out[-1]
        sched.step()
    return out


def one_cycle_ref(t, max_lr, total, pct=0.3, strategy="cos", div=25.0, final_div=1e4):
    """PyTorch's two-phase OneCycleLR formula."""
    initial, low = max_lr / div, max_lr / div / final_div
    end1 = pct * total - 1

    def anneal(a, b, x):
        if strategy == "cos":
            return b + (a - b) / 2 * (math.cos(math.pi * x) + 1)
        return a + (b - a) * x

    if t <= end1:
        return anneal(initial, max_lr, t / end1)
    return anneal(max_lr, low, (t - end1) / (total - 1 - end1))


CLOSED_FORMS = [
    ("step", lambda o: StepLR(o, step_size=3, gamma=0.5), lambda b, t: b * 0.5 ** (t // 3)),
    ("multistep", lambda o: MultiStepLR(o, [6, 2, 6], gamma=0.1),
     lambda b, t: b * 0.1 ** ((t >= 2) + 2 * (t >= 6))),
    ("exponential", lambda o: ExponentialLR(o, gamma=0.9), lambda b, t: b * 0.9**t),
    ("inverse-time", lambda o: InverseTimeLR(o, decay_rate=0.5, decay_steps=2),
     lambda b, t: b / (1 + 0.25 * t)),
    ("cosine", lambda o: CosineAnnealingLR(o, T_max=6, eta_min=0.01),
     lambda b, t: 0.01 + (b - 0.01) * (1 + math.cos(math.pi * t / 6)) / 2),
    ("lambda", lambda o: LambdaLR(o, lambda t: 1 / (t + 1)), lambda b, t: b / (t + 1)),
    ("warmup", lambda o: LinearWarmup(o, 4, start_factor=0.2),
     lambda b, t: b * (0.2 + 0.8 * t / 4 if t < 4 else 1.0)),
]


@pytest.mark.parametrize("name, make, form", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_closed_forms(name, make, form):
    opt = make_opt((BASE, 0.1))
    sched = make(opt)
    assert sched.last_epoch == 0
    got = lr_sequence(sched, 12)
    for t, lrs in enumerate(got):
        assert lrs == pytest.approx([form(BASE, t), form(0.1, t)], rel=1e-14, abs=1e-16), t
    assert sched.last_epoch == 12


def test_cosine_hits_its_ends_and_continues_periodically():
    sched = CosineAnnealingLR(make_opt(), T_max=10, eta_min=0.05)
    lrs = [lr[0] for lr in lr_sequence(sched, 21)]
    assert lrs[0] == BASE and lrs[10] == pytest.approx(0.05) and lrs[20] == pytest.approx(BASE)
    assert all(a > b for a, b in zip(lrs[:10], lrs[1:11], strict=True))


def test_inverse_time_is_the_lecture_rho():
    rho0, k = 0.5, 0.1
    sched = InverseTimeLR(make_opt((rho0,)), decay_rate=k)
    for tau, lrs in enumerate(lr_sequence(sched, 30)):
        assert lrs[0] == pytest.approx(rho0 / (1 + k * tau), rel=1e-15)


def test_pure_schedules():
    assert schedules.step_decay(7, 3, 0.5) == 0.25
    assert schedules.multistep_decay(5, [2, 5, 9], 0.1) == pytest.approx(0.01)
    assert schedules.linear_warmup(0, 10) == 0.0 and schedules.linear_warmup(5, 10) == 0.5
    assert schedules.linear_warmup(10, 10) == 1.0 == schedules.linear_warmup(0, 0)
    assert schedules.cosine_annealing(5, 1.0, 10) == pytest.approx(0.5)
    assert schedules.constant(123) == 1.0


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_one_cycle(strategy):
    opt = make_opt((BASE, 0.1))
    sched = OneCycleLR(opt, max_lr=[1.0, 0.5], total_steps=20, pct_start=0.25,
                       anneal_strategy=strategy, div_factor=10, final_div_factor=100)
    got = lr_sequence(sched, 20)
    for t, lrs in enumerate(got):
        want = [one_cycle_ref(t, m, 20, 0.25, strategy, 10, 100) for m in (1.0, 0.5)]
        assert lrs == pytest.approx(want, rel=1e-13), t
    assert got[0] == pytest.approx([0.1, 0.05]) and got[4] == pytest.approx([1.0, 0.5])
    assert got[19] == pytest.approx([1e-3, 5e-4])
    assert sched.last_epoch == 20  # step total_steps is still defined (PyTorch)
    with pytest.raises(ValueError, match="total_steps"):
        sched.step()


def test_warmup_then_cosine():
    opt = make_opt((BASE, 0.2))
    sched = LinearWarmup(opt, 5, after=CosineAnnealingLR(opt, T_max=10))
    got = lr_sequence(sched, 20)
    for t, lrs in enumerate(got):
        for lr, base in zip(lrs, (BASE, 0.2), strict=True):
            want = base * t / 5 if t < 5 else base * (1 + math.cos(math.pi * (t - 5) / 10)) / 2
            assert lr == pytest.approx(want, rel=1e-14, abs=1e-16), t
    assert got[5] == [BASE, 0.2]
    assert sched.last_epoch == 20 and sched.after.last_epoch == 15
    assert sched.after.get_last_lr() == sched.get_last_lr()


def test_scheduled_lr_is_the_one_the_optimizer_uses():
    w = cr.tensor(np.zeros(1), requires_grad=True)
    opt = SGD([w], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(4):
        w.grad = np.ones(1)
        opt.step()
        sched.step()
    np.testing.assert_allclose(w.data, [-(1 + 0.5 + 0.25 + 0.125)])


def test_base_lr_is_the_initial_lr_for_a_second_scheduler():
    opt = make_opt()
    StepLR(opt, 1, gamma=0.5).step()
    assert opt.param_groups[0]["lr"] == BASE / 2
    assert ExponentialLR(opt, gamma=0.9).base_lrs == [BASE]


def test_plateau_patience():
    opt = make_opt()
    sched = ReduceLROnPlateau(opt, patience=2, factor=0.5)
    lrs = []
    for m in [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.8]:
        sched.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    # bad values at 0.95 x3 -> reduce on the third (patience 2); again after 3 more bad.
    assert lrs == [BASE] * 4 + [BASE / 2] * 3 + [BASE / 2]
    assert sched.best == 0.8 and sched.num_bad_epochs == 1
    assert sched.get_last_lr() == [BASE / 2]


def test_plateau_cooldown_ignores_bad_steps():
    opt = make_opt()
    sched = ReduceLROnPlateau(opt, patience=1, cooldown=2, factor=0.5)
    lrs = []
    for m in [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]:
        sched.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    # reduce on the 2nd bad step; the 2 cooldown steps count nothing; 2 more bad: reduce
    assert lrs == [BASE, BASE, BASE / 2, BASE / 2, BASE / 2, BASE / 2, BASE / 4]


def test_plateau_threshold_cooldown_min_lr_and_max_mode():
    opt = make_opt()
    sched = ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.1, threshold=0.1,
                              threshold_mode="abs", cooldown=1, min_lr=0.01)
    lrs = []
    for m in [1.0, 1.05, 1.2, 1.0, 1.0, 1.0, 1.0]:
        sched.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    # 1.05 is not > 1.0 + 0.1: reduce; cooldown swallows the next bad step (1.2 is better
    # anyway); then 1.0 reduces to the floor 0.01; later cuts change less than eps: no-op.
    assert lrs == pytest.approx([BASE, 0.04, 0.04, 0.01, 0.01, 0.01, 0.01])
    rel = ReduceLROnPlateau(make_opt(), patience=0, threshold=0.1)
    rel.step(1.0)
    rel.step(0.95)  # not below 1.0 * (1 - 0.1)
    assert rel.optimizer.param_groups[0]["lr"] == pytest.approx(BASE * 0.1)


def round_trip_cases():
    return [
        ("step", lambda o: StepLR(o, 2, 0.5), None),
        ("multistep", lambda o: MultiStepLR(o, [3, 5]), None),
        ("exponential", lambda o: ExponentialLR(o, 0.7), None),
        ("inverse-time", lambda o: InverseTimeLR(o, 0.3, 3), None),
        ("cosine", lambda o: CosineAnnealingLR(o, 7, 1e-3), None),
        ("lambda", lambda o: LambdaLR(o, [lambda t: 0.9**t, lambda t: 1 / (1 + t)]), None),
        ("onecycle", lambda o: OneCycleLR(o, 2.0, 12), None),
        ("warmup-cosine", lambda o: LinearWarmup(o, 3, 0.1, after=CosineAnnealingLR(o, 8)),
         None),
        ("warmup-warmup-step",
         lambda o: LinearWarmup(o, 2, after=LinearWarmup(o, 2, 0.5, after=StepLR(o, 2))),
         None),
        ("plateau", lambda o: ReduceLROnPlateau(o, patience=1, cooldown=1),
         [1.0, 0.9, 0.95, 0.97, 0.99, 0.85, 0.9, 0.91, 0.92, 0.93]),
    ]


@pytest.mark.parametrize("name, make, metrics", round_trip_cases(),
                         ids=[c[0] for c in round_trip_cases()])
def test_state_dict_round_trip_is_exact(name, make, metrics):
    metrics = metrics or [None] * 10

    def advance(sched, ms):
        out = []
        for m in ms:
            sched.optimizer.step()
            sched.step() if m is None else sched.step(m)
            out.append(sched.get_last_lr() + [g["lr"] for g in sched.optimizer.param_groups])
        return out

    opt = make_opt((BASE, 0.1))
    sched = make(opt)
    advance(sched, metrics[:4])
    opt_sd = json.loads(json.dumps(opt.state_dict(), allow_nan=False))
    sd = json.loads(json.dumps(sched.state_dict(), allow_nan=False))  # strict JSON
    assert "lr_lambdas" not in sd and "optimizer" not in sd
    want = advance(sched, metrics[4:])

    opt2 = make_opt((BASE, 0.1))
    sched2 = make(opt2)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sd)
    assert advance(sched2, metrics[4:]) == want
    assert json.dumps(sched2.state_dict()) == json.dumps(sched.state_dict())


def test_load_state_dict_mismatch():
    sched = StepLR(make_opt(), 2)
    sd = sched.state_dict()
    with pytest.raises(ValueError, match="gamma"):
        sched.load_state_dict({k: v for k, v in sd.items() if k != "gamma"})
    with pytest.raises(ValueError, match="base_lrs"):
        StepLR(make_opt((0.1, 0.2)), 2).load_state_dict(sd)
    with pytest.raises(ValueError, match="after"):
        LinearWarmup(make_opt(), 2).load_state_dict(
            LinearWarmup(o := make_opt(), 2, after=StepLR(o, 2)).state_dict())


@pytest.mark.parametrize("make, name", [
    (lambda o: StepLR(o, 0), "step_size"),
    (lambda o: StepLR(o, 2, gamma=0), "gamma"),
    (lambda o: MultiStepLR(o, [2, -1]), "milestones"),
    (lambda o: MultiStepLR(o, 3), "milestones"),
    (lambda o: ExponentialLR(o, -0.5), "gamma"),
    (lambda o: InverseTimeLR(o, -0.1), "decay_rate"),
    (lambda o: InverseTimeLR(o, 0.1, decay_steps=0), "decay_steps"),
    (lambda o: CosineAnnealingLR(o, 0), "T_max"),
    (lambda o: CosineAnnealingLR(o, 10, eta_min=-1), "eta_min"),
    (lambda o: LambdaLR(o, 0.5), "lr_lambda"),
    (lambda o: LambdaLR(o, [lambda t: 1.0] * 3), "lr_lambda"),
    (lambda o: LinearWarmup(o, -1), "warmup_steps"),
    (lambda o: LinearWarmup(o, 5, start_factor=1.5), "start_factor"),
    (lambda o: LinearWarmup(o, 5, after="cosine"), "after"),
    (lambda o: LinearWarmup(o, 5, after=StepLR(make_opt(), 2)), "after"),
    (lambda o: LinearWarmup(o, 5, after=ReduceLROnPlateau(o)), "after"),
    (lambda o: OneCycleLR(o, 1.0, 0), "total_steps"),
    (lambda o: OneCycleLR(o, [1.0, 2.0, 3.0], 10), "max_lr"),
    (lambda o: OneCycleLR(o, -1.0, 10), "max_lr"),
    (lambda o: OneCycleLR(o, 1.0, 10, pct_start=1.2), "pct_start"),
    (lambda o: OneCycleLR(o, 1.0, 10, anneal_strategy="exp"), "anneal_strategy"),
    (lambda o: OneCycleLR(o, 1.0, 10, div_factor=0), "div_factor"),
    (lambda o: ReduceLROnPlateau(o, mode="up"), "mode"),
    (lambda o: ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: ReduceLROnPlateau(o, patience=-1), "patience"),
    (lambda o: ReduceLROnPlateau(o, threshold=-1e-4), "threshold"),
    (lambda o: ReduceLROnPlateau(o, threshold_mode="pct"), "threshold_mode"),
    (lambda o: ReduceLROnPlateau(o, cooldown=-1), "cooldown"),
    (lambda o: ReduceLROnPlateau(o, min_lr=[0.0, 0.0, 0.0]), "min_lr"),
    (lambda o: ReduceLROnPlateau(o, min_lr=-1.0), "min_lr"),
    (lambda o: ReduceLROnPlateau(o, eps=-1.0), "eps"),
    (lambda o: StepLR(o, 0), "step_size"),
    (lambda o: StepLR(o, 2, gamma=0), "gamma"),
    (lambda o: MultiStepLR(o, [-1]), "milestones"),
    (lambda o: MultiStepLR(o, [2], gamma=0), "gamma"),
    (lambda o: ExponentialLR(o, 0), "gamma"),
    (lambda o: OneCycleLR(o, 1.0, 10, final_div_factor=0), "final_div_factor"),
])
def test_invalid_arguments(make, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):  # the argument, by its own name
        make(make_opt((BASE, 0.1)))


@pytest.mark.parametrize("make", [
    lambda o: StepLR(o, 2), lambda o: LambdaLR(o, lambda t: 1.0),
    lambda o: OneCycleLR(o, 1.0, 10)])
def test_needs_an_optimizer(make):
    with pytest.raises(TypeError):
        make("not an optimizer")


def test_limits_of_the_arguments_are_accepted():
    o = make_opt()
    for sched in (CosineAnnealingLR(o, 1), LinearWarmup(o, 0), LinearWarmup(o, 3, 1.0),
                  MultiStepLR(o, [0]), OneCycleLR(o, 1.0, 1), OneCycleLR(o, 1.0, 10, 1.0),
                  ReduceLROnPlateau(make_opt((BASE, 0.1)), min_lr=[0.0, 0.01])):
        assert sched.get_last_lr()
    with pytest.raises(ValueError, match="^unknown scheduler 'nope'"):
        get_scheduler("nope", o)


def test_defaults():
    o = make_opt()
    assert StepLR(o, 1).gamma == 0.1 and MultiStepLR(o, [1]).gamma == 0.1
    one = OneCycleLR(o, 1.0, 10)
    assert (one.pct_start, one.anneal_strategy, one.div_factor, one.final_div_factor) \
        == (0.3, "cos", 25.0, 1e4)
    p = ReduceLROnPlateau(make_opt())  # (OneCycleLR set the lr of o)
    assert (p.mode, p.factor, p.patience, p.threshold, p.threshold_mode, p.cooldown,
            p.min_lrs, p.eps) == ("min", 0.1, 10, 1e-4, "rel", 0, [0], 1e-8)
    assert p.get_last_lr() == [BASE] and p.last_epoch == 0
    assert schedules.step_decay(3, 1) == pytest.approx(1e-3)
    assert schedules.multistep_decay(3, [1, 2]) == pytest.approx(1e-2)
    assert schedules.inverse_time_decay(2, 0.5) == 0.5
    for step in range(10):
        assert schedules.one_cycle(step, 1.0, 10) == schedules.one_cycle(
            step, 1.0, 10, 0.3, "cos", 25.0, 1e4)


def test_multistep_gamma_and_a_one_step_cycle():
    o = make_opt()
    got = [lr[0] for lr in lr_sequence(MultiStepLR(o, [1, 3], gamma=0.5), 4)]
    assert got == pytest.approx([BASE, BASE / 2, BASE / 2, BASE / 4])
    # total_steps=1: both phases have length 0, the step is the end of the cycle
    assert OneCycleLR(make_opt(), 1.0, 1).get_last_lr() == pytest.approx([1.0 / 25 / 1e4])


def test_warmup_hands_over_at_warmup_steps():
    o = make_opt()
    sched = LinearWarmup(o, 2, after=LambdaLR(o, lambda t: 0.5 ** (t + 1)))
    assert [lr[0] for lr in lr_sequence(sched, 4)] == pytest.approx(
        [0.0, BASE / 2, BASE / 2, BASE / 4])


def test_warmup_state_dict_without_a_next_schedule():
    sched = LinearWarmup(make_opt(), 4)
    sched.step()
    again = LinearWarmup(make_opt(), 4)
    again.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    assert again.get_last_lr() == sched.get_last_lr() == [BASE / 4]


@pytest.mark.parametrize("mode, threshold_mode, same, better, between", [
    ("min", "rel", 1.0, 0.999, 1.2),  # bound 2 * (1 - 0.5) = 1
    ("min", "abs", 1.5, 1.499, 1.2),  # bound 2 - 0.5 = 1.5
    ("max", "rel", 3.0, 3.001, 2.7),  # bound 2 * (1 + 0.5) = 3
    ("max", "abs", 2.5, 2.501, 2.7),  # bound 2 + 0.5 = 2.5
])
def test_plateau_improvement_bounds(mode, threshold_mode, same, better, between):
    p = ReduceLROnPlateau(make_opt(), mode=mode, threshold=0.5, threshold_mode=threshold_mode)
    assert not p.is_better(same, 2.0) and p.is_better(better, 2.0)
    # a value that the other threshold mode would judge the other way
    other = ReduceLROnPlateau(make_opt(), mode=mode, threshold=0.5,
                              threshold_mode="abs" if threshold_mode == "rel" else "rel")
    assert p.is_better(between, 2.0) != other.is_better(between, 2.0)


def test_plateau_counts_after_a_reduction_and_ignores_changes_under_eps():
    o = make_opt()
    p = ReduceLROnPlateau(o, factor=0.5, patience=1)
    lrs = []
    for _ in range(7):
        p.step(1.0)  # never better after the first
        lrs.append(o.param_groups[0]["lr"])
    assert lrs == pytest.approx([BASE, BASE, BASE / 2, BASE / 2, BASE / 4, BASE / 4, BASE / 8])
    assert p.last_epoch == 7
    o = make_opt()
    p = ReduceLROnPlateau(o, factor=0.5, patience=0, min_lr=BASE - 1e-9)
    for v in (1.0, 1.0, 1.0):
        p.step(v)
    assert o.param_groups[0]["lr"] == BASE  # a change of 1e-9 < eps is not made


@pytest.mark.parametrize("name, kwargs, cls", [
    ("constant", {}, LambdaLR),
    ("step", dict(step_size=2), StepLR),
    ("multistep", dict(milestones=[2]), MultiStepLR),
    ("exponential", dict(gamma=0.9), ExponentialLR),
    ("inverse-time", dict(decay_rate=0.1), InverseTimeLR),
    ("cosine", dict(T_max=10), CosineAnnealingLR),
    ("onecycle", dict(max_lr=1.0, total_steps=10), OneCycleLR),
    ("plateau", dict(patience=2), ReduceLROnPlateau),
    ("warmup", dict(warmup_steps=3), LinearWarmup),
])
def test_get_scheduler(name, kwargs, cls):
    opt = make_opt(cls=Adam)
    sched = get_scheduler(name, opt, **kwargs)
    assert type(sched) is cls and sched.optimizer is opt
    if name == "constant":
        assert lr_sequence(sched, 5) == [[BASE]] * 5


def test_get_scheduler_warmup_after_by_name_and_errors():
    opt = make_opt()
    sched = get_scheduler("warmup", opt, warmup_steps=2, after="cosine",
                          after_kwargs={"T_max": 4})
    assert isinstance(sched.after, CosineAnnealingLR) and sched.after.T_max == 4
    with pytest.raises(ValueError, match="constant.*step.*cosine.*onecycle.*plateau.*warmup"):
        get_scheduler("linear", opt)
    with pytest.raises(ValueError, match="gamma_typo"):
        get_scheduler("step", opt, step_size=2, gamma_typo=0.5)
    with pytest.raises(ValueError, match="step_size"):
        get_scheduler("constant", opt, step_size=2)
    assert lr_scheduler.get_scheduler is get_scheduler


def test_get_lr_and_a_cycle_whose_warm_up_has_length_0():
    sched = StepLR(make_opt(), 1, gamma=0.5)
    sched.step()
    assert sched.get_lr() == sched.lr_at(1) == [BASE / 2]
    # total_steps=1, pct_start=1: the single step ends the warm-up, at max_lr
    assert OneCycleLR(make_opt(), 1.0, 1, pct_start=1.0).get_last_lr() == [1.0]
