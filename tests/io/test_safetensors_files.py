""".safetensors through ember.load / ember.save, checked both ways with the safetensors
library itself (and with torch as the oracle for a model's outputs)."""
import io
import sys

import numpy as np
import pytest
from _parity import import_torch

import ember
from ember import nn
from ember.io import CheckpointError

safetensors = pytest.importorskip("safetensors", reason="safetensors (optional) is not installed")
from safetensors.numpy import load_file, save_file

DTYPES = ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
          "uint16", "uint32", "uint64"]


def arrays():
    rng = np.random.default_rng(0)
    out = {d: (rng.standard_normal((3, 4)) * 50).astype(d) for d in DTYPES if d != "bool"}
    out["bool"] = rng.standard_normal(5) > 0
    out["scalar"] = np.array(2.5)
    out["empty"] = np.zeros((0, 3), np.float32)
    return out


def test_ember_writes_what_the_library_reads(tmp_path):
    tensors = {k: ember.tensor(v) for k, v in arrays().items()}
    tensors["strided"] = ember.tensor(np.arange(20.0).reshape(4, 5))[:, ::2]
    ember.save(tensors, tmp_path / "t.safetensors")
    back = load_file(str(tmp_path / "t.safetensors"))
    assert sorted(back) == sorted(tensors)
    for k, t in tensors.items():
        assert back[k].dtype == t.dtype and back[k].shape == tuple(t.shape), k
        np.testing.assert_array_equal(back[k], t.numpy())


def test_ember_reads_what_the_library_writes(tmp_path):
    data = arrays()
    save_file(data, str(tmp_path / "lib.safetensors"), metadata={"format": "np"})
    out = ember.load(tmp_path / "lib.safetensors")
    assert sorted(out) == sorted(data)
    for k, a in data.items():
        assert isinstance(out[k], ember.Tensor) and out[k].dtype == a.dtype, k
        np.testing.assert_array_equal(out[k].numpy(), a)
    out["float32"].array[0, 0] = 7.0  # writable, as torch's load gives
    # recognised by content, whatever the name; from file objects too
    (tmp_path / "weights.bin").write_bytes((tmp_path / "lib.safetensors").read_bytes())
    assert sorted(ember.load(tmp_path / "weights.bin")) == sorted(data)
    raw = (tmp_path / "lib.safetensors").read_bytes()
    assert sorted(ember.load(io.BytesIO(raw), map_location="cpu")) == sorted(data)


def test_a_model_round_trips_to_torch_through_safetensors(tmp_path):
    torch = import_torch()
    from safetensors.torch import load_file as torch_load_file
    from safetensors.torch import save_file as torch_save_file
    ember.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    ember.save(net.state_dict(), tmp_path / "net.safetensors")
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 2)).double()
    tnet.load_state_dict(torch_load_file(str(tmp_path / "net.safetensors")))
    x = np.random.default_rng(1).standard_normal((5, 4))
    np.testing.assert_allclose(tnet(torch.tensor(x)).detach().numpy(),
                               net(ember.tensor(x)).detach().numpy(), rtol=1e-12)
    # and back: torch writes (bfloat16 too), ember reads
    state = dict(tnet.state_dict(), half=torch.tensor([1.5, -3.0]).bfloat16())
    torch_save_file(state, str(tmp_path / "torch.safetensors"))
    out = ember.load(tmp_path / "torch.safetensors")
    assert out["half"].dtype == ember.float32 and out["half"].tolist() == [1.5, -3.0]
    net2 = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    net2.load_state_dict({k: v for k, v in out.items() if k != "half"})
    np.testing.assert_array_equal(net2(ember.tensor(x)).detach().numpy(),
                                  net(ember.tensor(x)).detach().numpy())


@pytest.mark.parametrize("obj, message", [
    ({"a": {"b": ember.ones(2)}}, "'a' is a nested dict"),
    ({"a": 3}, "'a' is a int, not a tensor"),
    ({"a": [ember.ones(2)]}, "'a' is a list, not a tensor"),
    ({1: ember.ones(2)}, "key 1 is not a string"),
    ([ember.ones(2)], "flat dict of tensors"),
    ({"a": np.array(["x"])}, "dtype <U1"),
])
def test_save_refuses_what_safetensors_cannot_hold(tmp_path, obj, message):
    with pytest.raises(TypeError, match=message):
        ember.save(obj, tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()


@pytest.mark.parametrize("cut", [1, 30, 100])
def test_truncated_files_name_the_file(tmp_path, cut):
    ember.save({"w": ember.randn(10, 10)}, tmp_path / "t.safetensors")
    raw = (tmp_path / "t.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(raw[:-cut])
    with pytest.raises(CheckpointError, match=r"'.*t\.safetensors': .*(safetensors|truncated)"):
        ember.load(tmp_path / "t.safetensors")


def test_a_damaged_header_names_the_file(tmp_path):
    header = b'{"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}'
    (tmp_path / "h.safetensors").write_bytes(len(header).to_bytes(8, "little") + header
                                             + bytes(16))
    with pytest.raises(CheckpointError, match=r"'.*h\.safetensors': not a readable "
                                              r"safetensors file"):
        ember.load(tmp_path / "h.safetensors")


def test_random_bytes_name_the_file(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    (tmp_path / "r.safetensors").write_bytes(noise)
    with pytest.raises(CheckpointError, match=r"'.*r\.safetensors'"):
        ember.load(tmp_path / "r.safetensors")


def test_a_missing_library_says_what_to_install(tmp_path, monkeypatch):
    ember.save({"w": ember.ones(2)}, tmp_path / "w.safetensors")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match="pip install safetensors"):
        ember.load(tmp_path / "w.safetensors")
    with pytest.raises(ImportError, match=r"ember\[safetensors\]"):
        ember.save({"w": ember.ones(2)}, tmp_path / "x.safetensors")
