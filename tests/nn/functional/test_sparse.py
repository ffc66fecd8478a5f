"""F.embedding against PyTorch: lookups and weight gradients (repeats, padding_idx,
scale_grad_by_freq), and a finite-difference gradcheck."""
import numpy as np
import pytest
from _parity import DEVICE, check_grad, check_op, import_torch, random_inputs

import ember
import ember.nn.functional as F

torch = import_torch()
TF = torch.nn.functional

IDX = {
    "vector": np.array([3, 1, 4, 1, 5]),
    "matrix": np.array([[0, 2, 2], [9, 0, 7]]),
    "batch1": np.array([[6]]),
    "scalar": np.array(8),
}


@pytest.mark.parametrize("idx", IDX, ids=str)
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 0}, {"padding_idx": -1},
                                    {"scale_grad_by_freq": True},
                                    {"padding_idx": 2, "scale_grad_by_freq": True}], ids=str)
def test_functional_parity(idx, kwargs):
    w, = random_inputs([(10, 4)])
    check_op(lambda w, i: F.embedding(i, w, **kwargs), lambda w, i: TF.embedding(i, w, **kwargs),
             inputs=[w, IDX[idx]])


def test_gradcheck():
    # (padding_idx and scale_grad_by_freq change the gradient on purpose: not checked here)
    check_grad(lambda w: F.embedding(ember.tensor(IDX["matrix"], device=DEVICE), w),
               shapes=[(10, 3)])
