"""Issue 21's detector: ``ember.models.detection.centernet()`` trained on the Fashion-MNIST
scenes and evaluated with ``ember.vision.metrics.coco_evaluate`` (COCO box AP, AP50, AP75;
with ``--mask``, ``centernet_mask()`` and mask AP / AP50 of its masks thresholded at 0.5).

    OPENBLAS_NUM_THREADS=1 nice -n 10 python benchmarks/scenes_detector.py
    OPENBLAS_NUM_THREADS=1 nice -n 10 python benchmarks/scenes_detector.py --mask
    python benchmarks/scenes_detector.py --evaluate centernet.emb     # no training

The data are the U-Net reference's (``benchmarks/scenes_unet_reference.py``): ``FashionScenes``
defaults, 10,000 train scenes seed 0 from the full Fashion-MNIST train split, 1,000 test scenes
seed 1 from its test split, 64x64. Training: Adam (lr 1e-3, cosine decay to 0 over the run),
batch 32 shuffled by ``default_rng(seed)``, random horizontal flips (boxes flipped with them),
the sum of the model's three losses.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

import ember
from benchmarks.harness import report_figures
from ember.data.datasets.scenes import FashionScenes
from ember.models.detection import centernet, centernet_mask
from ember.vision.metrics import coco_evaluate


def batch(data, idx, flip=None, masks=False):
    """Images (n, 1, H, W) float32 in [0, 1] and targets of the scenes ``idx``; ``flip`` (n,)
    booleans mirror those images left-right with their boxes (and ``masks``)."""
    images = data.images[idx][:, None].astype(np.float32) / 255
    targets = []
    width = images.shape[-1]
    for j, i in enumerate(idx):
        boxes = np.asarray(data.boxes[i], np.float32).reshape(-1, 4).copy()
        m = data.masks(i) if masks else None
        if flip is not None and flip[j]:
            images[j] = images[j, :, :, ::-1]
            boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
            m = m[:, :, ::-1] if masks else None
        targets.append({"boxes": ember.tensor(boxes),
                        "labels": ember.tensor(np.asarray(data.labels[i], np.int64))})
        if masks:
            targets[-1]["masks"] = ember.tensor(np.ascontiguousarray(m))
    return ember.from_numpy(np.ascontiguousarray(images)), targets


def train(model, data, epochs, batch_size, lr, seed, log_every=50, masks=False):
    """The training loop; returns seconds."""
    opt = ember.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    n = len(data)
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps, step = epochs * steps_per_epoch, 0
    model.train()
    start = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(n)
        sums, steps = {}, 0
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            x, targets = batch(data, idx, flip=rng.random(len(idx)) < 0.5, masks=masks)
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            losses = model(x, targets)
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            steps += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.item())
            if steps % log_every == 0:
                print(f"epoch {epoch + 1} step {steps}: "
                      + " ".join(f"{k} {v / steps:.4f}" for k, v in sums.items())
                      + f" ({time.perf_counter() - start:.0f} s)", flush=True)
        print(f"epoch {epoch + 1}: " + " ".join(f"{k} {v / steps:.4f}" for k, v in sums.items())
              + f", {time.perf_counter() - start:.0f} s", flush=True)
    return time.perf_counter() - start


def predict(model, data, batch_size=100):
    """The model's detections (NumPy dicts) on every scene of ``data``, in eval mode."""
    model.eval()
    out = []
    with ember.no_grad():
        for s in range(0, len(data), batch_size):
            x, _ = batch(data, np.arange(s, min(s + batch_size, len(data))))
            out += [{k: v.numpy() for k, v in d.items()} for d in model(x)]
    return out


def evaluate(preds, data, masks=False):
    targets = [{"boxes": data.boxes[i], "labels": data.labels[i]} for i in range(len(data))]
    box = coco_evaluate(preds, targets, iou_type="bbox")
    out = {"box_ap": box["map"], "box_ap50": box["map_50"], "box_ap75": box["map_75"]}
    if masks:
        for p in preds:
            p["masks"] = p["masks"][:, 0] > 0.5
        for i, t in enumerate(targets):
            t["masks"] = data.masks(i)
        mask = coco_evaluate(preds, targets, iou_type="segm")
        out.update(mask_ap=mask["map"], mask_ap50=mask["map_50"], mask_ap75=mask["map_75"])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--test-size", type=int, default=1_000)
    parser.add_argument("--save", default=None, help="write the trained state_dict here")
    parser.add_argument("--evaluate", default=None, help="skip training: load this state_dict")
    parser.add_argument("--json", default=None, help="write the figures here")
    parser.add_argument("--mask", action="store_true", help="centernet_mask: also mask AP")
    args = parser.parse_args(argv)
    test_data = FashionScenes(train=False, num_images=args.test_size)
    ember.manual_seed(args.seed)
    model = centernet_mask() if args.mask else centernet()
    seconds = 0.0
    if args.evaluate:
        model.load_state_dict(ember.load(args.evaluate))
    else:
        train_data = FashionScenes(train=True, num_images=args.train_size)
        seconds = train(model, train_data, args.epochs, args.batch_size, args.lr, args.seed,
                        masks=args.mask)
        if args.save:
            ember.save(model.state_dict(), args.save)
    start = time.perf_counter()
    preds = predict(model, test_data)
    infer = time.perf_counter() - start
    figures = evaluate(preds, test_data, args.mask)
    figures.update(train_seconds=round(seconds, 1),
                   inference_images_per_s=round(len(test_data) / infer, 1))
    report_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
