"""Every optimizer against torch.optim: 60 steps of a small tanh MLP in float64, the same
initial parameters and data, each framework computing its own gradients; parameters must
agree to 1e-10 relative, and so must the optimizer state, key for key."""
import numpy as np
import pytest
from _parity import assert_close, import_torch

import ember

STEPS = 60


def Parameter(array):
    """A trainable leaf (plain tensors keep these tests independent of ember.nn)."""
    return ember.tensor(array, requires_grad=True)
TOL = dict(rtol=1e-10, atol=1e-12)

# (optimizer name, kwargs shared by ember and torch, use two param groups?)
CASES = [
    ("SGD", dict(lr=0.1), False),
    ("SGD", dict(lr=0.1, momentum=0.9), True),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-2), False),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2), True),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True), False),
    ("Adam", dict(lr=1e-2), True),
    ("Adam", dict(lr=1e-2, weight_decay=0.1, amsgrad=True), False),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, maximize=True), False),
    ("Adam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True), False),
    ("AdamW", dict(lr=1e-2), True),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True), False),
    ("Adagrad", dict(lr=0.1), True),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1,
                     eps=1e-8), False),
    ("RMSprop", dict(lr=1e-2), True),
    ("RMSprop", dict(lr=1e-3, alpha=0.9, momentum=0.9, centered=True, weight_decay=0.01), False),
    ("RMSprop", dict(lr=1e-3, centered=True, maximize=True), False),
    ("Adadelta", dict(), True),
    ("Adadelta", dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.01), False),
    ("NAdam", dict(lr=1e-2), True),
    ("NAdam", dict(lr=1e-2, weight_decay=0.1, momentum_decay=0.01), False),
    ("NAdam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True), False),
    ("RAdam", dict(lr=1e-2), True),
    ("RAdam", dict(lr=1e-2, weight_decay=0.1), False),
    ("RAdam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True), False),
]
NAMES = sorted({name for name, _, _ in CASES})


@pytest.fixture(scope="module")
def torch():
    # float64 default: PyTorch keeps scalar state (NAdam's mu_product, step) in this dtype
    torch = import_torch()
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(old)


def initial_params():
    rng = np.random.default_rng(2)
    return [rng.standard_normal((8, 5)) * 0.5, rng.standard_normal(8) * 0.1,
            rng.standard_normal((3, 8)) * 0.5, rng.standard_normal(3) * 0.1]


def batches(n=5):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((16, 5)), rng.standard_normal((16, 3))) for _ in range(n)]


def mse(m, params, x, y):
    """The same code for ember and torch (``m`` is the framework)."""
    w1, b1, w2, b2 = params
    out = m.tanh(x @ w1.T + b1) @ w2.T + b2
    return ((out - y) ** 2).mean()


def groups(params, two_groups, lr):
    if not two_groups:
        return params
    return [{"params": params[:2], "lr": lr * 0.5}, {"params": params[2:]}]


class Run:
    """Parameters, optimizer and a step counter for one framework."""

    def __init__(self, m, name, kwargs, two_groups=False, params=None):
        self.m = m
        self.is_torch = m is not ember
        arrays = params if params is not None else initial_params()
        if self.is_torch:
            self.params = [m.tensor(a.copy(), requires_grad=True) for a in arrays]
            kwargs = dict(kwargs, foreach=False)
        else:
            self.params = [Parameter(a.copy()) for a in arrays]
        self.opt = getattr(m.optim, name)(groups(self.params, two_groups,
                                                 kwargs.get("lr", 1.0)), **kwargs)
        self.data = batches()
        self.t = 0

    def train(self, steps):
        for _ in range(steps):
            x, y = (self.m.tensor(a) for a in self.data[self.t % len(self.data)])
            self.opt.zero_grad()
            mse(self.m, self.params, x, y).backward()
            self.opt.step()
            self.t += 1
        return self

    def arrays(self):
        return [p.detach().numpy().copy() for p in self.params]


def _number(v):
    return float(v) if not hasattr(v, "shape") or v.shape == () else None


