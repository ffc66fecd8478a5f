"""The scene tasks of ``ember train`` / ``evaluate`` / ``predict`` (ember/train/scenes.py):
quick runs of every scene model on scenes of the embedded subset, ``from_checkpoint``,
resume, the batches (flips included), the figures against hand-made predictions, the
recipe's defaults and the error paths."""
import csv
import json
import shutil

import numpy as np
import pytest

import ember
from ember import models
from ember.cli import main
from ember.data.datasets.scenes import FashionScenes
from ember.train import command, scenes
from ember.train.caption_metrics import corpus_bleu

QUICK = ["--epochs", "1", "--no-progress"]
# model -> (task, --limit, figures in results.json)
MODELS = {
    "unet": ("segmentation", 100, {"pixel_accuracy", "miou", "box_ap", "mask_ap"}),
    "fcn": ("segmentation", 60, {"pixel_accuracy", "miou"}),
    "multilabel_cnn": ("multilabel", 100, {"map", "macro_f1", "threshold", "per_class_f1",
                                           "per_class_precision", "per_class_recall"}),
    "localisation_cnn": ("localisation", 100, {"accuracy", "mean_iou", "iou_at_least_0.5"}),
    "centernet": ("detection", 100, {"box_ap", "box_ap50", "box_ap75"}),
    "centernet_mask": ("instance", 40, {"box_ap", "mask_ap", "mask_ap50"}),
    "show_attend_tell": ("captioning", 100, {"exact_match", "bleu4", "beam3_bleu4"}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    for name, (_, limit, _) in MODELS.items():
        assert main(["train", "--model", name, "--limit", str(limit), *QUICK, "--name", name,
                     "--out-dir", str(out)]) == 0
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_run_writes_figures_checkpoints_and_pictures(runs, name, capsys):
    task, limit, figures = MODELS[name]
    run = runs / name
    for f in ("last.ckpt", "best.ckpt", "config.json", "metrics.csv", "results.json",
              "curves.png", "lr.png", "predictions.png"):
        assert (run / f).is_file(), f
    result = json.loads((run / "results.json").read_text())
    assert result["task"] == task and result["total"] == limit // 5
    assert figures <= set(result)
    with open(run / "metrics.csv") as f:
        row = next(csv.DictReader(f))
    assert f"val_{scenes.HEADLINE[task]}" in row and "train_accuracy" not in row
    assert ("val_accuracy" in row) == (task == "localisation")  # its class accuracy
    # evaluate gives the run's own test figures again
    capsys.readouterr()
    assert main(["evaluate", str(run / "last.ckpt")]) == 0
    line = capsys.readouterr().out
    assert line.startswith("test: ")
    shown = scenes.describe(task, {k: v for k, v in result.items() if k != "images_per_s"})
    assert shown in line


@pytest.mark.parametrize("name", list(MODELS))
def test_from_checkpoint_rebuilds_every_scene_model(runs, name):
    task = MODELS[name][0]
    model = models.from_checkpoint(str(runs / name / "last.ckpt"))
    assert not model.training and models.get_builder(name).task == task
    state = ember.load(str(runs / name / "last.ckpt"))["model"]
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k].numpy())
    if task == "captioning":
        assert model.vocab.itos[:4] == ["<pad>", "<start>", "<end>", "<unk>"]


@pytest.mark.parametrize("name", ["centernet_mask", "unet", "multilabel_cnn",
                                  "localisation_cnn", "show_attend_tell"])
def test_predict_draws_and_lists(runs, name, tmp_path, capsys):
    test = FashionScenes(train=False, num_images=3, source="fashion-mnist-subset")
    np.save(tmp_path / "stack.npy", test.images[:2])
    import matplotlib.pyplot as plt
    plt.imsave(tmp_path / "scene.png", test.images[2], cmap="gray")
    capsys.readouterr()
    assert main(["predict", str(runs / name / "last.ckpt"), str(tmp_path / "scene.png"),
                 str(tmp_path / "stack.npy"), "--out", str(tmp_path / "out"),
                 "--score-threshold", "0"]) == 0
    out = capsys.readouterr().out
    for f in ("scene.pred.png", "stack_0.pred.png", "stack_1.pred.png"):
        assert (tmp_path / "out" / f).is_file() and f in out
    assert f"{tmp_path / 'stack.npy'}[1] ->" in out
    if name == "show_attend_tell":
        assert "'" in out.splitlines()[1]


