"""ember.load on files written by torch.save (torch 2.13.0 is the oracle): state_dicts load
into ember models that then compute what the torch model computes, every dtype and view
layout comes back, nothing needs torch, and no pickle code ever runs."""
import io
import os
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from _parity import import_torch

import ember
from ember import nn
from ember.io import CheckpointError, LoadLimitError, UnsafeFileError

REPO = Path(ember.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def torch():
    return import_torch()


def to_numpy(value, torch):
    return value.detach().numpy() if isinstance(value, torch.Tensor) else value


def test_a_state_dict_loads_and_the_ember_model_computes_what_torch_computes(torch, tmp_path):
    torch.manual_seed(0)
    tnet = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 3)).double()
    tnet(torch.randn(8, 2, 5, 5, dtype=torch.float64))  # running statistics move
    torch.save(tnet.state_dict(), tmp_path / "net.pt")

    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4 * 5 * 5, 3)).double()
    state = ember.load(tmp_path / "net.pt")
    assert list(state) == list(tnet.state_dict())
    assert state["1.num_batches_tracked"].dtype == ember.int64
    assert state._metadata == tnet.state_dict()._metadata  # PyTorch's per-module versions
    net.load_state_dict(state)
    net.eval(), tnet.eval()
    x = np.random.default_rng(1).standard_normal((6, 2, 5, 5))
    out = net(ember.tensor(x)).detach().numpy()
    np.testing.assert_allclose(out, tnet(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)


DTYPES = ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8",
          "bool", "complex64", "complex128", "uint16", "uint32", "uint64"]


def test_every_dtype_comes_back(torch, tmp_path):
    rng = np.random.default_rng(0)
    values = {}
    for name in DTYPES:
        a = (rng.standard_normal((3, 4)) * 50).astype(name if name != "bool" else "float64")
        values[name] = torch.from_numpy(a > 0 if name == "bool" else a)
    values["bfloat16"] = torch.tensor([1.5, -2.25, 3e38, 1e-3]).bfloat16()
    torch.save(values, tmp_path / "dtypes.pt")
    out = ember.load(tmp_path / "dtypes.pt")
    for name in DTYPES:
        assert out[name].dtype == np.dtype(name), name
        np.testing.assert_array_equal(out[name].numpy(), values[name].numpy())
    # NumPy has no bfloat16: widened to float32, exactly
    assert out["bfloat16"].dtype == ember.float32
    np.testing.assert_array_equal(out["bfloat16"].numpy(), values["bfloat16"].float().numpy())


def test_views_of_one_storage_share_memory_as_in_torch(torch, tmp_path):
    base = torch.arange(24.0, dtype=torch.float64).reshape(4, 6)
    views = {"base": base, "rows": base[1:3], "t": base.t(), "every_other": base[:, ::2],
             "expanded": base[2:3].expand(5, 6), "scalar": base[3, 4], "empty": base[:0]}
    torch.save(views, tmp_path / "views.pt")
    out = ember.load(tmp_path / "views.pt")
    for name, t in views.items():
        a = out[name].array
        assert a.shape == tuple(t.shape), name
        assert a.strides == tuple(s * 8 for s in t.stride()), name
        np.testing.assert_array_equal(a, t.numpy())
        if t.numel():
            assert np.shares_memory(a, out["base"].array), name
    out["base"].array[1, 0] = -1.0  # a write through one shows through the others, as torch
    assert out["rows"].array[0, 0] == -1.0 and out["t"].array[0, 1] == -1.0


def test_a_training_checkpoint_with_plain_values(torch, tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.99))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
            "loss": 0.125, "name": "run", "tags": ["a", "b"], "shape": (2, 3), "none": None,
            "flag": True, "nested": {"deep": [{"x": torch.ones(2)}]}, 7: "int key"}
    torch.save(ckpt, tmp_path / "ckpt.pt")
    out = ember.load(tmp_path / "ckpt.pt")

    def compare(a, b):
        if isinstance(b, torch.Tensor):
            assert isinstance(a, ember.Tensor) and a.dtype == np.dtype(str(b.dtype)[6:])
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        elif isinstance(b, dict):
            assert list(a) == list(b)
            for k in b:
                compare(a[k], b[k])
        elif isinstance(b, (list, tuple)):
            assert type(a) is type(b) and len(a) == len(b)
            for x, y in zip(a, b):
                compare(x, y)
        else:
            assert a == b and type(a) is type(b)
    compare(out, torch.load(tmp_path / "ckpt.pt"))
    # ember's optimizer takes PyTorch's layout
    emodel = nn.Linear(3, 2)
    emodel.load_state_dict(out["model"])
    eopt = ember.optim.Adam(emodel.parameters(), lr=0.01)
    eopt.load_state_dict(out["optimizer"])
    assert eopt.param_groups[0]["betas"] == (0.8, 0.99)


