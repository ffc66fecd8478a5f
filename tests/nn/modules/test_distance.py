"""CosineSimilarity and PairwiseDistance against PyTorch: values, gradients of both inputs,
reprs and attributes."""
import numpy as np
import pytest
from _parity import check_op, import_torch, random_inputs

from ember import nn

torch = import_torch()

CASES = [("CosineSimilarity", (), {}, [(4, 5), (4, 5)]),
         ("CosineSimilarity", (0, 1e-6), {}, [(4, 5), (1, 5)]),
         ("PairwiseDistance", (), {}, [(4, 5), (4, 5)]),
         ("PairwiseDistance", (1.0,), {"keepdim": True}, [(4, 5), (5,)]),
         ("PairwiseDistance", (3.0, 1e-3), {}, [(2, 3, 5), (3, 5)])]


@pytest.mark.parametrize("name,args,kwargs,shapes", CASES, ids=str)
def test_layer_parity_and_repr(name, args, kwargs, shapes):
    em, tm = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    check_op(em, tm, inputs=random_inputs(shapes, away_from=0.0))
    check_op(em, tm, inputs=random_inputs(shapes, np.float32), dtype=np.float32)
    assert repr(em) == repr(tm) and list(em.state_dict()) == []
    for attr in ("dim", "eps", "norm", "keepdim"):
        assert getattr(em, attr, None) == getattr(tm, attr, None)
