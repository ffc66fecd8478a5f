"""The reconstruction and VAE tasks of ``ember train``: data, loss, metrics, pictures.

``ember train --model vae`` (or ``mlp_autoencoder``, ``conv_autoencoder``,
``denoising_autoencoder``, ``cvae``) comes here from ``ember.train.command.cmd_train``: the
model's ``task`` (``"reconstruction"`` or ``"vae"``) decides. What differs from
classification:

- data: pixels scaled to [0, 1] (no standardising: the decoder ends in a sigmoid and the
  binary cross-entropy needs targets in [0, 1]); a batch is ``(input, clean image)``, or
  ``(input, label, clean image)`` for the conditional VAE; the denoising autoencoder's
  inputs go through :class:`ember.data.noise.GaussianNoise` (fresh noise each batch), its
  validation and test inputs get noise drawn once from a seeded generator;
- loss: the model's ``loss_function()`` (MSE, BCE, or the negative ELBO in nats per image);
- metrics: the loss, the mean squared error per pixel against the clean image (and the
  noisy input's own error), for VAEs the ELBO's reconstruction and KL terms separately, the
  negative ELBO in nats per image and in bits per dimension;
- pictures (``ember.train.ae_plots``): reconstructions, the 2-D code space by class, the
  latent lattice, an interpolation, prior samples, denoising before / after, curves.

The loop is the same :class:`~ember.train.Trainer` (progress bar, checkpoints, resume):
:class:`ReconstructionTrainer` only replaces its evaluation.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import numpy as np

import ember
from ember import backend
from ember.data import DataLoader, Dataset, TensorDataset
from ember.data.noise import GaussianNoise, noisy_copy
from ember.train.callbacks import Callback, run_files
from ember.train.metrics import RunningAverage
from ember.train.pipeline import RunError, fit_run, images_of, limit, load_run_state
from ember.train.trainer import Trainer, _batch_to

TEST_NOISE_SEED = 1234  # the test (and validation) images' fixed noise


def task_of(model_name):
    """``"classification"``, ``"reconstruction"`` or ``"vae"``: the task of a registered
    model (its builder's ``task`` attribute; classifiers have none)."""
    from ember import models
    return getattr(models.get_builder(model_name), "task", "classification")


class ImagePairs(Dataset):
    """Items ``(input, clean)`` (``(input, label, clean)`` with ``labels=True``) of float
    images in [0, 1]; ``transform`` (e.g. noise) makes the input from the clean image."""

    def __init__(self, images, targets, transform=None, labels=False):
        self.images, self.targets = images, targets
        self.transform, self.labels = transform, labels

    def __len__(self):
        return len(self.images)

    def _item(self, x, y):
        inp = x if self.transform is None else self.transform.apply_batch(x)
        return (inp, y, x) if self.labels else (inp, x)

    def __getitem__(self, index):
        out = self._item(self.images[index:index + 1], self.targets[index:index + 1])
        return tuple(ember.tensor(a[0]) for a in out)

    def get_batch(self, indices):
        return self._item(self.images[indices], self.targets[indices])


@dataclasses.dataclass
class AEData:
    train: object           # DataLoader of (input, [label,] clean)
    val: object             # the same (fixed noise), or None
    test_input: np.ndarray  # (N, C, H, W) float32 in [0, 1], noisy for a denoising model
    test_clean: np.ndarray
    test_labels: np.ndarray
    class_names: list
    image_size: tuple


def load_images(train_set, test_set, cfg):
    """(x_train, y_train, x_test, y_test) as float32 images in [0, 1], after ``--limit``."""
    x_train, y_train = limit(*images_of(train_set), cfg.limit)
    x_test, y_test = limit(*images_of(test_set), cfg.limit // 5)
    if x_train.dtype != np.uint8 or x_train.ndim != 4:
        raise RunError(f"the autoencoders train on images (uint8, N x C x H x W); data set "
                       f"{cfg.data!r} holds {x_train.dtype} arrays of shape "
                       f"{x_train.shape[1:]}")
    if cfg.augment:
        raise RunError("--augment is for classifiers; an autoencoder reproduces its input")
    return (x_train.astype(np.float32) / 255, y_train, x_test.astype(np.float32) / 255,
            y_test)


def make_data(x_train, y_train, x_test, y_test, cfg, noise=0.0, labels=False,
              class_names=None):
    """Loaders and test arrays (see :class:`AEData`); a seeded ``val_fraction`` of the
    training images is held out, as for classification."""
    order = ember.randperm(len(x_train)).numpy()
    n_val = round(cfg.val_fraction * len(x_train))
    val_idx, train_idx = order[:n_val], order[n_val:]
    transform = GaussianNoise(sigma=noise) if noise else None
    train = DataLoader(ImagePairs(x_train[train_idx], y_train[train_idx], transform, labels),
                       batch_size=cfg.batch_size, shuffle=True)
    val = None
    if n_val:
        clean = x_train[val_idx]
        inp = noisy_copy(clean, noise, TEST_NOISE_SEED + 1) if noise else clean
        val = DataLoader(TensorDataset(*((inp, y_train[val_idx], clean) if labels
                                         else (inp, clean))), batch_size=256)
    test_in = noisy_copy(x_test, noise, TEST_NOISE_SEED) if noise else x_test
    return AEData(train, val, test_in, x_test, y_test, list(class_names or []),
                  tuple(x_train.shape[2:]))


def evaluate_loader(model, loss_fn, loader, device="cpu"):
    """The task's metrics over a loader of ``(input, [label,] clean)`` batches: ``loss``
    (the training loss per image), ``mse`` per pixel against the clean image,
    ``input_mse`` (the input's own error: the noise), and for VAEs ``recon``, ``kl``,
    ``neg_elbo`` (nats per image) and ``bits_per_dim``."""
    model.eval()
    avg = {k: RunningAverage() for k in ("loss", "mse", "input_mse", "recon", "kl")}
    dims = None
    with ember.no_grad():
        for batch in loader:
            *inputs, clean = _batch_to(batch, device)
            out = model(*inputs)
            n, dims = len(clean), math.prod(clean.shape[1:])
            avg["loss"].update(loss_fn(out, clean).item(), n)
            recon = out[0] if isinstance(out, tuple) else out
            avg["mse"].update(((recon - clean) ** 2).mean().item(), n)
            avg["input_mse"].update(((inputs[0] - clean) ** 2).mean().item(), n)
            if getattr(loss_fn, "last", None):
                avg["recon"].update(loss_fn.last["recon"], n)
                avg["kl"].update(loss_fn.last["kl"], n)
    result = {k: a.value for k, a in avg.items() if a.count}
    if "kl" in result:
        result["neg_elbo"] = result["recon"] + result["kl"]
        result["bits_per_dim"] = result["neg_elbo"] / (dims * math.log(2))
    return result


class ReconstructionTrainer(Trainer):
    """:class:`~ember.train.Trainer` whose evaluation reports the reconstruction metrics
    (:func:`evaluate_loader`) instead of accuracy; ``last_eval`` keeps the last result."""

    last_eval: dict = None

    def evaluate(self, loader, num_classes=None, keep_examples=0):
        self.last_eval = evaluate_loader(self.model, self.loss_fn, loader, self.device)
        return dict(self.last_eval, accuracy=float("nan"))


class TaskLogs(Callback):
    """Puts the task's metrics in each epoch's logs (before the loggers see them): the
    training ELBO terms of the epoch, the validation metrics; drops the accuracies."""

    VAL_KEYS = ("mse", "input_mse", "recon", "kl", "neg_elbo", "bits_per_dim")

    def __init__(self):
        self.recon, self.kl = RunningAverage(), RunningAverage()

    def on_batch_end(self, trainer, logs):
        last = getattr(trainer.loss_fn, "last", None)
        if last:
            self.recon.update(last["recon"])
            self.kl.update(last["kl"])

    def on_epoch_end(self, trainer, logs):
        logs.pop("train_accuracy", None)
        logs.pop("val_accuracy", None)
        if self.recon.count:
            logs.update(train_recon=self.recon.value, train_kl=self.kl.value)
        if "val_loss" in logs and trainer.last_eval:
            logs.update({f"val_{k}": trainer.last_eval[k] for k in self.VAL_KEYS
                         if k in trainer.last_eval and not (k == "input_mse" and
                                                            trainer.last_eval[k] == 0)})
        self.recon.reset()
        self.kl.reset()


def _arrays_loader(x_in, x_clean, labels, conditional, batch_size=256):
    arrays = (x_in, labels, x_clean) if conditional else (x_in, x_clean)
    return DataLoader(TensorDataset(*arrays), batch_size=batch_size)


def train_autoencoder(cfg, resume, make_plots, datasets, optimizer_and_scheduler, run_dir,
                      model_kwargs):
    """``ember train`` for an autoencoder (called by ``ember.train.command.cmd_train`` with
    the seeded run's ``(train_set, test_set)``, its ``optimizer_and_scheduler(cfg, params,
    steps_per_epoch)`` maker, run folder and ``model_kwargs(num_classes, in_channels,
    image_size)``); prints as the classification run does."""
    from ember import models
    train_set, test_set = datasets
    x_train, y_train, x_test, y_test = load_images(train_set, test_set, cfg)
    num_classes = max(int(y_train.max()), int(y_test.max())) + 1
    kwargs = model_kwargs(num_classes, x_train.shape[1], x_train.shape[2:])
    model = models.get_model(cfg.model, **kwargs).to(cfg.device)
    conditional = isinstance(model, models.ConditionalVAE)
    names = list(getattr(train_set, "classes", None) or [str(i) for i in range(num_classes)])
    data = make_data(x_train, y_train, x_test, y_test, cfg, getattr(model, "noise", 0.0),
                     conditional, names)
    optimizer, scheduler, interval = optimizer_and_scheduler(cfg, model.parameters(),
                                                             len(data.train))
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=2)
    preprocessing = {"mean": 0.0, "std": 1.0, "scale": 255.0, "class_names": names,
                     "image_size": list(data.image_size)}
    trainer = ReconstructionTrainer(
        model, model.loss_function(), optimizer, scheduler, scheduler_interval=interval,
        device=cfg.device, progress=cfg.progress,
        config=dict(dataclasses.asdict(cfg), model_kwargs=kwargs, task=model.task,
                    preprocessing=preprocessing),
        callbacks=[TaskLogs(), *run_files(run_dir, monitor="val_loss", mode="min")])
    start = fit_run(
        trainer, data.train, data.val, cfg.epochs, resume,
        f"training {cfg.model} ({model.task}) on {cfg.data} ({len(data.train.dataset)} "
        f"train / {len(data.val.dataset) if data.val else 0} val / {len(x_test)} test) for "
        f"{cfg.epochs} epochs on {cfg.device}; run folder {run_dir}")
    result = evaluate_loader(model, trainer.loss_fn, _arrays_loader(
        data.test_input, data.test_clean, data.test_labels, conditional), cfg.device)
    result.update(task=model.task, total=len(x_test), checkpoint="last.ckpt",
                  **preprocessing)
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    written = ["last.ckpt", "best.ckpt", "config.json", "metrics.csv", "metrics.jsonl",
               "results.json"]
    if make_plots:
        from ember.train import ae_plots
        written += ae_plots.write_pictures(model, trainer, data, run_dir)
    print(describe(result) + f", {time.perf_counter() - start:.1f} s")
    written = [n for n in written if os.path.exists(os.path.join(run_dir, n))]
    print(f"wrote {run_dir}: {', '.join(written)}")
    return 0


def describe(result):
    """The one-line summary of a test result."""
    line = f"test loss {result['loss']:.4f}, MSE per pixel {result['mse']:.5f}"
    if result.get("input_mse"):
        line += f" (noisy input {result['input_mse']:.5f})"
    if "neg_elbo" in result:
        line = (f"test -ELBO {result['neg_elbo']:.2f} nats per image (reconstruction "
                f"{result['recon']:.2f} + KL {result['kl']:.2f}), "
                f"{result['bits_per_dim']:.4f} bits/dim, MSE per pixel {result['mse']:.5f}")
    return line


def load_test_images(cfg, info):
    """The run's test images in [0, 1] (its data set, ``--limit``), labels and inputs
    (noisy with the run's fixed noise for a denoising model)."""
    from ember.data import datasets
    test_set = datasets.get_dataset(cfg["data"], train=False,
                                    root=cfg.get("data_root") or None)
    x, y = limit(*images_of(test_set), cfg.get("limit", 0) // 5)
    return x.astype(np.float32) / info.get("scale", 255.0), y


def evaluate_run(checkpoint, device="cpu", state=None):
    """The test metrics of an autoencoder checkpoint written by ``ember train``."""
    from ember.train.pipeline import load_run
    state = load_run_state(checkpoint) if state is None else state
    model, cfg, info = load_run(checkpoint, device, state)
    x, y = load_test_images(cfg, info)
    noise = getattr(model, "noise", 0.0)
    x_in = noisy_copy(x, noise, TEST_NOISE_SEED) if noise else x
    conditional = cfg["task"] == "vae" and getattr(model, "num_classes", 0) > 0
    return evaluate_loader(model, model.loss_function(),
                           _arrays_loader(x_in, x, y, conditional), device)


def anomaly_scores(model, x, y=None, batch_size=256, device="cpu"):
    """``model.anomaly_score`` of every image of ``x`` (a float array in [0, 1]), by
    batches, as a NumPy array (N,); ``y``: the labels, for a conditional model."""
    conditional = getattr(model, "num_classes", 0) > 0
    model.eval()
    out = []
    with ember.no_grad():
        for i in range(0, len(x), batch_size):
            args = [ember.tensor(x[i:i + batch_size]).to(device)]
            if conditional:
                args.append(ember.tensor(y[i:i + batch_size]).to(device))
            out.append(backend.to_numpy(model.anomaly_score(*args).array))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def rank_anomalies(checkpoint, out_dir=None, top=25, device="cpu"):
    """Rank the run's test images by anomaly score (reconstruction error), most anomalous
    first; write ``anomalies.csv`` (every image) and ``anomalies.png`` (the ``top``) into
    ``out_dir`` (default: the checkpoint's run folder). Returns (rows, paths written)."""
    from ember.train.pipeline import load_run
    state = load_run_state(checkpoint)
    if state["config"].get("task") not in ("reconstruction", "vae"):
        raise RunError(f"checkpoint '{checkpoint}' is a {state['config'].get('task') or 'classification'} "
                       "run; anomaly scores need an autoencoder's checkpoint (ember train "
                       "--model conv_autoencoder, vae, ...)")
    model, cfg, info = load_run(checkpoint, device, state)
    x, y = load_test_images(cfg, info)
    scores = anomaly_scores(model, x, y, device=device)
    order = np.argsort(-scores, kind="stable")
    names = info.get("class_names") or []
    rows = [(rank + 1, int(i), int(y[i]), names[y[i]] if y[i] < len(names) else str(y[i]),
             float(scores[i])) for rank, i in enumerate(order)]
    out_dir = out_dir or os.path.dirname(os.path.abspath(checkpoint))
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "anomalies.csv")
    with open(csv_path, "w") as f:
        f.write("rank,index,label,class,score\n")
        f.writelines(f"{r},{i},{lab},{name},{s:.6g}\n" for r, i, lab, name, s in rows)
    paths = [csv_path]
    try:
        from ember.train import ae_plots
        paths.append(ae_plots.plot_anomalies(
            x[order[:top]], [r[3] for r in rows[:top]], scores[order[:top]],
            os.path.join(out_dir, "anomalies.png")))
    except ImportError:
        pass
    return rows, paths


def cmd_anomalies(args):
    if args.top < 1:
        raise ValueError(f"--top must be >= 1, got {args.top}")
    rows, paths = rank_anomalies(args.checkpoint, args.out_dir or None, args.top, args.device)
    print(f"{len(rows)} test images ranked by reconstruction error (MSE per pixel); the "
          f"{min(args.top, len(rows))} highest:")
    for rank, index, _, name, score in rows[:args.top]:
        print(f"  {rank:3d}. test image {index:5d} ({name}): {score:.5f}")
    print(f"wrote {', '.join(paths)}")
    return 0


def add_command(sub, epilog):
    """``ember anomalies CHECKPOINT``: the test images ranked by reconstruction error."""
    a = sub.add_parser("anomalies", help="rank an autoencoder run's test images by "
                       "reconstruction error", epilog=epilog,
                       description="Score every test image of an autoencoder run (`ember "
                       "train --model conv_autoencoder`, vae, ...) by its reconstruction "
                       "error (mean squared error per pixel; for VAEs of the mean code's "
                       "image), most anomalous first; write anomalies.csv (all, ranked) and "
                       "anomalies.png (the top ones) into the run folder.")
    a.add_argument("checkpoint")
    a.add_argument("--top", type=int, default=25, help="how many to print and draw (25)")
    a.add_argument("--out-dir", dest="out_dir", default="",
                   help="where to write (default: the checkpoint's folder)")
    a.add_argument("--device", default="cpu")
    a.set_defaults(func=cmd_anomalies)
