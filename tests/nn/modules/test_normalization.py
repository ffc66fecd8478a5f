"""BatchNorm1d/2d/3d, LayerNorm, GroupNorm and LocalResponseNorm against PyTorch: outputs,
input/weight/bias gradients, running statistics after several training steps, evaluation
mode, state_dict and reprs, float32 (with gradchecks of the functional forms), errors."""
import numpy as np
import pytest
from _parity import TOL, assert_close, check_grad, check_op, import_torch

import ember
from ember import nn
import ember.nn.functional as F
from ember import backend

torch = import_torch()


def _np(t):
    """A torch or ember tensor as a NumPy array."""
    if isinstance(t, ember.Tensor):
        return backend.to_numpy(t.detach().data)
    return t.detach().numpy()


def _twins(ember_cls, torch_cls, *args, dtype=np.float64, device="cpu", **kwargs):
    """The same layer in both frameworks, torch's random-ised weights copied into ember's."""
    tl = torch_cls(*args, **kwargs).to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        for p in tl.parameters():
            p.uniform_(0.5, 1.5)
    el = ember_cls(*args, **kwargs).to(device, dtype)
    el.load_state_dict({k: v.numpy() for k, v in tl.state_dict().items()})
    return el, tl


def _step(el, tl, x, gy, device="cpu", tol=None, what=""):
    """One forward/backward of both layers on ``x`` with upstream gradient ``gy``; compare
    the output and the gradients of the input and of every parameter."""
    tol = tol or TOL[x.dtype.type]
    for p in (*el.parameters(), *tl.parameters()):
        p.grad = None
    ex = ember.tensor(x, device=device, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    ey, ty = el(ex), tl(tx)
    assert ey.dtype == x.dtype
    assert_close(_np(ey), _np(ty), what=f"{what} output", **tol)
    (ey * ember.tensor(gy, device=device)).sum().backward()
    (ty * torch.tensor(gy)).sum().backward()
    assert_close(_np(ex.grad), _np(tx.grad), what=f"{what} input grad", **tol)
    eparams = dict(el.named_parameters())
    for name, p in tl.named_parameters():
        assert_close(_np(eparams[name].grad), _np(p.grad), what=f"{what} {name} grad", **tol)


def _same_state(el, tl, tol):
    es, ts = el.state_dict(), tl.state_dict()
    assert list(es) == list(ts)
    for k, v in ts.items():
        assert_close(_np(es[k]), v.numpy(), what=k, **tol)
        assert es[k].dtype == np.dtype(str(v.dtype).replace("torch.", ""))


# --- BatchNorm ----------------------------------------------------------------------------
BN = [(nn.BatchNorm1d, torch.nn.BatchNorm1d, (6, 3)),
      (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5)),
      (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 6)),
      (nn.BatchNorm3d, torch.nn.BatchNorm3d, (2, 3, 2, 3, 4))]


@pytest.mark.parametrize("ecls,tcls,shape", BN, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("kw", [{}, dict(momentum=None), dict(momentum=0.3, eps=1e-3),
                                dict(affine=False), dict(track_running_stats=False),
                                dict(bias=False),
                                dict(affine=False, track_running_stats=False, momentum=None)],
                         ids=str)
def test_batchnorm_training_then_eval_matches_torch(ecls, tcls, shape, kw, device):
    el, tl = _twins(ecls, tcls, 3, device=device, **kw)
    rng = np.random.default_rng(0)
    for step in range(3):  # the running statistics must follow torch's step after step
        x = rng.normal(1.0, 2.0, shape)
        _step(el, tl, x, rng.standard_normal(shape), device, what=f"train step {step}")
        _same_state(el, tl, TOL[np.float64])
    el.eval(), tl.eval()
    x = rng.normal(1.0, 2.0, shape)
    _step(el, tl, x, rng.standard_normal(shape), device, what="eval")
    _same_state(el, tl, TOL[np.float64])


def test_batchnorm_float32_matches_torch():
    el, tl = _twins(nn.BatchNorm2d, torch.nn.BatchNorm2d, 16, dtype=np.float32)
    rng = np.random.default_rng(1)
    for _ in range(2):
        x = rng.normal(0.5, 3.0, (8, 16, 8, 8)).astype(np.float32)
        _step(el, tl, x, rng.standard_normal(x.shape).astype(np.float32))
    _same_state(el, tl, TOL[np.float32])
    el.eval(), tl.eval()
    _step(el, tl, x, rng.standard_normal(x.shape).astype(np.float32))


def test_batchnorm_state_dict_keys_and_buffers_match_torch():
    for kw in ({}, dict(affine=False), dict(track_running_stats=False), dict(bias=False)):
        el, tl = nn.BatchNorm2d(4, **kw), torch.nn.BatchNorm2d(4, **kw)
        assert list(el.state_dict()) == list(tl.state_dict())
        assert repr(el) == repr(tl)
    el = nn.BatchNorm1d(4)
    assert el.num_batches_tracked.dtype == np.int64 and el.running_var.dtype == np.float32
    el(ember.randn(5, 4))
    assert int(el.num_batches_tracked.item()) == 1
    el.reset_running_stats()
    assert int(el.num_batches_tracked.item()) == 0 and float(el.running_var.sum()) == 4
    for layer in (el, nn.LayerNorm(4), nn.GroupNorm(2, 4, bias=False)):
        layer.weight.data[...] = 3
        layer.reset_parameters()
        assert float(layer.weight.sum()) == 4


def test_batchnorm_output_can_be_modified_in_place():
    # Only x - mean is kept for backward, so an in-place ReLU on the output is fine (torch too).
    el, tl = _twins(nn.BatchNorm2d, torch.nn.BatchNorm2d, 3)
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 4))
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    el(ex).relu_().sum().backward()
    tl(tx).relu_().sum().backward()
    assert_close(_np(ex.grad), _np(tx.grad), **TOL[np.float64])


