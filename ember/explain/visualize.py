"""Pictures of what a network sees: attribution heat maps scaled as captum scales them,
overlays of a map on its image, grids of first-layer filters and of any layer's feature maps
(caught by forward hooks), and PNG files of them.

Everything here returns NumPy arrays (images: (H, W) gray or (H, W, 3) RGB floats in
[0, 1]); a layer's map is upsampled to the input with ``LayerAttribution.interpolate``.
matplotlib is needed only for colour maps and PNG files (imported when used).
"""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

import ember
from ember import backend, nn
from ember.explain.cam import LayerAttribution

__all__ = ["feature_map_grid", "feature_maps", "filter_grid", "make_grid", "normalize_attr",
           "overlay", "save_image", "upsample_to"]

SIGNS = ("all", "positive", "negative", "absolute_value")


def _array(x):
    if isinstance(x, ember.Tensor):
        return backend.to_numpy(x.detach().array)
    return np.asarray(x)


def normalize_attr(attr, sign="absolute_value", outlier_perc=2):
    """An attribution map (H, W), or (C, H, W) summed over channels, scaled as captum's
    ``visualize_image_attr`` scales it: keep the values of ``sign`` ("absolute_value",
    "positive", "negative", "all"), divide by the value where the cumulative sum of the
    sorted absolute values reaches ``100 - outlier_perc`` percent, clip to [-1, 1]."""
    a = _array(attr).astype(np.float64)
    if a.ndim == 3:
        a = a.sum(0)
    if a.ndim != 2:
        raise ValueError(f"normalize_attr: expected an (H, W) or (C, H, W) map, got shape "
                         f"{a.shape}")
    if sign not in SIGNS:
        raise ValueError(f"normalize_attr: sign must be one of {SIGNS}, got {sign!r}")
    if not 0 <= outlier_perc <= 100:
        raise ValueError(f"normalize_attr: outlier_perc must be in [0, 100], got {outlier_perc}")
    a = {"all": a, "positive": np.maximum(a, 0), "negative": np.minimum(a, 0),
         "absolute_value": np.abs(a)}[sign]
    values = np.sort(np.abs(a).ravel())
    sums = np.cumsum(values)
    threshold = values[np.nonzero(sums >= sums[-1] * 0.01 * (100 - outlier_perc))[0][0]]
    if threshold == 0:
        return np.zeros_like(a)
    return np.clip(a / (-threshold if sign == "negative" else threshold), -1, 1)


def upsample_to(layer_map, size, mode="bilinear"):
    """A (N, C, h, w) layer map resized to ``size`` (H, W): ``LayerAttribution.interpolate``
    (``align_corners`` as F.interpolate's default)."""
    return LayerAttribution.interpolate(layer_map, tuple(size), mode)


def _colormap(name):
    try:
        import matplotlib
    except ImportError:
        raise ImportError("colour maps need matplotlib: pip install matplotlib") from None
    return matplotlib.colormaps[name]


def _to_rgb(image):
    """(H, W), (1, H, W), (3, H, W) or (H, W, 3) values as (H, W, 3) in [0, 1] (min-max
    scaled unless already in [0, 1])."""
    img = _array(image).astype(np.float64)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"overlay: expected an image (H, W), (1|3, H, W) or (H, W, 3), got "
                         f"shape {_array(image).shape}")
    lo, hi = img.min(), img.max()
    if lo < 0 or hi > 1:
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return img


def overlay(image, heatmap, alpha=0.5, cmap="jet"):
    """The image (gray or RGB, any range) under a heat map coloured by ``cmap`` with opacity
    ``alpha``: (H, W, 3) floats in [0, 1]. ``heatmap`` (H, W) is min-max scaled to [0, 1]
    (scale it with :func:`normalize_attr` first to drop outliers); a smaller map (a layer's)
    is upsampled bilinearly to the image."""
    img = _to_rgb(image)
    h = _array(heatmap).astype(np.float64)
    while h.ndim > 2 and h.shape[0] == 1:
        h = h[0]
    if h.ndim != 2:
        raise ValueError(f"overlay: the heat map must be (H, W), got shape {h.shape}")
    if h.shape != img.shape[:2]:
        h = upsample_to(ember.tensor(h[None, None]), img.shape[:2]).numpy()[0, 0]
    lo, hi = h.min(), h.max()
    h = (h - lo) / (hi - lo) if hi > lo else np.zeros_like(h)
    if not 0 <= alpha <= 1:
        raise ValueError(f"overlay: alpha must be in [0, 1], got {alpha}")
    return (1 - alpha) * img + alpha * _colormap(cmap)(h)[..., :3]


