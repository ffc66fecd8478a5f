"""ember.accelerator answers as torch.accelerator does (on this machine and in general)."""
import pytest
from _parity import import_torch

import ember


def test_answers_agree_with_cuda():
    assert ember.accelerator.is_available() == ember.cuda.is_available()
    assert ember.accelerator.device_count() == ember.cuda.device_count()
    acc = ember.accelerator.current_accelerator()
    if ember.cuda.is_available():
        assert acc == ember.device("cuda") and acc.type == "cuda"
        assert ember.accelerator.current_device_index() == 0
    else:
        assert acc is None
        with pytest.raises(RuntimeError, match="none is available"):
            ember.accelerator.current_device_index()


def test_the_portable_device_idiom_runs():
    torch = import_torch()
    for m in (ember, torch):
        acc = m.accelerator.current_accelerator()
        device = acc if m.accelerator.is_available() else m.device("cpu")
        x = m.ones(2, device=device)
        assert x.device.type == device.type and (m.accelerator.device_count() > 0) == (
            acc is not None)