def assert_same_state(e_opt, t_opt):
    e_sd, t_sd = e_opt.state_dict(), t_opt.state_dict()
    assert set(e_sd["state"]) == set(t_sd["state"])
    for i, t_state in t_sd["state"].items():
        assert set(e_sd["state"][i]) == set(t_state), f"state keys of parameter {i}"
        for key, tv in t_state.items():
            ev = e_sd["state"][i][key]
            if key in ("step", "mu_product"):
                assert float(ev) == pytest.approx(float(tv), rel=1e-12), key
            else:
                assert_close(ev.numpy(), tv.numpy(), what=f"state[{i}][{key!r}]", **TOL)
    for e_group, t_group in zip(e_sd["param_groups"], t_sd["param_groups"]):
        for key, value in e_group.items():
            assert key in t_group, f"ember group key {key!r} is not PyTorch's"
            assert value == t_group[key], key


@pytest.mark.parametrize("name,kwargs,two_groups", CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_matches_torch(torch, name, kwargs, two_groups):
    e = Run(ember, name, kwargs, two_groups).train(STEPS)
    t = Run(torch, name, kwargs, two_groups).train(STEPS)
    moved = max(np.abs(a - b).max() for a, b in zip(t.arrays(), initial_params()))
    assert moved > 1e-3, "the parameters barely moved: the test would prove little"
    for i, (ea, ta) in enumerate(zip(e.arrays(), t.arrays())):
        assert_close(ea, ta, what=f"{name} parameter {i} after {STEPS} steps", **TOL)
    assert_same_state(e.opt, t.opt)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch(torch, name):
    e = getattr(ember.optim, name)([Parameter(np.zeros(2))])
    t = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)])
    for key, value in e.defaults.items():
        assert t.defaults[key] == value, f"{name} default {key}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("through_file", [False, True])
def test_state_dict_resume_is_identical(tmp_path, name, through_file):
    kwargs = dict(next(kw for n, kw, _ in CASES[::-1] if n == name))
    straight = Run(ember, name, kwargs, two_groups=True).train(50)
    first = Run(ember, name, kwargs, two_groups=True).train(25)
    state = first.opt.state_dict()
    if through_file:
        ember.save(state, tmp_path / "opt.ckpt")
        state = ember.load(tmp_path / "opt.ckpt")
    resumed = Run(ember, name, kwargs, two_groups=True, params=first.arrays())
    resumed.opt.load_state_dict(state)
    resumed.t = 25
    resumed.train(25)
    for a, b in zip(straight.arrays(), resumed.arrays()):
        np.testing.assert_array_equal(a, b)