def test_batchnorm_weight_grad_without_input_grad_and_no_grad_inference():
    el, tl = _twins(nn.BatchNorm2d, torch.nn.BatchNorm2d, 3)
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 4))
    el(ember.tensor(x)).sum().backward()
    tl(torch.tensor(x)).sum().backward()
    assert_close(_np(el.weight.grad), _np(tl.weight.grad), **TOL[np.float64])
    with ember.no_grad(), torch.no_grad():  # the in-place inference path
        assert_close(_np(el(ember.tensor(x))), _np(tl(torch.tensor(x))), **TOL[np.float64])
    _same_state(el, tl, TOL[np.float64])


def test_batchnorm_non_contiguous_input():
    el, tl = _twins(nn.BatchNorm2d, torch.nn.BatchNorm2d, 3)
    x = np.random.default_rng(4).standard_normal((5, 4, 3, 2)).transpose(3, 2, 1, 0)
    _step(el, tl, x, np.random.default_rng(5).standard_normal(x.shape))


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(16, .*\): expected 4-D input "
                       r"\(N, 16, H, W\), got shape \(8, 8, 4, 4\)"):
        nn.BatchNorm2d(16)(ember.randn(8, 8, 4, 4))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(16, .* got shape \(8, 16, 4\)"):
        nn.BatchNorm2d(16)(ember.randn(8, 16, 4))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4, .*\): expected 2-D or 3-D input"):
        nn.BatchNorm1d(4)(ember.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"BatchNorm3d\(4, .*\): expected 5-D"):
        nn.BatchNorm3d(4)(ember.randn(2, 4, 3, 3))
    # one value per channel cannot be normalised in training (torch raises ValueError too)
    with pytest.raises(ValueError):
        torch.nn.BatchNorm1d(4)(torch.randn(1, 4))
    bn = nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(ember.randn(1, 4))
    assert int(bn.num_batches_tracked.item()) == 0
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(ember.randn(1, 4, 1, 1), None, None, training=True)
    assert bn.eval()(ember.randn(1, 4)).shape == (1, 4)  # fine with running statistics
    with pytest.raises(ValueError, match="running_mean and running_var"):
        F.batch_norm(ember.randn(3, 4), None, None, training=False)
    with pytest.raises(ValueError, match="both running_mean and running_var, or neither"):
        F.batch_norm(ember.randn(3, 4), ember.zeros(4), None, training=True)
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        F.batch_norm(ember.randn(3, 4), None, None, ember.ones(5), training=True)


# --- LayerNorm ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape,normalized", [((4, 6), 6), ((1, 6), (6,)), ((2, 3, 4, 5), (4, 5)),
                                              ((3, 2, 5), (3, 2, 5)), ((1, 7, 3), 3)], ids=str)
@pytest.mark.parametrize("kw", [{}, dict(elementwise_affine=False), dict(bias=False),
                                dict(eps=1e-2)], ids=str)
def test_layernorm_matches_torch(shape, normalized, kw, device):
    el, tl = _twins(nn.LayerNorm, torch.nn.LayerNorm, normalized, device=device, **kw)
    rng = np.random.default_rng(10)
    _step(el, tl, rng.normal(1.0, 2.0, shape), rng.standard_normal(shape), device)
    assert repr(el) == repr(tl) and list(el.state_dict()) == list(tl.state_dict())


def test_layernorm_float32_and_functional():
    el, tl = _twins(nn.LayerNorm, torch.nn.LayerNorm, 64, dtype=np.float32)
    x = np.random.default_rng(11).normal(2.0, 3.0, (16, 10, 64)).astype(np.float32)
    _step(el, tl, x, np.random.default_rng(12).standard_normal(x.shape).astype(np.float32))
    check_op(lambda x, w, b: F.layer_norm(x, (3, 4), w, b, 1e-3),
             lambda x, w, b: torch.nn.functional.layer_norm(x, (3, 4), w, b, 1e-3),
             shapes=[(2, 3, 4), (3, 4), (3, 4)])
    check_grad(lambda x, w, b: F.layer_norm(x, (3, 4), w, b),
               shapes=[(2, 3, 4), (3, 4), (3, 4)])
    check_grad(lambda x: F.layer_norm(x, 5), shapes=[(1, 5)])


