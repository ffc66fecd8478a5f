"""What evaluate/predict read: everything is in the checkpoint itself."""
import json

import numpy as np
import pytest

import ember
from ember import models
from ember.cli import _model_kwargs
from ember.train import pipeline


def fake_run(tmp_path, with_results):
    """A checkpoint laid out as ``ember train`` writes it (Trainer.state_dict())."""
    kwargs = _model_kwargs("lenet5", 10, 1, (28, 28))
    model = models.get_model("lenet5", **kwargs)
    prep = {"mean": 0.25, "std": 0.5, "class_names": [f"c{i}" for i in range(10)],
            "image_size": [28, 28]}
    ember.save({"model": model.state_dict(), "epoch": 1,
                "config": {"model": "lenet5", "model_kwargs": kwargs, "preprocessing": prep}},
               tmp_path / "last.ckpt")
    if with_results:
        (tmp_path / "results.json").write_text(json.dumps({"mean": 9.0, "std": 9.0}))
    return model, prep


def test_an_interrupted_run_needs_no_results_json(tmp_path):
    model, prep = fake_run(tmp_path, with_results=False)
    loaded, _, info = pipeline.load_run(str(tmp_path / "last.ckpt"))
    assert (info["mean"], info["std"], info["class_names"]) == (0.25, 0.5, prep["class_names"])
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.save(tmp_path / "img.npy", np.zeros((28, 28), np.uint8))
    [(_, top)] = pipeline.predict_files(str(tmp_path / "last.ckpt"),
                                           [str(tmp_path / "img.npy")], k=2)
    assert len(top) == 2 and top[0][0].startswith("c")


def test_the_checkpoint_wins_over_results_json(tmp_path):
    fake_run(tmp_path, with_results=True)
    _, _, info = pipeline.load_run(str(tmp_path / "last.ckpt"))
    assert (info["mean"], info["std"]) == (0.25, 0.5)


class _Arrays:
    def __init__(self, data, targets):
        self.data, self.targets = data, targets


def _cfg(**kw):
    from ember.cli import TrainConfig
    return TrainConfig(**{"val_fraction": 0.0, "batch_size": 8, **kw})


def test_float_signals_are_fed_as_they_are():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 12)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    loaders = pipeline.make_loaders(_Arrays(x, y), _Arrays(x[:5], y[:5]), _cfg())
    assert (loaders.in_channels, loaders.image_size, loaders.num_classes) == (1, (12,), 3)
    assert (loaders.mean, loaders.std, loaders.scale) == (0.0, 1.0, 1.0)
    np.testing.assert_array_equal(loaders.test.dataset.tensors[0].numpy(), x[:5, None])
    assert pipeline.preprocessing(loaders)["scale"] == 1.0


def test_uint8_images_are_scaled_and_standardised_as_before():
    x = np.random.default_rng(1).integers(0, 256, (10, 6, 6)).astype(np.uint8)
    y = np.arange(10) % 2
    loaders = pipeline.make_loaders(_Arrays(x, y), _Arrays(x, y), _cfg())
    mean, std = float(x.mean() / 255.0), float(x.std() / 255.0)
    assert (loaders.mean, loaders.std, loaders.scale) == (mean, std, 255.0)
    expected = ((x[:, None].astype(np.float32) / 255.0 - mean) / std).astype(np.float32)
    np.testing.assert_array_equal(loaders.test.dataset.tensors[0].numpy(), expected)


def test_augment_is_refused_for_signals():
    x = np.zeros((10, 12), np.float32)
    with pytest.raises(pipeline.RunError, match=r"--augment crops and flips images; data set "
                                                r"'mnist1d' holds 1-D signals of shape \(1, 12\)"):
        pipeline.make_loaders(_Arrays(x, np.zeros(10)), _Arrays(x, np.zeros(10)),
                              _cfg(augment=True, data="mnist1d"))


