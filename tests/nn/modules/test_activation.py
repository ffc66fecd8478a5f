"""Activation layers against PyTorch: values, input and parameter gradients, reprs, PReLU's
initialisation, Softmax's implicit dimension, Maxout against a NumPy reference, errors
naming the layer."""
import numpy as np
import pytest
from _parity import (
    DEVICE,
    assert_close,
    check_grad,
    check_op,
    copy_from_torch,
    host,
    import_torch,
    random_inputs,
)

import ember
import ember.nn.functional as F
from ember import nn

torch = import_torch()


def test_maxout_module_matches_reference_and_gradcheck():
    m = nn.Maxout(4, 3, pool_size=2).double()
    assert tuple(m.weight.shape) == (6, 4) and tuple(m.bias.shape) == (6,)
    x, = random_inputs([(5, 4)])
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    want = (x @ w.T + b).reshape(5, 3, 2).max(-1)
    assert_close(m(ember.tensor(x)).detach().numpy(), want, 1e-12, 1e-12, "Maxout")
    check_grad(m, inputs=[x])
    check_grad(lambda wt: F.maxout(F.linear(ember.tensor(x, device=DEVICE), wt), 2, -1),
               inputs=[w])


def test_maxout_errors():
    with pytest.raises(ValueError, match=r"size 5, which is not a multiple of pool_size=2"):
        F.maxout(ember.randn(2, 5), 2)
    with pytest.raises(ValueError, match=r"Maxout\(in_features=4.*last dimension 4, got "
                                         r"shape \(2, 5\)"):
        nn.Maxout(4, 3, 2)(ember.randn(2, 5))


# --- modules -----------------------------------------------------------------------------

MODULES = [
    ("Sigmoid", (), {}), ("Tanh", (), {}), ("ReLU", (), {}), ("ReLU6", (), {}),
    ("LeakyReLU", (0.2,), {}), ("ELU", (), {"alpha": 0.5}), ("SELU", (), {}),
    ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}), ("SiLU", (), {}),
    ("Softplus", (), {"beta": 2.0, "threshold": 5.0}), ("Softmax", (1,), {}),
    ("LogSoftmax", (-1,), {}), ("Hardtanh", (-0.5, 2.0), {}), ("PReLU", (), {}),
    ("PReLU", (3,), {"init": 0.1}), ("GLU", (), {"dim": 0}), ("Mish", (), {}),
    ("Hardswish", (), {}), ("Hardsigmoid", (), {}), ("CELU", (0.5,), {}), ("Softsign", (), {}),
    ("Softmin", (1,), {}), ("LogSigmoid", (), {}), ("Threshold", (0.1, 20.0), {}),
    ("Hardshrink", (), {}), ("Softshrink", (0.3,), {}), ("Tanhshrink", (), {}),
]


@pytest.mark.parametrize("name,args,kwargs", MODULES, ids=lambda v: str(v))
@pytest.mark.parametrize("shape", [(2, 3, 4), (4, 3)], ids=str)
def test_module_parity(name, args, kwargs, shape):
    tm = getattr(torch.nn, name)(*args, **kwargs).double()
    em = getattr(nn, name)(*args, **kwargs).double()
    copy_from_torch(em, tm)
    x, = random_inputs([shape], low=-3, high=3, away_from=0.0)
    check_op(em, tm, inputs=[x])
    for (en, ep), (tn, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert en == tn
        assert_close(host(ep.grad), tp.grad.numpy(), 1e-10, 1e-10, f"{name}.{en}.grad")
    assert repr(em) == repr(tm)


@pytest.mark.parametrize("module", [
    nn.ReLU(inplace=True), nn.ReLU6(True), nn.LeakyReLU(0.2, True), nn.ELU(0.5, True),
    nn.SELU(True), nn.SiLU(True), nn.Hardtanh(-2, 3.0, True), nn.GELU("tanh"),
    nn.Softplus(2, 10), nn.PReLU(3, 0.1), nn.Softmax(), nn.Sigmoid(), nn.GLU(), nn.GLU(0),
    nn.Mish(True), nn.Hardswish(True), nn.Hardsigmoid(), nn.CELU(0.5, True), nn.RReLU(),
    nn.RReLU(0.1, 0.3, True), nn.Softsign(), nn.Softmin(), nn.Softmin(-1), nn.LogSigmoid(),
    nn.Threshold(0.1, 2.0, True), nn.Threshold(1, 0), nn.Hardshrink(), nn.Softshrink(0.3),
    nn.Tanhshrink()], ids=repr)
def test_repr_matches_torch(module):
    tm = eval("torch.nn." + repr(module))
    assert repr(module) == repr(tm)


def test_prelu_default_init_and_shape():
    m = nn.PReLU(4)
    assert tuple(m.weight.shape) == (4,)
    assert np.all(m.weight.detach().numpy() == np.float32(0.25))
    m.weight.data[...] = 0
    m.reset_parameters()
    assert np.all(m.weight.detach().numpy() == np.float32(0.25))


def test_softmax_without_dim_warns_and_uses_torchs_rule():
    x, = random_inputs([(2, 3, 4)])
    with pytest.warns(UserWarning, match="Implicit dimension"):
        got = nn.Softmax()(ember.tensor(x)).numpy()
    with pytest.warns(UserWarning):
        want = torch.nn.Softmax()(torch.tensor(x)).numpy()
    assert_close(got, want, 1e-12, 1e-12, "softmax")


def test_rrelu_layer_is_random_in_training_and_the_mean_slope_in_eval():
    tm, em = torch.nn.RReLU(0.1, 0.3), nn.RReLU(0.1, 0.3)
    x, = random_inputs([(4, 50)], low=-3, high=3, away_from=0.0)
    check_op(em.eval(), tm.eval(), inputs=[x])
    em.train()
    ember.manual_seed(0)
    y = em(ember.tensor(x)).numpy()
    slopes = y[x < 0] / x[x < 0]
    assert np.all((slopes >= 0.1) & (slopes <= 0.3)) and np.unique(slopes).size > 1
    assert np.array_equal(y[x > 0], x[x > 0])


def test_new_layers_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"GLU\(dim=-1\): glu: halving dimension"):
        nn.GLU()(ember.randn(2, 3))
    with pytest.raises(ValueError, match=r"RReLU\(lower=0.5, upper=0.1\): rrelu: lower bound"):
        nn.RReLU(0.5, 0.1)(ember.randn(2, 3))


def test_softmax2d_matches_torch():
    check_op(nn.Softmax2d(), torch.nn.Softmax2d(), shapes=[(2, 3, 4, 5)])
    check_op(nn.Softmax2d(), torch.nn.Softmax2d(), shapes=[(3, 4, 5)])
    with pytest.raises(ValueError, match=r"Softmax2d: expected input of 3 or 4 dimensions"):
        nn.Softmax2d()(ember.ones(2, 3))
