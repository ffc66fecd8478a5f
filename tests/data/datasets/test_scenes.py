"""FashionScenes: the recipe (an independent transcription of issue 21's), splits never mixed,
arguments, captions, the COCO export (read back by pycocotools when installed)."""
import json
from pathlib import Path

import numpy as np
import pytest
from _parity import import_oracle

import ember
from ember.data import DataLoader
from ember.data.datasets import FashionMNISTSubset, FashionScenes, get_dataset
from ember.data.datasets.scenes import caption_for, mask_to_rle, scene_overlap

FULL = Path("/usr/share/datasets/fashion-mnist")


def recipe(images, classes, n, seed, size=64):
    """Issue 21's recipe written out again, one scene at a time."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = rng.integers(1, 4)
        canvas = np.zeros((size, size))
        owner = np.full((size, size), -1)
        squares, picks = [], []
        for j in range(k):
            i = rng.integers(0, len(images))
            for tries in range(21):
                top, left = rng.integers(0, size - 27, 2)
                covered = np.zeros((size, size), bool)
                for t, l in squares:
                    covered[t:t + 28, l:l + 28] = True
                if covered[top:top + 28, left:left + 28].mean() < 0.25 or tries == 20:
                    break
            squares.append((top, left))
            picks.append(i)
            item = images[i] / 255.0
            where = item > 0.05
            canvas[top:top + 28, left:left + 28][where] = item[where]
            owner[top:top + 28, left:left + 28][where] = j
        semantic = np.zeros((size, size), int)
        boxes, labels = [], []
        for j, i in enumerate(picks):
            ys, xs = np.nonzero(owner == j)
            semantic[owner == j] = classes[i] + 1
            if len(ys) >= 20:
                boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                labels.append(classes[i] + 1)
        out.append((canvas, semantic, np.array(boxes).reshape(-1, 4), labels))
    return out


@pytest.fixture(scope="module")
def subset_train():
    return FashionScenes(train=True, num_images=60, source="fashion-mnist-subset")


def test_recipe_bit_for_bit(subset_train):
    src = FashionMNISTSubset(train=True)
    for m, (canvas, semantic, boxes, labels) in enumerate(
            recipe(src.data, src.targets, 60, seed=0)):
        image, target = subset_train[m]
        np.testing.assert_array_equal(image.numpy()[0], canvas.astype(np.float32))
        np.testing.assert_array_equal(target["semantic"].numpy(), semantic)
        np.testing.assert_array_equal(target["boxes"].numpy(), boxes)
        assert target["labels"].tolist() == labels


def test_items_target_and_masks(subset_train):
    image, target = subset_train[3]
    assert tuple(image.shape) == (1, 64, 64) and image.dtype == ember.float32
    n = len(target["labels"])
    assert tuple(target["masks"].shape) == (n, 64, 64) and target["masks"].dtype == ember.uint8
    assert target["labels"].dtype == ember.int64 and target["boxes"].dtype == ember.float32
    masks = target["masks"].numpy().astype(bool)
    assert not (masks.sum(0) > 1).any()                  # instances do not overlap
    for mask, box, label in zip(masks, target["boxes"].numpy(), target["labels"].tolist()):
        ys, xs = np.nonzero(mask)
        assert mask.sum() >= 20 and (target["semantic"].numpy()[mask] == label).all()
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert target["caption"] == subset_train.caption(3)
    x, y = subset_train.segmentation_batch([0, 3])
    assert tuple(x.shape) == (2, 1, 64, 64) and tuple(y.shape) == (2, 64, 64)
    assert y.dtype == ember.int64
    loader = DataLoader(subset_train, batch_size=4, collate_fn=lambda b: tuple(zip(*b)))
    images, targets = next(iter(loader))
    assert len(images) == 4 and targets[3]["caption"] == subset_train.caption(3)
    with pytest.raises(IndexError, match="index 60 out of range for 60 scenes"):
        subset_train[60]


def test_splits_never_mixed():
    train = FashionMNISTSubset(train=True)
    test_src = FashionMNISTSubset(train=False)
    test = FashionScenes(train=False, num_images=30, source="fashion-mnist-subset")
    assert test.seed == 1 and len(test) == 30
    for m in range(30):  # every visible part equals the test item it came from
        for j, i in enumerate(test.item_indices[m]):
            mask = test.owner[m] == j
            assert (test.semantic[m][mask] == test_src.targets[i] + 1).all()
            assert test_src.targets[i] + 1 == test.labels[m][j]
    assert max(int(a.max(initial=0)) for a in test.item_indices) < len(test_src)
    assert len(train) != len(test_src)


def test_arguments():
    a = FashionScenes(num_images=20, seed=5, source="fashion-mnist-subset")
    b = FashionScenes(num_images=20, seed=5, source="fashion-mnist-subset")
    c = FashionScenes(num_images=20, seed=6, source="fashion-mnist-subset")
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    single = FashionScenes(num_images=20, single=True, source="fashion-mnist-subset")
    assert all(len(l) == 1 for l in single.labels)
    big = FashionScenes(num_images=10, size=96, num_objects=(4, 5), max_overlap=1.0,
                        source="fashion-mnist-subset")
    assert big.images.shape == (10, 96, 96)
    counts = [len(i) for i in big.item_indices]
    assert max(counts) <= 5 and min(counts) >= 1
    src = FashionMNISTSubset(train=True)
    own = FashionScenes(num_images=5, source=(src.data, src.targets))
    np.testing.assert_array_equal(own.images, FashionScenes(
        num_images=5, source="fashion-mnist-subset").images)
    assert repr(single) == "FashionScenes(split=train, num_images=20, size=64, seed=0, single=True)"
    assert FashionScenes.classes[8] == "Sneaker"


def test_overlap_is_the_covered_fraction_of_the_new_square():
    assert scene_overlap((0, 0), []) == 0.0
    assert scene_overlap((0, 0), [(0, 14)]) == 0.5
    assert scene_overlap((0, 0), [(0, 14), (14, 0)]) == 0.75  # union, not the sum
    assert scene_overlap((10, 10), [(40, 40)]) == 0.0


def test_errors():
    with pytest.raises(ValueError, match="FashionScenes: size must be at least 28"):
        FashionScenes(size=20, source="fashion-mnist-subset")
    with pytest.raises(ValueError, match="num_objects must be"):
        FashionScenes(num_objects=(3, 1), source="fashion-mnist-subset")
    with pytest.raises(ValueError, match="unknown source 'cifar'"):
        FashionScenes(source="cifar")
    with pytest.raises(ValueError, match=r"source images must be \(N, 28, 28\)"):
        FashionScenes(source=(np.zeros((2, 32, 32), np.uint8), np.zeros(2)))


def test_captions():
    boxes = [[40, 10, 60, 30], [0, 12, 20, 30]]
    assert caption_for(boxes, [9, 8]) == "a sneaker left of a bag"
    assert caption_for([[0, 0, 20, 20], [2, 40, 22, 60]], [10, 1]) == \
        "an ankle boot above a t-shirt"
    assert caption_for([[0, 40, 20, 60], [2, 0, 22, 20]], [10, 1]) == \
        "an ankle boot below a t-shirt"
    assert caption_for(np.zeros((0, 4)), []) == ""


def test_to_coco(tmp_path, subset_train):
    path = tmp_path / "scenes.json"
    coco = subset_train.to_coco(path)
    assert json.loads(path.read_text()) == coco
    assert [c["id"] for c in coco["categories"]] == list(range(1, 11))
    assert len(coco["annotations"]) == sum(len(l) for l in subset_train.labels)
    mask = np.zeros((3, 4), bool)
    mask[1:, 2] = mask[0, 0] = True
    assert mask_to_rle(mask) == {"counts": [0, 1, 6, 2, 3], "size": [3, 4]}
    COCO = import_oracle("pycocotools.coco", pip="pycocotools").COCO
    api = COCO(str(path))
    for ann in api.loadAnns(api.getAnnIds(imgIds=[4])):
        j = ann["id"] - 1 - sum(len(l) for l in subset_train.labels[:4])
        np.testing.assert_array_equal(api.annToMask(ann), subset_train.masks(4)[j])
        x, y, w, h = ann["bbox"]
        assert [x, y, x + w, y + h] == subset_train.boxes[4][j].tolist()


@pytest.mark.skipif(not FULL.is_dir(), reason="the full Fashion-MNIST is not installed")
def test_full_dataset_reference_split():
    test = get_dataset("fashion-scenes", train=False)
    assert len(test) == 1000 and test.seed == 1
    assert sum(len(l) for l in test.labels) == 1997
    train = FashionScenes(train=True, num_images=50)
    assert max(int(a.max()) for a in train.item_indices) < 60000