def test_predict_reads_signals_and_stacks_of_them(tmp_path):
    kwargs = _model_kwargs("gru1d", 10, 1, (40,))
    assert kwargs == {"num_classes": 10, "in_channels": 1, "time_steps": 40}
    model = models.get_model("gru1d", **kwargs)
    prep = {"mean": 0.0, "std": 1.0, "scale": 1.0, "class_names": [str(i) for i in range(10)],
            "image_size": [40]}
    ember.save({"model": model.state_dict(), "epoch": 1,
                "config": {"model": "gru1d", "model_kwargs": kwargs, "preprocessing": prep}},
               tmp_path / "last.ckpt")
    signals = np.random.default_rng(2).standard_normal((3, 40)).astype(np.float32)
    np.save(tmp_path / "stack.npy", signals)
    np.save(tmp_path / "one.npy", signals[1])
    out = pipeline.predict_files(str(tmp_path / "last.ckpt"),
                                 [str(tmp_path / "stack.npy"), str(tmp_path / "one.npy")], k=10)
    assert [label for label, _ in out] == [f"{tmp_path / 'stack.npy'}[{i}]" for i in range(3)] \
        + [str(tmp_path / "one.npy")]
    with ember.no_grad():
        probs = model(ember.tensor(signals)).softmax(1).numpy()
    for (_, top), p in zip(out, probs[[0, 1, 2, 1]]):
        assert [int(name) for name, _ in top] == list(np.argsort(-p))
        np.testing.assert_allclose([q for _, q in top], np.sort(p)[::-1], rtol=1e-6)
    np.save(tmp_path / "bad.npy", signals[:, :39])
    with pytest.raises(pipeline.RunError, match=r"has shape \(3, 39\), but the model was "
                                                r"trained on \(40,\) images .* N x 40\)"):
        pipeline.predict_files(str(tmp_path / "last.ckpt"), [str(tmp_path / "bad.npy")])


def test_colour_models_read_colour_images(tmp_path):
    """A 3-channel model gets (3, H, W) images: PNG as RGB, gray repeated, .npy stacks."""
    import matplotlib.pyplot as plt

    from ember.explain.command import explain_images
    kwargs = _model_kwargs("lenet5", 10, 3, (32, 32))
    model = models.get_model("lenet5", **kwargs)
    prep = {"mean": 0.5, "std": 0.25, "scale": 255.0,
            "class_names": [f"c{i}" for i in range(10)], "image_size": [32, 32]}
    ember.save({"model": model.state_dict(), "epoch": 1,
                "config": {"model": "lenet5", "model_kwargs": kwargs, "preprocessing": prep}},
               tmp_path / "last.ckpt")
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    plt.imsave(tmp_path / "rgb.png", rgb)
    np.save(tmp_path / "nchw.npy", rgb.transpose(2, 0, 1)[None].repeat(2, 0))
    np.save(tmp_path / "nhwc.npy", rgb[None].repeat(2, 0))
    [(_, img)] = pipeline.read_images(str(tmp_path / "rgb.png"), (32, 32), channels=3)
    np.testing.assert_allclose(img, rgb.transpose(2, 0, 1), atol=1e-3)
    for name in ("nchw.npy", "nhwc.npy"):
        images = pipeline.read_images(str(tmp_path / name), (32, 32), channels=3)
        assert len(images) == 2
        np.testing.assert_array_equal(images[1][1], rgb.transpose(2, 0, 1))
    plt.imsave(tmp_path / "gray.png", rgb[..., 0], cmap="gray")
    [(_, gray)] = pipeline.read_images(str(tmp_path / "gray.png"), (32, 32), channels=3)
    assert gray.shape == (3, 32, 32) and np.array_equal(gray[0], gray[2])
    with ember.no_grad():
        x = (rgb.transpose(2, 0, 1)[None] / np.float32(255) - 0.5) / 0.25
        probs = model(ember.tensor(x.astype(np.float32))).softmax(1).numpy()[0]
    [(_, top)] = pipeline.predict_files(str(tmp_path / "last.ckpt"), [str(tmp_path / "rgb.png")],
                                        k=1)
    assert top[0][0] == f"c{probs.argmax()}"
    np.testing.assert_allclose(top[0][1], probs.max(), rtol=1e-4)
    [(_, pred, _, out)] = explain_images(str(tmp_path / "last.ckpt"),
                                         [str(tmp_path / "rgb.png")], method="saliency",
                                         out_dir=str(tmp_path / "x"))
    assert pred == f"c{probs.argmax()}" and plt.imread(out).ndim == 3
