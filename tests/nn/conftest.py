import numpy as np
import pytest


@pytest.fixture(params=["auto", "shifted", "im2col"])
def conv_route(request, monkeypatch):
    """Every test runs on each convolution route: the default choice, the per-offset GEMMs
    wherever they apply (any stride-1 convolution on the CPU), and im2col everywhere.
    The convolution tests (functional/ and modules/test_conv.py) ask for it in pytestmark."""
    from ember.kernels import blas, conv_cpu
    if request.param == "shifted" and not blas.available(np.float64):
        pytest.skip("NumPy's BLAS was not found: the per-offset route is off")
    monkeypatch.setattr(conv_cpu, "ROUTE", request.param)
    return request.param
