"""F.instance_norm against PyTorch in float64: instance statistics, running statistics
updated as torch updates them, evaluation with running statistics, affine; gradchecks."""
import numpy as np
import pytest
from _parity import assert_close, check_grad, check_op, import_torch, random_inputs

import ember
import ember.nn.functional as F

torch = import_torch()


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 3, 4)], ids=str)
@pytest.mark.parametrize("affine", [False, True], ids=["plain", "affine"])
def test_instance_statistics_match_torch(shape, affine):
    c = shape[1]
    params = random_inputs([(c,), (c,)], seed=3) if affine else []
    if affine:
        check_op(lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
                 lambda x, w, b: torch.nn.functional.instance_norm(x, weight=w, bias=b),
                 inputs=[random_inputs([shape])[0], *params])
    else:
        check_op(F.instance_norm, torch.nn.functional.instance_norm, shapes=[shape])


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_running_statistics_match_torch(use_input_stats):
    x = random_inputs([(4, 3, 5, 6)])[0]
    rm, rv = np.linspace(-1, 1, 3), np.linspace(0.5, 2, 3)
    em, ev, tm, tv = ember.tensor(rm), ember.tensor(rv), torch.tensor(rm), torch.tensor(rv)
    ye = F.instance_norm(ember.tensor(x), em, ev, use_input_stats=use_input_stats,
                         momentum=0.3)
    yt = torch.nn.functional.instance_norm(torch.tensor(x), tm, tv,
                                           use_input_stats=use_input_stats, momentum=0.3)
    for a, b, what in ((ye, yt, "output"), (em, tm, "running_mean"), (ev, tv, "running_var")):
        assert_close(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12, what=what)


def test_gradcheck_and_errors():
    check_grad(lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
               shapes=[(2, 3, 4), (3,), (3,)])
    with pytest.raises(ValueError, match=r"instance_norm: expected input \(N, C, \*\) with at "
                                         r"least one spatial dimension, got shape \(4, 3\)"):
        F.instance_norm(ember.ones(4, 3))