def test_predict_refuses_a_wrong_image_size(runs, tmp_path, capsys):
    np.save(tmp_path / "small.npy", np.zeros((28, 28), np.uint8))
    assert main(["predict", str(runs / "unet" / "last.ckpt"), str(tmp_path / "small.npy")]) \
        == 1
    assert "trained on (64, 64) images" in capsys.readouterr().err


def test_resume_equals_the_uninterrupted_run(runs, tmp_path):
    args = ["--model", "fcn", "--limit", "60", "--no-progress", "--augment", "--scheduler",
            "none", "--out-dir", str(tmp_path)]  # a cosine would be planned over 1 epoch
    assert main(["train", *args, "--epochs", "2", "--name", "straight"]) == 0
    assert main(["train", *args, "--epochs", "1", "--name", "resumed"]) == 0
    assert main(["train", "--resume", str(tmp_path / "resumed" / "last.ckpt"), "--epochs",
                 "2", "--no-progress"]) == 0
    a = ember.load(str(tmp_path / "straight" / "last.ckpt"))
    b = ember.load(str(tmp_path / "resumed" / "last.ckpt"))
    assert b["epoch"] == 2
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k].numpy(), b["model"][k].numpy())


def test_recipe_defaults_sit_under_config_and_flags(tmp_path):
    parser = __import__("ember.cli", fromlist=["build_parser"]).build_parser()
    cfg, _ = command._train_config(parser.parse_args(["train", "--model", "centernet"]))
    assert (cfg.optimizer, cfg.lr, cfg.batch_size, cfg.scheduler) == ("adam", 1e-3, 32,
                                                                      "cosine")
    cfg, _ = command._train_config(parser.parse_args(["train", "--model", "show_attend_tell",
                                                      "--lr", "0.01"]))
    assert (cfg.optimizer, cfg.lr) == ("adam", 0.01)
    cfg, _ = command._train_config(parser.parse_args(["train"]))  # classifiers: unchanged
    assert (cfg.optimizer, cfg.lr) == ("sgd", 0.05)