def test_state_dict_layout_and_indices():
    ps = [Parameter(np.ones(2)) for _ in range(3)]
    opt = ember.optim.Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.5}])
    for p in ps:
        p.grad = ember.tensor(np.ones(2))
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1, 2]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["lr"] == 1e-3
    assert sorted(sd["state"]) == [0, 1, 2]
    assert set(sd["state"][2]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["state"][2]["step"] == 1


def test_load_state_dict_checks_and_changes_nothing_on_error():
    ps = [Parameter(np.ones(2)), Parameter(np.ones(3))]
    opt = ember.optim.SGD(ps, lr=0.1, momentum=0.9)
    other = ember.optim.SGD([Parameter(np.ones(2))], lr=0.3, momentum=0.9)
    for p in other.param_groups[0]["params"]:
        p.grad = ember.tensor(np.ones(2))
    other.step()
    with pytest.raises(ValueError, match="group 0 has 1 parameters, the optimizer's has 2"):
        opt.load_state_dict(other.state_dict())
    two = ember.optim.SGD([{"params": ps[:1]}, {"params": ps[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="2 parameter groups"):
        opt.load_state_dict(ember.optim.SGD([{"params": [Parameter(np.ones(2))]}] * 1
                                            + [{"params": [Parameter(np.ones(2))]}],
                                            ).state_dict())
    wrong_shape = ember.optim.SGD([Parameter(np.ones(3)),
                                   Parameter(np.ones(2))], momentum=0.9)
    for p in wrong_shape.param_groups[0]["params"]:
        p.grad = ember.tensor(np.ones(p.shape))
    wrong_shape.step()
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(wrong_shape.state_dict())
    assert opt.param_groups[0]["lr"] == 0.1 and len(opt.state) == 0
    assert len(two.param_groups) == 2


@pytest.mark.parametrize("damage,error,message", [
    (lambda sd: sd["param_groups"][0].pop("params"), ValueError, "group 0 has no 'params'"),
    (lambda sd: sd["param_groups"][0].update(params="0"), ValueError, "no 'params' list"),
    (lambda sd: sd["param_groups"][0].update(lr="fast"), ValueError, "lr='fast', expected a"),
    (lambda sd: sd.update(param_groups="x"), TypeError, "'param_groups' must be a list"),
    (lambda sd: sd.update(state=[1]), TypeError, "'state' must be a dict"),
    (lambda sd: sd["state"].update({7: {}}), ValueError, "state entry 7 is not a dict for"),
    (lambda sd: sd["state"][0].update(momentum_buffer="x"), ValueError, "is a str"),
])
def test_load_state_dict_refuses_a_damaged_state_and_changes_nothing(damage, error, message):
    p = Parameter(np.ones(2))
    opt = ember.optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = ember.tensor(np.ones(2))
    opt.step()
    sd = {"state": {0: dict(opt.state_dict()["state"][0])},
          "param_groups": [dict(opt.state_dict()["param_groups"][0])]}
    damage(sd)
    before = opt.state[p]["momentum_buffer"].numpy().copy()
    with pytest.raises(error, match=message):
        opt.load_state_dict(sd)
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"].numpy(), before)
    assert opt.param_groups[0]["lr"] == 0.1

def test_load_state_dict_copies_and_casts():
    p = Parameter(np.ones(2, dtype=np.float32))
    opt = ember.optim.Adam([p])
    saved = {"state": {0: {"step": 3, "exp_avg": ember.tensor(np.ones(2)),
                           "exp_avg_sq": ember.tensor(np.ones(2))}},
             "param_groups": [dict(opt.state_dict()["param_groups"][0], lr=0.5)]}
    opt.load_state_dict(saved)
    assert opt.state[p]["exp_avg"].dtype == np.float32
    assert opt.state[p]["step"] == 3 and opt.param_groups[0]["lr"] == 0.5
    assert opt.param_groups[0]["params"][0] is p
    opt.state[p]["exp_avg"].data[0] = 5
    assert saved["state"][0]["exp_avg"].data[0] == 1


def test_bad_construction_errors():
    p = Parameter(np.ones(2))
    with pytest.raises(TypeError, match="single Tensor"):
        ember.optim.SGD(p)
    with pytest.raises(ValueError, match="empty parameter list"):
        ember.optim.SGD([])
    with pytest.raises(TypeError, match="sets"):
        ember.optim.SGD([{"params": {p}}])
    with pytest.raises(ValueError, match="non-leaf"):
        ember.optim.SGD([p * 2])
    with pytest.raises(ValueError, match="more than one parameter group"):
        ember.optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="invalid lr -0.1; expected lr >= 0"):
        ember.optim.Adam([p], lr=-0.1)
    with pytest.raises(ValueError, match="betas"):
        ember.optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="Nesterov"):
        ember.optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        ember.optim.SGD([np.ones(2)])


def test_zero_grad_add_param_group_closure_and_named_params(torch):
    model = {"w": Parameter(np.ones(3)), "b": Parameter(np.zeros(1))}
    opt = ember.optim.SGD(list(model.items()), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    extra = Parameter(np.ones(2))
    opt.add_param_group({"params": extra, "momentum": 0.9})
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["momentum"] == 0.9

    def closure():
        opt.zero_grad()
        loss = (model["w"] * model["w"]).sum() + extra.sum()
        loss.backward()
        return loss

    version = model["w"]._version[0]
    loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(model["w"].detach().numpy(), 0.8)
    np.testing.assert_allclose(extra.detach().numpy(), 0.9)
    assert model["w"]._version[0] > version  # in-place update is visible to autograd checks
    assert model["b"].grad is None  # no gradient: left untouched
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(model["w"].grad.numpy(), 0)
    opt.zero_grad()
    assert model["w"].grad is None
    assert "Parameter Group 1" in repr(opt) and "momentum: 0.9" in repr(opt)


def test_update_builds_no_graph():
    p = Parameter(np.ones(3))
    opt = ember.optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    assert p.grad_fn is None and p.is_leaf and p.requires_grad
    assert opt.state[p]["exp_avg"].grad_fn is None
