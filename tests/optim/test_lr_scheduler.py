"""Learning-rate schedulers against torch.optim.lr_scheduler: the lr (and momentum) of two
param groups over 100 steps must equal PyTorch's, also after a state_dict resume."""
import math
import warnings

import numpy as np
import pytest
from _parity import import_torch

import ember

STEPS = 100

# name -> factory(lr_scheduler module, optimizer); the same call for ember and torch
SCHEDULERS = {
    "StepLR": lambda s, o: s.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda s, o: s.MultiStepLR(o, milestones=[10, 30, 30, 75], gamma=0.3),
    "ExponentialLR": lambda s, o: s.ExponentialLR(o, gamma=0.97),
    "LambdaLR": lambda s, o: s.LambdaLR(o, lr_lambda=lambda t: 0.9 ** t + 0.01 * (t % 5)),
    "LambdaLR-per-group": lambda s, o: s.LambdaLR(o, [lambda t: 1 / (1 + t), lambda t: 0.99 ** t]),
    "MultiplicativeLR": lambda s, o: s.MultiplicativeLR(o, lr_lambda=lambda t: 0.95),
    "ConstantLR": lambda s, o: s.ConstantLR(o, factor=0.25, total_iters=12),
    "LinearLR": lambda s, o: s.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=40),
    "LinearLR-decay": lambda s, o: s.LinearLR(o, start_factor=1.0, end_factor=0.0,
                                              total_iters=50),
    "PolynomialLR": lambda s, o: s.PolynomialLR(o, total_iters=60, power=2.0),
    "CosineAnnealingLR": lambda s, o: s.CosineAnnealingLR(o, T_max=30, eta_min=1e-3),
    "CosineAnnealingLR-no-min": lambda s, o: s.CosineAnnealingLR(o, T_max=100),
    "CosineAnnealingWarmRestarts": lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=10),
    "CosineAnnealingWarmRestarts-mult": lambda s, o: s.CosineAnnealingWarmRestarts(
        o, T_0=5, T_mult=2, eta_min=0.01),
    "OneCycleLR": lambda s, o: s.OneCycleLR(o, max_lr=[0.5, 1.0], total_steps=STEPS + 1),
    "OneCycleLR-linear-3phase": lambda s, o: s.OneCycleLR(
        o, max_lr=0.8, epochs=10, steps_per_epoch=11, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10.0, final_div_factor=100.0),
    "SequentialLR-warmup-cosine": lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.01, total_iters=10), s.CosineAnnealingLR(o, T_max=90)],
        milestones=[10]),
    "SequentialLR-three": lambda s, o: s.SequentialLR(
        o, [s.ConstantLR(o, factor=0.1, total_iters=20), s.ExponentialLR(o, gamma=0.9),
            s.StepLR(o, step_size=10, gamma=0.5)], milestones=[20, 50]),
    "ChainedScheduler": lambda s, o: s.ChainedScheduler(
        [s.ExponentialLR(o, gamma=0.98), s.MultiStepLR(o, milestones=[20, 60], gamma=0.5),
         s.LinearLR(o, start_factor=0.2, total_iters=15)]),
}


@pytest.fixture(scope="module")
def torch():
    return import_torch()


def make_optimizer(m, name="SGD"):
    """Two groups with different lrs; ``m`` is ember or torch."""
    params = [m.zeros(2, requires_grad=True), m.zeros(3, requires_grad=True)]
    groups = [{"params": params[:1]}, {"params": params[1:], "lr": 0.3}]
    if name == "SGD":
        return getattr(m.optim, name)(groups, lr=0.1, momentum=0.9)
    return getattr(m.optim, name)(groups, lr=0.1)


def momentum_of(group):
    return group["betas"][0] if "betas" in group else group.get("momentum")


def trajectory(sched, opt, steps):
    """lrs and momenta after construction and after each of ``steps`` steps."""
    out = [(sched.get_last_lr(), [momentum_of(g) for g in opt.param_groups])]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append((list(sched.get_last_lr()), [momentum_of(g) for g in opt.param_groups]))
    return out


def build(m, name, opt_name="SGD"):
    opt = make_optimizer(m, opt_name)
    return opt, SCHEDULERS[name](m.optim.lr_scheduler, opt)


@pytest.mark.parametrize("name", SCHEDULERS)
def test_lr_sequence_equals_torch(torch, name):
    expected = trajectory(*reversed(build(torch, name)), STEPS)
    got = trajectory(*reversed(build(ember, name)), STEPS)
    lrs = np.array([lr for lr, _ in expected])
    assert np.ptp(lrs) > 0, "the schedule never changed the lr: a weak test"
    np.testing.assert_array_equal(np.array([lr for lr, _ in got]), lrs)
    np.testing.assert_array_equal(np.array([m for _, m in got], dtype=float),
                                  np.array([m for _, m in expected], dtype=float))


@pytest.mark.parametrize("name", SCHEDULERS)
@pytest.mark.parametrize("through_file", [False, True])
def test_state_dict_resume(tmp_path, name, through_file):
    opt, sched = build(ember, name)
    straight = trajectory(sched, opt, STEPS)
    opt, sched = build(ember, name)
    trajectory(sched, opt, 40)
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    if through_file:
        ember.save(state, tmp_path / "sched.ckpt")
        state = ember.load(tmp_path / "sched.ckpt")
    opt, sched = build(ember, name)  # scheduler first, then the optimizer's state (lr)
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    resumed = trajectory(sched, opt, STEPS - 40)
    assert resumed == straight[40:]