def make_grid(tiles, ncols=None, padding=1, pad_value=1.0):
    """Tiles (N, h, w) or (N, h, w, 3) laid out in rows of ``ncols`` (default about
    sqrt(N)) with ``padding`` pixels of ``pad_value`` between them."""
    t = np.asarray(tiles, dtype=np.float64)
    if t.ndim not in (3, 4) or (t.ndim == 4 and t.shape[-1] != 3) or len(t) == 0:
        raise ValueError(f"make_grid: expected tiles (N, h, w) or (N, h, w, 3), got shape "
                         f"{t.shape}")
    n = len(t)
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    h, w = t.shape[1:3]
    grid = np.full((nrows * (h + padding) + padding, ncols * (w + padding) + padding)
                   + t.shape[3:], pad_value)
    for i, tile in enumerate(t):
        r, col = divmod(i, ncols)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y:y + h, x:x + w] = tile
    return grid


def _scale(a, axes):
    lo = a.min(axis=axes, keepdims=True)
    hi = a.max(axis=axes, keepdims=True)
    return (a - lo) / np.where(hi > lo, hi - lo, 1)


def filter_grid(weight, ncols=None, padding=1, normalize="each"):
    """The filters of a convolution (``conv.weight`` (out, in, kh, kw) or the layer itself)
    as one image: RGB tiles for 3 input channels, gray tiles otherwise (one per input channel
    and filter, a row of ``in`` tiles per filter when ``ncols`` is None). ``normalize``:
    "each" scales every tile to [0, 1], "all" scales all with one min and max (keeps how
    strong the filters are relative to each other)."""
    if isinstance(weight, nn.Module):
        weight = getattr(weight, "weight", None)
    w = _array(weight).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"filter_grid: expected a convolution weight (out, in, kh, kw), got "
                         f"shape {w.shape}")
    if normalize not in ("each", "all"):
        raise ValueError(f"filter_grid: normalize must be 'each' or 'all', got {normalize!r}")
    if w.shape[1] == 3:
        tiles = w.transpose(0, 2, 3, 1)
        axes = (1, 2, 3)
    else:
        tiles = w.reshape(-1, *w.shape[2:])
        ncols = ncols or (w.shape[1] if w.shape[1] > 1 else None)
        axes = (1, 2)
    tiles = _scale(tiles, axes) if normalize == "each" else _scale(tiles, None)
    return make_grid(tiles, ncols, padding)


def _layers(model, layers):
    named = OrderedDict(model.named_modules())
    if layers is None:
        return OrderedDict((n, m) for n, m in named.items() if n and not m._modules)
    out = OrderedDict()
    for layer in ([layers] if isinstance(layers, (str, nn.Module)) else layers):
        if isinstance(layer, str):
            out[layer] = model.get_submodule(layer)
        else:
            name = next((n for n, m in named.items() if m is layer), None)
            if name is None:
                raise ValueError(f"feature_maps: {type(layer).__name__} is not a submodule "
                                 f"of {type(model).__name__}")
            out[name] = layer
    return out


def feature_maps(model, inputs, layers=None):
    """Run ``model(inputs)`` once without gradients and return ``{name: output}`` of
    ``layers`` (dotted names or submodules; default every leaf module), caught by forward
    hooks, as detached Tensors. A layer that runs several times keeps its last output."""
    chosen = _layers(model, layers)
    maps = OrderedDict()

    def hook_for(name):
        def hook(module, args, out):
            if isinstance(out, ember.Tensor):  # a copy: a later in-place layer may write out
                maps[name] = out.detach().clone()
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in chosen.items()]
    try:
        with ember.no_grad():
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    return OrderedDict((n, maps[n]) for n in chosen if n in maps)


def feature_map_grid(feature_map, ncols=None, padding=1, max_maps=64):
    """One example's feature maps (C, h, w) (or (1, C, h, w)) as a grid of gray tiles, each
    scaled to [0, 1]; at most ``max_maps`` channels."""
    a = _array(feature_map).astype(np.float64)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"feature_map_grid: expected feature maps (C, h, w), got shape "
                         f"{a.shape}")
    return make_grid(_scale(a[:max_maps], (1, 2)), ncols, padding)


def save_image(image, path, scale=1, cmap="gray"):
    """Write an image (H, W) (coloured by ``cmap``) or (H, W, 3) in [0, 1] to a PNG,
    each pixel repeated ``scale`` times in both directions (small images stay sharp)."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] != 3):
        raise ValueError(f"save_image: expected (H, W) or (H, W, 3), got shape {img.shape}")
    if scale > 1:
        img = img.repeat(scale, 0).repeat(scale, 1)
    if img.ndim == 2:
        img = _colormap(cmap)(np.clip(img, 0, 1))[..., :3]
    import matplotlib.image
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    matplotlib.image.imsave(path, np.clip(img, 0, 1))
    return path
