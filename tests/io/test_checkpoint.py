"""ember.save / ember.load and training checkpoints: round trips, atomic writes (a writer
killed mid-write), clear errors for every kind of bad file, and a bit-for-bit resume of
training in a fresh process."""
import importlib.util
import io
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import nn
from ember.io import CheckpointError, load_checkpoint, save_checkpoint
from ember.io import checkpoint as ckpt_module

HERE = Path(__file__).parent
REPO = Path(ember.__file__).resolve().parents[1]


def sample_object():
    return {
        "weights": OrderedDict(
            w=ember.tensor(np.arange(12.0).reshape(3, 4)),
            half=ember.tensor(np.array([1.5, -2.0], dtype=np.float16)),
            f32=ember.randn(2, 3), idx=ember.tensor([3, 1, 2]),
            mask=ember.tensor([True, False]), scalar=ember.tensor(2.5), empty=ember.zeros(0, 3),
            strided=ember.tensor(np.arange(20.0).reshape(4, 5)[:, ::2])),
        "param": nn.Parameter(ember.ones(2)),
        "leaf": ember.tensor([1.0, 2.0], requires_grad=True),
        "array": np.linspace(0, 1, 5), "np_scalar": np.float32(0.25), "np_int": np.int64(7),
        "epoch": 3, "big": 2 ** 100, "lr": 1e-3, "inf": math.inf, "ninf": -math.inf,
        "nan": math.nan, "flag": False, "none": None, "name": "résumé ✓",
        "betas": (0.9, 0.999), "nested": [[1, (2, "x")], {"k": [ember.ones(1)]}],
        3: "int key", (1, 2): "tuple key", 1.5: "float key", "__dunder": "tagged key",
        "milestones": Counter([10, 30, 30]),
    }


def assert_same(a, b, where="obj"):
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict)), (
        f"{where}: {type(a).__name__} vs {type(b).__name__}")
    if isinstance(a, ember.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.requires_grad == b.requires_grad, where
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy(), err_msg=where)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, where


def test_round_trip_every_storable_type(tmp_path):
    obj = sample_object()
    ember.save(obj, tmp_path / "a.ckpt")
    back = ember.load(tmp_path / "a.ckpt")
    assert_same(obj, back)
    assert type(back["param"]) is nn.Parameter and back["param"].requires_grad
    assert type(back["milestones"]) is Counter
    assert sorted(os.listdir(tmp_path)) == ["a.ckpt"]  # no temporary file left behind


def test_round_trip_file_objects_and_str_paths(tmp_path):
    buf = io.BytesIO()
    ember.save({"x": ember.ones(3)}, buf)
    buf.seek(0)
    assert_same(ember.load(buf), {"x": ember.ones(3)})
    ember.save([1, 2], str(tmp_path / "s.ckpt"))
    assert ember.load(str(tmp_path / "s.ckpt")) == [1, 2]


def test_module_state_dict_round_trip_and_map_location(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    ember.save(model.state_dict(), tmp_path / "m.ckpt")
    twin = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    twin.load_state_dict(ember.load(tmp_path / "m.ckpt", map_location="cpu"))
    x = ember.randn(5, 3)
    np.testing.assert_array_equal(model(x).detach().numpy(), twin(x).detach().numpy())


def test_the_file_is_a_zip_numpy_can_inspect(tmp_path):
    ember.save({"w": ember.ones(2, 2)}, tmp_path / "a.ckpt")
    with np.load(tmp_path / "a.ckpt", allow_pickle=False) as z:
        np.testing.assert_array_equal(z["tensors/0"], np.ones((2, 2), dtype=np.float32))
    with zipfile.ZipFile(tmp_path / "a.ckpt") as zf:
        header = json.loads(zf.read("ember.json"))
    assert header["format"] == "ember-checkpoint" and len(header["sha256"]) == 64


def test_unstorable_objects_are_refused_before_touching_the_file(tmp_path):
    path = tmp_path / "a.ckpt"
    ember.save({"ok": 1}, path)
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"obj\['model'\] of type Linear.*state_dict\(\)"):
        ember.save({"model": model}, path)
    with pytest.raises(TypeError, match=r"obj\['fn'\]\[0\] of type function"):
        ember.save({"fn": [lambda: 0]}, path)
    assert ember.load(path) == {"ok": 1}
    assert sorted(os.listdir(tmp_path)) == ["a.ckpt"]


