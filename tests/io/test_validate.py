"""All or nothing: a checkpoint with any damaged part changes no live object."""
import copy

import numpy as np
import pytest

import ember
from ember import nn
from ember.data import DataLoader, TensorDataset
from ember.io import CheckpointError, load_checkpoint, save_checkpoint
from ember.io.validate import check_rng_state
from ember.train import Trainer


def make_run(seed=0):
    ember.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = ember.optim.lr_scheduler.StepLR(opt, step_size=2)
    for _ in range(3):
        opt.zero_grad()
        model(ember.randn(4, 3)).sum().backward()
        opt.step()
        sched.step()
    return model, opt, sched


def snapshot(model, opt, sched):
    """Plain copies of every live state (arrays as NumPy)."""
    def plain(v):
        if isinstance(v, ember.Tensor):
            return v.numpy().copy()
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return copy.deepcopy(v)
    return plain({"model": model.state_dict(), "opt": opt.state_dict(),
                  "sched": sched.state_dict(), "rng": ember.get_rng_state()})


def assert_same(a, b, where="state"):
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


def _del_params(s):
    del s["optimizer"]["param_groups"][0]["params"]


def _bad_state_shape(s):
    s["optimizer"]["state"][0]["momentum_buffer"] = ember.zeros(7)


def _model_shape(s):
    s["model"]["0.weight"] = ember.zeros(5, 3)


def _model_garbage(s):
    s["model"]["2.bias"] = "garbage"


def _sched_garbage(s):
    s["scheduler"]["last_epoch"] = "three"


def _sched_unknown(s):
    s["scheduler"] = {"nonsense": 1}


def _rng_garbage(s):
    s["rng_state"] = {"bit_generator": "PCG64", "state": "nope"}


# (damage, the error's type, what its message says)
DAMAGE = [(_model_shape, RuntimeError, r"model state.*0\.weight.*\(5, 3\)"),
          (_model_garbage, RuntimeError, r"model state.*2\.bias.*str"),
          (_del_params, ValueError, r"optimizer state.*group 0 has no 'params'"),
          (_bad_state_shape, ValueError, r"optimizer state.*momentum_buffer.*\(7,\)"),
          (_sched_garbage, ValueError, r"scheduler state.*'last_epoch'.*'three'"),
          (_sched_unknown, ValueError, r"scheduler state.*unexpected keys \['nonsense'\]"),
          (_rng_garbage, ValueError, r"RNG state")]


@pytest.mark.parametrize("damage,error,message", DAMAGE)
def test_load_checkpoint_is_all_or_nothing(tmp_path, damage, error, message):
    model, opt, sched = make_run()
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, model=model, optimizer=opt, scheduler=sched, epoch=1, step=3)
    state = ember.load(path)
    damage(state)
    ember.save(state, path)
    live = make_run(seed=5)
    before = snapshot(*live)
    with pytest.raises(error, match="(?s)" + message) as info:
        load_checkpoint(path, *live)
    assert "c.ckpt" in str(info.value) and "nothing was loaded" in str(info.value)
    assert_same(before, snapshot(*live))


def trainer(seed=0):
    model, opt, sched = make_run(seed)
    return Trainer(model, nn.CrossEntropyLoss(), opt, sched, progress=False)


def _history(s):
    s["history"] = "not a list"


def _epoch(s):
    s["epoch"] = -1


def _config(s):
    s["config"] = [1, 2]


@pytest.mark.parametrize("damage,error,message", DAMAGE + [
    (_history, CheckpointError, "history"), (_epoch, CheckpointError, "epoch is -1"),
    (_config, CheckpointError, "config")])
def test_trainer_resume_is_all_or_nothing(tmp_path, damage, error, message):
    path = tmp_path / "last.ckpt"
    good = trainer()
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    good.fit(DataLoader(TensorDataset(x, np.arange(8) % 2), batch_size=4), epochs=1)
    state = good.state_dict()
    damage(state)
    ember.save(state, path)
    live = trainer(seed=5)
    before = snapshot(live.model, live.optimizer, live.scheduler)
    with pytest.raises(error, match="(?s)" + message) as info:
        live.resume(path)
    assert "last.ckpt" in str(info.value)
    assert_same(before, snapshot(live.model, live.optimizer, live.scheduler))
    assert (live.epoch, live.history) == (0, [])


def test_resume_names_a_file_that_is_not_a_trainer_checkpoint(tmp_path):
    model, _, _ = make_run()
    ember.save(model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="weights.pt.*not a Trainer checkpoint"):
        trainer().resume(tmp_path / "weights.pt")


def test_trainer_and_save_checkpoint_files_read_each_other(tmp_path):
    t = trainer()
    t.epoch, t.global_step = 2, 6
    t.save_checkpoint(tmp_path / "t.ckpt")
    model, opt, sched = make_run(seed=5)
    ckpt = load_checkpoint(tmp_path / "t.ckpt", model, opt, sched)
    assert ckpt["step"] == 6
    for a, b in zip(t.model.state_dict().values(), model.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    save_checkpoint(tmp_path / "s.ckpt", model=t.model, optimizer=t.optimizer,
                    scheduler=t.scheduler, epoch=4, step=12)
    other = trainer(seed=5).resume(tmp_path / "s.ckpt")
    assert (other.epoch, other.global_step) == (4, 12)
    for a, b in zip(t.model.state_dict().values(), other.model.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_check_rng_state_accepts_a_real_state():
    check_rng_state(ember.get_rng_state())
    with pytest.raises(ValueError, match="not a PCG64 state"):
        check_rng_state([1, 2])
