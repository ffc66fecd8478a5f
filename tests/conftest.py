import sys

import numpy as np
import pytest

import ember


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)
    np.random.seed(0)
    if "torch" in sys.modules:  # statistical tests draw from torch too: same draws every run
        sys.modules["torch"].manual_seed(0)
    yield


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """Run a test on the CPU, and on the GPU when CuPy sees one (skipped otherwise)."""
    if request.param == "cuda" and not ember.cuda.is_available():
        pytest.skip("no CUDA device (CuPy with a GPU) here")
    return request.param
