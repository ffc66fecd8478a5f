"""Trainer: the epoch loop over model, loss, optimizer, scheduler, metrics and callbacks.

Explicit loops stay first-class: everything here is what a hand-written loop does
(forward, loss, backward, step), plus progress, logs, checkpoints and resume.
"""
from __future__ import annotations

import math
import time

import numpy as np

import ember
from ember import backend
from ember.train import distributed as data_parallel
from ember.train.metrics import RunningAverage, confusion_matrix


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message names the epoch and step."""


def _batch_to(batch, device):
    return [b.to(device) if isinstance(b, ember.Tensor) else ember.tensor(b).to(device)
            for b in batch]


def _progress(iterable, total, desc, enabled):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the [train] extra
        return iterable
    # One iterator, made here: tqdm.auto's asyncio flavour calls iter() in its constructor
    # and again when iterated, and each DataLoader iterator draws its epoch seed from the
    # global generator. A second draw changed the shuffle, so a run's result depended on
    # whether its progress bar was shown.
    return tqdm(iter(iterable), total=total, desc=desc, leave=True, dynamic_ncols=True,
                unit="batch")


def _misclassified(dataset, preds, targets, k):
    """The first ``k`` misclassified items of ``dataset`` as (input array, true, predicted)
    (what :meth:`Trainer.evaluate` keeps, found from the gathered predictions)."""
    out = []
    for i in np.flatnonzero(preds != targets)[:k]:
        x = dataset[int(i)][0]
        x = backend.to_numpy(x.array) if isinstance(x, ember.Tensor) else np.asarray(x)
        out.append((x, int(targets[i]), int(preds[i])))
    return out


class Trainer:
    """Train ``model`` with ``loss_fn`` and ``optimizer``.

    A batch is ``(input, target)``, or ``(input_1, ..., input_k, target)`` for a model of
    several inputs (a seq2seq model reads the question and the teacher-forced answer): the
    model gets every element but the last, ``loss_fn(output, target)`` the output and the
    last.

    Args:
        scheduler: an ``ember.optim.lr_scheduler`` object, stepped every epoch (or every
            batch with ``scheduler_interval="step"``, e.g. OneCycleLR); ReduceLROnPlateau
            is stepped with the validation loss.
        callbacks: ``ember.train.callbacks`` objects (checkpoints, early stopping, logs).
        grad_clip: clip the gradient norm to this value before each step.

    In a process group of several ranks (``mpirun``, see ``ember.train.distributed``) the
    model trains inside ``DistributedDataParallel``; rank 0 alone shows progress and runs
    the callbacks, and every rank follows its decision to stop.
    """

    def __init__(self, model, loss_fn, optimizer, scheduler=None, *, callbacks=(),
                 device="cpu", progress=True, scheduler_interval="epoch", grad_clip=None,
                 config=None):
        self.model, self.loss_fn, self.optimizer, self.scheduler = (model, loss_fn, optimizer,
                                                                    scheduler)
        self.callbacks = list(callbacks) if data_parallel.is_main_process() else []
        self.ddp = data_parallel.wrap(model)  # the model itself outside a process group
        self.device = backend.Device(device)
        progress = progress and data_parallel.is_main_process()
        self.progress, self.scheduler_interval, self.grad_clip = (progress, scheduler_interval,
                                                                  grad_clip)
        self.config = dict(config or {})
        self.epoch = 0           # epochs completed
        self.global_step = 0
        self.history = []        # one dict of logs per epoch
        self.lrs = []            # learning rate at every step
        self.best_metric = None
        self.should_stop, self.stop_reason = False, None

    # --- the loop ---------------------------------------------------------------------
    def fit(self, train_loader, val_loader=None, epochs=1):
        """Train until ``epochs`` epochs are completed in total (resume continues)."""
        for cb in self.callbacks:
            cb.on_fit_begin(self)
        while self.epoch < epochs and not self.should_stop:
            start = time.perf_counter()
            logs = {"epoch": self.epoch + 1}
            logs.update(self.train_epoch(train_loader, epochs))
            if val_loader is not None:
                data_parallel.sync_buffers(self.ddp)  # for subclasses' evaluate (ours syncs too)
                val = self.evaluate(val_loader)
                logs.update({"val_loss": val["loss"], "val_accuracy": val["accuracy"]})
            logs["lr"] = self.optimizer.param_groups[0]["lr"]
            logs["seconds"] = round(time.perf_counter() - start, 3)
            self._step_scheduler_epoch(logs)
            self.epoch += 1
            self.history.append(logs)
            for cb in self.callbacks:
                cb.on_epoch_end(self, logs)
            self.should_stop, self.stop_reason = data_parallel.rank0_decides(
                self.should_stop, self.stop_reason)
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return self.history

    def train_epoch(self, loader, epochs=None):
        self.model.train()
        data_parallel.set_epoch(loader, self.epoch)
        loss_avg, acc_avg = RunningAverage(), RunningAverage()
        desc = f"epoch {self.epoch + 1}" + (f"/{epochs}" if epochs else "")
        bar = _progress(loader, len(loader), desc, self.progress)
        seen, start = 0, time.perf_counter()
        for step, batch in enumerate(bar, 1):
            loss, n, accuracy = self.training_loss(batch)
            value = loss.item()
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"loss became {value} at epoch {self.epoch + 1}, step {step} (global step "
                    f"{self.global_step + 1}); training stopped. Lower the learning rate or "
                    "check the data; the last checkpoint on disk is intact.")
            self.optimizer.zero_grad()
            loss.backward()
            if self.grad_clip:
                ember.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.optimizer.step()
            self.global_step += 1
            self.lrs.append(self.optimizer.param_groups[0]["lr"])
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()
            seen += n
            loss_avg.update(value, n)
            acc_avg.update(accuracy, n)
            if self.progress and hasattr(bar, "set_postfix"):
                shown = {"loss": f"{loss_avg.value:.4f}", "acc": f"{acc_avg.value:.4f}",
                         "img_s": f"{seen / (time.perf_counter() - start):.0f}"}
                if math.isnan(acc_avg.value):  # no classes (an autoencoder): no accuracy
                    del shown["acc"]
                bar.set_postfix(shown, refresh=False)
            for cb in self.callbacks:
                cb.on_batch_end(self, {"loss": value, "lr": self.lrs[-1]})
        train_loss, train_accuracy = data_parallel.average(loss_avg.value, acc_avg.value)
        return {"train_loss": train_loss, "train_accuracy": train_accuracy}

    def training_loss(self, batch):
        """``(loss, batch size, accuracy)`` of one training batch: the model (in its
        DistributedDataParallel wrapper) on every element but the last, ``loss_fn`` on its
        output and the last; accuracy is NaN where the output is not (N, classes) logits.
        A task with other batches (``ember.train.scenes``) overrides this."""
        *xs, y = _batch_to(batch, self.device)
        out = self.ddp(*xs)
        logits = out[0] if isinstance(out, tuple) else out  # aux heads in training
        return self.loss_fn(out, y), len(y), self._accuracy(logits, y)

    @staticmethod
    def _accuracy(logits, y):
        if logits.ndim != 2 or y.ndim != 1:
            return float("nan")
        return float((logits.array.argmax(1) == y.array).mean())

    def _step_scheduler_epoch(self, logs):
        if self.scheduler is None or self.scheduler_interval != "epoch":
            return
        if type(self.scheduler).__name__ == "ReduceLROnPlateau":
            self.scheduler.step(logs.get("val_loss", logs["train_loss"]))
        else:
            self.scheduler.step()

    def evaluate(self, loader, num_classes=None, keep_examples=0):
        """Loss, accuracy and (with ``num_classes``) the confusion matrix on ``loader``;
        ``keep_examples`` > 0 keeps that many misclassified inputs for plotting.

        In a process group of several ranks every rank must call it (it communicates):
        rank 0's buffers (BatchNorm statistics) are copied to every rank, each rank
        evaluates its own block of a plain unshuffled loader
        (:func:`ember.train.distributed.shard_loader`), and the loss sum, counts,
        predictions and targets are combined over the ranks, so every rank returns the
        figures one process would (counts, predictions, confusion matrix and misclassified
        examples exactly; the loss to float rounding: the batches differ)."""
        self.model.eval()
        data_parallel.sync_buffers(self.ddp)
        shard = data_parallel.shard_loader(loader)
        loss_avg, correct, total = RunningAverage(), 0, 0
        preds, targets, wrong = [], [], []
        with ember.no_grad():
            for batch in loader if shard is None else shard:
                *xs, y = _batch_to(batch, self.device)
                out = self.model(*xs)
                loss_avg.update(self.loss_fn(out, y).item(), len(y))
                pred = backend.to_numpy(out.array.argmax(1))
                true = backend.to_numpy(y.array)
                correct += int((pred == true).sum())
                total += len(true)
                preds.append(pred)
                targets.append(true)
                if keep_examples and shard is None and len(wrong) < keep_examples:
                    bad = np.flatnonzero(pred != true)[:keep_examples - len(wrong)]
                    inputs = backend.to_numpy(xs[0].array)
                    wrong.extend((inputs[i], int(true[i]), int(pred[i])) for i in bad)
        preds = np.concatenate(preds) if preds else np.zeros(0, np.int64)
        targets = np.concatenate(targets) if targets else np.zeros(0, np.int64)
        if shard is not None:  # every rank's sums and rows, in the loader's order
            loss_avg.total, correct, total = data_parallel.sum_over_ranks(
                loss_avg.total, correct, total)
            correct, total = int(correct), int(total)
            loss_avg.count = total
            preds, targets = data_parallel.gather_rows(preds), data_parallel.gather_rows(
                targets)
            if keep_examples:
                wrong = _misclassified(loader.dataset, preds, targets, keep_examples)
        result = {"loss": loss_avg.value, "accuracy": correct / max(total, 1),
                  "correct": correct, "total": total, "predictions": preds,
                  "targets": targets, "misclassified": wrong}
        if num_classes:
            result["confusion"] = confusion_matrix(result["predictions"], result["targets"],
                                                   num_classes)
        return result

    # --- checkpoints ----------------------------------------------------------------------
    def state_dict(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
                "epoch": self.epoch, "global_step": self.global_step,
                "history": self.history, "lrs": self.lrs, "best_metric": self.best_metric,
                "rng_state": ember.get_rng_state(), "config": self.config}

    def load_state_dict(self, state, path=None):
        """Restore :meth:`state_dict` (or an ``ember.io.save_checkpoint`` dict). The whole
        state is checked first: if any part does not fit, nothing changes."""
        from ember.io.validate import check_trainer_state
        state = check_trainer_state(self, state, path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        self.history, self.lrs = list(state["history"]), list(state["lrs"])
        self.best_metric = state.get("best_metric")
        ember.set_rng_state(state["rng_state"])

    def save_checkpoint(self, path):
        ember.save(self.state_dict(), path)

    def resume(self, path):
        """Continue from a checkpoint written by :meth:`save_checkpoint` (bit for bit:
        the RNG state is restored, so shuffling and dropout continue as they would have)."""
        from ember.io.checkpoint import remove_stale_temporaries
        remove_stale_temporaries(path)
        self.load_state_dict(ember.load(path), path=path)
        return self