def test_adam_betas_cycle_like_torch(torch):
    runs = [build(m, "OneCycleLR", opt_name="Adam") for m in (ember, torch)]
    got, expected = (trajectory(sched, opt, STEPS) for opt, sched in runs)
    assert got == expected
    assert runs[0][0].param_groups[0]["betas"][1] == 0.999


def test_inverse_time_decay_formula_and_torch_lambda(torch):
    k, lr0 = 0.05, [0.1, 0.3]
    opt, sched = make_optimizer(ember), None
    sched = ember.optim.lr_scheduler.InverseTimeLR(opt, decay_rate=k)
    got = [lr for lr, _ in trajectory(sched, opt, STEPS)]
    formula = [[base / (1 + k * t) for base in lr0] for t in range(STEPS + 1)]
    np.testing.assert_allclose(got, formula, rtol=1e-15)
    t_opt = make_optimizer(torch)
    t_sched = torch.optim.lr_scheduler.LambdaLR(t_opt, lambda t: 1 / (1 + k * t))
    np.testing.assert_allclose(got, [lr for lr, _ in trajectory(t_sched, t_opt, STEPS)],
                               rtol=1e-15)
    stairs = ember.optim.lr_scheduler.InverseTimeLR(make_optimizer(ember), 0.5, decay_steps=10,
                                                    staircase=True)
    opt = stairs.optimizer
    lrs = [lr[0] for lr, _ in trajectory(stairs, opt, 25)]
    assert lrs[:10] == [0.1] * 10 and lrs[10] == pytest.approx(0.1 / 1.5) and lrs[24] == (
        pytest.approx(0.1 / 2))
    with pytest.raises(ValueError, match="decay_rate"):
        ember.optim.lr_scheduler.InverseTimeLR(opt, decay_rate=-1)


def test_closed_forms_match_recursive_values(torch):
    """Each documented closed form gives the chainable sequence's values (to rounding)."""
    for name in ["StepLR", "MultiStepLR", "ExponentialLR", "ConstantLR", "LinearLR",
                 "PolynomialLR", "CosineAnnealingLR"]:
        opt, sched = build(ember, name)
        for t in range(1, STEPS):
            opt.step()
            sched.step()
            np.testing.assert_allclose(sched._get_closed_form_lr(), sched.get_last_lr(),
                                       rtol=1e-12, atol=1e-15, err_msg=f"{name} at {t}")


def test_deprecated_epoch_argument_matches_torch(torch):
    for name in ["StepLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts-mult"]:
        results = []
        for m in (ember, torch):
            opt, sched = build(m, name)
            lrs = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for epoch in [3, 4.5, 7, 12.25, 30, 40]:
                    opt.step()
                    sched.step(epoch)
                    lrs.append(sched.get_last_lr())
            results.append(lrs)
        np.testing.assert_allclose(results[0], results[1], rtol=1e-14, err_msg=name)


@pytest.mark.parametrize("kwargs", [
    dict(), dict(mode="max", factor=0.5, patience=2), dict(threshold_mode="abs", threshold=0.05,
                                                           cooldown=3, patience=1),
    dict(mode="max", threshold_mode="abs", min_lr=[0.01, 0.05], patience=0, eps=1e-3),
])
def test_reduce_lr_on_plateau_matches_torch(torch, kwargs):
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1, 0.5, 20), 0.5 + 0.02 * rng.standard_normal(80)])
    results = []
    for m in (ember, torch):
        opt = make_optimizer(m)
        sched = m.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        lrs = []
        for i, value in enumerate(metrics):
            opt.step()
            sched.step(value)
            lrs.append(list(sched.get_last_lr()))
            if i == 50 and m is ember:  # resume mid-way through a JSON-able state_dict
                state = sched.state_dict()
                sched = ember.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
                sched.load_state_dict(state)
        results.append(lrs)
    assert results[0] == results[1]
    assert results[0][0] != results[0][-1], "the lr never dropped: a weak test"


def test_chaining_two_schedulers_by_hand_matches_torch(torch):
    seqs = []
    for m in (ember, torch):
        opt = make_optimizer(m)
        a = m.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
        b = m.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.1)
        seq = []
        for _ in range(50):
            opt.step()
            a.step()
            b.step()
            seq.append([g["lr"] for g in opt.param_groups])
        seqs.append(seq)
    assert seqs[0] == seqs[1]


def test_warns_when_stepped_before_the_optimizer():
    opt = make_optimizer(ember)
    sched = ember.optim.lr_scheduler.StepLR(opt, 3)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()


def test_errors():
    opt = make_optimizer(ember)
    s = ember.optim.lr_scheduler
    with pytest.raises(TypeError, match="needs an ember Optimizer"):
        s.StepLR(object(), 3)
    with pytest.raises(KeyError, match="initial_lr"):
        s.StepLR(opt, 3, last_epoch=5)
    with pytest.raises(ValueError, match="one milestone fewer"):
        s.SequentialLR(opt, [s.StepLR(opt, 3), s.StepLR(opt, 4)], milestones=[])
    with pytest.raises(ValueError, match="Tried to step"):
        sched = s.OneCycleLR(opt, max_lr=1.0, total_steps=3)
        for _ in range(4):
            opt.step()
            sched.step()
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        s.LambdaLR(opt, [math.exp])
