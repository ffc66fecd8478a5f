"""InstanceNorm1d/2d/3d against PyTorch: outputs and gradients (train and eval, affine,
running statistics), state_dict keys and values after steps, repr, unbatched inputs, errors."""
import numpy as np
import pytest
from _parity import assert_close, check_op, import_torch, random_inputs

import ember
from ember import nn

torch = import_torch()

CASES = [("InstanceNorm1d", (2, 3, 7)), ("InstanceNorm2d", (2, 3, 4, 5)),
         ("InstanceNorm3d", (1, 3, 3, 4, 2)), ("InstanceNorm2d", (3, 4, 5))]
FLAGS = [{}, dict(affine=True), dict(track_running_stats=True),
         dict(affine=True, track_running_stats=True, momentum=None)]


@pytest.mark.parametrize("name,shape", CASES, ids=str)
@pytest.mark.parametrize("kw", FLAGS, ids=str)
def test_matches_torch_in_train_and_eval(name, shape, kw):
    em = getattr(nn, name)(3, **kw).double()
    tm = getattr(torch.nn, name)(3, **kw).double()
    x = random_inputs([shape])[0]
    for _ in range(2):  # running statistics move the same way
        check_op(em, tm, inputs=[x])
    assert list(em.state_dict()) == list(tm.state_dict())
    for key, value in em.state_dict().items():
        assert_close(np.asarray(value), tm.state_dict()[key].numpy(), rtol=1e-12, atol=1e-12,
                     what=key)
    em.eval(), tm.eval()
    check_op(em, tm, inputs=[x])


@pytest.mark.parametrize("kw", FLAGS, ids=str)
def test_repr_matches_torch(kw):
    assert repr(nn.InstanceNorm2d(3, **kw)) == repr(torch.nn.InstanceNorm2d(3, **kw))


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"InstanceNorm2d\(3, .*\): expected 3-D \(unbatched\) "
                                         r"or 4-D input, got shape \(2, 3\)"):
        nn.InstanceNorm2d(3)(ember.ones(2, 3))
    with pytest.warns(UserWarning, match="does not match num_features"):
        nn.InstanceNorm1d(4)(ember.ones(2, 3, 5))
