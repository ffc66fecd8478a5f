"""Cosine, warm-restart and 1cycle schedulers against torch.optim.lr_scheduler: the lr and
momentum of two param groups over 100 steps must equal PyTorch's, also after a state_dict
resume."""
import pytest
from optim.lr_scheduler._common import (
    CYCLIC,
    STEPS,
    build,
    check_lr_sequence_equals_torch,
    check_state_dict_resume,
    trajectory,
)

import ember


@pytest.mark.parametrize("name", CYCLIC)
def test_lr_sequence_equals_torch(torch, name):
    check_lr_sequence_equals_torch(torch, name)


@pytest.mark.parametrize("name", CYCLIC)
@pytest.mark.parametrize("through_file", [False, True])
def test_state_dict_resume(tmp_path, name, through_file):
    check_state_dict_resume(tmp_path, name, through_file)


def test_adam_betas_cycle_like_torch(torch):
    runs = [build(m, "OneCycleLR", opt_name="Adam") for m in (ember, torch)]
    got, expected = (trajectory(sched, opt, STEPS) for opt, sched in runs)
    assert got == expected
    assert runs[0][0].param_groups[0]["betas"][1] == 0.999