def test_layernorm_errors():
    with pytest.raises(ValueError, match=r"LayerNorm\(\(8,\), .*\): layer_norm: normalized_shape="
                       r"\(8,\) expects input of shape \(\*, 8\), got shape \(2, 7\)"):
        nn.LayerNorm(8)(ember.randn(2, 7))
    with pytest.raises(ValueError, match=r"LayerNorm\(\(2, 3\), .*got shape \(3,\)"):
        nn.LayerNorm((2, 3))(ember.randn(3))
    with pytest.raises(ValueError, match=r"layer_norm: weight must have shape \(4,\)"):
        F.layer_norm(ember.randn(2, 4), 4, ember.ones(5))


# --- GroupNorm ----------------------------------------------------------------------------
@pytest.mark.parametrize("groups,shape", [(2, (3, 6)), (1, (2, 6, 4)), (3, (2, 6, 3, 4)),
                                          (6, (1, 6, 2, 3)), (2, (1, 6, 2, 2, 2))], ids=str)
@pytest.mark.parametrize("kw", [{}, dict(affine=False), dict(eps=1e-2), dict(bias=False)],
                         ids=str)
def test_groupnorm_matches_torch(groups, shape, kw, device):
    el, tl = _twins(nn.GroupNorm, torch.nn.GroupNorm, groups, 6, device=device, **kw)
    rng = np.random.default_rng(13)
    _step(el, tl, rng.normal(-1.0, 2.0, shape), rng.standard_normal(shape), device)
    assert repr(el) == repr(tl) and list(el.state_dict()) == list(tl.state_dict())


def test_groupnorm_float32_gradcheck_and_errors():
    el, tl = _twins(nn.GroupNorm, torch.nn.GroupNorm, 4, 32, dtype=np.float32)
    x = np.random.default_rng(14).normal(1.0, 2.0, (4, 32, 8, 8)).astype(np.float32)
    _step(el, tl, x, np.random.default_rng(15).standard_normal(x.shape).astype(np.float32))
    check_grad(lambda x, w, b: F.group_norm(x, 2, w, b), shapes=[(2, 4, 3), (4,), (4,)])
    with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by "
                       r"num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 6, .*\): expected input \(N, 6, \*\), "
                       r"got shape \(2, 4, 3\)"):
        nn.GroupNorm(2, 6)(ember.randn(2, 4, 3))
    with pytest.raises(ValueError, match="divisible by num_groups=4"):
        F.group_norm(ember.randn(2, 6), 4)


# --- LocalResponseNorm --------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 7, 3, 4), (1, 4, 2, 3, 2)], ids=str)
def test_local_response_norm_matches_torch(size, shape, device):
    el, tl = _twins(nn.LocalResponseNorm, torch.nn.LocalResponseNorm, size, 0.5, 0.6, 1.5,
                    device=device)
    rng = np.random.default_rng(16)
    _step(el, tl, rng.normal(0.0, 2.0, shape), rng.standard_normal(shape), device)
    assert repr(el) == repr(tl)


def test_local_response_norm_defaults_float32_gradcheck_and_errors():
    # AlexNet's setting on float32 activations
    el, tl = nn.LocalResponseNorm(5, k=2.0), torch.nn.LocalResponseNorm(5, k=2.0)
    x = np.random.default_rng(17).normal(0.0, 10.0, (4, 16, 6, 6)).astype(np.float32)
    _step(el, tl, x, np.random.default_rng(18).standard_normal(x.shape).astype(np.float32))
    check_grad(lambda x: F.local_response_norm(x, 3, alpha=0.5, beta=0.75, k=1.0),
               shapes=[(2, 5, 3)])
    check_grad(lambda x: F.local_response_norm(x, 4, alpha=1.0, beta=0.5), shapes=[(1, 6, 2, 2)])
    with pytest.raises(ValueError, match=r"LocalResponseNorm\(5, .*\): local_response_norm: "
                       r"expected 3-D or higher input \(N, C, \*\), got shape \(4, 3\)"):
        el(ember.randn(4, 3))


@pytest.mark.parametrize("args", [(4,), ((3, 4),), (4, 1e-3, False)], ids=str)
def test_rmsnorm_matches_torch(args):
    em, tm = nn.RMSNorm(*args).double(), torch.nn.RMSNorm(*args).double()
    check_op(em, tm, shapes=[(2, 3, 4)])
    assert repr(em) == repr(tm) and list(em.state_dict()) == list(tm.state_dict())
