"""The scene pictures (ember/train/scene_plots.py): each kind of prediction drawn to a PNG,
the overlay's colours."""
import matplotlib.image as mpimg
import numpy as np
import pytest

from ember.train import scene_plots

IMAGE = np.zeros((64, 64), np.float32)
IMAGE[10:30, 10:30] = 1.0
MASK = np.zeros((1, 64, 64), bool)
MASK[0, 10:30, 10:30] = True
PREDS = {
    "instance": {"boxes": np.array([[10, 10, 30, 30]], np.float32), "labels": np.array([3]),
                 "scores": np.array([0.9], np.float32), "masks": MASK},
    "detection": {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64),
                  "scores": np.zeros(0, np.float32)},
    "segmentation": {"boxes": np.zeros((0, 4)), "labels": np.zeros(0), "scores": np.zeros(0),
                     "semantic": MASK[0].astype(np.int64) * 5},
    "multilabel": {"labels": np.array([1, 9]), "scores": np.array([0.8, 0.6])},
    "captioning": {"caption": "a bag left of a coat"},
}


@pytest.mark.parametrize("task", list(PREDS))
def test_draw_file_writes_a_png(task, tmp_path):
    path = scene_plots.draw_file(IMAGE, task, PREDS[task], str(tmp_path / "p.png"))
    assert mpimg.imread(path).shape[-1] in (3, 4)


def test_overlay_tints_labelled_pixels_only():
    labels = np.zeros((64, 64), np.int64)
    labels[0, 0] = 2
    rgb = scene_plots._overlay(IMAGE, labels)
    assert rgb.shape == (64, 64, 3) and rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_allclose(rgb[0, 0], 0.45 * scene_plots.PALETTE[2])
    np.testing.assert_array_equal(rgb[20, 20], [1, 1, 1])


def test_a_semantic_map_gets_a_legend_of_its_classes():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    scene_plots.draw(ax, IMAGE, "segmentation", PREDS["segmentation"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Coat"]
    plt.close(fig)


def test_draw_grid(tmp_path):
    path = scene_plots.draw_grid([IMAGE] * 3, "instance", [PREDS["instance"]] * 3,
                                 str(tmp_path / "g.png"), truths=["a", "b", "c"])
    assert mpimg.imread(path).ndim == 3
