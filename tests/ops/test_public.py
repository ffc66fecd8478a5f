"""The ``ember.*`` namespace refuses a NumPy array, list, memoryview or number where PyTorch
wants a Tensor, with PyTorch's TypeError naming the function and the argument."""
import numpy as np
import pytest
from _parity import import_torch

import ember
from ember.ops.public import _TENSOR_FIRST, _TENSORS_FIRST

NOT_TENSORS = [np.ones(3), [1.0, 2.0], memoryview(np.ones(3)), 3.0]


@pytest.mark.parametrize("name", _TENSOR_FIRST)
@pytest.mark.parametrize("value", NOT_TENSORS, ids=lambda v: type(v).__name__)
def test_tensor_first_ops_refuse_other_values(name, value):
    with pytest.raises(TypeError, match=rf"{name}\(\): argument 'input' must be a Tensor, not "
                                        rf"{type(value).__name__}"):
        getattr(ember, name)(value)


@pytest.mark.parametrize("name", ["exp", "sum", "sqrt", "abs", "reshape", "flatten"])
def test_torch_refuses_the_same(name):
    torch = import_torch()
    with pytest.raises(TypeError):
        getattr(torch, name)(np.ones(3))


@pytest.mark.parametrize("name", _TENSORS_FIRST)
def test_sequence_ops_refuse_non_tensors(name):
    fn = getattr(ember, name)
    with pytest.raises(TypeError, match=r"argument 'tensors' must be a sequence of Tensors, "
                                        r"not ndarray"):
        fn([ember.ones(2), np.ones(2)])
    with pytest.raises(TypeError, match="not Tensor"):
        fn(ember.ones(2, 2))
    out = fn(t for t in (ember.ones(2), ember.zeros(2)))  # a generator is fine
    assert out.shape[0] == (4 if name != "stack" else 2)


def test_checked_ops_still_compute_and_keep_names():
    x = ember.tensor([1.0, 4.0], requires_grad=True)
    y = ember.sqrt(x).sum()
    y.backward()
    assert ember.sqrt.__name__ == "sqrt" and x.grad.tolist() == [0.5, 0.25]
    assert ember.add(2, x).tolist() == [3.0, 6.0]  # binary ops take numbers on either side