def test_batches_flip_images_boxes_and_masks_together():
    s = FashionScenes(train=True, num_images=20, source="fashion-mnist-subset")
    ember.manual_seed(3)
    images, targets = scenes.SceneBatches(s, np.arange(20), "instance", augment=True) \
        .get_batch(np.arange(20))
    flipped = 0
    for i, t in enumerate(targets):
        same = np.array_equal(images[i, 0], s.images[i] / np.float32(255))
        mirrored = np.array_equal(images[i, 0], (s.images[i] / np.float32(255))[:, ::-1])
        assert same or mirrored
        flipped += mirrored and not same
        for box, mask in zip(t["boxes"], t["masks"]):  # the box is still the mask's box
            ys, xs = np.nonzero(mask)
            np.testing.assert_array_equal(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    assert 0 < flipped < 20
    _, seg_y = scenes.SceneBatches(s, np.arange(4), "segmentation").get_batch(np.arange(4))
    np.testing.assert_array_equal(seg_y, s.semantic[:4])
    one = FashionScenes(train=True, num_images=5, single=True, source="fashion-mnist-subset")
    _, cls, boxes = scenes.SceneBatches(one, np.arange(5), "localisation").get_batch(
        np.arange(5))
    np.testing.assert_array_equal(cls, [lab[0] - 1 for lab in one.labels])
    np.testing.assert_array_equal(boxes, np.stack([b[0] for b in one.boxes]))
    image, target = scenes.SceneBatches(s, np.arange(20), "detection")[4]
    assert image.shape == (1, 64, 64) and set(target) == {"boxes", "labels"}


def test_score_of_perfect_predictions():
    s = FashionScenes(train=False, num_images=40, source="fashion-mnist-subset")
    idx = np.arange(40)  # every class appears (a class never present has F1 0)
    truth = [{"boxes": s.boxes[i], "labels": s.labels[i], "scores": np.ones(len(s.labels[i])),
              "masks": s.masks(i).astype(bool), "semantic": s.semantic[i]} for i in idx]
    out = scenes.score("segmentation", truth, s, idx)
    assert out["miou"] == out["pixel_accuracy"] == out["box_ap"] == out["mask_ap"] == 1.0
    assert scenes.score("detection", truth, s, idx)["box_ap50"] == 1.0
    hot = models.multilabel_targets([s.labels[i] for i in idx]).numpy()
    ml = scenes.score("multilabel", [{"class_scores": h} for h in hot], s, idx)
    assert ml["map"] == ml["macro_f1"] == ml["macro_precision"] == ml["macro_recall"] == 1.0
    caps = [{"caption": s.caption(i)} for i in idx]
    words = [[c["caption"].split()] for c in caps]  # NLTK's BLEU of a perfect corpus with
    assert scenes.score("captioning", caps, s, idx) == {  # 2-word captions is below 1
        "exact_match": 1.0, "bleu4": corpus_bleu(words, [w[0] for w in words])}
    one = FashionScenes(train=False, num_images=6, single=True, source="fashion-mnist-subset")
    loc = [{"class_scores": np.eye(10)[one.labels[i][0] - 1], "boxes": one.boxes[i][:1]}
           for i in range(6)]
    assert scenes.score("localisation", loc, one, np.arange(6)) == {
        "accuracy": 1.0, "mean_iou": 1.0, "iou_at_least_0.5": 1.0}


def test_errors(tmp_path, capsys):
    assert main(["train", "--model", "unet", "--data", "cifar10", *QUICK, "--out-dir",
                 str(tmp_path)]) == 1
    assert "--data must be one of fashion-mnist-subset, fashion-mnist" in capsys.readouterr().err
    assert main(["train", "--model", "show_attend_tell", "--augment", "--limit", "20",
                 *QUICK, "--out-dir", str(tmp_path)]) == 1
    assert "would contradict their captions" in capsys.readouterr().err
    assert main(["train", "--model", "centernet", "--scheduler", "plateau", "--limit", "20",
                 *QUICK, "--out-dir", str(tmp_path)]) == 1
    assert "the detectors do not have" in capsys.readouterr().err
    assert main(["train", "--model", "unet", "--freeze", "down", *QUICK]) == 2
    assert "apply to classifiers" in capsys.readouterr().err
    with pytest.raises(ValueError, match="show_attend_tell: vocab must start with"):
        models.show_attend_tell(["a", "b"])


def test_copy_of_a_run_folder_evaluates_alone(runs, tmp_path, capsys):
    """The checkpoint carries what evaluate needs (task, data, limit, threshold)."""
    shutil.copy(runs / "multilabel_cnn" / "best.ckpt", tmp_path / "model.ckpt")
    assert main(["evaluate", str(tmp_path / "model.ckpt")]) == 0
    assert "mAP" in capsys.readouterr().out


def test_a_scene_model_trains_under_mpirun(tmp_path):
    from _mpi import mpirun
    out = mpirun(2, "-m", "ember", "train", "--model", "fcn", "--limit", "60", "--epochs", "1",
                 "--batch-size", "8", "--no-progress", "--name", "dp", "--out-dir",
                 str(tmp_path), timeout=180)
    assert out.stdout.count("training fcn") == 1 and out.stdout.count("test: ") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["dp"]  # one folder, rank 0's
    state = ember.load(str(tmp_path / "dp" / "last.ckpt"))
    assert len(state["lrs"]) == -(-54 // 2 // 8)  # each rank a half of the 54 train scenes
    result = json.loads((tmp_path / "dp" / "results.json").read_text())
    again = scenes.evaluate_run(str(tmp_path / "dp" / "last.ckpt"), state)
    assert again["miou"] == result["miou"] and again["box_ap"] == result["box_ap"]
