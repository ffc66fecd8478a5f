"""F.linear and F.bilinear: parity with PyTorch and finite-difference gradchecks."""
import pytest
from _parity import check_grad, check_op, import_torch

import ember.nn.functional as F

torch = import_torch()


@pytest.mark.parametrize("bias", [True, False])
def test_linear_functional_gradcheck(bias):
    shapes = [(2, 3, 4), (5, 4)] + ([(5,)] if bias else [])
    check_op(F.linear, torch.nn.functional.linear, shapes=shapes)
    check_grad(F.linear, shapes=shapes)


def test_bilinear_gradcheck():
    check_grad(F.bilinear, shapes=[(2, 3), (2, 4), (2, 3, 4), (2,)])


def test_linear_refuses_an_integer_input_as_torch():
    import ember
    torch = import_torch()
    with pytest.raises(RuntimeError):
        torch.nn.functional.linear(torch.ones(2, 3, dtype=torch.int64), torch.ones(2, 3))
    with pytest.raises(RuntimeError, match=r"linear: input \(int64\) and weight \(float32\)"):
        F.linear(ember.ones(2, 3, dtype=ember.int64), ember.ones(2, 3))
