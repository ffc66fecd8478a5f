"""Convolution functions against PyTorch: F.conv1d/2d/3d and F.conv_transpose1d/2d/3d in
PyTorch's positional order, a non-contiguous input, finite-difference gradchecks."""
import pytest
from _parity import check_op, import_torch, random_inputs
from _table import Op

import ember.nn.functional as F

pytestmark = pytest.mark.usefixtures("conv_route")  # every test on each route: nn/conftest.py

torch = import_torch()


def functional_parity(name, *args, shapes):
    """ember.nn.functional.<name> and torch's on the same inputs, then ``args``."""
    Op(lambda m, *ts: getattr(m.nn.functional, name)(*ts, *args), shapes=shapes).parity()


def test_functional_forms():
    # PyTorch's positional order (note groups before dilation in the transposed forms)
    functional_parity("conv2d", None, 2, 1, 1, 1, shapes=[(2, 3, 6, 7), (4, 3, 3, 3)])
    functional_parity("conv1d", 1, "same", 2, 2, shapes=[(2, 4, 9), (6, 2, 3), (6,)])
    functional_parity("conv3d", (1, 2, 1), 1, shapes=[(1, 2, 4, 5, 4), (3, 2, 2, 3, 2), (3,)])
    functional_parity("conv_transpose2d", 2, 1, 1, 2, 1,
                      shapes=[(2, 4, 3, 4), (4, 3, 3, 3), (6,)])
    functional_parity("conv_transpose1d", None, 2, 0, 1, 1, 2, shapes=[(2, 3, 5), (3, 2, 3)])
    functional_parity("conv_transpose3d", None, 2, 1, 1,
                      shapes=[(1, 2, 2, 3, 2), (2, 2, 2, 2, 3)])


def test_noncontiguous_input():
    x = random_inputs([(5, 6, 3, 2)])[0]
    w = random_inputs([(4, 3, 2, 2)], seed=1)[0]
    check_op(lambda x, w: F.conv2d(x.permute(3, 2, 0, 1), w, padding=1),
             lambda x, w: torch.nn.functional.conv2d(x.permute(3, 2, 0, 1), w, padding=1),
             inputs=[x, w])


GRADCHECKS = {
    "conv2d": Op(lambda m, x, w, b: m.nn.functional.conv2d(x, w, b, stride=2, padding=1),
                 shapes=((2, 2, 5, 5), (3, 2, 3, 3), (3,))),
    "conv2d-same-groups": Op(lambda m, x, w: m.nn.functional.conv2d(x, w, padding="same",
                                                                    dilation=2, groups=2),
                             shapes=((1, 4, 5, 4), (2, 2, 2, 3))),
    "conv_transpose2d": Op(lambda m, x, w, b: m.nn.functional.conv_transpose2d(x, w, b, 2, 1, 1),
                           shapes=((1, 2, 3, 3), (2, 3, 3, 3), (3,))),
    "conv1d": Op(lambda m, x, w: m.nn.functional.conv1d(x, w, stride=2, dilation=2),
                 shapes=((2, 2, 9), (3, 2, 3))),
    "conv3d": Op(lambda m, x, w: m.nn.functional.conv3d(x, w, padding=1),
                 shapes=((1, 1, 3, 3, 3), (2, 1, 2, 2, 2))),
    "conv_transpose1d": Op(lambda m, x, w: m.nn.functional.conv_transpose1d(x, w, stride=3,
                                                                            output_padding=1),
                           shapes=((1, 2, 4), (2, 2, 3))),
}


@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradcheck(name):
    GRADCHECKS[name].gradcheck()
