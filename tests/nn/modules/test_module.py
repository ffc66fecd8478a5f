"""The Module system against PyTorch on one equivalent model built from both libraries:
names and order of parameters, buffers and modules, state_dict keys and round trips,
load_state_dict errors, train/eval, zero_grad, apply, to(dtype), forward (pre-)hooks,
full backward hooks (grad_input/grad_output), repr."""
import numpy as np
import pytest
from _parity import assert_close, import_torch

import ember
import ember.nn as enn

torch = import_torch()


def build(lib, n_blocks=2):
    """The same model written against ``lib`` (ember or torch)."""
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.scale = nn.Parameter(lib.ones(4))
            self.register_buffer("running", lib.zeros(4))
            self.register_buffer("steps", lib.zeros((), dtype=lib.int64))
            self.register_buffer("cache", lib.zeros(2), persistent=False)

        def forward(self, x):
            return nn.functional.relu(self.fc(x)) * self.scale + x

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 4, padding_idx=0)
            self.blocks = nn.ModuleList([Block() for _ in range(n_blocks)])
            self.head = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Dropout(0.1),
                                      nn.Linear(6, 3, bias=False))
            self.prelu = nn.PReLU(3)
            self.heads = nn.ModuleDict({"a": nn.Linear(3, 2), "b": nn.Bilinear(3, 3, 2)})

        def forward(self, idx):
            h = self.embed(idx).mean(1)  # (N, T, 4) -> (N, 4)
            for block in self.blocks:
                h = block(h)
            h = self.prelu(self.head(h))
            return self.heads["a"](h) + self.heads["b"](h, h)

    return Net()


def pair(dtype=np.float64):
    """(ember model, torch model) with torch's weights copied into ember."""
    tm = build(torch)
    em = build(ember)
    if dtype == np.float64:
        tm, em = tm.double(), em.double()
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return em, tm


IDX = np.array([[1, 2, 0], [4, 9, 9]])


def test_names_and_order_equal_torch():
    em, tm = pair()
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in em.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [n for n, _ in em.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in em.named_children()] == [n for n, _ in tm.named_children()]
    assert list(em.state_dict()) == list(tm.state_dict())
    assert "blocks.0.cache" not in em.state_dict()  # non-persistent
    shapes = {k: tuple(v.shape) for k, v in em.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in tm.state_dict().items()}


def test_forward_and_every_parameter_gradient_match_torch():
    em, tm = pair()
    em.eval()
    tm.eval()
    ey, ty = em(ember.tensor(IDX)), tm(torch.tensor(IDX))
    assert_close(ey.detach().numpy(), ty.detach().numpy(), 1e-10, 1e-10, "output")
    g = np.random.default_rng(0).standard_normal(ey.shape)
    (ey * ember.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(ep.grad.numpy(), tp.grad.numpy(), 1e-10, 1e-10, f"grad of {n}")


def test_state_dict_round_trip_into_torch():
    em = build(ember).double()
    tm = build(torch).double()
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in em.state_dict().items()})
    em.eval()
    tm.eval()
    assert_close(em(ember.tensor(IDX)).detach().numpy(), tm(torch.tensor(IDX)).detach().numpy(),
                 1e-12, 1e-12, "output")


def test_state_dict_shares_memory_and_keep_vars():
    em = build(ember)
    sd = em.state_dict()
    assert not sd["head.0.weight"].requires_grad
    assert sd["head.0.weight"].array is em.head[0].weight.array
    assert em.state_dict(keep_vars=True)["head.0.weight"] is em.head[0].weight
    assert list(em.state_dict(prefix="model.")) == ["model." + k for k in sd]


def test_load_state_dict_copies_into_existing_arrays():
    em = build(ember)
    weight = em.head[0].weight
    data = weight.array
    sd = {k: v.numpy() * 0 + 2 for k, v in build(ember).state_dict().items()}
    em.load_state_dict(sd)
    assert em.head[0].weight is weight and weight.array is data and np.all(data == 2)
    assert em.blocks[0].steps.dtype == np.int64


def test_load_state_dict_strict_errors_list_every_problem():
    em, tm = pair()
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    del sd["head.0.bias"], sd["blocks.1.running"]
    sd["head.9.weight"] = np.zeros(3)
    sd["prelu.weight"] = np.zeros(4)
    with pytest.raises(RuntimeError) as e:
        em.load_state_dict(sd)
    msg = str(e.value)
    for key in ("head.0.bias", "blocks.1.running", "head.9.weight", "prelu.weight"):
        assert key in msg
    assert "missing" in msg and "unexpected" in msg and "(4,)" in msg and "(3,)" in msg