def test_parameters_and_requires_grad(torch, tmp_path):
    torch.save({"p": torch.nn.Parameter(torch.ones(2)),
                "frozen": torch.nn.Parameter(torch.ones(2), requires_grad=False),
                "leaf": torch.ones(3, requires_grad=True), "plain": torch.ones(1)},
               tmp_path / "p.pt")
    out = ember.load(tmp_path / "p.pt")
    assert isinstance(out["p"], nn.Parameter) and out["p"].requires_grad
    assert isinstance(out["frozen"], nn.Parameter) and not out["frozen"].requires_grad
    assert out["leaf"].requires_grad and not out["plain"].requires_grad


def test_map_location_and_file_objects(torch, tmp_path):
    torch.save({"w": torch.arange(3.0)}, tmp_path / "w.pt")
    seen = []

    def place(tensor, location):
        seen.append(location)
        return tensor * 2

    assert ember.load(tmp_path / "w.pt", map_location=place)["w"].tolist() == [0.0, 2.0, 4.0]
    assert seen == ["cpu"]
    for where in ("cpu", ember.device("cpu"), {"cpu": "cpu"}):
        assert ember.load(tmp_path / "w.pt", map_location=where)["w"].device.type == "cpu"
    raw = (tmp_path / "w.pt").read_bytes()
    assert ember.load(io.BytesIO(raw))["w"].tolist() == [0.0, 1.0, 2.0]
    if not ember.cuda.is_available():
        with pytest.raises(CheckpointError, match="map_location='cpu'"):
            ember.load(tmp_path / "w.pt", map_location="cuda:0")


def test_loads_where_torch_cannot_be_imported(torch, tmp_path):
    model = torch.nn.Linear(4, 3)
    torch.save({"model": model.state_dict(), "epoch": 2}, tmp_path / "m.pt")
    expected = model.weight.detach().numpy().sum()
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # import torch now raises ImportError\n"
        "import ember\n"
        f"ckpt = ember.load({str(tmp_path / 'm.pt')!r})\n"
        "import importlib.util\n"
        "assert sys.modules['torch'] is None\n"
        "print(ckpt['epoch'], repr(float(ckpt['model']['weight'].numpy().sum())))\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    epoch, total = done.stdout.split()
    assert epoch == "2" and float(total) == pytest.approx(float(expected), rel=1e-6)


class _RunsCode:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("func, name", [(os.system, "posix.system"), (eval, "builtins.eval")])
def test_a_file_whose_pickle_runs_code_is_refused_and_nothing_runs(torch, tmp_path, func,
                                                                    name):
    marker = tmp_path / "ran"
    arg = f"touch {marker}" if func is os.system else f"open({str(marker)!r}, 'w')"
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "payload": _RunsCode(func, arg)}, path)
    with pytest.raises(UnsafeFileError, match=rf"'{path}': .*asks to run {name}; "):
        ember.load(path)
    assert not marker.exists()


def test_a_pickled_module_is_refused_with_what_to_do(torch, tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")
    with pytest.raises(UnsafeFileError, match=r"asks to run torch\.nn\.modules\.linear\.Linear"
                                              r".*state_dict\(\)"):
        ember.load(tmp_path / "module.pt")


def save_legacy(torch, obj, path, proto=2):
    torch.save(obj, path, _use_new_zipfile_serialization=False, pickle_protocol=proto)


@pytest.mark.parametrize("proto", [2, 4])
def test_the_legacy_format_reads_like_the_zip_format(torch, tmp_path, proto):
    torch.manual_seed(0)
    base = torch.arange(12.0, dtype=torch.float64).reshape(3, 4)
    obj = {"sd": torch.nn.Linear(3, 2).state_dict(), "base": base, "t": base.t(),
           "rows": base[1:], "u16": torch.arange(3).to(torch.uint16),
           "half": torch.tensor([1.5, 2.0]).bfloat16(), "p": torch.nn.Parameter(torch.ones(2)),
           "epoch": 4, "name": "old"}
    save_legacy(torch, obj, tmp_path / "old.pt", proto)
    torch.save(obj, tmp_path / "new.pt")
    old, new = ember.load(tmp_path / "old.pt"), ember.load(tmp_path / "new.pt")
    assert list(old) == list(new) and list(old["sd"]) == ["weight", "bias"]
    for k in ("base", "t", "rows", "u16", "half", "p"):
        assert old[k].dtype == new[k].dtype and old[k].array.strides == new[k].array.strides
        np.testing.assert_array_equal(old[k].detach().numpy(), new[k].detach().numpy())
    for k in ("weight", "bias"):
        np.testing.assert_array_equal(old["sd"][k].numpy(), obj["sd"][k].numpy())
    assert isinstance(old["p"], nn.Parameter) and (old["epoch"], old["name"]) == (4, "old")
    assert np.shares_memory(old["base"].array, old["t"].array)


def test_a_legacy_file_whose_pickle_runs_code_is_refused(torch, tmp_path):
    marker = tmp_path / "ran"
    save_legacy(torch, {"w": torch.ones(2), "x": _RunsCode(os.system, f"touch {marker}")},
                tmp_path / "evil.pt")
    with pytest.raises(UnsafeFileError, match=r"'.*evil\.pt': .*asks to run posix\.system"):
        ember.load(tmp_path / "evil.pt")
    assert not marker.exists()


@pytest.mark.parametrize("cut", [3, 40, 200, 400])
def test_a_truncated_legacy_file_names_the_file(torch, tmp_path, cut):
    path = tmp_path / "old.pt"
    save_legacy(torch, {"w": torch.ones(20), "v": torch.zeros(5, dtype=torch.int64)}, path)
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) - cut])
    with pytest.raises(CheckpointError, match=r"'.*old\.pt': .*(truncated|ends early|cut off)"):
        ember.load(path)


