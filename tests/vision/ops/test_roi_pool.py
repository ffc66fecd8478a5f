"""roi_pool against a loop transcription of torchvision's CPU kernel, and its gradient (by
finite differences and to each bin's first maximum)."""
import math

import numpy as np
import pytest

import ember
from ember.vision import ops
from tests._parity import check_grad
from tests.vision.ops.test_roi_align import random_rois


def loop_roi_pool(x, rois, output_size, spatial_scale):
    """torchvision's roi_pool_forward_kernel_impl (std::round: half away from zero)."""
    def rnd(v):
        return math.copysign(math.floor(abs(v) + 0.5), v)
    _, c, h, w = x.shape
    ph_, pw_ = output_size
    out = np.zeros((len(rois), c, ph_, pw_))
    arg = np.full((len(rois), c, ph_, pw_), -1)
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh = int(rnd(x1 * spatial_scale)), int(rnd(y1 * spatial_scale))
        ew, eh = int(rnd(x2 * spatial_scale)), int(rnd(y2 * spatial_scale))
        rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        bh, bw = rh / ph_, rw / pw_
        for ph in range(ph_):
            for pw in range(pw_):
                hs = min(max(math.floor(ph * bh) + sh, 0), h)
                he = min(max(math.ceil((ph + 1) * bh) + sh, 0), h)
                ws = min(max(math.floor(pw * bw) + sw, 0), w)
                we = min(max(math.ceil((pw + 1) * bw) + sw, 0), w)
                for ch in range(c):
                    best, at = (0.0, -1) if he <= hs or we <= ws else (-np.inf, -1)
                    for yy in range(hs, he):
                        for xx in range(ws, we):
                            if x[int(b), ch, yy, xx] > best:
                                best, at = x[int(b), ch, yy, xx], yy * w + xx
                    out[k, ch, ph, pw], arg[k, ch, ph, pw] = best, at
    return out, arg


@pytest.mark.parametrize("output_size, scale", [((2, 3), 1.0), ((3, 3), 0.5), ((4, 2), 0.25)])
def test_matches_torchvision_kernel(output_size, scale):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 11))
    rois = random_rois(rng, 12, 2, 9 / scale, 11 / scale)
    rois[0, 1:] = [2.5, 1.5, 2.5, 1.5]          # rounds half away from zero
    rois[1, 1:] = [-9.0, -9.0, -7.0, -8.0]      # outside: empty bins give 0
    got = ops.roi_pool(ember.tensor(x), ember.tensor(rois), output_size, scale).numpy()
    want, _ = loop_roi_pool(x, rois, output_size, scale)
    np.testing.assert_array_equal(got, want)


def test_gradient_goes_to_first_maximum():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, (2, 2, 6, 7)).astype(np.float64)  # many ties
    rois = random_rois(rng, 6, 2, 6, 7)
    xt = ember.tensor(x, requires_grad=True)
    y = ops.roi_pool(xt, ember.tensor(rois), (2, 3))
    g = rng.standard_normal(tuple(y.shape))
    (y * ember.tensor(g)).sum().backward()
    _, arg = loop_roi_pool(x, rois, (2, 3), 1.0)
    want = np.zeros((2, 2, 6 * 7))
    for k, b in enumerate(rois[:, 0].astype(int)):
        for ch in range(2):
            for i, a in enumerate(arg[k, ch].ravel()):
                if a >= 0:
                    want[b, ch, a] += g[k, ch].ravel()[i]
    np.testing.assert_allclose(xt.grad.numpy().reshape(2, 2, -1), want, atol=1e-12)


def test_gradient_by_finite_differences():
    rois = ember.tensor(random_rois(np.random.default_rng(2), 4, 2, 6, 7))
    check_grad(lambda x: ops.roi_pool(x, rois, (2, 2), 1.0), shapes=((2, 2, 6, 7),))


def test_list_form_layer_and_errors():
    rng = np.random.default_rng(3)
    x = ember.tensor(rng.standard_normal((2, 1, 8, 8)))
    b = random_rois(rng, 3, 1, 8, 8)[:, 1:]
    want = ops.roi_pool(x, ember.tensor(np.c_[np.ones(3), b]), 2).numpy()
    got = ops.RoIPool(2, 1.0)(x, [ember.zeros(0, 4, dtype=ember.float64), ember.tensor(b)])
    np.testing.assert_array_equal(got.numpy(), want)
    assert repr(ops.RoIPool((7, 7), 0.25)) == "RoIPool(output_size=(7, 7), spatial_scale=0.25)"
    with pytest.raises(ValueError, match=r"roi_pool: boxes must be a Tensor of shape \(K, 5\)"):
        ops.roi_pool(x, ember.zeros(2, 6), 2)
    with pytest.raises(TypeError, match="roi_pool: boxes must be a Tensor"):
        ops.roi_pool(x, np.zeros((2, 5)), 2)


