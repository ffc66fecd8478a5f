"""Transforms: shapes, values, PyTorch parity for resizing/padding, batch == per-item draws."""
import numpy as np
import pytest
from _parity import import_torch

import ember
from ember.data import transforms as T
from ember.tensor import Tensor

rng = np.random.default_rng(0)
IMG_U8 = rng.integers(0, 256, (3, 9, 9), dtype=np.uint8)      # CHW
BATCH = rng.random((5, 3, 9, 9)).astype(np.float32)            # NCHW


def test_to_tensor_layouts():
    hw = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    t = T.ToTensor()(hw)
    assert isinstance(t, Tensor) and t.shape == (1, 4, 6) and t.dtype == ember.float32
    assert np.allclose(t.numpy()[0], hw / 255.0)
    hwc = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    assert np.allclose(T.ToTensor()(hwc).numpy(), hwc.transpose(2, 0, 1) / 255.0)
    nhwc = rng.integers(0, 256, (2, 4, 6, 3), dtype=np.uint8)
    assert np.allclose(T.ToTensor()(nhwc).numpy(), nhwc.transpose(0, 3, 1, 2) / 255.0)
    nhw = rng.integers(0, 256, (2, 4, 6), dtype=np.uint8)
    assert T.ToTensor().apply_batch(nhw).shape == (2, 1, 4, 6)
    floats = rng.random((4, 6, 2))
    out = T.ToTensor()(floats)
    assert out.dtype == ember.float64 and np.array_equal(out.numpy(), floats.transpose(2, 0, 1))
    with pytest.raises(ValueError, match="ToTensor"):
        T.ToTensor()(np.zeros(5))