def test_load_state_dict_refuses_non_numbers_before_copying_anything():
    em = ember.nn.Sequential(ember.nn.Linear(2, 3), ember.nn.Linear(3, 1))
    before = {k: v.numpy().copy() for k, v in em.state_dict().items()}
    sd = {k: np.zeros(v.shape) for k, v in before.items()}
    sd["1.bias"] = "garbage"
    with pytest.raises(RuntimeError, match="1.bias: checkpoint holds a str, not numbers"):
        em.load_state_dict(sd)
    for k, v in em.state_dict().items():  # 0.weight etc. were not overwritten first
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)


def test_load_state_dict_non_strict_reports_like_torch():
    em, tm = pair()
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    del sd["embed.weight"]
    sd["extra.weight"] = np.zeros(1)
    result = em.load_state_dict(sd, strict=False)
    tsd = {k: torch.tensor(v) for k, v in sd.items()}
    tresult = tm.load_state_dict(tsd, strict=False)
    assert result.missing_keys == tresult.missing_keys == ["embed.weight"]
    assert result.unexpected_keys == tresult.unexpected_keys == ["extra.weight"]
    missing, _ = result
    assert missing == ["embed.weight"]
    sd["prelu.weight"] = np.zeros(4)
    with pytest.raises(RuntimeError, match="prelu.weight"):
        em.load_state_dict(sd, strict=False)  # a wrong shape is an error even when not strict


def test_train_eval_reach_every_module():
    em = build(ember)
    assert all(m.training for m in em.modules())
    assert em.eval() is em and not any(m.training for m in em.modules())
    em.train()
    assert all(m.training for m in em.modules())
    em.train(False)
    assert not em.head[2].training
    x = ember.ones(200, 4)
    drop = enn.Sequential(enn.Dropout(0.5))
    assert (drop(x).numpy() == 0).any()
    assert np.array_equal(drop.eval()(x).numpy(), x.numpy())


def test_zero_grad():
    em, _ = pair()
    em(ember.tensor(IDX)).sum().backward()
    assert all(p.grad is not None for p in em.parameters())
    em.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in em.parameters())
    em.zero_grad()
    assert all(p.grad is None for p in em.parameters())


def test_apply_visits_children_first_like_torch():
    seen_e, seen_t = [], []
    build(ember).apply(lambda m: seen_e.append(type(m).__name__))
    build(torch).apply(lambda m: seen_t.append(type(m).__name__))
    assert seen_e == seen_t


def test_apply_for_custom_init():
    em = build(ember)

    def init_linear(m):
        if isinstance(m, enn.Linear):
            enn.init.constant_(m.weight, 0.5)
    em.apply(init_linear)
    assert np.all(em.heads["a"].weight.detach().numpy() == 0.5)


def test_to_dtype_casts_floats_in_place_and_keeps_ints():
    em = build(ember)
    params = list(em.parameters())
    em(ember.tensor(IDX)).sum().backward()
    assert em.to(ember.float64) is em
    assert all(p.dtype == np.float64 for p in em.parameters())
    assert all(a is b for a, b in zip(params, em.parameters()))  # optimizers keep their refs
    assert all(p.grad.dtype == np.float64 for p in em.parameters())
    assert em.blocks[0].running.dtype == np.float64
    assert em.blocks[0].steps.dtype == np.int64
    assert em.float().head[0].weight.dtype == np.float32
    assert em.to("cpu", dtype=ember.float64).head[0].weight.dtype == np.float64


def test_forward_hooks_order_and_replacement():
    calls = {"ember": [], "torch": []}
    for lib, key in ((ember, "ember"), (torch, "torch")):
        m = build(lib)
        for name, sub in m.named_modules():
            sub.register_forward_pre_hook(lambda mod, args, n=name, k=key:
                                          calls[k].append("pre " + n))
            sub.register_forward_hook(lambda mod, args, out, n=name, k=key:
                                      calls[k].append("post " + n))
        m(lib.tensor(IDX))
    assert calls["ember"] == calls["torch"]


