"""Image transforms on arrays and Tensors, for one sample or a whole batch at once.

A sample is ``(H, W)`` or ``(C, H, W)``; a batch is ``(N, C, H, W)`` (``apply_batch`` also takes
``(N, H, W)``). Every transform is called on a sample (``t(x)``; a 4-d input counts as a batch)
or on a batch (``t.apply_batch(x)``), vectorised: no Python loop over the items. The input may
be a NumPy/CuPy array or an ember Tensor, and comes back as the same kind; ``ToTensor`` always
returns a Tensor. Put ``ToTensor`` first when images are ``(H, W, C)`` uint8, as in PyTorch.

Random transforms draw their parameters from ember's data generator (``ember.manual_seed``
fixes it; a DataLoader gives each batch its own stream). A transform draws the same numbers per
item whether it is applied item by item or to the batch, so a single random transform gives the
same result both ways under the same seed (a Compose of several random ones interleaves its
draws differently and does not).
"""
from __future__ import annotations

import numbers

import numpy as np

from ember import backend
from ember.data._rng import current_generator
from ember.nn.functional.upsampling import linear_taps, nearest_taps
from ember.tensor import Tensor

__all__ = ["Transform", "Compose", "ToTensor", "Normalize", "Pad", "CenterCrop", "RandomCrop",
           "RandomHorizontalFlip", "RandomVerticalFlip", "Resize", "RandomRotation",
           "RandomAffine", "RandomErasing", "resize", "affine_sample"]


# --- helpers ------------------------------------------------------------------------------

def _unwrap(x):
    if isinstance(x, Tensor):
        return x.array, True
    return (x if backend.get_array_module(x) is not np else np.asarray(x)), False


def _wrap(array, tensor):
    return Tensor._make(array) if tensor else array


