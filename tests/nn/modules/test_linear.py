"""Linear and Bilinear against PyTorch (weights copied by load_state_dict; forward, input
and parameter gradients), one fused graph node, default initialisation, errors."""
import math

import numpy as np
import pytest
from _parity import check_module, import_torch, random_inputs

import ember
import ember.nn.functional as F
from ember import nn

torch = import_torch()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("in_f,out_f,shape", [(4, 3, (5, 4)), (4, 3, (1, 4)), (6, 2, (2, 3, 6)),
                                              (3, 5, (3,)), (1, 1, (4, 1))], ids=str)
def test_linear_parity(in_f, out_f, shape, bias):
    em = nn.Linear(in_f, out_f, bias).double()
    tm = torch.nn.Linear(in_f, out_f, bias).double()
    check_module(em, tm, random_inputs([shape]))


def test_linear_parity_float32():
    check_module(nn.Linear(7, 5), torch.nn.Linear(7, 5), random_inputs([(4, 7)]), np.float32)


def test_linear_is_one_fused_node():
    layer = nn.Linear(4, 3)
    y = layer(ember.randn(2, 5, 4))
    assert type(y.grad_fn).__name__ == "Linear"
    assert tuple(y.shape) == (2, 5, 3)


def test_linear_only_needed_gradients():
    layer = nn.Linear(4, 3)
    layer.weight.requires_grad_(False)
    x = ember.randn(2, 4, requires_grad=True)
    layer(x).sum().backward()
    assert layer.weight.grad is None and layer.bias.grad is not None and x.grad is not None


def test_linear_input_error_names_layer_and_shapes():
    layer = nn.Linear(4, 3)
    with pytest.raises(ValueError) as e:
        layer(ember.randn(2, 5))
    assert str(e.value) == ("Linear(in_features=4, out_features=3, bias=True): linear: expected "
                            "input with last dimension 4, got shape (2, 5) (weight of shape "
                            "(3, 4))")
    with pytest.raises(ValueError, match="last dimension 4, got shape"):
        layer(ember.tensor(1.0))
    with pytest.raises(ValueError, match=r"linear: expected input with last dimension 4, got "
                                         r"shape \(2, 5\) \(weight of shape \(3, 4\)\)"):
        F.linear(ember.randn(2, 5), ember.randn(3, 4))


def _check_uniform(values, bound):
    v = np.asarray(values, dtype=np.float64).ravel()
    n = v.size
    assert v.min() >= -bound and v.max() <= bound
    assert v.min() < -0.95 * bound and v.max() > 0.95 * bound
    sd = bound / math.sqrt(3)
    assert abs(v.mean()) < 5 * sd / math.sqrt(n)
    assert abs(v.std() - sd) < 0.03 * sd


def test_linear_default_init_distribution():
    layer = nn.Linear(300, 400)
    bound = 1 / math.sqrt(300)
    _check_uniform(layer.weight.detach().numpy(), bound)
    big_bias = nn.Linear(300, 20000)
    _check_uniform(big_bias.bias.detach().numpy(), bound)
    # torch's layer draws from the same distribution: compare the bounds it respects
    tw = torch.nn.Linear(300, 400).weight.detach().numpy()
    assert abs(tw).max() <= bound and abs(layer.weight.detach().numpy()).max() <= bound


def test_linear_init_is_seeded_and_reset_redraws():
    ember.manual_seed(3)
    a = nn.Linear(5, 4)
    ember.manual_seed(3)
    b = nn.Linear(5, 4)
    assert np.array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    assert np.array_equal(a.bias.detach().numpy(), b.bias.detach().numpy())
    before = a.weight.detach().numpy().copy()
    a.reset_parameters()
    assert not np.array_equal(before, a.weight.detach().numpy())


def test_linear_dtype_and_bias_registration():
    layer = nn.Linear(3, 2, bias=False, dtype=ember.float64)
    assert layer.weight.dtype == np.float64
    assert layer.bias is None and list(layer.state_dict()) == ["weight"]
    assert "bias" in layer._parameters  # registered as None, as in PyTorch
    assert repr(layer) == repr(torch.nn.Linear(3, 2, bias=False))
    assert repr(nn.Linear(3, 2)) == repr(torch.nn.Linear(3, 2))


# --- Bilinear --------------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("lead", [(4,), (1,), (2, 3)], ids=str)
def test_bilinear_parity(lead, bias):
    em = nn.Bilinear(3, 5, 2, bias).double()
    tm = torch.nn.Bilinear(3, 5, 2, bias).double()
    check_module(em, tm, random_inputs([lead + (3,), lead + (5,)]))


def test_bilinear_default_init_and_repr():
    m = nn.Bilinear(400, 5, 300)
    assert tuple(m.weight.shape) == (300, 400, 5) and tuple(m.bias.shape) == (300,)
    _check_uniform(m.weight.detach().numpy(), 1 / math.sqrt(400))
    assert abs(m.bias.detach().numpy()).max() <= 1 / math.sqrt(400)
    assert repr(m) == repr(torch.nn.Bilinear(400, 5, 300))


def test_bilinear_errors():
    m = nn.Bilinear(3, 4, 2)
    with pytest.raises(ValueError, match=r"Bilinear\(in1_features=3.*input2 with last "
                                         r"dimension 4, got shape \(2, 5\)"):
        m(ember.randn(2, 3), ember.randn(2, 5))
    with pytest.raises(ValueError, match="same leading dimensions"):
        m(ember.randn(2, 3), ember.randn(3, 4))