def test_save_keeps_permissions_and_names_a_missing_directory(tmp_path):
    path = tmp_path / "a.ckpt"
    ember.save(1, path)
    os.chmod(path, 0o640)
    ember.save(2, path)
    assert (os.stat(path).st_mode & 0o777, ember.load(path)) == (0o640, 2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ember.save(1, tmp_path / "missing" / "a.ckpt")


# --- bad files ------------------------------------------------------------------------------

@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.ckpt"
    ember.save({"w": ember.tensor(np.arange(1000.0)), "meta": {"epoch": 1}}, path)
    return path


def expect_error(path, *patterns):
    with pytest.raises(CheckpointError) as info:
        ember.load(path)
    message = str(info.value)
    assert str(path) in message, "the error must name the file"
    for pattern in patterns:
        assert pattern in message, f"{pattern!r} not in {message!r}"
    return message


def test_empty_file(tmp_path):
    (tmp_path / "e.ckpt").write_bytes(b"")
    expect_error(tmp_path / "e.ckpt", "empty", "save again")


def test_random_bytes(tmp_path):
    (tmp_path / "r.ckpt").write_bytes(np.random.default_rng(0).bytes(5000))
    expect_error(tmp_path / "r.ckpt", "not an ember checkpoint")


@pytest.mark.parametrize("keep", [0.5, 0.9, -1, 30])
def test_truncated_file(good, keep):
    raw = good.read_bytes()
    good.write_bytes(raw[:int(len(raw) * keep) if isinstance(keep, float) else keep])
    expect_error(good, "corrupt", "earlier checkpoint")


def test_altered_byte_in_tensor_data(good):
    raw = bytearray(good.read_bytes())
    raw[raw.index(np.arange(1000.0)[500:501].tobytes())] ^= 0x01
    good.write_bytes(bytes(raw))
    expect_error(good, "corrupt")


def test_any_single_altered_byte_is_caught_or_harmless(good):
    """Flip bytes all over the file: each load either fails clearly or (for bytes that
    carry no data, e.g. zip timestamps) returns exactly the original content."""
    raw = good.read_bytes()
    original = ember.load(good)
    rng = np.random.default_rng(0)
    caught = 0
    for pos in rng.choice(len(raw), size=80, replace=False):
        damaged = bytearray(raw)
        damaged[pos] ^= 1 << int(rng.integers(8))
        good.write_bytes(bytes(damaged))
        try:
            assert_same(ember.load(good), original)
        except CheckpointError as e:
            assert str(good) in str(e)
            caught += 1
    assert caught > 60


def rewrite(path, change, update_checksum=True):
    """Re-pack a checkpoint after ``change(members, header)`` (a valid zip, so only the
    SHA-256 or our own checks can notice)."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    header = json.loads(members.pop("ember.json"))
    change(members, header)
    if update_checksum:
        header["sha256"] = ckpt_module._digest([(n, members[n]) for n in header["members"]])
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ember.json", json.dumps(header))
        for name, payload in members.items():
            zf.writestr(name, payload)


def test_checksum_catches_a_consistent_looking_edit(good):
    def edit(members, header):
        members["data.json"] = members["data.json"].replace(b'"epoch":1', b'"epoch":2')
    rewrite(good, edit, update_checksum=False)
    expect_error(good, "SHA-256", "corrupt")


def test_missing_member_and_damaged_header(good, tmp_path):
    rewrite(good, lambda m, h: h["members"].append("tensors/9.npy"), update_checksum=False)
    expect_error(good, "missing")
    other = tmp_path / "h.ckpt"
    ember.save({"a": 1}, other)
    rewrite(other, lambda m, h: h.pop("sha256"), update_checksum=False)
    expect_error(other, "header", "damaged")


def test_newer_format_version(good):
    rewrite(good, lambda m, h: h.update(version=99))
    expect_error(good, "newer ember", "upgrade")


def test_pickle_file(tmp_path):
    path = tmp_path / "p.pt"
    path.write_bytes(pickle.dumps({"w": np.ones(3)}))
    expect_error(path, "pickle", "ember.io.load_numpy_pickle")


def test_torch_save_file(tmp_path):
    from _parity import import_torch
    torch = import_torch()
    path = tmp_path / "model.pt"
    sd = torch.nn.Linear(2, 2).state_dict()
    torch.save(sd, path)
    loaded = ember.load(path)  # read by ember.io.torch_files (tests/io/test_torch_files.py)
    assert list(loaded) == ["weight", "bias"]
    assert all(np.array_equal(loaded[k].numpy(), sd[k].numpy()) for k in sd)


def test_numpy_object_arrays_are_never_unpickled(tmp_path):
    obj = np.array([{"a": 1}, None], dtype=object)
    np.save(tmp_path / "o.npy", obj, allow_pickle=True)
    expect_error(tmp_path / "o.npy", "pickled Python objects")
    np.savez(tmp_path / "o.npz", w=np.ones(2), bad=obj)
    expect_error(tmp_path / "o.npz", "pickled Python objects")


def test_object_array_smuggled_into_a_checkpoint(good):
    payload = io.BytesIO()
    np.save(payload, np.array([None], dtype=object), allow_pickle=True)
    rewrite(good, lambda m, h: m.update({"tensors/0.npy": payload.getvalue()}))
    expect_error(good, "pickled Python objects")


def test_plain_npz_and_npy_load_as_tensors(tmp_path):
    np.savez(tmp_path / "w.npz", weight=np.ones((2, 3)), bias=np.zeros(2))
    sd = ember.load(tmp_path / "w.npz")
    assert set(sd) == {"weight", "bias"} and isinstance(sd["weight"], ember.Tensor)
    np.save(tmp_path / "a.npy", np.arange(4))
    t = ember.load(tmp_path / "a.npy")
    assert t.dtype == np.int64 and t.tolist() == [0, 1, 2, 3]
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "hi")
    expect_error(tmp_path / "other.zip", "neither an ember checkpoint")


def test_gpu_tensors_need_map_location_on_a_cpu_machine(good):
    if ember.cuda.is_available():
        pytest.skip("this machine has a GPU")

    def to_gpu(members, header):
        tree = json.loads(members["data.json"])
        tree["w"]["device"] = "cuda:0"
        members["data.json"] = json.dumps(tree).encode()
    rewrite(good, to_gpu)
    expect_error(good, "cuda:0", "map_location='cpu'")
    assert ember.load(good, map_location="cpu")["w"].device.type == "cpu"


# --- atomic writes ---------------------------------------------------------------------------

WRITER = """
import sys, numpy as np, ember
big = np.zeros(2_000_000)
i = 0
while True:
    big[0] = i
    ember.save({"i": i, "big": big}, sys.argv[1])
    print(i, flush=True)
    i += 1
"""


def test_a_writer_killed_mid_write_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "ckpt.ember"
    ember.save({"i": -1, "big": np.zeros(2_000_000)}, path)
    mid_write_kills = 0
    for attempt in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        try:
            proc.stdout.readline()  # one full save done: the next ones overwrite it
            deadline = time.monotonic() + 10
            while not list(tmp_path.glob(".ckpt.ember.*.tmp")) and time.monotonic() < deadline:
                pass  # spin until a temporary file appears: the writer is mid-write
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
        leftovers = list(tmp_path.glob(".ckpt.ember.*.tmp"))
        mid_write_kills += bool(leftovers)
        back = ember.load(path)  # verified: complete and uncorrupted
        assert back["big"][0] == back["i"] >= 0
        for f in leftovers:
            f.unlink()
    assert mid_write_kills >= 1, "never killed the writer mid-write: the test proved nothing"


# --- training checkpoints --------------------------------------------------------------------

def load_script():
    spec = importlib.util.spec_from_file_location("_resume_script", HERE / "_resume_script.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args):
    subprocess.run([sys.executable, str(HERE / "_resume_script.py"), *map(str, args)],
                   cwd=REPO, check=True, timeout=120)
    with np.load(args[2]) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


def test_resume_in_a_new_process_is_bit_for_bit(tmp_path):
    n, m = 15, 20
    script = load_script()
    ember.manual_seed(0)
    model, opt, sched = script.build()
    script.train(model, opt, sched, n + m)
    straight = script.parameters(model)

    run_script("start", tmp_path / "run.ckpt", tmp_path / "first.npz", n)
    resumed = run_script("resume", tmp_path / "run.ckpt", tmp_path / "second.npz", m)
    assert len(resumed) == len(straight) == 4
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)
    # without the RNG state the data differs, and so does the result
    ember.manual_seed(0)
    model, opt, sched = script.build()
    load_checkpoint(tmp_path / "run.ckpt", model, opt, sched, restore_rng=False)
    script.train(model, opt, sched, m)
    assert not all(np.array_equal(a, b) for a, b in zip(script.parameters(model), straight))


def make_run(hidden=4):
    model = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, 2))
    opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = ember.optim.lr_scheduler.StepLR(opt, step_size=2)
    return model, opt, sched


def train_steps(model, opt, sched, steps=3):
    for _ in range(steps):
        opt.zero_grad()
        model(ember.randn(4, 3)).sum().backward()
        opt.step()
        sched.step()


def test_save_and_load_checkpoint_contents(tmp_path):
    model, opt, sched = make_run()
    train_steps(model, opt, sched)
    save_checkpoint(tmp_path / "c.ckpt", model=model, optimizer=opt, scheduler=sched, epoch=2,
                    step=30, extra={"best_acc": 0.5, "config": {"lr": 0.1}})
    expected_next = ember.randn(3).numpy()
    ember.manual_seed(99)
    twin, twin_opt, twin_sched = make_run()
    ckpt = load_checkpoint(tmp_path / "c.ckpt", twin, twin_opt, twin_sched)
    assert (ckpt["epoch"], ckpt["step"], ckpt["extra"]["best_acc"]) == (2, 30, 0.5)
    np.testing.assert_array_equal(ember.randn(3).numpy(), expected_next)  # RNG restored
    for (k, a), b in zip(model.state_dict().items(), twin.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    assert twin_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 0.1 * 0.1
    assert twin_sched.last_epoch == sched.last_epoch == 3
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        ember.save({"a": 1}, tmp_path / "plain.ckpt")
        load_checkpoint(tmp_path / "plain.ckpt", twin)


def test_load_checkpoint_changes_nothing_when_it_does_not_fit(tmp_path):
    model, opt, sched = make_run()
    train_steps(model, opt, sched)
    save_checkpoint(tmp_path / "c.ckpt", model=model, optimizer=opt, scheduler=sched)

    wide, wide_opt, _ = make_run(hidden=5)
    before = [p.numpy().copy() for p in wide.state_dict().values()]
    with pytest.raises(RuntimeError, match=r"size mismatch: 0\.weight.*\(4, 3\).*\(5, 3\)"):
        load_checkpoint(tmp_path / "c.ckpt", wide, wide_opt)
    for a, b in zip(before, wide.state_dict().values()):
        np.testing.assert_array_equal(a, b.numpy())
    assert len(wide_opt.state) == 0

    same, _, _ = make_run()
    before = [p.numpy().copy() for p in same.state_dict().values()]
    fewer = ember.optim.SGD(list(same.parameters())[:2], lr=0.1)
    with pytest.raises(ValueError, match="parameter group 0 has 4 parameters"):
        load_checkpoint(tmp_path / "c.ckpt", same, fewer)
    for a, b in zip(before, same.state_dict().values()):  # the model was not half-loaded
        np.testing.assert_array_equal(a, b.numpy())

    save_checkpoint(tmp_path / "m.ckpt", model=model)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(tmp_path / "m.ckpt", same, ember.optim.SGD(same.parameters()))


# --- torch.load's arguments: weights_only, map_location as a device, dict or callable ---------

def _saved_on_gpu(path):
    def to_gpu(members, header):
        tree = json.loads(members["data.json"])
        tree["w"]["device"] = "cuda:0"
        members["data.json"] = json.dumps(tree).encode()
    rewrite(path, to_gpu)


@pytest.mark.parametrize("map_location", [
    "cpu", ember.device("cpu"), {"cuda:0": "cpu"}, {"cuda:0": ember.device("cpu")},
    lambda storage, loc: storage, lambda storage, loc: storage.cpu()])
def test_map_location_forms_bring_gpu_tensors_to_the_cpu(good, map_location):
    _saved_on_gpu(good)
    out = ember.load(good, map_location=map_location, weights_only=True)
    assert out["w"].device.type == "cpu" and out["w"].tolist() == np.arange(1000.0).tolist()
    assert out["meta"] == {"epoch": 1}


def test_map_location_callable_sees_each_tensor_and_its_saved_device(good, tmp_path):
    seen = []

    def where(storage, location):
        seen.append((tuple(storage.shape), location, storage.device.type))
        # returns None: the default, back where it was saved
    assert ember.load(good, map_location=where)["w"].device.type == "cpu"
    assert seen == [((1000,), "cpu", "cpu")]
    np.save(tmp_path / "a.npy", np.arange(3))
    assert ember.load(tmp_path / "a.npy", map_location=lambda s, loc: s * 2).tolist() == [0, 2, 4]
    np.savez(tmp_path / "b.npz", x=np.arange(2))
    assert ember.load(tmp_path / "b.npz", map_location={"cpu": "cpu"})["x"].tolist() == [0, 1]


def test_a_dict_without_the_saved_device_keeps_it(good):
    if ember.cuda.is_available():
        pytest.skip("this machine has a GPU")
    _saved_on_gpu(good)
    with pytest.raises(CheckpointError, match="map_location='cpu'"):
        ember.load(good, map_location={"cuda:1": "cpu"})


@pytest.mark.parametrize("weights_only", [True, False, None])
def test_weights_only_is_accepted_and_nothing_is_ever_unpickled(good, tmp_path, weights_only):
    assert ember.load(good, weights_only=weights_only)["meta"] == {"epoch": 1}
    bad = tmp_path / "p.pt"
    bad.write_bytes(pickle.dumps({"w": 1}, protocol=2))
    with pytest.raises(CheckpointError, match="pickle"):
        ember.load(bad, weights_only=weights_only)
    assert "never code" in ember.load.__doc__


def test_state_dict_round_trip_with_torch_style_load(tmp_path):
    model = nn.Linear(3, 2)
    ember.save(model.state_dict(), tmp_path / "m.pt")
    twin = nn.Linear(3, 2)
    twin.load_state_dict(ember.load(tmp_path / "m.pt", map_location=ember.device("cpu"),
                                    weights_only=True))
    assert twin.weight.tolist() == model.weight.tolist()


def test_stale_temporaries_of_a_killed_save_are_removed_at_the_next_save_or_resume(tmp_path):
    target = tmp_path / "last.ckpt"
    stale = [tmp_path / ".last.ckpt.ab_cd123.tmp", tmp_path / ".last.ckpt.zzzzzzzz.tmp"]
    fresh, other = tmp_path / ".last.ckpt.fresh123.tmp", tmp_path / ".best.ckpt.abcdefgh.tmp"
    for path in [*stale, fresh, other]:
        path.write_bytes(b"PK partial")
    old = time.time() - 3600
    for path in [*stale, other]:
        os.utime(path, (old, old))
    ember.save({"a": 1}, target)
    # a recent one may be another process's save in progress; other targets are not ours
    assert [p.exists() for p in [*stale, fresh, other]] == [False, False, True, True]
    os.utime(fresh, (old, old))
    from ember.train import Trainer
    model = nn.Linear(2, 2)
    Trainer(model, nn.MSELoss(), ember.optim.SGD(model.parameters(), lr=0.1),
            progress=False).save_checkpoint(target)
    stale_again = tmp_path / ".last.ckpt.q1w2e3r4.tmp"
    stale_again.write_bytes(b"")
    os.utime(stale_again, (old, old))
    Trainer(model, nn.MSELoss(), ember.optim.SGD(model.parameters(), lr=0.1),
            progress=False).resume(target)
    assert not fresh.exists() and not stale_again.exists()
