"""F.interpolate against PyTorch in float64 (nearest, nearest-exact, linear, bilinear with
align_corners False/True, trilinear; by size and by scale factor), float32 index
arithmetic, channel-major input, gradchecks, errors."""
import numpy as np
import pytest
from _parity import check_grad, check_op, import_torch, random_inputs

import ember
import ember.nn.functional as F

torch = import_torch()
TF = torch.nn.functional

RESIZES = [dict(scale_factor=2), dict(scale_factor=3), dict(size=(7, 5)), dict(size=(3, 13)),
           dict(scale_factor=(1.7, 0.6)), dict(scale_factor=2.5, recompute_scale_factor=True),
           dict(size=(1, 1))]


@pytest.mark.parametrize("mode,align_corners", [("nearest", None), ("nearest-exact", None),
                                                 ("bilinear", False), ("bilinear", True),
                                                 ("bicubic", False), ("bicubic", True),
                                                 ("area", None)])
@pytest.mark.parametrize("resize", RESIZES, ids=str)
def test_interpolate_2d(mode, align_corners, resize):
    check_op(lambda x: F.interpolate(x, mode=mode, align_corners=align_corners, **resize),
             lambda x: TF.interpolate(x, mode=mode, align_corners=align_corners, **resize),
             shapes=[(2, 3, 5, 6)])


@pytest.mark.parametrize("mode,kw,shape", [
    ("linear", dict(scale_factor=2.5), (2, 3, 5)),
    ("linear", dict(size=4, align_corners=True), (2, 3, 7)),
    ("nearest", dict(scale_factor=3), (2, 3, 4)),
    ("trilinear", dict(size=(3, 5, 7), align_corners=True), (1, 2, 4, 4, 4)),
    ("trilinear", dict(scale_factor=(2, 1.5, 0.5)), (1, 2, 3, 4, 4)),
    ("nearest", dict(scale_factor=2), (1, 2, 3, 2, 4)),
    ("area", dict(size=3), (2, 3, 7)),
    ("area", dict(size=(2, 3, 5)), (1, 2, 4, 6, 5)),
], ids=str)
def test_interpolate_1d_3d(mode, kw, shape):
    check_op(lambda x: F.interpolate(x, mode=mode, **kw),
             lambda x: TF.interpolate(x, mode=mode, **kw), shapes=[shape])


def test_float32_index_arithmetic():
    # nearest indices come from float32 products in PyTorch's kernels: 1/3 * 3 rounds
    for kw in [dict(size=(9, 21)), dict(scale_factor=(3.0, 7 / 3))]:
        for mode in ["nearest", "bilinear"]:
            check_op(lambda x, mode=mode, kw=kw: F.interpolate(x, mode=mode, **kw),
                     lambda x, mode=mode, kw=kw: TF.interpolate(x, mode=mode, **kw),
                     shapes=[(1, 2, 3, 9)], dtype=np.float32)


def test_channel_major_input():
    x = random_inputs([(2, 3, 4, 5)])[0]
    cm = np.ascontiguousarray(x.transpose(1, 0, 2, 3))
    check_op(lambda t: F.interpolate(t.permute(1, 0, 2, 3), scale_factor=2, mode="bilinear"),
             lambda t: TF.interpolate(t.permute(1, 0, 2, 3), scale_factor=2, mode="bilinear"),
             inputs=[cm])


@pytest.mark.parametrize("kw", [dict(scale_factor=2), dict(size=(3, 7), mode="bilinear"),
                                dict(size=(5, 2), mode="bilinear", align_corners=True),
                                dict(scale_factor=1.5, mode="nearest-exact"),
                                dict(size=(5, 3), mode="bicubic"),
                                dict(size=(2, 3), mode="area")], ids=str)
def test_gradcheck(kw):
    check_grad(lambda x: F.interpolate(x, **kw), shapes=[(1, 2, 3, 4)])


def test_errors():
    x = ember.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="exactly one"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match=r"'bilinear' expects a 4-D input.*\(1, 2, 4\)"):
        F.interpolate(ember.randn(1, 2, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, scale_factor=2, mode="nearest", align_corners=True)
    with pytest.raises(ValueError, match="mode 'lanczos' is not supported"):
        F.interpolate(x, scale_factor=2, mode="lanczos")
    with pytest.raises(ValueError, match=r"'bicubic' expects a 4-D input"):
        F.interpolate(ember.randn(1, 2, 4), scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="must have 2 entries"):
        F.interpolate(x, size=(2, 3, 4))
