"""roi_align against onnxruntime's RoiAlign (both ``aligned`` settings), against a loop
transcription of torchvision's CPU kernel in float64, and its gradient by finite
differences."""
import math

import numpy as np
import pytest

import ember
from ember.vision import ops
from tests._parity import check_grad
from tests.vision.ops._onnx import ort_roi_align


def random_rois(rng, k, n, h, w, dtype=np.float64):
    x1, y1 = rng.uniform(-2, w, k), rng.uniform(-2, h, k)
    x2, y2 = x1 + rng.uniform(0, w, k), y1 + rng.uniform(0, h, k)
    return np.stack([rng.integers(0, n, k), x1, y1, x2, y2], 1).astype(dtype)


def loop_roi_align(x, rois, output_size, spatial_scale, sampling_ratio, aligned):
    """torchvision's roi_align_forward_kernel_impl, one sample at a time."""
    _, c, h, w = x.shape
    ph_, pw_ = output_size
    out = np.zeros((len(rois), c, ph_, pw_))
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        off = 0.5 if aligned else 0.0
        sw, sh = x1 * spatial_scale - off, y1 * spatial_scale - off
        rw, rh = x2 * spatial_scale - off - sw, y2 * spatial_scale - off - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph_, rw / pw_
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / ph_)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / pw_)
        count = max(gh * gw, 1)
        for ph in range(ph_):
            for pw in range(pw_):
                acc = np.zeros(c)
                for iy in range(gh):
                    yy = sh + ph * bh + (iy + .5) * bh / gh
                    for ix in range(gw):
                        xx = sw + pw * bw + (ix + .5) * bw / gw
                        if yy < -1.0 or yy > h or xx < -1.0 or xx > w:
                            continue
                        y, xv = max(yy, 0.0), max(xx, 0.0)
                        yl, xl = int(y), int(xv)
                        if yl >= h - 1:
                            yh = yl = h - 1
                            y = float(yl)
                        else:
                            yh = yl + 1
                        if xl >= w - 1:
                            xh = xl = w - 1
                            xv = float(xl)
                        else:
                            xh = xl + 1
                        ly, lx = y - yl, xv - xl
                        hy, hx = 1 - ly, 1 - lx
                        img = x[int(b)]
                        acc += (hy * hx * img[:, yl, xl] + hy * lx * img[:, yl, xh]
                                + ly * hx * img[:, yh, xl] + ly * lx * img[:, yh, xh])
                out[k, :, ph, pw] = acc / count
    return out


CASES = [((2, 3), 1.0, -1), ((3, 3), 0.5, 2), ((2, 4), 0.25, 0), ((1, 1), 1.0, 1)]


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("output_size, scale, ratio", CASES)
def test_matches_onnxruntime(aligned, output_size, scale, ratio):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 11)).astype(np.float32)
    rois = random_rois(rng, 12, 2, 9 / scale, 11 / scale, np.float32)
    got = ops.roi_align(ember.tensor(x), ember.tensor(rois), output_size, scale, ratio,
                        aligned).numpy()
    want = ort_roi_align(x, rois, output_size, scale, ratio, aligned)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("output_size, scale, ratio", CASES)
def test_matches_torchvision_kernel_in_float64(aligned, output_size, scale, ratio):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 7, 8))
    rois = random_rois(rng, 10, 2, 7 / scale, 8 / scale)
    rois[0, 1:] = [3.0, 2.0, 3.0, 2.0]          # a zero-size region
    rois[1, 1:] = [-5.0, -5.0, -3.0, -4.0]      # outside the image
    got = ops.roi_align(ember.tensor(x), ember.tensor(rois), output_size, scale, ratio,
                        aligned).numpy()
    want = loop_roi_align(x, rois, output_size, scale, ratio, aligned)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("aligned", [False, True])
def test_gradient_by_finite_differences(aligned):
    rng = np.random.default_rng(2)
    rois = ember.tensor(random_rois(rng, 5, 2, 6, 7))
    check_grad(lambda x: ops.roi_align(x, rois, (2, 3), 1.0, -1, aligned), shapes=((2, 2, 6, 7),))
    check_grad(lambda x: ops.roi_align(x, rois, 2, 0.5, 2, aligned), shapes=((2, 1, 6, 7),))


def test_list_of_boxes_equals_k5_form_and_layer():
    rng = np.random.default_rng(3)
    x = ember.tensor(rng.standard_normal((2, 3, 8, 8)))
    b0, b1 = random_rois(rng, 3, 1, 8, 8)[:, 1:], random_rois(rng, 2, 1, 8, 8)[:, 1:]
    k5 = np.concatenate([np.c_[np.zeros(3), b0], np.c_[np.ones(2), b1]])
    want = ops.roi_align(x, ember.tensor(k5), 3, sampling_ratio=2).numpy()
    got = ops.roi_align(x, [ember.tensor(b0), ember.tensor(b1)], 3, sampling_ratio=2).numpy()
    np.testing.assert_array_equal(got, want)
    layer = ops.RoIAlign((3, 3), spatial_scale=1.0, sampling_ratio=2)
    np.testing.assert_array_equal(layer(x, ember.tensor(k5)).numpy(), want)
    assert repr(layer) == "RoIAlign(output_size=(3, 3), spatial_scale=1.0, sampling_ratio=2, " \
                          "aligned=False)"
    assert ops.roi_align(x, ember.zeros(0, 5, dtype=ember.float64), 2).shape == (0, 3, 2, 2)


def test_errors():
    x = ember.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match=r"roi_align: boxes must be a Tensor of shape \(K, 5\)"
                                         r".*\(3, 4\)"):
        ops.roi_align(x, ember.zeros(3, 4), 2)
    with pytest.raises(ValueError, match=r"roi_align: boxes\[1\] must have shape \(L, 4\)"):
        ops.roi_align(x, [ember.zeros(1, 4), ember.zeros(2, 5)], 2)
    with pytest.raises(ValueError, match=r"roi_align: input must be a \(N, C, H, W\)"):
        ops.roi_align(ember.zeros(2, 4, 4), ember.zeros(1, 5), 2)
    with pytest.raises(ValueError, match=r"batch indices must be integers in \[0, 1\)"):
        ops.roi_align(x, ember.tensor([[1.0, 0, 0, 2, 2]]), 2)
    with pytest.raises(ValueError, match="output_size must be a positive int"):
        ops.roi_align(x, ember.zeros(1, 5), (0, 2))