def test_hooks_replace_inputs_and_outputs_and_remove():
    layer = enn.Linear(3, 2).requires_grad_(False)
    x = ember.randn(4, 3)
    plain = layer(x).numpy()
    h1 = layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    h2 = layer.register_forward_hook(lambda m, args, out: out + 1)
    want = (x.numpy() * 2) @ layer.weight.numpy().T + layer.bias.numpy() + 1
    assert np.allclose(layer(x).numpy(), want, atol=1e-6)
    h1.remove()
    h2.remove()
    assert np.allclose(layer(x).numpy(), plain)
    seen = []
    with layer.register_forward_hook(lambda m, args, out: seen.append(out.shape)):
        layer(x)
    layer(x)
    assert seen == [(4, 2)]


def _backward_hook_record(lib, module, inputs, grad_out):
    """grad_input/grad_output as numpy arrays (None kept) from a full backward hook."""
    record = {}

    def hook(mod, grad_input, grad_output):
        record["in"] = [None if g is None else g.detach().numpy().copy() for g in grad_input]
        record["out"] = [g.detach().numpy().copy() for g in grad_output]
    module.register_full_backward_hook(hook)
    out = module(*inputs)
    out.backward(lib.tensor(grad_out))
    return record


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("case", ["linear", "bilinear", "sequential", "no_input_grad"])
def test_full_backward_hook_matches_torch(case):
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    g = rng.standard_normal((5, 2))

    def make(lib):
        nn = lib.nn
        if case == "bilinear":
            return nn.Bilinear(3, 4, 2).double()
        if case == "sequential":
            return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()
        return nn.Linear(3, 2).double()

    tm, em = make(torch), make(ember)
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    grad = case != "no_input_grad"
    args = [x1, x2] if case == "bilinear" else [x1]
    rec = {}
    for lib, m in (("ember", em), ("torch", tm)):
        mod = ember if lib == "ember" else torch
        inputs = [mod.tensor(a, requires_grad=grad) for a in args]
        rec[lib] = _backward_hook_record(mod, m, inputs, g)
    assert len(rec["ember"]["in"]) == len(rec["torch"]["in"])
    for e, t in zip(rec["ember"]["in"], rec["torch"]["in"]):
        assert (e is None) == (t is None)
        if e is not None:
            assert_close(e, t, 1e-12, 1e-12, "grad_input")
    for e, t in zip(rec["ember"]["out"], rec["torch"]["out"]):
        assert_close(e, t, 1e-12, 1e-12, "grad_output")


def test_full_backward_hook_can_replace_grad_input():
    layer = enn.Linear(3, 2).double()
    layer.register_full_backward_hook(lambda m, gin, gout: (gin[0] * 0 + 7,))
    x = ember.randn(4, 3, dtype=ember.float64, requires_grad=True)
    (layer(x) * 3).sum().backward()
    assert np.all(x.grad.numpy() == 7)
    assert np.allclose(layer.bias.grad.numpy(), 12)  # parameters still get the true gradient


def test_repr_tree_equals_torch():
    # one block: PyTorch's ModuleList folds repeated identical children ("(0-1): 2 x Block(")
    assert repr(build(ember, n_blocks=1)) == repr(build(torch, n_blocks=1))


def test_registration_rules():
    m = enn.Module()
    m.w = enn.Parameter(ember.ones(2))
    m.sub = enn.Linear(2, 2)
    m.plain = 3
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match="cannot assign"):
        m.w = ember.ones(2)  # a plain tensor onto a parameter slot
    m.w = None
    assert "w" not in dict(m.named_parameters())
    with pytest.raises(KeyError, match="'a.b'"):
        m.register_parameter("a.b", enn.Parameter(ember.ones(1)))
    with pytest.raises(KeyError):
        m.register_buffer("a.b", ember.ones(1))
    del m.sub
    assert [n for n, _ in m.named_modules()] == [""]
    assert m.get_submodule("") is m
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing

    class NoInit(enn.Module):
        def __init__(self):
            self.x = enn.Linear(1, 1)
    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        NoInit()


def test_shared_parameters_are_listed_once():
    shared = enn.Linear(2, 2)
    model = enn.Sequential(shared, enn.ReLU(), shared)
    tshared = torch.nn.Linear(2, 2)
    tmodel = torch.nn.Sequential(tshared, torch.nn.ReLU(), tshared)
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in tmodel.named_parameters()]
    assert list(model.state_dict()) == list(tmodel.state_dict())


def test_requires_grad_and_parameter_counts():
    em, tm = pair()
    assert sum(p.numel() for p in em.parameters()) == sum(p.numel() for p in tm.parameters())
    em.requires_grad_(False)
    assert not any(p.requires_grad for p in em.parameters())
    assert not em(ember.tensor(IDX)).requires_grad