def _pair(value, name):
    """``5`` -> ``(5, 5)``; ``(5,)`` -> ``(5, 5)``; ``(4, 6)`` stays."""
    if isinstance(value, numbers.Number):
        return (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * 2
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a sequence of 1 or 2 ints, got {value}")
    return value


def _range(value, name, symmetric=True):
    """``d`` -> ``(-d, d)`` (``symmetric``); ``(a, b)`` stays."""
    if isinstance(value, numbers.Number):
        if symmetric and value < 0:
            raise ValueError(f"{name} must be non-negative when a single number, got {value}")
        return (-float(value), float(value))
    value = tuple(float(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{name} must be a number or a sequence of 2 numbers, got {value}")
    return value


def _draw(n, k):
    """``n`` rows of ``k`` uniform numbers in [0, 1) on the CPU: item i always gets row i, so
    one call for a batch draws what ``n`` calls for single items would."""
    return current_generator().random((n, k))


def _lerp(u, bounds):
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _randint(u, n):
    """Uniform integers in ``[0, n)`` from uniforms ``u`` (n may be an array)."""
    return np.minimum(np.floor(u * n), n - 1).astype(np.int64)


def _as4d(x):
    """(N, *C, H, W) -> (N, M, H, W) with M = prod(C) (1 without channels)."""
    n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    return x.reshape(n, -1, h, w)


def _gather(x4, iy, ix):
    """``out[n, m, i, j] = x4[n, m, iy[n, i, j], ix[n, i, j]]`` (iy, ix broadcast to (N, h, w))."""
    xp = backend.get_array_module(x4)
    n = xp.arange(x4.shape[0]).reshape(-1, 1, 1, 1)
    m = xp.arange(x4.shape[1]).reshape(1, -1, 1, 1)
    return x4[n, m, xp.asarray(iy)[:, None], xp.asarray(ix)[:, None]]


def _crop_windows(x, top, left, h, w):
    """``x[n, ..., top[n]:top[n] + h, left[n]:left[n] + w]`` for every item n, as one gather of
    whole rows from a sliding-window view (no copy until the gather)."""
    xp = backend.get_array_module(x)
    x4 = _as4d(x)
    windows = xp.lib.stride_tricks.sliding_window_view(x4, (h, w), axis=(2, 3))
    n = xp.arange(x4.shape[0])
    out = windows[n, :, xp.asarray(top), xp.asarray(left)]  # (N, M, h, w)
    return out.reshape(x.shape[:-2] + (h, w))


def _fill_array(fill, x4):
    """A scalar, or one value per channel shaped (1, M, 1, 1), in x4's dtype."""
    xp = backend.get_array_module(x4)
    if isinstance(fill, numbers.Number):
        return xp.asarray(fill, dtype=x4.dtype)
    fill = xp.asarray(fill, dtype=x4.dtype).reshape(1, -1, 1, 1)
    if fill.shape[1] not in (1, x4.shape[1]):
        raise ValueError(f"fill has {fill.shape[1]} values but the image has {x4.shape[1]} "
                         f"channels")
    return fill


def _round_like(y, dtype):
    """Back to an integer dtype by rounding (bilinear results of uint8 images)."""
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        xp = backend.get_array_module(y)
        return xp.clip(xp.rint(y), info.min, info.max).astype(dtype)
    return y.astype(dtype, copy=False)


def _interpolation(mode):
    mode = str(getattr(mode, "value", mode)).lower()
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {mode!r}")
    return mode


# --- base and composition -------------------------------------------------------------------

class Transform:
    """Base class: subclasses implement ``_apply(batch)`` on an (N, ..., H, W) array."""

    batchable = True  # ``apply_batch`` transforms a whole batch at once

    def __call__(self, x):
        a, tensor = _unwrap(x)
        out = self._apply(a) if a.ndim >= 4 else self._apply(a[None])[0]
        return _wrap(out, tensor)

    def apply_batch(self, x):
        """Transform a batch (its first axis); random parameters are drawn per item."""
        a, tensor = _unwrap(x)
        return _wrap(self._apply(a), tensor)

    def _apply(self, x):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply transforms one after another."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    @property
    def batchable(self):
        return all(getattr(t, "batchable", False) for t in self.transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def apply_batch(self, x):
        if not self.batchable:
            raise TypeError("Compose.apply_batch: every transform must have apply_batch; "
                            f"got {self.transforms}")
        for t in self.transforms:
            x = t.apply_batch(x)
        return x


class ToTensor(Transform):
    """Images (H, W) or (H, W, C) -> a float Tensor (C, H, W); uint8 is scaled to [0, 1].

    A 4-d input is a batch (N, H, W, C) -> (N, C, H, W); ``apply_batch`` also takes (N, H, W).
    Floating images keep their dtype and values (only the layout changes).
    """

    def __call__(self, pic):
        a, _ = _unwrap(pic)
        if a.ndim not in (2, 3, 4):
            raise ValueError(f"ToTensor expects (H, W), (H, W, C) or (N, H, W, C), "
                             f"got shape {a.shape}")
        if a.ndim == 4:
            return Tensor._make(self._apply(a))
        return Tensor._make(self._apply((a if a.ndim == 3 else a[:, :, None])[None])[0])

    def apply_batch(self, x):
        a, _ = _unwrap(x)
        if a.ndim not in (3, 4):
            raise ValueError(f"ToTensor.apply_batch expects (N, H, W) or (N, H, W, C), "
                             f"got shape {a.shape}")
        return Tensor._make(self._apply(a if a.ndim == 4 else a[..., None]))

    def _apply(self, nhwc):
        xp = backend.get_array_module(nhwc)
        nchw = xp.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
        if nchw.dtype == np.uint8:
            return nchw.astype(np.float32) / np.float32(255)
        return nchw


class Normalize(Transform):
    """``(x - mean[c]) / std[c]`` per channel of a float (C, H, W) or (N, C, H, W) image."""

    def __init__(self, mean, std, inplace=False):
        self.mean = tuple(np.atleast_1d(np.asarray(mean, dtype=np.float64)).tolist())
        self.std = tuple(np.atleast_1d(np.asarray(std, dtype=np.float64)).tolist())
        if len(self.mean) != len(self.std):
            raise ValueError(f"Normalize: mean has {len(self.mean)} values, std {len(self.std)}")
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std {self.std} contains a zero (division by zero)")
        self.inplace = inplace

    def _apply(self, x):
        if x.dtype.kind != "f":
            raise TypeError(f"Normalize expects a floating image, got {x.dtype}; "
                            "use ToTensor first")
        channels = len(self.mean)
        if channels > 1 and (x.ndim != 4 or x.shape[1] != channels):
            raise ValueError(f"Normalize: {channels} means for an image of shape "
                             f"{x.shape[1:]}; expected (C={channels}, H, W)")
        xp = backend.get_array_module(x)
        mean = xp.asarray(self.mean, dtype=x.dtype).reshape(-1, 1, 1)
        std = xp.asarray(self.std, dtype=x.dtype).reshape(-1, 1, 1)
        if self.inplace:
            x -= mean
            x /= std
            return x
        return (x - mean) / std


_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect",
              "symmetric": "symmetric"}


def _pad(x, left, top, right, bottom, fill=0, mode="constant"):
    xp = backend.get_array_module(x)
    height, width = x.shape[-2], x.shape[-1]
    if mode == "constant":  # one fill and one copy: several times faster than xp.pad
        out = xp.full(x.shape[:-2] + (top + height + bottom, left + width + right), fill,
                      dtype=x.dtype)
        out[..., top:top + height, left:left + width] = x
        return out
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    return xp.pad(x, widths, mode=_PAD_MODES[mode])


def _padding4(padding):
    """PyTorch's padding forms: p, (lr, tb) or (left, top, right, bottom)."""
    if isinstance(padding, numbers.Number):
        padding = (padding,)
    padding = tuple(int(p) for p in padding)
    if len(padding) == 1:
        padding *= 4
    elif len(padding) == 2:
        padding *= 2
    if len(padding) != 4 or min(padding) < 0:
        raise ValueError(f"padding must be p, (left/right, top/bottom) or "
                         f"(left, top, right, bottom) of non-negative ints, got {padding}")
    return padding


class Pad(Transform):
    """Pad the borders: ``padding`` as in PyTorch; mode constant (``fill``), edge, reflect,
    symmetric."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        if padding_mode not in _PAD_MODES:
            raise ValueError(f"padding_mode must be one of {list(_PAD_MODES)}, "
                             f"got {padding_mode!r}")
        self.padding = _padding4(padding)
        self.fill = fill
        self.padding_mode = padding_mode

    def _apply(self, x):
        return _pad(x, *self.padding, fill=self.fill, mode=self.padding_mode)


class CenterCrop(Transform):
    """Crop the centre ``size`` (padding with zeros where the image is smaller)."""

    def __init__(self, size):
        self.size = _pair(size, "size")

    def _apply(self, x):
        (h, w), height, width = self.size, x.shape[-2], x.shape[-1]
        if h > height or w > width:  # PyTorch pads first, then crops
            dh, dw = max(h - height, 0), max(w - width, 0)
            x = _pad(x, dw // 2, dh // 2, (dw + 1) // 2, (dh + 1) // 2)
            height, width = x.shape[-2], x.shape[-1]
        top, left = round((height - h) / 2.0), round((width - w) / 2.0)
        return x[..., top:top + h, left:left + w]


class RandomCrop(Transform):
    """Crop a random ``size`` window, after optional ``padding`` (as in PyTorch)."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0,
                 padding_mode="constant"):
        self.size = _pair(size, "size")
        self.padding = None if padding is None else _padding4(padding)
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode
        if padding_mode not in _PAD_MODES:
            raise ValueError(f"padding_mode must be one of {list(_PAD_MODES)}, "
                             f"got {padding_mode!r}")

    def _apply(self, x):
        h, w = self.size
        if self.padding is not None:
            x = _pad(x, *self.padding, fill=self.fill, mode=self.padding_mode)
        if self.pad_if_needed and x.shape[-1] < w:
            d = w - x.shape[-1]
            x = _pad(x, d, 0, d, 0, fill=self.fill, mode=self.padding_mode)
        if self.pad_if_needed and x.shape[-2] < h:
            d = h - x.shape[-2]
            x = _pad(x, 0, d, 0, d, fill=self.fill, mode=self.padding_mode)
        height, width = x.shape[-2], x.shape[-1]
        if height < h or width < w:
            raise ValueError(f"RandomCrop: crop size {(h, w)} is larger than the (padded) "
                             f"image {(height, width)}")
        u = _draw(x.shape[0], 2)
        top, left = _randint(u[:, 0], height - h + 1), _randint(u[:, 1], width - w + 1)
        return _crop_windows(x, top, left, h, w)


class RandomHorizontalFlip(Transform):
    """Mirror left-right with probability ``p``."""

    _axis = -1

    def __init__(self, p=0.5):
        self.p = p

    def _apply(self, x):
        xp = backend.get_array_module(x)
        flip = xp.asarray(_draw(x.shape[0], 1)[:, 0] < self.p)
        return xp.where(flip.reshape((-1,) + (1,) * (x.ndim - 1)), xp.flip(x, self._axis), x)


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror top-bottom with probability ``p``."""

    _axis = -2


# --- resampling -----------------------------------------------------------------------------

def resize(x, size, interpolation="bilinear"):
    """Resize the last two axes of ``x`` to ``size`` (h, w), as ``F.interpolate`` with
    ``align_corners=False`` and no antialiasing."""
    xp = backend.get_array_module(x)
    (h, w), height, width = size, x.shape[-2], x.shape[-1]
    if _interpolation(interpolation) == "nearest":
        (iy, _), = nearest_taps(height, h)
        (ix, _), = nearest_taps(width, w)
        return x[..., xp.asarray(iy)[:, None], xp.asarray(ix)]
    y = x.astype(np.float32) if x.dtype.kind != "f" else x
    (y0, _), (y1, wy) = linear_taps(height, h)  # weights in float64, then cast
    (x0, _), (x1, wx) = linear_taps(width, w)
    y0, y1, x0, x1 = (xp.asarray(a) for a in (y0, y1, x0, x1))
    wy, wx = xp.asarray(wy.astype(y.dtype))[:, None], xp.asarray(wx.astype(y.dtype))
    y = y[..., y0, :] * (1 - wy) + y[..., y1, :] * wy
    y = y[..., x0] * (1 - wx) + y[..., x1] * wx
    return _round_like(y, x.dtype)


class Resize(Transform):
    """Resize to ``size`` (h, w), or an int: the shorter side becomes ``size`` keeping the
    aspect ratio. ``interpolation`` is 'bilinear' (default) or 'nearest' (no antialiasing)."""

    def __init__(self, size, interpolation="bilinear"):
        self.size = int(size) if isinstance(size, numbers.Number) else _pair(size, "size")
        self.interpolation = _interpolation(interpolation)

    def _apply(self, x):
        height, width = x.shape[-2], x.shape[-1]
        size = self.size
        if isinstance(size, int):  # shorter side -> size, as PyTorch
            short, long = sorted((height, width))
            other = int(size * long / short)
            size = (size, other) if height <= width else (other, size)
        return resize(x, size, self.interpolation)


def _affine_coefficients(height, width, angle, translate, scale, shear, center):
    """Per item, the map from output pixel (X, Y) to input point (x, y):
    ``x = a X + b Y + c``, ``y = d X + e Y + f`` (arrays of shape (N,) each).

    The forward map is ``p' = centre + t + scale * R(angle) @ Shear @ (p - centre)``, with
    positive angles counter-clockwise on screen (y points down) and shear angles in degrees.
    """
    cx, cy = ((width - 1) * 0.5, (height - 1) * 0.5) if center is None else center
    theta, shx, shy = np.radians(angle), np.tan(np.radians(shear[0])), np.tan(np.radians(shear[1]))
    cos, sin = np.cos(theta), np.sin(theta)
    # M = scale * [[cos, sin], [-sin, cos]] @ [[1, shx], [shy, 1]]
    m00, m01 = scale * (cos + sin * shy), scale * (cos * shx + sin)
    m10, m11 = scale * (-sin + cos * shy), scale * (-sin * shx + cos)
    det = m00 * m11 - m01 * m10
    a, b, d, e = m11 / det, -m01 / det, -m10 / det, m00 / det
    ox, oy = cx + translate[0], cy + translate[1]
    return a, b, cx - a * ox - b * oy, d, e, cy - d * ox - e * oy


def affine_sample(x, coefficients, interpolation="nearest", fill=0):
    """Resample the last two axes of ``x`` (N, ..., H, W) at ``x = aX + bY + c``,
    ``y = dX + eY + f`` per item; points outside the image take ``fill``."""
    xp = backend.get_array_module(x)
    x4 = _as4d(x)
    n, m, height, width = x4.shape
    # A one-pixel border of ``fill`` lets every outside point clip onto it: no masks needed.
    framed = xp.empty((n, m, height + 2, width + 2), dtype=x4.dtype)
    framed[...] = _fill_array(fill, x4)
    framed[:, :, 1:-1, 1:-1] = x4
    framed = framed.reshape(-1)
    offsets = (xp.arange(n * m) * ((height + 2) * (width + 2))).reshape(n, m, 1)
    a, b, c, d, e, f = (xp.asarray(k, dtype=np.float64).reshape(n, 1, 1) for k in coefficients)
    gy, gx = xp.meshgrid(xp.arange(height, dtype=np.float64), xp.arange(width, dtype=np.float64),
                         indexing="ij")
    sx, sy = a * gx + b * gy + c + 1, d * gx + e * gy + f + 1  # (N, H, W), framed coordinates

    def pixels(iy, ix):  # framed[n, :, iy, ix] -> (N, M, H * W); ufuncs beat xp.clip here
        iy = xp.minimum(xp.maximum(iy, 0), height + 1)
        ix = xp.minimum(xp.maximum(ix, 0), width + 1)
        return xp.take(framed, (iy * (width + 2) + ix).reshape(n, 1, -1) + offsets)

    if _interpolation(interpolation) == "nearest":
        out = pixels(xp.floor(sy + 0.5).astype(np.int64), xp.floor(sx + 0.5).astype(np.int64))
        return out.reshape(x.shape)
    x0, y0 = xp.floor(sx), xp.floor(sy)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    wx = (sx - x0).astype(dtype).reshape(n, 1, -1)
    wy = (sy - y0).astype(dtype).reshape(n, 1, -1)
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    top = pixels(y0, x0) * (1 - wx) + pixels(y0, x0 + 1) * wx
    bottom = pixels(y0 + 1, x0) * (1 - wx) + pixels(y0 + 1, x0 + 1) * wx
    return _round_like(top * (1 - wy) + bottom * wy, x.dtype).reshape(x.shape)


class RandomAffine(Transform):
    """Random rotation, translation, scale and shear about the image centre.

    Args:
        degrees: rotation range: d -> (-d, d), or (min, max); counter-clockwise positive.
        translate: (a, b): shifts up to a * width and b * height (rounded to whole pixels).
        scale: (min, max) zoom factor range.
        shear: x-shear range: s -> (-s, s) or (min, max); or (xmin, xmax, ymin, ymax) degrees.
        interpolation: 'nearest' or 'bilinear'. fill: value (or per-channel values) outside.
        center: (x, y) pixel position to rotate about; default the image centre.
    """

    def __init__(self, degrees, translate=None, scale=None, shear=None,
                 interpolation="nearest", fill=0, center=None):
        self.degrees = _range(degrees, "degrees")
        self.translate = None if translate is None else tuple(float(t) for t in translate)
        if self.translate is not None and (len(self.translate) != 2
                                           or not all(0 <= t <= 1 for t in self.translate)):
            raise ValueError(f"translate must be two fractions in [0, 1], got {translate}")
        self.scale = None if scale is None else _range(scale, "scale", symmetric=False)
        if self.scale is not None and min(self.scale) <= 0:
            raise ValueError(f"scale range must be positive, got {scale}")
        self.shear = self._shear_ranges(shear)
        self.interpolation = _interpolation(interpolation)
        self.fill = fill
        self.center = center

    @staticmethod
    def _shear_ranges(shear):
        if shear is None:
            return None
        if isinstance(shear, numbers.Number) or len(shear) == 2:
            return _range(shear, "shear") + (0.0, 0.0)
        if len(shear) != 4:
            raise ValueError(f"shear must be a number or a sequence of 2 or 4, got {shear}")
        return tuple(float(s) for s in shear)

    _DRAWS = 6  # uniforms per item

    def _params(self, u, height, width):
        """Angle, translation, scale and shear per item from uniforms u (N, 6)."""
        tx = ty = np.zeros(len(u))
        if self.translate is not None:
            tx = np.round(_lerp(u[:, 1], (-1, 1)) * self.translate[0] * width)
            ty = np.round(_lerp(u[:, 2], (-1, 1)) * self.translate[1] * height)
        scale = np.ones(len(u)) if self.scale is None else _lerp(u[:, 3], self.scale)
        shear = (0.0, 0.0) if self.shear is None else (
            _lerp(u[:, 4], self.shear[:2]), _lerp(u[:, 5], self.shear[2:]))
        return _lerp(u[:, 0], self.degrees), (tx, ty), scale, shear

    def _apply(self, x):
        height, width = x.shape[-2], x.shape[-1]
        angle, translate, scale, shear = self._params(_draw(x.shape[0], self._DRAWS), height,
                                                      width)
        coefficients = _affine_coefficients(height, width, angle, translate, scale, shear,
                                            self.center)
        return affine_sample(x, coefficients, self.interpolation, self.fill)


class RandomRotation(RandomAffine):
    """Rotate by a random angle in ``degrees`` (d -> (-d, d)), counter-clockwise positive,
    about ``center`` (default the image centre); the size stays the same."""

    _DRAWS = 1

    def __init__(self, degrees, interpolation="nearest", center=None, fill=0):
        super().__init__(degrees, interpolation=interpolation, fill=fill, center=center)

    def _params(self, u, height, width):
        return _lerp(u[:, 0], self.degrees), (0.0, 0.0), 1.0, (0.0, 0.0)


class RandomErasing(Transform):
    """With probability ``p``, set a random rectangle to ``value`` (Zhong et al., 2017).

    The rectangle covers a fraction in ``scale`` of the area with aspect ratio in ``ratio``
    (log-uniform); like PyTorch it makes up to 10 attempts to fit one, else leaves the image.
    ``value``: a number, one per channel, or 'random' (standard normal noise). Works on float
    (C, H, W) / (N, C, H, W) images, so place it after ToTensor.
    """

    _ATTEMPTS = 10

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomErasing: p must be in [0, 1], got {p}")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError(f"RandomErasing: scale {scale} and ratio {ratio} must be (min, max)")
        self.p, self.scale, self.ratio = p, tuple(scale), tuple(ratio)
        self.value, self.inplace = value, inplace

    def _boxes(self, u, height, width):
        """Top, left, height and width of each item's box, and whether to erase it."""
        k = self._ATTEMPTS
        area = height * width * _lerp(u[:, 1:1 + k], self.scale)
        aspect = np.exp(_lerp(u[:, 1 + k:1 + 2 * k], np.log(self.ratio)))
        hs = np.round(np.sqrt(area * aspect)).astype(np.int64)
        ws = np.round(np.sqrt(area / aspect)).astype(np.int64)
        fits = (hs < height) & (ws < width)
        first = np.argmax(fits, axis=1)  # the first attempt that fits, as PyTorch's loop
        rows = np.arange(len(u))
        h, w = hs[rows, first], ws[rows, first]
        erase = (u[:, 0] < self.p) & fits.any(axis=1)
        top = _randint(u[:, -2], height - h + 1)
        left = _randint(u[:, -1], width - w + 1)
        return top, left, h, w, erase

    def _apply(self, x):
        if x.dtype.kind != "f":
            raise TypeError(f"RandomErasing expects a floating image, got {x.dtype}; "
                            "use ToTensor first")
        xp = backend.get_array_module(x)
        n, height, width = x.shape[0], x.shape[-2], x.shape[-1]
        top, left, h, w, erase = self._boxes(_draw(n, 3 + 2 * self._ATTEMPTS), height, width)
        r, c = np.arange(height), np.arange(width)
        in_rows = (r >= top[:, None]) & (r < (top + h)[:, None])
        in_cols = (c >= left[:, None]) & (c < (left + w)[:, None])
        mask = in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None]
        mask = xp.asarray(mask).reshape((n,) + (1,) * (x.ndim - 3) + (height, width))
        if isinstance(self.value, str):
            if self.value != "random":
                raise ValueError(f"RandomErasing: value must be a number, a sequence or "
                                 f"'random', got {self.value!r}")
            value = xp.asarray(current_generator().standard_normal(x.shape), dtype=x.dtype)
        elif isinstance(self.value, numbers.Number):
            value = xp.asarray(self.value, dtype=x.dtype)
        else:
            value = xp.asarray(self.value, dtype=x.dtype).reshape(-1, 1, 1)
        if self.inplace:
            x[...] = xp.where(mask, value, x)
            return x
        return xp.where(mask, value, x)