def test_a_legacy_file_whose_storage_count_disagrees(torch, tmp_path):
    path = tmp_path / "old.pt"
    save_legacy(torch, {"w": torch.ones(4)}, path)
    raw = bytearray(path.read_bytes())
    at = len(raw) - 16 - 8  # the count before the 16 bytes of data
    assert int.from_bytes(raw[at:at + 8], "little") == 4
    raw[at:at + 8] = (5).to_bytes(8, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="holds 5 elements, its tensors declare 4"):
        ember.load(path)


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9])
def test_truncated_files_name_the_file(torch, tmp_path, keep):
    path = tmp_path / "t.pt"
    torch.save({"w": torch.randn(100, 10)}, path)
    raw = path.read_bytes()
    path.write_bytes(raw[:int(len(raw) * keep)])
    with pytest.raises(CheckpointError, match=r"'.*t\.pt': .*(truncated|corrupt)"):
        ember.load(path)


def test_random_bytes_name_the_file(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match=r"'.*noise\.pt': "):
        ember.load(path)


# --- hand-made archives: what torch.save never writes, but a damaged or hostile file can ----

def _x(text):
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _i(n):
    return b"J" + struct.pack("<i", n)


def _tup(values):
    return b"(" + b"".join(_i(v) for v in values) + b"t"


def tensor_pickle(size, stride, offset=0, numel=6, kind=b"FloatStorage", key="0",
                  location="cpu"):
    """data.pkl of {'t': _rebuild_tensor_v2(storage, offset, size, stride, False, {})}."""
    return (b"\x80\x02}(" + _x("t") + b"ctorch._utils\n_rebuild_tensor_v2\n("
            + b"(" + _x("storage") + b"ctorch\n" + kind + b"\n" + _x(key) + _x(location)
            + _i(numel) + b"tQ" + _i(offset) + _tup(size) + _tup(stride)
            + b"\x89ccollections\nOrderedDict\n)RtRu.")


def write_archive(path, pkl, storages, byteorder=b"little"):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/byteorder", byteorder)
        for key, payload in storages.items():
            zf.writestr(f"archive/data/{key}", payload)
        zf.writestr("archive/version", b"3\n")


def test_a_hand_made_archive_reads_like_torch_saves_it(tmp_path, torch):
    data = np.arange(6, dtype="<f4")
    write_archive(tmp_path / "ok.pt", tensor_pickle((2, 3), (3, 1)), {"0": data.tobytes()})
    np.testing.assert_array_equal(ember.load(tmp_path / "ok.pt")["t"].numpy(),
                                  data.reshape(2, 3))
    np.testing.assert_array_equal(torch.load(tmp_path / "ok.pt")["t"].numpy(),
                                  data.reshape(2, 3))


def test_tensors_saved_on_a_gpu_follow_map_location(tmp_path):
    data = np.arange(6, dtype="<f4")
    write_archive(tmp_path / "gpu.pt", tensor_pickle((6,), (1,), location="cuda:0"),
                  {"0": data.tobytes()})
    for where in ("cpu", {"cuda:0": "cpu"}, lambda t, loc: t if loc == "cuda:0" else None):
        out = ember.load(tmp_path / "gpu.pt", map_location=where)["t"]
        assert out.device.type == "cpu" and out.tolist() == data.tolist()
    if not ember.cuda.is_available():  # as torch.load: back where it was saved, if it can
        with pytest.raises(CheckpointError, match=r"saved on cuda:0 .*map_location='cpu'"):
            ember.load(tmp_path / "gpu.pt")
    else:  # pragma: no cover - GPU machines
        assert ember.load(tmp_path / "gpu.pt")["t"].device.type == "cuda"