def routed_grad(x, rois, output_size, scale, g):
    """The input gradient torchvision's backward gives: each bin's gradient at its argmax."""
    _, arg = loop_roi_pool(x, rois, output_size, scale)
    n, c = x.shape[:2]
    want = np.zeros((n, c, x.shape[2] * x.shape[3]))
    for k, b in enumerate(rois[:, 0].astype(int)):
        for ch in range(c):
            for i, a in enumerate(arg[k, ch].ravel()):
                if a >= 0:
                    want[b, ch, a] += g[k, ch].ravel()[i]
    return want.reshape(x.shape)


def run(x, rois, output_size, scale, g):
    xt = ember.tensor(x, requires_grad=True)
    y = ops.roi_pool(xt, ember.tensor(rois), output_size, scale)
    (y * ember.tensor(g.astype(x.dtype))).sum().backward()
    return y.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("output_size, scale, dtype", [((2, 3), 1.0, np.float64),
                                                       ((3, 2), 0.25, np.float32),
                                                       ((5, 4), 0.5, np.float64)])
def test_ties_in_large_bins_go_to_first_maximum_in_row_major_order(output_size, scale, dtype):
    # bins 1 to 12 pixels a side: every level of the block table, one and two blocks per
    # axis, and ties between blocks where the right one's maximum is in an earlier row
    rng = np.random.default_rng(4)
    x = rng.integers(0, 2, (2, 3, 20, 23)).astype(dtype)
    rois = random_rois(rng, 10, 2, 20 / scale, 23 / scale)
    rois[0] = [1, 0, 0, 22 / scale, 19 / scale]  # the whole map
    g = rng.standard_normal((10, 3) + output_size)
    want, _ = loop_roi_pool(x, rois, output_size, scale)
    got, grad = run(x, rois, output_size, scale, g)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(grad, routed_grad(x, rois, output_size, scale, g),
                               rtol=1e-6, atol=1e-6)


def test_regions_partly_or_wholly_outside_and_empty_bins():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 8, 9))
    rois = np.array([[0, -20, -12, 10, 6],     # partly above and left (scale 0.25: -5, -3)
                     [0, 24, 20, 60, 50],      # partly below and right
                     [0, 40, 36, 60, 50],      # wholly outside: every bin empty
                     [0, 4, 4, 4.5, 4.5],      # one pixel: most of its 3x4 bins empty
                     [0, -9, 8, -2, 30]], dtype=np.float64)
    g = rng.standard_normal((5, 2, 3, 4))
    want, arg = loop_roi_pool(x, rois, (3, 4), 0.25)
    assert (arg == -1).any() and (arg[2] == -1).all()
    got, grad = run(x, rois, (3, 4), 0.25, g)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(grad, routed_grad(x, rois, (3, 4), 0.25, g), atol=1e-12)


def test_no_regions():
    x = ember.tensor(np.ones((1, 3, 4, 4)), requires_grad=True)
    y = ops.roi_pool(x, ember.zeros(0, 5, dtype=ember.float64), (2, 2))
    assert tuple(y.shape) == (0, 3, 2, 2)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((1, 3, 4, 4)))


def test_nan_propagates_to_the_output_and_takes_the_gradient():
    x = np.arange(2 * 5 * 6, dtype=np.float64).reshape(1, 2, 5, 6)
    x[0, 0, 1, 4] = x[0, 0, 2, 4] = x[0, 1, 3, 3] = np.nan
    rois = np.array([[0, 0, 0, 5, 4], [0, 0, 0, 2, 2]], dtype=np.float64)
    got, grad = run(x, rois, (1, 1), 1.0, np.ones((2, 2, 1, 1)))
    np.testing.assert_array_equal(got[:, :, 0, 0], [[np.nan, np.nan], [14, 14 + 30]])
    want = np.zeros_like(x)
    want[0, 0, 1, 4] = want[0, 1, 3, 3] = 1     # the first NaN, row-major
    want[0, 0, 2, 2] = want[0, 1, 2, 2] = 1     # the second region's maxima
    np.testing.assert_array_equal(grad, want)
