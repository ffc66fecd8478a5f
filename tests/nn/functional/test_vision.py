"""F.affine_grid and F.grid_sample against PyTorch in float64: values and gradients with
respect to the input, the grid and theta, every mode / padding mode / align_corners;
finite differences; errors."""
import numpy as np
import pytest
from _parity import check_grad, check_op, import_torch

import ember
import ember.nn.functional as F

torch = import_torch()


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((2, 3, 5, 6)), rng.uniform(-1.2, 1.2, (2, 4, 7, 2))]


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_matches_torch(mode, padding_mode, align_corners):
    check_op(lambda x, g: F.grid_sample(x, g, mode, padding_mode, align_corners),
             lambda x, g: torch.nn.functional.grid_sample(x, g, mode, padding_mode,
                                                          align_corners),
             inputs=_inputs())


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_3d_matches_torch(mode, padding_mode, align_corners):
    rng = np.random.default_rng(5)
    check_op(lambda x, g: F.grid_sample(x, g, mode, padding_mode, align_corners),
             lambda x, g: torch.nn.functional.grid_sample(x, g, mode, padding_mode,
                                                          align_corners),
             inputs=[rng.standard_normal((1, 2, 4, 5, 6)),
                     rng.uniform(-1.2, 1.2, (1, 3, 4, 2, 3))])


@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 3, 4, 2)], ids=str)
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_torch(size, align_corners):
    d = len(size) - 2
    check_op(lambda t: F.affine_grid(t, size, align_corners),
             lambda t: torch.nn.functional.affine_grid(t, size, align_corners),
             shapes=[(2, d, d + 1)])


def test_spatial_transformer_chain_and_gradcheck():
    """theta -> grid -> samples, the spatial-transformer tutorial's chain, end to end."""
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 5))
    theta = np.array([[[0.93, 0.21, 0.07], [-0.13, 1.07, 0.043]]])  # no point on a pixel edge
    check_op(lambda x, t: F.grid_sample(x, F.affine_grid(t, (1, 2, 3, 3), False)),
             lambda x, t: torch.nn.functional.grid_sample(
                 x, torch.nn.functional.affine_grid(t, (1, 2, 3, 3), False)),
             inputs=[x, theta])
    check_grad(lambda x, g: F.grid_sample(x, g, padding_mode="border"), inputs=_inputs(2))
    check_grad(lambda x, g: F.grid_sample(x, g, "bicubic", "reflection"), inputs=_inputs(3))


def test_errors():
    x, g = (ember.tensor(a) for a in _inputs())
    with pytest.raises(ValueError, match="mode must be 'bilinear', 'nearest' or 'bicubic'"):
        F.grid_sample(x, g, mode="area")
    with pytest.raises(ValueError, match="'bicubic' needs a 4-D input"):
        F.grid_sample(ember.ones(1, 1, 2, 2, 2), ember.zeros(1, 1, 1, 1, 3), mode="bicubic")
    with pytest.raises(ValueError, match="padding_mode must be"):
        F.grid_sample(x, g, padding_mode="wrap")
    with pytest.raises(ValueError, match=r"expected input \(N, C, H, W\) with grid"):
        F.grid_sample(x[0], g)
    with pytest.raises(ValueError, match=r"affine_grid: expected theta of shape \(N, 2, 3\)"):
        F.affine_grid(ember.ones(2, 3, 3), (2, 3, 4, 5))
