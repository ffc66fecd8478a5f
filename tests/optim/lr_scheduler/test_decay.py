"""Decay schedulers against torch.optim.lr_scheduler: the lr of two param groups over 100
steps must equal PyTorch's, also after a state_dict resume."""
import numpy as np
import pytest
from optim.lr_scheduler._common import (
    DECAY,
    STEPS,
    check_lr_sequence_equals_torch,
    check_state_dict_resume,
    make_optimizer,
    trajectory,
)

import ember


@pytest.mark.parametrize("name", DECAY)
def test_lr_sequence_equals_torch(torch, name):
    check_lr_sequence_equals_torch(torch, name)


@pytest.mark.parametrize("name", DECAY)
@pytest.mark.parametrize("through_file", [False, True])
def test_state_dict_resume(tmp_path, name, through_file):
    check_state_dict_resume(tmp_path, name, through_file)


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
