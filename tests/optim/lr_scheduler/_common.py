"""Shared by the learning-rate scheduler tests (against torch.optim.lr_scheduler): one
factory per scheduler, grouped as the source files are, two-group optimizers, and the checks
that the lr (and momentum) of two param groups over 100 steps equal PyTorch's, also after a
state_dict resume."""
import numpy as np

import ember

STEPS = 100

# name -> factory(lr_scheduler module, optimizer); the same call for ember and torch
DECAY = {
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
}
CYCLIC = {
    "CosineAnnealingLR": lambda s, o: s.CosineAnnealingLR(o, T_max=30, eta_min=1e-3),
    "CosineAnnealingLR-no-min": lambda s, o: s.CosineAnnealingLR(o, T_max=100),
    "CosineAnnealingWarmRestarts": lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=10),
    "CosineAnnealingWarmRestarts-mult": lambda s, o: s.CosineAnnealingWarmRestarts(
        o, T_0=5, T_mult=2, eta_min=0.01),
    "OneCycleLR": lambda s, o: s.OneCycleLR(o, max_lr=[0.5, 1.0], total_steps=STEPS + 1),
    "OneCycleLR-linear-3phase": lambda s, o: s.OneCycleLR(
        o, max_lr=0.8, epochs=10, steps_per_epoch=11, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10.0, final_div_factor=100.0),
}
COMPOSITE = {
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
SCHEDULERS = {**DECAY, **CYCLIC, **COMPOSITE}


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


def check_lr_sequence_equals_torch(torch, name):
    expected = trajectory(*reversed(build(torch, name)), STEPS)
    got = trajectory(*reversed(build(ember, name)), STEPS)
    lrs = np.array([lr for lr, _ in expected])
    assert np.ptp(lrs) > 0, "the schedule never changed the lr: a weak test"
    np.testing.assert_array_equal(np.array([lr for lr, _ in got]), lrs)
    np.testing.assert_array_equal(np.array([m for _, m in got], dtype=float),
                                  np.array([m for _, m in expected], dtype=float))


def check_state_dict_resume(tmp_path, name, through_file):
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
