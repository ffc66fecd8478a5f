"""Upsample, UpsamplingNearest2d and UpsamplingBilinear2d against PyTorch: reprs, values and
gradients."""
import pytest
from _parity import check_op, import_torch

from ember import nn

torch = import_torch()


@pytest.mark.parametrize("name,kw", [
    ("Upsample", dict(scale_factor=2)),
    ("Upsample", dict(size=(8, 9), mode="bilinear")),
    ("Upsample", dict(scale_factor=1.5, mode="bilinear", align_corners=True)),
    ("UpsamplingNearest2d", dict(scale_factor=2)),
    ("UpsamplingBilinear2d", dict(size=(7, 7))),
], ids=str)
def test_upsample_layers(name, kw):
    em, tm = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(em) == repr(tm)
    check_op(em, tm, shapes=[(2, 3, 4, 5)])
