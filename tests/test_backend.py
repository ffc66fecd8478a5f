"""The backend: array modules, devices, transfers, dtypes, seeded generators, index_add."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import backend


def test_array_module_and_numpy_conversion():
    a = np.ones(3)
    assert backend.get_array_module(a) is np and backend.get_array_module() is np
    assert backend.to_numpy(a) is a and backend.device_of(a) == "cpu"
    assert backend.to_device(a, "cpu") is a


@pytest.mark.parametrize("spec, kind, index, text", [
    ("cpu", "cpu", None, "cpu"), ("cuda", "cuda", 0, "cuda:0"), ("cuda:1", "cuda", 1, "cuda:1"),
    (backend.Device("cuda:2"), "cuda", 2, "cuda:2")])
def test_device_parsing(spec, kind, index, text):
    d = backend.Device(spec)
    assert (d.type, d.index, str(d)) == (kind, index, text)
    assert d == text and hash(d) == hash(backend.Device(text))
    assert ember.device(spec) == d


def test_device_errors_and_repr():
    for bad in ("tpu", "cuda:x", "gpu:0"):
        with pytest.raises(ValueError, match="device"):
            backend.Device(bad)
    assert repr(backend.Device("cpu")) == "device(type='cpu')"
    assert repr(backend.Device("cuda:1")) == "device(type='cuda', index=1)"
    assert backend.Device("cpu") != backend.Device("cuda") and backend.Device("cpu") != 3


@pytest.mark.skipif(ember.cuda.is_available(), reason="checks the message without a GPU")
def test_cuda_request_without_gpu_is_clear():
    assert not ember.cuda.is_available() and ember.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="CuPy"):
        ember.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        ember.ones(2).to("cuda")


def test_default_dtype():
    assert ember.get_default_dtype() == ember.float32
    ember.set_default_dtype(ember.float64)
    try:
        assert ember.tensor(1.5).dtype == ember.float64
        assert ember.randn(2).dtype == ember.float64 and ember.zeros(1).dtype == ember.float64
        assert (ember.tensor([1, 2]) * 0.5).dtype == ember.float64
    finally:
        ember.set_default_dtype(ember.float32)
    with pytest.raises(TypeError, match="floating"):
        ember.set_default_dtype(ember.int64)


def test_dtype_aliases_match_torch_names():
    assert ember.float is ember.float32 and ember.double is ember.float64
    assert ember.long is ember.int64 and ember.int is ember.int32 and ember.half is ember.float16
    assert ember.bool == np.bool_


def test_generators_are_per_device_and_seeded():
    ember.manual_seed(5)
    g = backend.generator("cpu")
    assert g is backend.generator(backend.Device("cpu"))
    first = g.standard_normal(3)
    ember.manual_seed(5)
    np.testing.assert_array_equal(backend.generator().standard_normal(3), first)


def test_index_add_adds_duplicates():
    target = np.zeros(4)
    backend.index_add(target, np.array([0, 2, 0, 0]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert target.tolist() == [8.0, 0.0, 2.0, 0.0]
    t2 = np.zeros((2, 3))
    backend.index_add(t2, (np.array([1, 1]), np.array([0, 0])), np.ones(2))
    assert t2[1, 0] == 2.0


def test_disable_cuda_environment_variable():
    code = "import ember.backend as b; print(b.cupy is None, b.cuda_available())"
    env = dict(os.environ, EMBER_DISABLE_CUDA="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.split() == ["True", "False"]


def test_transfer_round_trip(device):
    x = ember.arange(6.0, requires_grad=True)
    y = x.to(device) * 2
    assert y.device == ember.device(device)
    y.sum().backward()
    assert x.grad.device.type == "cpu" and x.grad.tolist() == [2.0] * 6


def test_cuda_seeding_leaves_the_cpu_stream_and_matches_manual_seed():
    ember.manual_seed(3)
    expected = ember.randn(4).tolist()
    ember.manual_seed(3)
    ember.cuda.manual_seed_all(11)
    ember.cuda.manual_seed(12)  # fine without a GPU, as torch.cuda.manual_seed
    assert ember.randn(4).tolist() == expected
    if ember.cuda.is_available():  # the GPUs get what ember.manual_seed(seed) gives them
        ember.manual_seed(5)
        a = ember.randn(4, device="cuda").tolist()
        ember.cuda.manual_seed_all(5)
        assert ember.randn(4, device="cuda").tolist() == a
        ember.cuda.manual_seed(5)
        assert ember.randn(4, device="cuda").tolist() == a
