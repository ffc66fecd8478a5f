"""Callbacks: things that happen around training without being training — checkpoints,
early stopping, metric logs, TensorBoard. Each overrides only the events it needs."""
from __future__ import annotations

import csv
import json
import math
import os


class Callback:
    """Base class; the trainer calls these with itself as the first argument."""

    def on_fit_begin(self, trainer):
        pass

    def on_batch_end(self, trainer, logs):
        pass

    def on_epoch_end(self, trainer, logs):
        pass

    def on_fit_end(self, trainer):
        pass


class ModelCheckpoint(Callback):
    """Save ``last.ckpt`` every epoch and ``best.ckpt`` whenever ``monitor`` improves.

    Files are written atomically (``ember.save``): a crash mid-write leaves the previous
    checkpoint intact.
    """

    def __init__(self, directory, monitor="val_accuracy", mode="max"):
        self.directory, self.monitor, self.mode = directory, monitor, mode
        self.best = None

    def on_fit_begin(self, trainer):
        os.makedirs(self.directory, exist_ok=True)
        self.best = trainer.best_metric

    def _improved(self, value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, trainer, logs):
        value = logs.get(self.monitor)
        if self._improved(value):
            self.best = trainer.best_metric = value
            trainer.save_checkpoint(os.path.join(self.directory, "best.ckpt"))
        trainer.save_checkpoint(os.path.join(self.directory, "last.ckpt"))


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", patience=5, mode="min", min_delta=0.0):
        self.monitor, self.patience, self.mode, self.min_delta = monitor, patience, mode, min_delta
        self.best, self.bad_epochs = None, 0

    def on_epoch_end(self, trainer, logs):
        value = logs.get(self.monitor)
        if value is None:
            return
        better = self.best is None or (value < self.best - self.min_delta if self.mode == "min"
                                       else value > self.best + self.min_delta)
        if better:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                trainer.stop_reason = (f"early stopping: {self.monitor} has not improved for "
                                       f"{self.patience} epochs (best {self.best:.4g})")
                trainer.should_stop = True


class CSVLogger(Callback):
    """One row per epoch with every logged metric (columns fixed by the first epoch)."""

    def __init__(self, path):
        self.path = path

    def on_epoch_end(self, trainer, logs):
        new = not os.path.exists(self.path) or trainer.epoch == 1
        with open(self.path, "w" if new else "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(logs), extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(logs)


class JSONLLogger(Callback):
    """One JSON object per line: every epoch's logs (and per-step loss/lr if ``steps``)."""

    def __init__(self, path, steps=False):
        self.path, self.steps = path, steps

    def on_fit_begin(self, trainer):
        if trainer.epoch == 0 and os.path.exists(self.path):
            os.remove(self.path)

    def _write(self, record):
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def on_batch_end(self, trainer, logs):
        if self.steps:
            self._write({"step": trainer.global_step, **logs})

    def on_epoch_end(self, trainer, logs):
        self._write(logs)


class TensorBoardLogger(Callback):
    """TensorBoard event files through ``tensorboardX`` (optional dependency)."""

    def __init__(self, logdir):
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:
            raise ImportError("TensorBoard logging needs tensorboardX: pip install "
                              "tensorboardX") from e
        self.writer = SummaryWriter(logdir)

    def on_batch_end(self, trainer, logs):
        self.writer.add_scalar("train/step_loss", logs["loss"], trainer.global_step)
        self.writer.add_scalar("train/lr", logs["lr"], trainer.global_step)

    def on_epoch_end(self, trainer, logs):
        for key, value in logs.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(key.replace("_", "/", 1), value, logs["epoch"])
        self.writer.flush()

    def on_fit_end(self, trainer):
        self.writer.close()


def run_files(run_dir, monitor="val_accuracy", mode="max"):
    """The callbacks of an ``ember train`` run folder: ``last.ckpt`` / ``best.ckpt`` (by
    ``monitor``), ``metrics.csv`` and ``metrics.jsonl``."""
    return [ModelCheckpoint(run_dir, monitor=monitor, mode=mode),
            CSVLogger(os.path.join(run_dir, "metrics.csv")),
            JSONLLogger(os.path.join(run_dir, "metrics.jsonl"))]
