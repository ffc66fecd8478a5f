"""GaussianNoise (ember/data/noise.py): torchvision's v2.GaussianNoise as an ember transform."""
import numpy as np
import pytest

import ember
from ember.data import DataLoader
from ember.data.noise import GaussianNoise, noisy_copy


def test_statistics_and_clipping():
    ember.manual_seed(0)
    x = np.full((50, 1, 20, 20), 0.5, np.float32)
    out = GaussianNoise(sigma=0.1, clip=False).apply_batch(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert abs(out.mean() - 0.5) < 0.005 and abs(out.std() - 0.1) < 0.005
    out = GaussianNoise(mean=0.3, sigma=0.4).apply_batch(x)
    assert out.min() == 0.0 and out.max() == 1.0  # clipped to [0, 1]
    assert abs((out == 1.0).mean() - 0.3085) < 0.02  # 0.8 + 0.4 z >= 1 <=> z >= 0.5


def test_seeded_item_and_batch_agree_and_tensor_in_tensor_out():
    x = np.random.default_rng(0).uniform(0, 1, (4, 1, 5, 5)).astype(np.float32)
    ember.manual_seed(3)
    a = GaussianNoise(sigma=0.2).apply_batch(x)
    ember.manual_seed(3)
    b = np.stack([GaussianNoise(sigma=0.2)(x[i]) for i in range(4)])
    assert np.array_equal(a, b)
    t = GaussianNoise()(ember.tensor(x[0]))
    assert isinstance(t, ember.Tensor) and tuple(t.shape) == (1, 5, 5)
    assert "GaussianNoise(mean=0.0, sigma=0.1, clip=True)" == repr(GaussianNoise())


def test_a_loader_draws_fresh_noise_each_epoch_reproducibly():
    from ember.data import ArrayDataset
    x = np.zeros((8, 1, 3, 3), np.float32) + 0.5
    ds = ArrayDataset(x, np.zeros(8, np.int64), transform=GaussianNoise(sigma=0.1))

    def epochs():
        ember.manual_seed(1)
        loader = DataLoader(ds, batch_size=4, shuffle=False)
        return [np.concatenate([b[0].numpy() for b in loader]) for _ in range(2)]
    first, again = epochs(), epochs()
    assert not np.array_equal(first[0], first[1])
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])


def test_noisy_copy_is_fixed_by_its_seed():
    x = np.full((2, 1, 4, 4), 0.5, np.float32)
    a, b = noisy_copy(x, 0.4, seed=5), noisy_copy(x, 0.4, seed=5)
    assert np.array_equal(a, b) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert not np.array_equal(a, noisy_copy(x, 0.4, seed=6))


def test_errors():
    with pytest.raises(ValueError, match="GaussianNoise: sigma must be >= 0, got -1"):
        GaussianNoise(sigma=-1)
    with pytest.raises(TypeError, match=r"GaussianNoise expects a floating image, got uint8 "
                                        r"of shape \(1, 1, 2, 2\)"):
        GaussianNoise().apply_batch(np.zeros((1, 1, 2, 2), np.uint8))
