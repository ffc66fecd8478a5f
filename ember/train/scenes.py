"""The scene tasks of ``ember train``, ``evaluate`` and ``predict``: multi-label
classification, classification + localisation, object detection, instance and semantic
segmentation and captioning, on :class:`~ember.data.datasets.FashionScenes`.

``ember train --model M`` comes here when M's builder has one of :data:`TASKS`
(``multilabel_cnn``, ``localisation_cnn``, ``centernet`` (detection), ``centernet_mask``
(instance), ``unet`` / ``fcn`` (segmentation), ``show_attend_tell`` (captioning)). What differs
from classification:

- data: ``--data`` names where the items come from: ``fashion-mnist-subset`` (the embedded
  subset, the default) or ``fashion-mnist`` / ``fashion-scenes`` (the full set). Train scenes
  come from its train split (10,000, or ``--limit``), test scenes from its test split (1,000,
  or ``--limit`` / 5); the last ``--val-fraction`` of the train scenes validate. Localisation
  uses 1-object scenes. ``--augment`` flips scenes left-right, their boxes and masks with
  them (not for captions, whose words say left and right);
- the recipe's defaults (:func:`recipe`, under a config file and the flags): Adam, lr 1e-3
  (2e-3 for captioning, whose gradient norm is clipped to 5), batch 64 (32 for detectors),
  cosine schedule;
- loss (:func:`task_loss`): the detectors' own loss dict, summed; cross-entropy per pixel;
  sigmoid + binary cross-entropy; cross-entropy + 5 x smooth L1 on the box / image size;
  teacher-forced cross-entropy per word;
- metrics (:func:`score`): COCO box AP / AP50 / AP75 and mask AP (``ember.vision.metrics``);
  pixel accuracy and mIoU (and the connected components' box and mask AP); macro F1 at the
  threshold chosen on the validation scenes and mAP over classes; class accuracy and mean
  box IoU; caption exact match and BLEU-4 (greedy, and beam 3 on the test split).
  :data:`HEADLINE` names the figure that picks ``best.ckpt``;
- pictures (``ember.train.scene_plots``): curves, and test scenes with their predictions drawn.

The loop is the same :class:`~ember.train.Trainer` (progress bar, checkpoints, resume):
:class:`SceneTrainer` replaces its batch loss and its evaluation.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time

import numpy as np

import ember
import ember.nn.functional as F
from ember import models
from ember.data import DataLoader, Dataset
from ember.data.datasets.scenes import SCENE_CLASSES, FashionScenes
from ember.train import distributed as data_parallel
from ember.train.callbacks import Callback, run_files
from ember.train.pipeline import RunError, fit_run
from ember.train.trainer import Trainer

TASKS = ("multilabel", "localisation", "detection", "instance", "segmentation", "captioning")
# the validation figure that picks best.ckpt
HEADLINE = {"multilabel": "map", "localisation": "accuracy", "detection": "box_ap",
            "instance": "mask_ap", "segmentation": "miou", "captioning": "bleu4"}
# --data: where the items come from
SOURCES = {"fashion-mnist-subset": "fashion-mnist-subset", "fashion-mnist": "fashion-mnist",
           "fashion-scenes": "fashion-mnist"}
BOX_WEIGHT = 5.0      # localisation: the smooth-L1 box term's weight
CAPTION_CLIP = 5.0    # captioning: the gradient norm's bound
MAX_CAPTION = 16      # captioning: the longest caption generated


def recipe(task):
    """The training defaults of a scene task (a config file and the flags override them)."""
    return {"optimizer": "adam", "scheduler": "cosine",
            "lr": 2e-3 if task == "captioning" else 1e-3,
            "batch_size": 32 if task in ("detection", "instance") else 64}


def load_scenes(task, data, train, limit=0, root=None):
    """The train or test scenes of a run: items from ``data`` 's split, ``limit`` (train)
    or ``limit // 5`` (test) scenes when ``limit`` > 0, 1-object scenes for localisation."""
    if data not in SOURCES:
        raise RunError(f"the scene models train on FashionScenes made of Fashion-MNIST items: "
                       f"--data must be one of {', '.join(SOURCES)}, got {data!r}")
    n = (limit if train else max(limit // 5, 1)) if limit else None
    return FashionScenes(root=root or None, train=train, num_images=n, source=SOURCES[data],
                         single=task == "localisation")


def _target(scenes, i, flip, masks):
    boxes = np.asarray(scenes.boxes[i], np.float32).reshape(-1, 4).copy()
    t = {"boxes": boxes, "labels": np.asarray(scenes.labels[i], np.int64)}
    if masks:
        t["masks"] = scenes.masks(i)
    if flip:
        boxes[:, [0, 2]] = scenes.size - boxes[:, [2, 0]]
        if masks:
            t["masks"] = np.ascontiguousarray(t["masks"][:, :, ::-1])
    return t


class SceneBatches(Dataset):
    """The scenes ``indices`` of ``scenes`` as ``task`` batches (``get_batch``): images
    (B, 1, H, W) float32 in [0, 1] first, then semantic masks (B, H, W); multi-hot labels
    (B, 10); classes (B,) and boxes (B, 4); one target dict per image (``boxes``, ``labels``
    (and ``masks``)); or caption inputs and targets (B, T). ``augment`` flips each scene
    left-right with probability 1/2 (drawn from ember's generator: resumable)."""

    def __init__(self, scenes, indices, task, augment=False, vocab=None):
        self.scenes, self.indices, self.task = scenes, np.asarray(indices), task
        self.augment, self.vocab = augment, vocab

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return tuple(part[0] for part in self.get_batch(np.array([index])))

    def get_batch(self, positions):
        s, idx, task = self.scenes, self.indices[positions], self.task
        images = s.images[idx][:, None].astype(np.float32) / 255
        flip = (ember.rand(len(idx)).numpy() < 0.5) if self.augment else np.zeros(len(idx), bool)
        images[flip] = images[flip][..., ::-1]
        if task == "segmentation":
            semantic = s.semantic[idx].astype(np.int64)
            semantic[flip] = semantic[flip][..., ::-1]
            return images, semantic
        if task == "multilabel":
            return images, models.multilabel_targets([s.labels[i] for i in idx]).numpy()
        if task == "captioning":
            return (images, *self.vocab.batch([s.caption(i) for i in idx]))
        targets = [_target(s, i, f, task == "instance") for i, f in zip(idx, flip)]
        if task == "localisation":
            return (images, np.array([t["labels"][0] - 1 for t in targets]),
                    np.stack([t["boxes"][0] for t in targets]))
        return images, targets


def _to(batch, device):
    return [b.to(device) if isinstance(b, ember.Tensor)
            else [{k: v.to(device) for k, v in t.items()} for t in b] for b in batch]


def task_loss(model, task, batch):
    """The training loss of one batch of :class:`SceneBatches` (as Tensors)."""
    x = batch[0]
    if task == "segmentation":
        return F.cross_entropy(model(x), batch[1])
    if task == "multilabel":
        return models.multilabel_loss(model(x), batch[1])
    if task == "localisation":
        logits, boxes = model(x)
        return models.localisation_loss(logits, boxes, batch[1], batch[2],
                                        tuple(x.shape[-2:]), box_weight=BOX_WEIGHT)[0]
    if task == "captioning":
        from ember.models.captioning import caption_loss
        return caption_loss(model(x, batch[1]), batch[2])
    return sum(model(x, batch[1]).values())


def predict(model, task, images, threshold=0.5, beam_size=1, device="cpu"):
    """One dict of NumPy arrays per image of ``images`` ((N, 1, H, W) float32 in [0, 1]), in
    eval mode: ``boxes`` / ``labels`` / ``scores`` (labels are class + 1, as the scenes'), and
    ``masks`` (n, H, W) bool for instances; segmentation adds ``semantic`` (H, W) and takes
    its instances from the connected components of each class; the classifiers add
    ``class_scores`` (10,); captioning gives ``caption``."""
    from ember.vision.segmentation import semantic_to_instances
    model.eval()
    x = ember.tensor(np.ascontiguousarray(images, dtype=np.float32)).to(device)
    with ember.no_grad():
        if task == "captioning":
            ids = model.generate(x, MAX_CAPTION, beam_size=beam_size).numpy()
            return [{"caption": model.vocab.decode(row)} for row in ids]
        out = model(x)
    numpy = lambda d: {k: v.numpy() for k, v in d.items()}
    if task in ("detection", "instance"):
        preds = [numpy(d) for d in out]
        for p in preds:
            if "masks" in p:
                p["masks"] = p["masks"][:, 0] > 0.5
        return preds
    if task == "segmentation":
        probs = F.softmax(out, dim=1).numpy()
        return [dict(numpy(semantic_to_instances(p, min_area=20)), semantic=p.argmax(0))
                for p in probs]
    if task == "multilabel":
        scores = ember.sigmoid(out).numpy()
        return [{"class_scores": s, "labels": np.flatnonzero(s >= threshold) + 1,
                 "scores": s[s >= threshold]} for s in scores]
    logits, boxes = out
    probs, boxes = F.softmax(logits, dim=1).numpy(), boxes.numpy()
    return [{"class_scores": p, "labels": np.array([p.argmax() + 1]),
             "scores": np.array([p.max()]), "boxes": b[None]} for p, b in zip(probs, boxes)]


def predict_scenes(model, task, scenes, indices, threshold=0.5, beam_size=1, device="cpu",
                   batch_size=100):
    """:func:`predict` over the scenes ``indices``, in batches."""
    preds = []
    for s in range(0, len(indices), batch_size):
        idx = indices[s:s + batch_size]
        preds += predict(model, task, scenes.images[idx][:, None].astype(np.float32) / 255,
                         threshold, beam_size, device)
    return preds


def _pairwise_iou(a, b):
    lt, rb = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    return inter / (area(a) + area(b) - inter)


def score(task, preds, scenes, indices, threshold=None):
    """The task's figures for ``preds`` (:func:`predict_scenes`) against the scenes
    ``indices``; multi-label with ``threshold=None`` chooses the threshold on them (the
    validation scenes) and reports it."""
    from ember.vision import metrics
    from ember.vision import multilabel as ml
    idx = np.asarray(indices)
    out = {}
    if task == "captioning":
        from ember.train.caption_metrics import caption_exact_match, corpus_bleu
        refs, hyps = [scenes.caption(i) for i in idx], [p["caption"] for p in preds]
        return {"exact_match": caption_exact_match(refs, hyps),
                "bleu4": corpus_bleu([[r.split()] for r in refs], [h.split() for h in hyps])}
    if task in ("multilabel", "localisation"):
        probs = np.stack([p["class_scores"] for p in preds])
        if task == "localisation":
            iou = _pairwise_iou(np.concatenate([p["boxes"] for p in preds]).astype(np.float64),
                                np.stack([scenes.boxes[i][0] for i in idx]))
            truth = np.array([scenes.labels[i][0] - 1 for i in idx])
            return {"accuracy": float((probs.argmax(1) == truth).mean()),
                    "mean_iou": float(iou.mean()), "iou_at_least_0.5": float((iou >= .5).mean())}
        truth = models.multilabel_targets([scenes.labels[i] for i in idx]).numpy()
        if threshold is None:
            threshold = ml.choose_threshold(probs, truth)[0]
        at = ml.multilabel_scores(probs, truth, threshold)
        return {"map": ml.mean_average_precision(probs, truth), "macro_f1": at["macro_f1"],
                "macro_precision": at["macro_precision"], "macro_recall": at["macro_recall"],
                "threshold": float(threshold),
                **{f"per_class_{k}": [round(float(v), 4) for v in at[k]]
                   for k in ("precision", "recall", "f1")}}
    if task == "segmentation":
        pixels = metrics.segmentation_scores(np.stack([p["semantic"] for p in preds]),
                                             scenes.semantic[idx], num_classes=11)
        out = {"pixel_accuracy": pixels["pixel_accuracy"], "miou": pixels["miou"]}
    masks = task in ("instance", "segmentation")
    targets = [{"boxes": scenes.boxes[i], "labels": scenes.labels[i]} for i in idx]
    if masks:
        for t, i in zip(targets, idx):
            t["masks"] = scenes.masks(i)
    box = metrics.coco_evaluate(preds, targets, iou_type="bbox")
    out.update(box_ap=box["map"], box_ap50=box["map_50"], box_ap75=box["map_75"])
    if masks:
        mask = metrics.coco_evaluate(preds, targets, iou_type="segm")
        out.update(mask_ap=mask["map"], mask_ap50=mask["map_50"])
    return out


def describe(task, figures):
    """One line of the figures that matter for ``task``."""
    names = {"map": "mAP", "macro_f1": "macro F1", "macro_precision": "precision",
             "macro_recall": "recall", "threshold": "at threshold",
             "accuracy": "class accuracy", "mean_iou": "mean box IoU",
             "iou_at_least_0.5": "IoU >= 0.5", "pixel_accuracy": "pixel accuracy",
             "miou": "mIoU", "box_ap": "box AP", "box_ap50": "AP50", "box_ap75": "AP75",
             "mask_ap": "mask AP", "mask_ap50": "mask AP50", "exact_match": "exact match",
             "bleu4": "BLEU-4", "beam3_exact_match": "beam 3: exact match",
             "beam3_bleu4": "BLEU-4"}
    return ", ".join(f"{names[k]} {v:.4f}" for k, v in figures.items() if k in names)


def evaluate_loss(model, task, batches, device="cpu", batch_size=100):
    """The mean training loss over :class:`SceneBatches` in eval mode (NaN for the detectors,
    which detect in eval mode)."""
    if task in ("detection", "instance"):
        return float("nan")
    model.eval()
    total = 0.0
    with ember.no_grad():
        for s in range(0, len(batches), batch_size):
            part = np.arange(s, min(s + batch_size, len(batches)))
            batch = _to([ember.tensor(b) for b in batches.get_batch(part)], device)
            total += task_loss(model, task, batch).item() * len(part)
    return total / max(len(batches), 1)


class SceneTrainer(Trainer):
    """:class:`~ember.train.Trainer` for a scene task: the batch loss of
    :func:`task_loss`, and an evaluation of :func:`score`'s figures (``last_eval``; the
    :data:`HEADLINE` figure is returned as the accuracy). Multi-label evaluation chooses the
    decision threshold and keeps it in the config (so in each checkpoint)."""

    last_eval: dict = None

    def __init__(self, *args, task, **kwargs):
        super().__init__(*args, **kwargs)
        self.task = task

    def training_loss(self, batch):
        batch = _to(batch, self.device)
        return task_loss(self.ddp, self.task, batch), len(batch[0]), float("nan")

    def evaluate(self, batches, num_classes=None, keep_examples=0):
        preds = predict_scenes(self.model, self.task, batches.scenes, batches.indices,
                               device=self.device)
        self.last_eval = score(self.task, preds, batches.scenes, batches.indices)
        if "threshold" in self.last_eval:
            self.config["threshold"] = self.last_eval["threshold"]
        loss = evaluate_loss(self.model, self.task, batches, self.device)
        return dict(self.last_eval, loss=loss, accuracy=self.last_eval[HEADLINE[self.task]])


class SceneLogs(Callback):
    """Puts the validation figures in each epoch's logs (before the loggers and the
    checkpoint see them) in place of the accuracies."""

    def on_epoch_end(self, trainer, logs):
        logs.pop("train_accuracy", None)
        if logs.pop("val_accuracy", None) is not None:
            logs.update({f"val_{k}": v for k, v in trainer.last_eval.items()
                         if isinstance(v, float)})


def _model_kwargs(task, scenes, vocab):
    if task == "captioning":
        return {"vocab": list(vocab.itos)}
    kwargs = {"num_classes": 11 if task in ("detection", "instance", "segmentation") else 10,
              "in_channels": 1}
    if task == "localisation":
        kwargs["image_size"] = scenes.size
    return kwargs


def _check(cfg, task):
    if cfg.augment and task == "captioning":
        raise RunError("--augment flips scenes left-right, which would contradict their "
                       "captions ('left of'): train the captioner without it")
    if cfg.scheduler == "plateau" and task in ("detection", "instance"):
        raise RunError("--scheduler plateau follows the validation loss, which the detectors "
                       "do not have (they detect in eval mode): choose another scheduler")


def train_scenes(cfg, task, resume, make_plots, optimizer_and_scheduler, run_dir):
    """``ember train`` for a scene model (called by ``ember.train.command.cmd_train`` after
    seeding; ``optimizer_and_scheduler(cfg, params, steps_per_epoch)`` makes them)."""
    _check(cfg, task)
    train_all = load_scenes(task, cfg.data, True, cfg.limit, cfg.data_root)
    test = load_scenes(task, cfg.data, False, cfg.limit, cfg.data_root)
    n_val = round(cfg.val_fraction * len(train_all))
    fit_idx, val_idx = np.arange(len(train_all) - n_val), np.arange(len(train_all) - n_val,
                                                                      len(train_all))
    vocab = None
    if task == "captioning":
        from ember.models.captioning import CaptionVocab
        vocab = CaptionVocab(train_all.caption(i) for i in fit_idx)
    kwargs = _model_kwargs(task, train_all, vocab)
    model = models.get_model(cfg.model, **kwargs).to(cfg.device)
    batches = SceneBatches(train_all, fit_idx, task, cfg.augment, vocab)
    train = DataLoader(batches, batch_size=cfg.batch_size,  # mpirun: each rank its shard
                       **data_parallel.loader_order(batches, cfg.seed))
    val = SceneBatches(train_all, val_idx, task, vocab=vocab) if n_val else None
    optimizer, scheduler, interval = optimizer_and_scheduler(cfg, model.parameters(),
                                                             len(train))
    main = data_parallel.is_main_process()
    run_dir = data_parallel.rank0_text(run_dir)  # one folder for all ranks
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.json") if main else os.devnull, "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=2)
    preprocessing = {"mean": 0.0, "std": 1.0, "scale": 255.0,
                     "class_names": list(SCENE_CLASSES), "image_size": [train_all.size] * 2}
    trainer = SceneTrainer(
        model, None, optimizer, scheduler, task=task, scheduler_interval=interval,
        device=cfg.device, progress=cfg.progress,
        grad_clip=CAPTION_CLIP if task == "captioning" else None,
        config=dict(dataclasses.asdict(cfg), model_kwargs=kwargs, task=task,
                    preprocessing=preprocessing),
        callbacks=[SceneLogs(), *run_files(run_dir, monitor=f"val_{HEADLINE[task]}")])
    start = fit_run(
        trainer, train, val, cfg.epochs, resume,
        f"training {cfg.model} ({task}) on scenes of {cfg.data} ({len(fit_idx)} train / "
        f"{n_val} val / {len(test)} test, {train_all.size}x{train_all.size}) for "
        f"{cfg.epochs} epochs on {cfg.device}; run folder {run_dir}")
    if main:  # rank 0 evaluates the model its checkpoint holds
        _finish_run(model, task, cfg, trainer, test, run_dir, preprocessing, make_plots, start)
    return data_parallel.finish()


def _finish_run(model, task, cfg, trainer, test, run_dir, preprocessing, make_plots, start):
    result = evaluate_model(model, task, test, trainer.config.get("threshold"), cfg.device)
    result.update(task=task, total=len(test), checkpoint="last.ckpt", **preprocessing)
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    written = ["last.ckpt", "best.ckpt", "config.json", "metrics.csv", "metrics.jsonl",
               "results.json"]
    if make_plots:
        written += write_pictures(model, task, trainer, test, run_dir,
                                  result.get("threshold", 0.5), cfg.device)
    print(f"test: {describe(task, result)}; {time.perf_counter() - start:.1f} s")
    written = [n for n in written if os.path.exists(os.path.join(run_dir, n))]
    print(f"wrote {run_dir}: {', '.join(written)}")


def write_pictures(model, task, trainer, test, run_dir, threshold=0.5, device="cpu", count=16):
    """curves.png (the loss and the task's headline figure), lr.png and predictions.png (the
    first ``count`` test scenes, their predictions drawn); returns the file names."""
    from ember.train import plots, scene_plots
    plots.plot_curves(trainer.history, os.path.join(run_dir, "curves.png"),
                      metric=HEADLINE[task])
    plots.plot_lr(trainer.lrs, os.path.join(run_dir, "lr.png"))
    idx = np.arange(min(count, len(test)))
    preds = [confident(p, task) for p in
             predict_scenes(model, task, test, idx, threshold, device=device)]
    truths = [("true: " + test.caption(i)) if task == "captioning" else "" for i in idx]
    scene_plots.draw_grid(test.images[idx] / 255.0, task, preds,
                          os.path.join(run_dir, "predictions.png"), truths)
    return ["curves.png", "lr.png", "predictions.png"]


def evaluate_model(model, task, test, threshold=None, device="cpu"):
    """The test figures of ``model`` on the scenes ``test`` (captioning: greedy and beam 3;
    multi-label: at ``threshold``, 0.5 when None)."""
    idx = np.arange(len(test))
    threshold = 0.5 if threshold is None else threshold
    start = time.perf_counter()
    preds = predict_scenes(model, task, test, idx, threshold, device=device)
    seconds = time.perf_counter() - start
    result = score(task, preds, test, idx, threshold)
    if task == "captioning":
        beam = score(task, predict_scenes(model, task, test, idx, beam_size=3, device=device),
                     test, idx)
        result.update({f"beam3_{k}": v for k, v in beam.items()})
    result["images_per_s"] = round(len(idx) / seconds, 1)
    return result


def evaluate_run(checkpoint, state, device="cpu"):
    """``ember evaluate`` for a scene checkpoint: its model on the run's test scenes."""
    cfg = state["config"]
    model = models.from_checkpoint(checkpoint, map_location=device)
    test = load_scenes(cfg["task"], cfg["data"], False, cfg.get("limit", 0),
                       cfg.get("data_root"))
    return evaluate_model(model, cfg["task"], test, cfg.get("threshold"), device)


def predict_files(checkpoint, state, paths, out_dir, score_threshold=0.3, device="cpu"):
    """``ember predict`` for a scene checkpoint: each image (PNG / JPEG / .npy, the size the
    model trained on) with its predictions drawn, written to ``out_dir`` as
    ``NAME.pred.png`` (``NAME_i.pred.png`` for image i of a .npy stack); boxes scoring under
    ``score_threshold`` are left out. Returns ``[(label, prediction, written path), ...]``."""
    from ember.train import pipeline, scene_plots
    cfg = state["config"]
    info = cfg.get("preprocessing", {})
    model = models.from_checkpoint(checkpoint, map_location=device)
    os.makedirs(out_dir, exist_ok=True)
    out = []
    for path in paths:
        for label, img in pipeline.read_images(path, info.get("image_size")):
            image = (img / info.get("scale", 255.0)).astype(np.float32)
            pred = predict(model, cfg["task"], image[None, None], cfg.get("threshold", 0.5),
                           device=device)[0]
            pred = confident(pred, cfg["task"], score_threshold)
            stack = label[len(path):].strip("[]")  # "i" for image i of a .npy stack
            name = os.path.splitext(os.path.basename(path))[0] + (f"_{stack}" if stack else "")
            written = scene_plots.draw_file(image, cfg["task"], pred, os.path.join(
                out_dir, f"{name}.pred.png"))
            out.append((label, pred, written))
    return out


def confident(pred, task, score_threshold=0.3):
    """``pred`` without its detections scoring under ``score_threshold``: what is drawn and
    listed (a localisation's one box always stays)."""
    if "boxes" not in pred or task == "localisation":
        return pred
    keep = pred["scores"] >= score_threshold
    return {k: v if k == "semantic" else v[keep] for k, v in pred.items()}


def summarize(task, pred, class_names=SCENE_CLASSES):
    """Lines describing one prediction, for the terminal."""
    if task == "captioning":
        return [f"  {pred['caption']!r}"]
    lines = []
    for i, (label, s) in enumerate(zip(pred["labels"], pred["scores"])):
        box = ("  box " + " ".join(f"{v:.1f}" for v in pred["boxes"][i])
               if "boxes" in pred else "")
        lines.append(f"  {s:7.2%}  {class_names[int(label)]}{box}")
    return lines or ["  (nothing found)"]
