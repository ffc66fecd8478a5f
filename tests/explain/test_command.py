"""`ember explain` on a checkpoint and images, and on a run folder (its misclassified test
images), in process as tests/test_cli.py runs the other commands."""
import os

import matplotlib.image
import numpy as np
import pytest

import ember
from ember.cli import main
from ember.explain.command import METHODS, attribution_maps, default_layer


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """LeNet-5 for one epoch on 200 images (a second or two)."""
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "--epochs", "1", "--limit", "200", "--batch-size", "32",
                 "--no-progress", "--name", "tiny", "--out-dir", str(out)]) == 0
    return out / "tiny"


def status(argv):
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def test_run_folder_explains_the_misclassified_test_images(tiny_run, tmp_path, capsys):
    out = tmp_path / "maps"
    assert main(["explain", str(tiny_run), "--max-images", "3", "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    files = sorted(os.listdir(out))
    assert "overview_gradcam.png" in files and len(files) == 4, files
    panel = next(f for f in files if f.startswith("test"))
    assert "_gradcam_true-" in panel and "_pred-" in panel and panel in printed
    image = matplotlib.image.imread(out / panel)
    assert image.shape[:2] == (4 * (28 + 2), 4 * (2 * 28 + 3))  # two panels, 4x
    assert all(os.path.getsize(out / f) < 100_000 for f in files)
    assert main(["explain", str(tiny_run), "--method", "saliency", "--max-images", "2",
                 "--target", "true"]) == 0
    assert os.path.exists(tiny_run / "explain" / "overview_saliency_of-true.png")


def test_checkpoint_and_images(tiny_run, tmp_path, capsys):
    stack = np.random.default_rng(0).uniform(0, 255, size=(2, 28, 28)).astype(np.float32)
    np.save(tmp_path / "two.npy", stack)
    out = tmp_path / "maps"
    assert main(["explain", str(tiny_run / "last.ckpt"), str(tmp_path / "two.npy"),
                 "--method", "integrated-gradients", "--target", "Bag", "--out-dir",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("explaining Bag") == 2
    assert sorted(os.listdir(out)) == ["two_0__integrated-gradients_Bag.png",
                                       "two_1__integrated-gradients_Bag.png"]
    assert main(["explain", str(tiny_run / "last.ckpt"), str(tmp_path / "two.npy"),
                 "--method", "occlusion", "--target", "3", "--out-dir", str(out)]) == 0


def test_every_method_gives_one_finite_map_per_image(tiny_run):
    from ember.train import pipeline
    model, _, _ = pipeline.load_run(str(tiny_run / "last.ckpt"))
    model = model.to(ember.float64)
    x = ember.randn(2, 1, 28, 28, dtype=ember.float64)
    assert default_layer(model, x) == "features.s4"
    for method in METHODS:
        if method == "cam":  # LeNet-5 has no global average pooling
            with pytest.raises(ValueError, match="CAM needs global average pooling"):
                attribution_maps(model, x, [1, 2], method)
            continue
        maps = attribution_maps(model, x, [1, 2], method)
        assert maps.shape == (2, 28, 28) and np.isfinite(maps).all() and maps.max() > 0, method
    layer = attribution_maps(model, x, [1, 2], "gradcam", layer="features.act3")
    assert layer.shape == (2, 28, 28)


def test_default_layer_of_a_resnet_is_its_last_stage():
    """The last module to finish with spatial maps: layer3 (after the residual additions),
    not a leaf inside it; CAM works there (global average pooling follows)."""
    from ember import models
    model = models.get_model("resnet20", num_classes=10, in_channels=1).to(ember.float64)
    x = ember.randn(2, 1, 28, 28, dtype=ember.float64)
    assert default_layer(model.eval(), x) == "layer3"
    assert attribution_maps(model, x, [1, 2], "cam").shape == (2, 28, 28)


@pytest.mark.parametrize("argv, code, message", [
    (["{run}", "img.npy"], 1, "is a run folder: it explains the run's misclassified"),
    (["{run}/last.ckpt"], 1, "pass image files after the checkpoint"),
    (["{run}/last.ckpt", "{img}", "--target", "Boot"], 1, "--target 'Boot' is not a class"),
    (["{run}/last.ckpt", "{img}", "--target", "12"], 1, "--target 12 is out of range"),
    (["{run}/last.ckpt", "{img}", "--layer", "features.c9"], 1, "no layer 'features.c9'"),
    (["{run}/last.ckpt", "{img}", "--method", "lime"], 2, "invalid choice: 'lime'"),
    (["{empty}"], 1, "holds no last.ckpt or best.ckpt"),
    (["{run}", "--target", "3"], 1, "on a run folder --target is 'pred'"),
    (["{run}", "--max-images", "0"], 2, "must be an integer >= 1"),
])
def test_errors_are_one_line(tiny_run, tmp_path, capsys, argv, code, message):
    np.save(tmp_path / "img.npy", np.zeros((28, 28), np.float32))
    (tmp_path / "empty").mkdir()
    argv = [a.format(run=tiny_run, img=tmp_path / "img.npy", empty=tmp_path / "empty")
            for a in argv]
    assert status(["explain", *argv]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_help():
    with pytest.raises(SystemExit) as e:
        main(["explain", "--help"])
    assert e.value.code == 0


def test_panels_of_rgb_images(tmp_path):
    """Run folders of RGB data sets (CIFAR-10) draw colour panels and overviews."""
    from ember.explain.command import _overview, _panel
    rng = np.random.default_rng(0)
    image, heat = rng.uniform(size=(3, 8, 8)), rng.uniform(size=(8, 8))
    panel = _panel(image, heat, 0.5)
    assert panel.shape == (10, 19, 3)
    np.testing.assert_allclose(panel[1:9, 1:9], image.transpose(1, 2, 0))
    path = _overview([image, image], np.stack([heat, heat]), ["a\n→ b", "c\n→ d"],
                     str(tmp_path / "o.png"), "gradcam", 0.5)
    assert os.path.getsize(path) > 0
