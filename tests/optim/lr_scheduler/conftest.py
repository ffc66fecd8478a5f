import pytest
from _parity import import_torch


@pytest.fixture(scope="module")
def torch():
    """PyTorch, the oracle of every scheduler test in this folder."""
    return import_torch()
