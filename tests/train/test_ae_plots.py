"""The autoencoder pictures (ember/train/ae_plots.py): PCA by numpy.linalg against the SVD,
image tiling, the interpolation pairs, and every picture of a run written."""
import numpy as np
import pytest

import ember
from ember import models
from ember.train import ae_plots, autoencode


@pytest.mark.parametrize("n, d", [(200, 5), (6, 40)])  # eigh of the covariance; thin SVD
def test_pca_2d_matches_the_svd(n, d):
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(n, d)) * np.linspace(3, 0.5, d) + 2.0
    points, mean, comps, ratio = ae_plots.pca_2d(codes)
    centred = codes - codes.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    assert np.allclose(mean, codes.mean(0))
    for k in range(2):  # the same directions up to sign
        assert np.isclose(abs(comps[k] @ vt[k]), 1.0)
        assert np.allclose(np.abs(points[:, k]), np.abs(centred @ vt[k]))
    assert np.allclose(ratio, s[:2] ** 2 / (s ** 2).sum())
    assert np.allclose(comps @ comps.T, np.eye(2))


def test_tile_layout():
    images = np.stack([np.full((1, 2, 3), k / 10) for k in range(5)])
    grid = ae_plots.tile(images, 3)
    assert grid.shape == (2 * 3 - 1, 3 * 4 - 1)
    assert grid[0, 0] == 0.0 and grid[0, 4] == 0.1 and grid[3, 4] == 0.4
    assert grid[2, 0] == 1.0  # the white gap
    rgb = ae_plots.tile(np.zeros((2, 3, 2, 2)), 2)
    assert rgb.shape == (2, 5, 3)


def test_pairs_are_of_different_classes():
    labels = np.array([3, 3, 1, 0, 2, 1, 4])
    pairs = ae_plots._pairs(labels, 4)
    assert len(pairs) == 4 and all(labels[a] != labels[b] for a, b in pairs)
    assert ae_plots._pairs(np.zeros(3, np.int64), 2) == [(0, 1)]


@pytest.mark.parametrize("name, kwargs", [
    ("mlp_autoencoder", {"code_size": 3}), ("vae", {"code_size": 2}),
    ("denoising_autoencoder", {}), ("cvae", {"num_classes": 3})])
def test_write_pictures(tmp_path, name, kwargs):
    ember.manual_seed(0)
    model = models.get_model(name, input_size=8, **kwargs) if name != "denoising_autoencoder" \
        else models.denoising_autoencoder(input_size=8, channels=(2, 3))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (12, 1, 8, 8)).astype(np.float32)
    y = np.arange(12) % 3

    class Cfg:
        val_fraction, batch_size = 0.0, 4
    data = autoencode.make_data(x, y, x, y, Cfg, getattr(model, "noise", 0.0),
                                name == "cvae", ["a", "b", "c"])
    trainer = autoencode.ReconstructionTrainer(model, model.loss_function(),
                                               ember.optim.Adam(model.parameters()),
                                               progress=False)
    trainer.fit(data.train, epochs=1)
    written = ae_plots.write_pictures(model, trainer, data, str(tmp_path), n_show=5)
    for f in written:
        assert (tmp_path / f).stat().st_size > 1000, f
    assert ("samples.png" in written) == (model.task == "vae")
    assert ("denoising.png" in written) == (name == "denoising_autoencoder")
    assert ("lattice.png" in written) == (name != "cvae")
    path = ae_plots.plot_anomalies(x[:3], ["a", "b", "c"], [0.3, 0.2, 0.1],
                                   str(tmp_path / "anomalies.png"))
    assert (tmp_path / "anomalies.png").is_file() and path.endswith("anomalies.png")
