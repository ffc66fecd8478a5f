"""Heat-map scaling (captum's rule), overlays, filter and feature-map grids, PNG files."""
from collections import OrderedDict

import numpy as np
import pytest
from _explain import import_captum
from _parity import import_torch

import ember
from ember import nn
from ember.explain.visualize import (
    feature_map_grid,
    feature_maps,
    filter_grid,
    make_grid,
    normalize_attr,
    overlay,
    save_image,
    upsample_to,
)

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("sign", ["absolute_value", "positive", "negative", "all"])
def test_normalize_attr_is_captums(sign):
    import_captum()
    from captum.attr._utils.visualization import _normalize_attr
    attr = RNG.normal(size=(3, 9, 7))
    expected = _normalize_attr(attr.sum(0), sign, 2)
    np.testing.assert_allclose(normalize_attr(ember.tensor(attr), sign), expected, 1e-12)
    np.testing.assert_allclose(normalize_attr(attr[0], sign, 10),
                               _normalize_attr(attr[0], sign, 10), 1e-12)
    assert not normalize_attr(np.zeros((3, 3))).any()


def test_upsample_to_is_torch_bilinear():
    torch = import_torch()
    m = RNG.normal(size=(2, 1, 4, 5))
    ours = upsample_to(ember.tensor(m), (9, 11)).numpy()
    theirs = torch.nn.functional.interpolate(torch.tensor(m), (9, 11), mode="bilinear")
    np.testing.assert_allclose(ours, theirs.numpy(), 1e-12)


def test_overlay():
    img = RNG.uniform(0, 255, size=(1, 6, 6))
    heat = RNG.normal(size=(3, 3))
    out = overlay(img, heat, alpha=0.0)
    assert out.shape == (6, 6, 3)
    gray = (img[0] - img.min()) / (img.max() - img.min())
    np.testing.assert_allclose(out, np.repeat(gray[..., None], 3, -1))
    import matplotlib
    full = overlay(np.zeros((3, 3)), heat, alpha=1.0)
    scaled = (heat - heat.min()) / (heat.max() - heat.min())
    np.testing.assert_allclose(full, matplotlib.colormaps["jet"](scaled)[..., :3])
    rgb = overlay(RNG.uniform(size=(4, 4, 3)), ember.ones(1, 1, 4, 4), alpha=0.3)
    assert rgb.shape == (4, 4, 3) and 0 <= rgb.min() and rgb.max() <= 1
    with pytest.raises(ValueError, match=r"overlay: the heat map must be \(H, W\), got shape "
                                         r"\(2, 3, 3\)"):
        overlay(img, np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match=r"overlay: expected an image .* got shape \(2, 6, 6\)"):
        overlay(np.zeros((2, 6, 6)), heat)
    with pytest.raises(ValueError, match="alpha must be in"):
        overlay(img, heat, alpha=2)


def test_make_grid_places_tiles_in_rows():
    tiles = np.arange(5 * 2 * 2, dtype=float).reshape(5, 2, 2)
    grid = make_grid(tiles, ncols=3, padding=1, pad_value=-1)
    assert grid.shape == (2 * 3 + 1, 3 * 3 + 1)
    np.testing.assert_array_equal(grid[1:3, 4:6], tiles[1])
    np.testing.assert_array_equal(grid[4:6, 4:6], tiles[4])
    assert (grid[4:6, 7:9] == -1).all() and (grid[0] == -1).all()
    with pytest.raises(ValueError, match=r"make_grid: expected tiles .* got shape \(4, 4\)"):
        make_grid(np.zeros((4, 4)))


def test_filter_grid():
    conv = nn.Conv2d(1, 6, 3)
    grid = filter_grid(conv, ncols=3)
    assert grid.shape == (2 * 4 + 1, 3 * 4 + 1)
    w = conv.weight.detach().numpy()[1, 0]
    np.testing.assert_allclose(grid[1:4, 5:8], (w - w.min()) / (w.max() - w.min()), 1e-6)
    rgb = filter_grid(nn.Conv2d(3, 4, 5).weight, normalize="all")
    assert rgb.shape == (2 * 6 + 1, 2 * 6 + 1, 3) and rgb.min() >= 0 and rgb.max() <= 1
    rows = filter_grid(nn.Conv2d(2, 3, 3))  # one row of 2 tiles per filter
    assert rows.shape == (3 * 4 + 1, 2 * 4 + 1)
    with pytest.raises(ValueError, match=r"filter_grid: expected a convolution weight"):
        filter_grid(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="normalize must be 'each' or 'all'"):
        filter_grid(conv, normalize="none")


def test_feature_maps_are_the_layers_outputs():
    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 4, 3), relu=nn.ReLU(),
                                      pool=nn.MaxPool2d(2), flat=nn.Flatten(),
                                      fc=nn.Linear(4 * 3 * 3, 2)))
    x = ember.randn(2, 1, 8, 8)
    maps = feature_maps(model, x)
    assert list(maps) == ["conv", "relu", "pool", "flat", "fc"]
    with ember.no_grad():
        np.testing.assert_allclose(maps["relu"].numpy(), model[:2](x).numpy())
    picked = feature_maps(model, x, ["pool", model.conv])
    assert list(picked) == ["pool", "conv"] and not picked["pool"].requires_grad
    assert not any(m._forward_hooks for m in model.modules())
    grid = feature_map_grid(maps["relu"][:1], ncols=2)
    assert grid.shape == (2 * 7 + 1, 2 * 7 + 1) and grid.max() <= 1
    with pytest.raises(ValueError, match="feature_maps: ReLU is not a submodule"):
        feature_maps(model, x, [nn.ReLU()])
    with pytest.raises(ValueError, match=r"feature_map_grid: expected feature maps \(C, h, w\)"):
        feature_map_grid(maps["fc"])


def test_save_image_writes_a_png(tmp_path):
    import matplotlib.image
    path = save_image(RNG.uniform(size=(5, 4)), str(tmp_path / "sub" / "a.png"), scale=3)
    assert matplotlib.image.imread(path).shape[:2] == (15, 12)
    rgb = save_image(RNG.uniform(size=(5, 4, 3)), str(tmp_path / "b.png"))
    assert matplotlib.image.imread(rgb).shape[:2] == (5, 4)
    with pytest.raises(ValueError, match=r"save_image: expected \(H, W\) or \(H, W, 3\)"):
        save_image(np.zeros((2, 2, 2)), str(tmp_path / "c.png"))
