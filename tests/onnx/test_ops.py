"""The ONNX of each op of ``ember/ops`` (ember/onnx/ops.py): one small model per op, run by
onnxruntime against ember at the exported and at another batch size."""
import pytest
from _onnx_roundtrip import Lambda, floats, import_oracles, ops_of, roundtrip

import ember
import ember.onnx

DYN = {"input_0": {0: "b"}}  # Lambda.forward(*xs): inputs are input_0, ...


@pytest.fixture(autouse=True)
def _oracles():
    import_oracles()


def _w(*shape, seed=5):
    return ember.nn.Parameter(floats(*shape, seed=seed))


# (id, fn(m, x) with m the module holding `w`, input shape); the batch dim (0) is dynamic
UNARY = [
    ("add_sub_mul_div", lambda m, x: (x + m.w) * 2 - x / (x.abs() + 1), (3, 4)),
    ("neg_pow", lambda m, x: -(x ** 2) + x.abs() ** 1.5, (3, 4)),
    ("exp_log_sqrt", lambda m, x: x.exp() + (x.abs() + 1).log() + x.abs().sqrt(), (3, 4)),
    ("log1p_rsqrt", lambda m, x: x.abs().log1p() + (x.abs() + 1).rsqrt(), (3, 4)),
    ("sin_cos_tanh_sigmoid_relu", lambda m, x: x.sin() + x.cos() + x.tanh() + x.sigmoid()
     + x.relu(), (3, 4)),
    ("erf", lambda m, x: ember.special.erf(x) if hasattr(ember, "special") else x.erf(),
     (3, 4)),
    ("clamp", lambda m, x: x.clamp(-0.5, 0.7) + x.clamp(min=0.1) + x.clamp(max=0.2), (3, 4)),
    ("maximum_minimum", lambda m, x: ember.maximum(x, m.w) + ember.minimum(x, m.w), (3, 4)),
    ("where", lambda m, x: ember.where(m.w > 0, x, -x), (3, 4)),
    ("cumsum", lambda m, x: x.cumsum(1), (3, 4)),
    ("cast", lambda m, x: x.double().float() + x.to(ember.float64).sum().float(), (3, 4)),
    ("clone_detach", lambda m, x: x.clone() + x.contiguous(), (3, 4)),
    ("sum_mean", lambda m, x: x.sum(1) + x.mean(1) + x.sum((1, 2)).unsqueeze(1)
     + x.mean(1, keepdim=True).squeeze(1) + x.sum(-1).mean(), (3, 4, 5)),
    ("amax_amin", lambda m, x: x.amax(1) + x.amin(-1, keepdim=True).squeeze(-1), (3, 4)),
    ("max_dim", lambda m, x: x.max(1)[0] + x.min(1).values + x.max(1)[1].float(), (3, 4)),
    ("var_std", lambda m, x: x.var(1) + x.std(1, unbiased=False) + x.var(1, correction=0),
     (3, 5)),
    ("logsumexp", lambda m, x: x.logsumexp(1), (3, 4)),
    ("norms", lambda m, x: x.norm(dim=1) + x.norm(p=1, dim=1) + x.norm(p=float("inf"), dim=1)
     + x.norm(p=-float("inf"), dim=1) + x.norm(p=0, dim=1) + x.norm(p=3, dim=1)
     + ember.linalg.vector_norm(x, dim=-1) * 0 + x.norm(), (3, 4)),
    ("einsum", lambda m, x: ember.einsum("bi,ij->bj", x, m.w.unsqueeze(1) * m.w), (3, 4)),
    ("softmax", lambda m, x: x.softmax(1) + x.log_softmax(-1), (3, 4)),
    ("matmul", lambda m, x: x @ m.w, (3, 4)),
    ("batched_matmul", lambda m, x: x @ x.transpose(1, 2), (3, 4, 5)),
    ("reshape_view", lambda m, x: x.reshape(x.shape[0], 2, 10).view(-1, 20).flatten(1)
     .unflatten(1, (4, 5)), (3, 4, 5)),
    ("squeeze_unsqueeze", lambda m, x: x.unsqueeze(1).unsqueeze(-1).squeeze(-1)
     .squeeze(1), (3, 4)),
    ("merge_batch", lambda m, x: x.reshape(-1, 5).reshape(x.shape), (3, 4, 5)),
    ("permute_transpose", lambda m, x: x.permute(2, 0, 1).transpose(0, 2).mT, (3, 4, 5)),
    ("expand_repeat", lambda m, x: x.unsqueeze(1).expand(-1, 3, -1) + x.unsqueeze(1)
     .repeat(1, 3, 1), (3, 4)),
    ("expand_a_constant_to_the_batch", lambda m, x: ember.cat(
        [m.w[:1].expand(x.shape[0], -1), x], 1), (3, 4)),
    ("cat_stack", lambda m, x: ember.cat([x, x * 2], 1) + ember.stack([x, x], 1)
     .flatten(1), (3, 4)),
    ("split_chunk", lambda m, x: sum(x.split([1, 3], 1)[1].chunk(3, 1)), (3, 4)),
    ("flip", lambda m, x: x.flip(1) + x.flip(0, 1), (3, 4)),
    ("pad", lambda m, x: ember.nn.functional.pad(x, (1, 2)) + ember.nn.functional.pad(
        x, (2, 1), mode="reflect") + ember.nn.functional.pad(x, (0, 3), mode="replicate")
     + ember.nn.functional.pad(x, (2, 1), mode="circular"), (3, 2, 4)),
    ("getitem_basic", lambda m, x: x[:, 1] + x[:, -1] + x[..., 2, None, 1:3].squeeze(1)
     .sum(-1, keepdim=True) + x[:, ::2].sum(1) + x[:, 3:0:-1].sum(1), (3, 4, 4)),
    ("getitem_index_tensor", lambda m, x: x[:, ember.tensor([2, 0, 1])], (3, 4)),
    ("index_select", lambda m, x: x.index_select(1, ember.tensor([3, 1])), (3, 4)),
]