def test_normalize_arithmetic_and_errors():
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    out = T.Normalize(mean, std)(BATCH[0])
    expected = (BATCH[0] - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    assert out.dtype == np.float32 and np.allclose(out, expected, rtol=1e-6)
    assert np.allclose(T.Normalize(mean, std).apply_batch(BATCH),
                       (BATCH - np.reshape(mean, (3, 1, 1))) / np.reshape(std, (3, 1, 1)))
    single = T.Normalize(0.5, 0.5)(Tensor(BATCH[0, 0]))  # (H, W) with one channel value
    assert isinstance(single, Tensor) and np.allclose(single.numpy(), (BATCH[0, 0] - 0.5) / 0.5)
    x = BATCH.copy()
    assert T.Normalize(mean, std, inplace=True).apply_batch(x) is x
    with pytest.raises(TypeError, match="ToTensor first"):
        T.Normalize(0.5, 0.5)(IMG_U8)
    with pytest.raises(ValueError, match="3 means"):
        T.Normalize(mean, std)(BATCH[0, :2])
    with pytest.raises(ValueError, match="zero"):
        T.Normalize((0, 0), (1, 0))


def test_flips_equal_array_flips():
    assert np.array_equal(T.RandomHorizontalFlip(p=1)(IMG_U8), IMG_U8[..., ::-1])
    assert np.array_equal(T.RandomVerticalFlip(p=1)(IMG_U8), IMG_U8[:, ::-1, :])
    assert np.array_equal(T.RandomHorizontalFlip(p=0)(IMG_U8), IMG_U8)
    hw = IMG_U8[0]
    assert np.array_equal(T.RandomHorizontalFlip(p=1)(hw), hw[:, ::-1])
    out = T.RandomHorizontalFlip(p=0.5).apply_batch(BATCH)
    flipped = [np.array_equal(o, b[..., ::-1]) for o, b in zip(out, BATCH)]
    kept = [np.array_equal(o, b) for o, b in zip(out, BATCH)]
    assert all(f != k for f, k in zip(flipped, kept))


def _is_window(crop, padded):
    h, w = crop.shape[-2:]
    return any(np.array_equal(crop, padded[..., i:i + h, j:j + w])
               for i in range(padded.shape[-2] - h + 1) for j in range(padded.shape[-1] - w + 1))


def test_random_crop_with_padding():
    t = T.RandomCrop(9, padding=2)
    padded = np.pad(IMG_U8, ((0, 0), (2, 2), (2, 2)))
    crops = [t(IMG_U8) for _ in range(8)]
    assert all(c.shape == (3, 9, 9) and _is_window(c, padded) for c in crops)
    assert len({c.tobytes() for c in crops}) > 1
    out = T.RandomCrop((4, 6)).apply_batch(BATCH)
    assert out.shape == (5, 3, 4, 6) and all(_is_window(o, b) for o, b in zip(out, BATCH))
    assert T.RandomCrop(12, pad_if_needed=True)(IMG_U8).shape == (3, 12, 12)
    reflect = T.RandomCrop(9, padding=(1, 2), padding_mode="reflect")(IMG_U8)
    assert _is_window(reflect, np.pad(IMG_U8, ((0, 0), (2, 2), (1, 1)), mode="reflect"))
    with pytest.raises(ValueError, match="larger than"):
        T.RandomCrop(10)(IMG_U8)


def test_center_crop_and_pad():
    assert np.array_equal(T.CenterCrop(5)(IMG_U8), IMG_U8[:, 2:7, 2:7])
    assert np.array_equal(T.CenterCrop((4, 6))(IMG_U8), IMG_U8[:, 2:6, 2:8])  # round(2.5) = 2
    big = T.CenterCrop(12)(IMG_U8)
    assert big.shape == (3, 12, 12) and np.array_equal(big[:, 1:10, 1:10], IMG_U8)
    assert np.array_equal(T.Pad((1, 2, 3, 4), fill=7)(IMG_U8),
                          np.pad(IMG_U8, ((0, 0), (2, 4), (1, 3)), constant_values=7))
    assert T.Pad(2).apply_batch(BATCH).shape == (5, 3, 13, 13)
    with pytest.raises(ValueError, match="padding"):
        T.Pad((1, 2, 3))
    with pytest.raises(ValueError, match="padding_mode"):
        T.Pad(1, padding_mode="wrap")


@pytest.mark.parametrize("mode,torch_mode", [("edge", "replicate"), ("reflect", "reflect"),
                                             ("constant", "constant")])
def test_pad_modes_match_torch(mode, torch_mode):
    torch = import_torch()
    ours = T.Pad((1, 2, 3, 2), padding_mode=mode).apply_batch(BATCH)
    theirs = torch.nn.functional.pad(torch.from_numpy(BATCH), (1, 3, 2, 2), mode=torch_mode)
    assert np.array_equal(ours, theirs.numpy())


@pytest.mark.parametrize("size", [(4, 5), (9, 9), (14, 20), (28, 3), (17, 11)])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_resize_matches_torch_interpolate(size, mode):
    torch = import_torch()
    ours = T.Resize(size, interpolation=mode).apply_batch(BATCH)
    theirs = torch.nn.functional.interpolate(torch.from_numpy(BATCH), size=size, mode=mode,
                                             align_corners=None if mode == "nearest" else False)
    assert ours.shape == (5, 3) + size
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_resize_int_size_and_uint8():
    assert T.Resize(6)(np.zeros((2, 9, 12), np.float32)).shape == (2, 6, 8)
    assert T.Resize(6)(np.zeros((12, 9), np.float32)).shape == (8, 6)
    out = T.Resize((18, 18))(IMG_U8)
    assert out.dtype == np.uint8 and out.shape == (3, 18, 18)
    assert np.abs(out[:, ::2, ::2].astype(int) - IMG_U8).max() <= 128
    assert np.array_equal(T.Resize(9)(IMG_U8), IMG_U8)
    with pytest.raises(ValueError, match="interpolation"):
        T.Resize(4, interpolation="cubic")


def test_rotation_by_90_degrees_is_rot90():
    square = rng.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    for mode in ("nearest", "bilinear"):
        out = T.RandomRotation((90, 90), interpolation=mode)(square)
        assert np.array_equal(out, np.rot90(square, k=1, axes=(1, 2))), mode  # counter-clockwise
        assert np.array_equal(T.RandomRotation(0, interpolation=mode)(square), square)
    odd = rng.random((1, 7, 7))
    assert np.allclose(T.RandomRotation((-90, -90))(odd), np.rot90(odd, k=-1, axes=(1, 2)))


def test_rotation_fill_and_range():
    ones = np.ones((1, 9, 9), np.float32)
    out = T.RandomRotation((45, 45), fill=-1.0)(ones)
    assert out[0, 0, 0] == -1.0 and out[0, 4, 4] == 1.0
    multi = T.RandomRotation((30, 30), fill=(1.0, 2.0, 3.0))(np.zeros((3, 9, 9), np.float32))
    assert multi[0, 0, 0] == 1.0 and multi[2, 0, 0] == 3.0
    with pytest.raises(ValueError, match="degrees"):
        T.RandomRotation(-5)


def test_affine_sample_translation_exact():
    x = rng.random((2, 1, 6, 7))
    n = np.ones(2)
    # output (X, Y) reads input (X - 1, Y - 2): a shift right by 1 and down by 2
    out = T.affine_sample(x, (n, 0 * n, -n, 0 * n, n, -2 * n), fill=-5.0)
    assert np.array_equal(out[..., 2:, 1:], x[..., :-2, :-1])
    assert (out[..., :2, :] == -5).all() and (out[..., :, :1] == -5).all()
    bil = T.affine_sample(x, (n, 0 * n, -n, 0 * n, n, -2 * n), "bilinear")
    assert np.allclose(bil[..., 2:, 1:], x[..., :-2, :-1])


def test_random_affine_translate_is_an_integer_shift():
    x = rng.random((4, 1, 10, 10))
    out = T.RandomAffine(0, translate=(0.2, 0.2)).apply_batch(x)
    for o, img in zip(out, x):
        shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                  if np.array_equal(o[..., max(dy, 0):10 + min(dy, 0), max(dx, 0):10 + min(dx, 0)],
                                    img[..., max(-dy, 0):10 - max(dy, 0),
                                        max(-dx, 0):10 - max(dx, 0)])]
        assert shifts
    assert np.allclose(T.RandomAffine(0)(x[0]), x[0])
    scaled = T.RandomAffine(0, scale=(2, 2))(np.arange(81.0).reshape(1, 9, 9))
    assert scaled[0, 4, 4] == 40.0  # the centre stays; zooming in repeats pixels near it
    assert T.RandomAffine(10, shear=(-5, 5, -5, 5), interpolation="bilinear").apply_batch(
        BATCH).shape == BATCH.shape
    with pytest.raises(ValueError, match="translate"):
        T.RandomAffine(0, translate=(2, 0))
    with pytest.raises(ValueError, match="shear"):
        T.RandomAffine(0, shear=(1, 2, 3))


