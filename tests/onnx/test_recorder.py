"""The recording mode (ember/onnx/recorder.py): the wrappers exist only while an export runs,
even when it fails, and one export runs at a time."""
import importlib

import pytest
from _onnx_roundtrip import Lambda, floats, import_oracles

import ember
from ember.autograd.function import Function
from ember.onnx import recorder
from ember.ops import arithmetic

inplace = importlib.import_module("ember.ops.inplace")  # the module (ember.ops.inplace is a function)


@pytest.fixture(autouse=True)
def _oracles():
    import_oracles()


def _originals():
    return (Function.__dict__["apply"], inplace._write, arithmetic._no_grad_binary,
            ember.ops.setitem)


def test_wrappers_are_removed_after_an_export_and_after_a_failure():
    before = _originals()
    ember.onnx.export(Lambda(lambda m, x: x.exp()), floats(2, 3), None)
    assert _originals() == before
    with pytest.raises(ember.onnx.ExportError):
        ember.onnx.export(Lambda(lambda m, x: x.roll(1, 0)), floats(2, 3), None)
    assert _originals() == before
    x = floats(2, 3)
    x[0, 1:2] = 5.0  # the ordinary write, outside an export
    assert float(x[0, 1]) == 5.0


def test_one_export_at_a_time():
    def nested(m, x):
        return ember.onnx.export(Lambda(lambda m, y: y), x, None)
    with pytest.raises(RuntimeError, match="another export is running"):
        ember.onnx.export(Lambda(nested), floats(2, 3), None)
    assert recorder._lock.acquire(blocking=False)
    recorder._lock.release()
