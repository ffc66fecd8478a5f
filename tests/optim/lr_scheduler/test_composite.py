"""SequentialLR and ChainedScheduler against torch.optim.lr_scheduler: the lr of two param
groups over 100 steps must equal PyTorch's, also after a state_dict resume."""
import pytest
from optim.lr_scheduler._common import (
    COMPOSITE,
    check_lr_sequence_equals_torch,
    check_state_dict_resume,
)


@pytest.mark.parametrize("name", COMPOSITE)
def test_lr_sequence_equals_torch(torch, name):
    check_lr_sequence_equals_torch(torch, name)


@pytest.mark.parametrize("name", COMPOSITE)
@pytest.mark.parametrize("through_file", [False, True])
def test_state_dict_resume(tmp_path, name, through_file):
    check_state_dict_resume(tmp_path, name, through_file)