@pytest.mark.parametrize("fn, shape", [(f, s) for _, f, s in UNARY], ids=[i for i, _, _ in UNARY])
def test_op(fn, shape):
    model = Lambda(fn, w=_w(*shape[1:]) if len(shape) == 2 else _w(shape[-1]))
    other = (shape[0] + 2,) + shape[1:]
    proto = roundtrip(model, (floats(*shape),), (floats(*other, seed=1),), dynamic=DYN)
    assert proto.graph.node  # something was traced


def test_gather_with_a_fixed_index():
    model = Lambda(lambda m, x: x.gather(1, ember.tensor([[1, 0]] * 3)))
    roundtrip(model, (floats(3, 4),))
    varying = Lambda(lambda m, x: x.gather(1, ember.arange(x.shape[0] * 2).reshape(-1, 2) % 4))
    with pytest.raises(ember.onnx.ExportError, match="Reshape uses a constant of shape \\(6,\\) "
                       "whose shape follows the dynamic axes"):
        roundtrip(varying, (floats(3, 4),), dynamic=DYN)


def test_a_constant_made_at_the_batch_size_becomes_an_expand():
    model = Lambda(lambda m, x: x + ember.zeros(x.shape[0], 4) + ember.ones(x.shape[0], 1))
    proto = roundtrip(model, (floats(3, 4),), (floats(5, 4, seed=1),), dynamic=DYN)
    assert ops_of(proto).count("Expand") == 2


def test_a_model_whose_ops_change_with_the_batch_size_is_refused():
    model = Lambda(lambda m, x: x.exp() if x.shape[0] == 3 else x.sin())
    with pytest.raises(ember.onnx.ExportError, match="runs other ops at another size"):
        roundtrip(model, (floats(3, 4),), dynamic=DYN)


def test_ops_on_constants_alone_are_folded():
    model = Lambda(lambda m, x: x + (m.w.reshape(2, 2).transpose(0, 1).reshape(4) * 3).exp(), w=_w(4))
    proto = roundtrip(model, (floats(3, 4),), (floats(5, 4, seed=1),), dynamic=DYN)
    assert ops_of(proto) == ["Add"]


def test_in_place_ops_follow_the_written_tensor():
    def fn(m, x):
        y = x * 1
        y += m.w
        y.mul_(2)
        ember.nn.functional.relu(y, inplace=True)
        return y
    proto = roundtrip(Lambda(fn, w=_w(4)), (floats(3, 4),), (floats(6, 4, seed=1),),
                      dynamic=DYN)
    assert ops_of(proto) == ["Mul", "Add", "Mul", "Relu"]


def test_user_functions_are_traced_through():
    class Square(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g
    proto = roundtrip(Lambda(lambda m, x: Square.apply(x) + 1), (floats(3, 4),))
    assert ops_of(proto) == ["Mul", "Add"]


def test_slice_assignment():
    def fn(m, x):
        y = x * 1
        y[:, 1:3] = x[:, :2] * 2
        y[:, 3:] = 0.5
        z = ember.zeros(x.shape[0], 6)
        z[:, :4] = x
        return y + z[:, :4]
    roundtrip(Lambda(fn), (floats(3, 4),), (floats(5, 4, seed=1),), dynamic=DYN)


@pytest.mark.parametrize("fn, match", [
    (lambda m, x: x.roll(1, 1), "the op Roll"),
    (lambda m, x: x[:, ember.tensor([0, 1])][ember.tensor([0]), ember.tensor([1])],
     "more than one index tensor"),
    (lambda m, x: x[x > 0], "indexing with ndarray bool"),
    (lambda m, x: x.clone().__setitem__((0, 1), x[1, 2]), "except with slices"),
    (lambda m, x: x.clone().__setitem__((slice(0, 2), slice(1, 2)), 1.0), "along one axis"),
])
def test_unsupported_ops_name_the_op(fn, match):
    with pytest.raises(ember.onnx.ExportError, match=match):
        ember.onnx.export(Lambda(fn), floats(3, 4), None)
