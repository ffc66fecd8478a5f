"""Issue 21: multi-label classification and classification + localisation on the Fashion-MNIST
scenes, trained briefly with ember and evaluated on the test split.

- multi-label: ``models.multilabel_cnn`` on the multi-object scenes (train split seed 0:
  the first 9,000 of the 10,000 scenes train, the last 1,000 are the validation split on
  which the decision threshold is chosen by macro F1; test split seed 1, 1,000 scenes);
  sigmoid + BCE, Adam 1e-3, batch 64. Prints macro F1 (at the chosen threshold and at 0.5),
  per-class F1 and mAP over the classes (``ember.vision.multilabel``).
- localisation: ``models.localisation_cnn`` on the 1-object scenes (``single=True``; 10,000
  train scenes seed 0, 1,000 test seed 1); cross-entropy + smooth-L1 on the box / 64, Adam
  1e-3, batch 64. Prints the class accuracy and the mean IoU of the predicted box with the
  true one (and the fraction with IoU >= 0.5).

    OPENBLAS_NUM_THREADS=1 python benchmarks/scenes_multitask.py --epochs 3
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np

import ember
from ember import models
from ember.data.datasets.scenes import FashionScenes
from ember.vision import multilabel as ml


def batches(n, batch_size, rng=None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def images(ds, idx):
    return ember.tensor(ds.images[idx][:, None].astype(np.float32) / 255)


def predict(model, ds, idx, batch_size=250):
    model.eval()
    outs = []
    with ember.no_grad():
        for b in batches(len(idx), batch_size):
            out = model(images(ds, idx[b]))
            outs.append([o.numpy() for o in out] if isinstance(out, tuple) else [out.numpy()])
    return [np.concatenate(parts) for parts in zip(*outs)]


def train(model, loss_of, n, epochs, batch_size, lr, seed):
    opt = ember.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        total, count = 0.0, 0
        for b in batches(n, batch_size, rng):
            loss = loss_of(b)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + float(loss.item()) * len(b), count + len(b)
        print(f"  epoch {epoch + 1}: train loss {total / count:.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return time.perf_counter() - start


def multilabel(train_set, test_set, args):
    ember.manual_seed(args.seed)
    model = models.multilabel_cnn()
    y_train = models.multilabel_targets(train_set.labels).numpy()
    y_test = models.multilabel_targets(test_set.labels).numpy()
    n_fit = len(train_set) - args.val
    seconds = train(model, lambda b: models.multilabel_loss(
        model(images(train_set, b)), ember.tensor(y_train[b])), n_fit, args.epochs,
        args.batch_size, args.lr, args.seed)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    val_idx = np.arange(n_fit, len(train_set))
    threshold, val_f1 = ml.choose_threshold(sigmoid(predict(model, train_set, val_idx)[0]),
                                            y_train[val_idx])
    scores = sigmoid(predict(model, test_set, np.arange(len(test_set)))[0])
    at = ml.multilabel_scores(scores, y_test, threshold)
    return {"train_seconds": round(seconds, 1), "threshold": round(threshold, 2),
            "val_macro_f1": round(val_f1, 4), "macro_f1": round(at["macro_f1"], 4),
            "macro_f1_at_0.5": round(ml.multilabel_scores(scores, y_test)["macro_f1"], 4),
            "per_class_f1": [round(float(v), 3) for v in at["f1"]],
            "map": round(ml.mean_average_precision(scores, y_test), 4)}


def box_iou_pairs(a, b):
    lt, rb = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    return inter / (area(a) + area(b) - inter)


def localisation(train_set, test_set, args):
    ember.manual_seed(args.seed)
    model = models.localisation_cnn(image_size=train_set.size)
    cls = np.array([lab[0] - 1 for lab in train_set.labels])
    boxes = np.stack([b[0] for b in train_set.boxes])

    def loss_of(b):
        logits, pred = model(images(train_set, b))
        return models.localisation_loss(logits, pred, ember.tensor(cls[b]),
                                        ember.tensor(boxes[b]), train_set.size,
                                        box_weight=args.box_weight)[0]
    seconds = train(model, loss_of, len(train_set), args.epochs, args.batch_size, args.lr,
                    args.seed)
    start = time.perf_counter()
    logits, pred = predict(model, test_set, np.arange(len(test_set)))
    infer = time.perf_counter() - start
    true_cls = np.array([lab[0] - 1 for lab in test_set.labels])
    iou = box_iou_pairs(pred.astype(np.float64), np.stack([b[0] for b in test_set.boxes]))
    return {"train_seconds": round(seconds, 1),
            "accuracy": round(float((logits.argmax(1) == true_cls).mean()), 4),
            "mean_iou": round(float(iou.mean()), 4),
            "iou_at_least_0.5": round(float((iou >= 0.5).mean()), 4),
            "images_per_second": round(len(test_set) / infer, 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--box-weight", type=float, default=5.0)
    p.add_argument("--val", type=int, default=1000, help="validation scenes (multi-label)")
    p.add_argument("--train-images", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--task", choices=("both", "multilabel", "localisation"), default="both")
    p.add_argument("--root", default=None, help="Fashion-MNIST folder (default: found)")
    args = p.parse_args()
    results = {}
    if args.task in ("both", "multilabel"):
        tr = FashionScenes(args.root, train=True, num_images=args.train_images)
        te = FashionScenes(args.root, train=False)
        print(f"multi-label: {len(tr) - args.val} train / {args.val} val / {len(te)} test")
        results["multilabel"] = multilabel(tr, te, args)
        print(json.dumps(results["multilabel"]), flush=True)
    if args.task in ("both", "localisation"):
        tr = FashionScenes(args.root, train=True, num_images=args.train_images, single=True)
        te = FashionScenes(args.root, train=False, single=True)
        print(f"localisation: {len(tr)} train / {len(te)} test")
        results["localisation"] = localisation(tr, te, args)
        print(json.dumps(results["localisation"]), flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