def test_the_first_rebuild_function_of_old_files(tmp_path):
    pkl = (b"\x80\x02}(" + _x("t") + b"ctorch._utils\n_rebuild_tensor\n("
           + b"(" + _x("storage") + b"ctorch\nDoubleStorage\n" + _x("0") + _x("cpu") + _i(4)
           + b"tQ" + _i(1) + _tup((3,)) + _tup((1,)) + b"tRu.")
    write_archive(tmp_path / "v1.pt", pkl, {"0": np.arange(4.0).tobytes()})
    out = ember.load(tmp_path / "v1.pt")["t"]
    assert out.dtype == ember.float64 and out.tolist() == [1.0, 2.0, 3.0]


def test_a_big_endian_archive(tmp_path, torch):
    data = np.arange(6, dtype=">f4")
    write_archive(tmp_path / "be.pt", tensor_pickle((3, 2), (1, 3)), {"0": data.tobytes()},
                  byteorder=b"big")
    out = ember.load(tmp_path / "be.pt")["t"]
    assert out.dtype == ember.float32
    np.testing.assert_array_equal(out.numpy(), np.arange(6.0).reshape(2, 3).T)
    np.testing.assert_array_equal(torch.load(tmp_path / "be.pt")["t"].numpy(), out.numpy())


@pytest.mark.parametrize("pkl, storage, message", [
    (tensor_pickle((2, 3), (3, 1)), 20, r"declares 6 elements of float32 \(24 bytes\) but holds"),
    (tensor_pickle((2, 3), (4, 1)), 24, "reaches element 6 of a storage of 6"),
    (tensor_pickle((2, 3), (3, 1), offset=1), 24, "reaches element 6"),
    (tensor_pickle((2, 3), (3, -1)), 24, "stride .* non-negative"),
    (tensor_pickle((2,), (1, 1)), 24, "bad layout"),
    (tensor_pickle((2, 3), (3, 1), key="../x"), 24, "not a plain name"),
    (tensor_pickle((2, 3), (3, 1), key="1"), 24, "member 'archive/data/1' is missing"),
    (tensor_pickle((2, 3), (3, 1), kind=b"QInt8Storage"), 24, "quantized"),
    (tensor_pickle((2, 3), (3, 1), kind=b"FloatStorageX"), 24,
     "asks to run torch.FloatStorageX"),
])
def test_damaged_or_hostile_layouts_are_refused(tmp_path, pkl, storage, message):
    write_archive(tmp_path / "bad.pt", pkl, {"0": bytes(storage)})
    with pytest.raises(CheckpointError, match=rf"'.*bad\.pt': .*{message}"):
        ember.load(tmp_path / "bad.pt")


def test_a_tiny_file_cannot_declare_a_huge_tensor(tmp_path, monkeypatch):
    # a stride-0 view of one float: 2e9 elements that would be 8 GB once materialised
    write_archive(tmp_path / "huge.pt", tensor_pickle((2_000_000_000,), (0,), numel=1),
                  {"0": bytes(4)})
    with pytest.raises(LoadLimitError, match=r"'.*huge\.pt': a tensor of shape "
                                             r"\(2000000000,\).*exceeds the load limit"):
        ember.load(tmp_path / "huge.pt")
    monkeypatch.setattr(ember.io, "MAX_LOAD_BYTES", 100)
    write_archive(tmp_path / "big.pt", tensor_pickle((2, 3), (3, 1)), {"0": bytes(200)})
    with pytest.raises(LoadLimitError, match=r"'.*big\.pt'"):
        ember.load(tmp_path / "big.pt")


def test_persistent_ids_other_than_storages_are_refused(tmp_path):
    pkl = b"\x80\x02(" + _x("other") + b"tQ."
    write_archive(tmp_path / "pid.pt", pkl, {})
    with pytest.raises(CheckpointError, match="not a tensor storage"):
        ember.load(tmp_path / "pid.pt")


def test_the_state_dict_metadata_is_data_only(tmp_path):
    pkl = (b"\x80\x02ccollections\nOrderedDict\n)R}" + _x("_metadata") + _x("v") + b"sb.")
    write_archive(tmp_path / "meta.pt", pkl, {})
    out = ember.load(tmp_path / "meta.pt")
    assert out == OrderedDict() and out._metadata == "v"


@pytest.mark.parametrize("proto", [2, 3, 4, 5])
def test_every_pickle_protocol_torch_can_write(torch, proto):
    sd = torch.nn.Conv2d(2, 3, 3).state_dict()
    obj = {"sd": sd, "set": {1, 2}} if proto >= 4 else {"sd": sd}  # sets need protocol 4
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=proto)
    out = ember.load(io.BytesIO(buf.getvalue()))
    assert list(out["sd"]) == list(sd)
    for k in sd:
        np.testing.assert_array_equal(out["sd"][k].numpy(), sd[k].numpy())
    assert out.get("set") == obj.get("set")