def test_random_erasing():
    x = np.ones((4, 3, 16, 16), np.float32)
    out = T.RandomErasing(p=1.0).apply_batch(x)
    for o in out:
        zero = o[0] == 0
        assert np.array_equal(zero, (o == 0).all(axis=0))  # the same box on every channel
        rows, cols = np.flatnonzero(zero.any(1)), np.flatnonzero(zero.any(0))
        h, w = len(rows), len(cols)
        assert zero.sum() == h * w and 0.02 * 256 - 8 <= h * w <= 0.33 * 256 + 8  # a rectangle
    assert np.array_equal(T.RandomErasing(p=0.0).apply_batch(x), x)
    coloured = T.RandomErasing(p=1.0, value=(2.0, 3.0, 4.0))(x[0])
    assert set(np.unique(coloured[1])) == {1.0, 3.0}
    noisy = T.RandomErasing(p=1.0, value="random")(x[0])
    assert (noisy != 1).any()
    y = x[0].copy()
    out = T.RandomErasing(p=1.0, inplace=True)(y)
    assert (y == 0).any() and np.array_equal(out, y)  # erased in place
    with pytest.raises(TypeError, match="floating"):
        T.RandomErasing()(IMG_U8)


RANDOM = [T.RandomCrop(7, padding=2), T.RandomHorizontalFlip(), T.RandomVerticalFlip(),
          T.RandomRotation(30, interpolation="bilinear"),
          T.RandomAffine(20, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10),
          T.RandomErasing(p=0.7)]


@pytest.mark.parametrize("t", RANDOM, ids=lambda t: type(t).__name__)
def test_batch_equals_items_under_the_same_seed(t):
    ember.manual_seed(5)
    batch = t.apply_batch(BATCH)
    ember.manual_seed(5)
    items = np.stack([t(b) for b in BATCH])
    assert np.array_equal(batch, items)
    ember.manual_seed(5)
    assert np.array_equal(t(BATCH), batch)  # a 4-d input to __call__ is a batch
    ember.manual_seed(6)
    assert not np.array_equal(t.apply_batch(BATCH), batch)


def test_compose_and_tensor_inputs(device):
    tf = T.Compose([T.ToTensor(), T.Pad(1), T.RandomCrop(9), T.Normalize(0.5, 0.5)])
    assert tf.batchable and "RandomCrop" in repr(tf)
    hwc = rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)
    out = tf(ember.tensor(hwc, device=device))
    assert isinstance(out, Tensor) and out.shape == (3, 9, 9) and out.device == ember.device(device)
    lam = T.Compose([T.ToTensor(), lambda x: x])
    assert not lam.batchable
    with pytest.raises(TypeError, match="apply_batch"):
        lam.apply_batch(hwc[None])
