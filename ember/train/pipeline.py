"""What ``ember train / evaluate / predict`` do around the Trainer: turn a data set into
normalised array loaders, write the run's plots, rebuild a model from a checkpoint.

Image data sets hold uint8 pixels: they are scaled to [0, 1] and standardised with the
training set's mean and std. Float data sets (1-D signals such as MNIST-1D, shaped
(N, C, L) like ``Conv1d`` input) are fed as they are, as their papers do (mean 0, std 1,
scale 1 are recorded instead)."""
from __future__ import annotations

import dataclasses
import os
import stat

import numpy as np

import ember
from ember.train import distributed as data_parallel
from ember.train import plots


class RunError(Exception):
    """A problem with the user's files, data or setup (not a bug in ember): ``ember`` prints
    its message on one line and exits with status 1."""


def check_file(path, what="file"):
    """``path`` if it names a regular file; else a :class:`RunError` saying what it is instead
    (checked before opening: opening a FIFO would block forever)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise RunError(f"{what} '{path}' does not exist") from None
    if stat.S_ISDIR(mode):
        raise RunError(f"{what} '{path}' is a directory; pass a file")
    if not stat.S_ISREG(mode):
        raise RunError(f"{what} '{path}' is not a regular file (a FIFO, socket or device); "
                       "pass a file")
    return path


def load_run_state(checkpoint):
    """The dict ``ember train`` saves (model, optimizer, ..., config), checked for shape."""
    state = ember.load(check_file(checkpoint, "checkpoint"))
    if isinstance(state, dict) and isinstance(state.get("config"), dict) and "model" in state:
        return state
    if isinstance(state, dict) and state.get("format") == "ember-training-checkpoint":
        kind = "a training checkpoint from ember.io.save_checkpoint"
    elif isinstance(state, dict) and state and all(isinstance(v, ember.Tensor)
                                                   for v in state.values()):
        kind = "a bare state_dict (model weights only)"
    else:
        kind = f"a {type(state).__name__} without the run's config"
    raise RunError(f"checkpoint '{checkpoint}' is {kind}, not a checkpoint written by "
                   "`ember train`; pass the run's last.ckpt or best.ckpt (load weights-only "
                   "files in Python with model.load_state_dict(ember.load(path)))")


@dataclasses.dataclass
class Loaders:
    train: object
    val: object
    test: object
    num_classes: int
    in_channels: int
    class_names: list
    mean: float
    std: float
    image_size: tuple
    scale: float = 255.0  # pixel values are divided by it before standardising


def images_of(dataset):
    """(N, C, H, W) uint8 images (or (N, C, L) float signals) and int64 labels of an
    array-backed data set."""
    x = np.asarray(dataset.data)
    if x.ndim in (2, 3):  # (N, L) signals, (N, H, W) gray images: one channel
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    return x, np.asarray(dataset.targets, dtype=np.int64)


def normalise(x, mean, std, scale=255.0):
    """``(x / scale - mean) / std`` in float32."""
    return ((x.astype(np.float32) / scale - mean) / std).astype(np.float32)


def statistics(x):
    """(mean, std, scale) that :func:`normalise` uses: the pixel statistics of uint8 images
    in [0, 1], or the identity for float data (fed as it is)."""
    if x.dtype != np.uint8:
        return 0.0, 1.0, 1.0
    return float(x.mean() / 255.0), float(x.std() / 255.0), 255.0


def limit(x, y, n, seed=0):
    """A seeded random ``n``-item subset (for quick runs; ``--limit``), or everything."""
    if not n or n >= len(x):
        return x, y
    keep = np.sort(np.random.default_rng(seed).permutation(len(x))[:n])
    return x[keep], y[keep]


def make_loaders(train_set, test_set, cfg) -> Loaders:
    from ember.data import ArrayDataset, DataLoader, TensorDataset, transforms
    x_train, y_train = limit(*images_of(train_set), cfg.limit)
    x_test, y_test = limit(*images_of(test_set), cfg.limit // 5)
    mean, std, scale = statistics(x_train)
    x_train, x_test = normalise(x_train, mean, std, scale), normalise(x_test, mean, std, scale)
    num_classes = int(max(y_train.max(), y_test.max()) + 1)
    # hold out a random (seeded) fraction of the training set for validation
    order = ember.randperm(len(x_train)).numpy()
    n_val = int(round(cfg.val_fraction * len(x_train)))
    val_idx, train_idx = order[:n_val], order[n_val:]
    augment = None
    if cfg.augment and x_train.ndim != 4:
        raise RunError(f"--augment crops and flips images; data set {cfg.data!r} holds "
                       f"{x_train.ndim - 2}-D signals of shape {x_train.shape[1:]}")
    if cfg.augment:  # on normalised arrays: pad with the value black pixels have
        h, w = x_train.shape[-2:]
        augment = transforms.Compose([transforms.RandomCrop((h, w), padding=2,
                                                            fill=-mean / std),
                                      transforms.RandomHorizontalFlip()])
    train_data = ArrayDataset(x_train[train_idx], y_train[train_idx], augment)
    train = DataLoader(train_data, batch_size=cfg.batch_size,  # a shard under mpirun
                       **data_parallel.loader_order(train_data, cfg.seed))
    val = DataLoader(TensorDataset(x_train[val_idx], y_train[val_idx]),
                     batch_size=256) if n_val else None
    test = DataLoader(TensorDataset(x_test, y_test), batch_size=256)
    names = list(getattr(train_set, "classes", None) or [str(i) for i in range(num_classes)])
    return Loaders(train, val, test, num_classes, x_train.shape[1], names, mean, std,
                   tuple(x_train.shape[2:]), scale)


PLOT_FILES = ("curves.png", "lr.png", "confusion.png", "misclassified.png")


def fit_run(trainer, train, val, epochs, resume=None, what=""):
    """What every ``ember train`` run does around ``Trainer.fit``: resume from ``resume``
    (saying after which epoch), print ``what`` trains, fit, say why it stopped early.
    Returns the time it started (``time.perf_counter()``)."""
    import time
    if resume:
        trainer.resume(resume)
        print(f"resumed from {resume} after epoch {trainer.epoch}")
    print(what)
    start = time.perf_counter()
    trainer.fit(train, val, epochs=epochs)
    if trainer.stop_reason:
        print(trainer.stop_reason)
    return start


def finish_run(trainer, loaders, run_dir, make_plots=True):
    """Evaluate on the test set, write results.json and (if ``make_plots``) the plots;
    returns the result. Under ``mpirun`` only rank 0 writes."""
    result = trainer.evaluate(loaders.test, num_classes=loaders.num_classes, keep_examples=25)
    if not data_parallel.is_main_process():
        return result
    summary = {k: result[k] for k in ("loss", "accuracy", "correct", "total")}
    summary.update(checkpoint="last.ckpt", mean=loaders.mean, std=loaders.std,
                   scale=loaders.scale, class_names=loaders.class_names,
                   image_size=loaders.image_size)
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        import json
        json.dump(summary, f, indent=2)
    if not make_plots:
        return result
    plots.plot_curves(trainer.history, os.path.join(run_dir, "curves.png"))
    plots.plot_lr(trainer.lrs, os.path.join(run_dir, "lr.png"))
    plots.plot_confusion(result["confusion"], os.path.join(run_dir, "confusion.png"),
                         loaders.class_names)
    wrong = result["misclassified"]
    plots.plot_misclassified([w[0] for w in wrong], [w[1] for w in wrong],
                             [w[2] for w in wrong], os.path.join(run_dir, "misclassified.png"),
                             loaders.class_names, signals=len(loaders.image_size) == 1)
    return result


def preprocessing(loaders):
    """What evaluate/predict need besides the weights; stored in every checkpoint's config,
    so the ``last.ckpt`` of an interrupted run (no results.json) is usable on its own."""
    return {"mean": loaders.mean, "std": loaders.std, "scale": loaders.scale,
            "class_names": list(loaders.class_names), "image_size": list(loaders.image_size)}


def load_run(checkpoint, device="cpu", state=None):
    """Rebuild (model, config, info) from a checkpoint written by ``ember train`` (``state``:
    its contents, if already loaded); ``info`` holds the normalisation statistics, class names
    and image size (from the checkpoint; results.json beside it for checkpoints written before
    they were stored there)."""
    from ember import models
    state = load_run_state(checkpoint) if state is None else state
    cfg = state["config"]
    run_dir = os.path.dirname(os.path.abspath(checkpoint))
    info_path = os.path.join(run_dir, "results.json")
    info = {}
    if os.path.exists(info_path):
        import json
        with open(info_path) as f:
            info = json.load(f)
    info.update(cfg.get("preprocessing") or {})
    model = models.get_model(cfg["model"], **cfg["model_kwargs"])
    model.load_state_dict(state["model"])
    return model.to(device).eval(), cfg, info


def evaluate_checkpoint(checkpoint, device="cpu", state=None):
    """Test-set loss and accuracy of a checkpoint, with the run's own preprocessing
    (``state``: the checkpoint's contents, if already loaded)."""
    from ember.data import DataLoader, TensorDataset, datasets
    model, cfg, info = load_run(checkpoint, device, state)
    test_set = datasets.get_dataset(cfg["data"], train=False, root=cfg.get("data_root") or None)
    x, y = limit(*images_of(test_set), cfg.get("limit", 0) // 5)
    mean, std, scale = _stats(info, cfg)
    loader = DataLoader(TensorDataset(normalise(x, mean, std, scale), y), batch_size=256)
    from ember.train.trainer import Trainer
    trainer = Trainer(model, ember.nn.CrossEntropyLoss(), _NoOptimizer(),
                                  device=device, progress=False)
    return trainer.evaluate(loader)


def _stats(info, cfg):
    if "mean" not in info:
        raise FileNotFoundError("the checkpoint holds no normalisation statistics (it was "
                                "written by an older ember) and results.json is missing "
                                "beside it; keep the run folder together")
    return info["mean"], info["std"], info.get("scale", 255.0)  # older runs: images


class _NoOptimizer:
    param_groups = [{"lr": 0.0}]


def read_image(path, channels=1):
    """An image file (PNG, JPEG through matplotlib; or .npy) as a float array in [0, 255]:
    gray (H, W), or (3, H, W) with ``channels=3`` (the model's ``in_channels``).

    A .npy file may hold one image or a stack of them (N x H x W, N x 1 x H x W or
    N x H x W x 1 when its trailing size matches ``image_size`` in :func:`read_images`).
    Declared sizes are checked against the file and ``ember.io.MAX_LOAD_BYTES`` first.
    """
    from ember.io import limits
    check_file(path, "image")
    if path.endswith(".npy"):
        try:
            img = limits.read_npy_file(path)
        except limits.LoadLimitError:
            raise
        except (ValueError, EOFError) as e:  # not a .npy file, truncated, or pickled objects
            raise RunError(f"image '{path}' is not a readable .npy array ({_one_line(e)}); "
                           "pass PNG/JPEG images or .npy files written by numpy.save") from None
        if img.dtype.kind not in "biuf":
            raise RunError(f"image '{path}' holds {img.dtype} values, not numbers")
        img = img.astype(np.float32)
    else:
        try:
            import matplotlib.image as mpimg
        except ImportError:
            raise RunError(f"reading '{path}' needs matplotlib: pip install matplotlib "
                           "(or pass .npy files)") from None
        limits.check_file(path)
        limits.check_image(path)  # width x height from the header, before decoding
        try:
            img = mpimg.imread(path).astype(np.float32)
        except PermissionError:
            raise
        except Exception as e:  # noqa: BLE001 - PIL raises many types for a bad file
            raise RunError(f"image '{path}' is not a readable image ({_one_line(e)}); pass "
                           "PNG/JPEG images or .npy files") from None
        if img.size and img.max() <= 1.0:
            img = img * 255.0
    return _as_channels(img, channels, path)


def _as_channels(img, channels, path):
    """Gray (H, W) for a 1-channel model (colour averaged), RGB (3, H, W) for a colour one
    (gray repeated); a .npy file of 3 or 4 planes is a stack of gray images for the first."""
    hwc = img.ndim == 3 and img.shape[-1] in (3, 4) and img.shape[0] not in (1, 3, 4)
    chw = img.ndim == 3 and img.shape[0] in (3, 4) and (channels == 3
                                                        or not path.endswith(".npy"))
    if channels == 1:
        return img[..., :3].mean(-1) if hwc else img[:3].mean(0) if chw else img
    if hwc:
        return img[..., :3].transpose(2, 0, 1)
    return img[:3] if chw else np.repeat(img[None], 3, 0) if img.ndim == 2 else img


def _one_line(e):
    return " ".join(str(e).split()) or type(e).__name__


def read_images(path, image_size, channels=1):
    """[(label, H x W image), ...] of one file: one entry per image of a .npy stack (for
    models of 1-D signals, an ``image_size`` of one length L: (L,) each, N x L stacks); with
    ``channels=3``, (3, H, W) images (stacks N x 3 x H x W or N x H x W x 3)."""
    img = read_image(path, channels)
    size = tuple(image_size) if image_size else img.shape[-2:]
    if channels == 3:
        if img.ndim == 4 and img.shape[-1] == 3:
            img = img.transpose(0, 3, 1, 2)
        size = (3, *size)
    elif img.ndim == len(size) + 2 and 1 in (img.shape[1], img.shape[-1]):
        img = img[:, 0] if img.shape[1] == 1 else img[..., 0]
    if img.ndim == len(size) + 1 and img.shape[1:] == size:
        images = [(f"{path}[{i}]", im) for i, im in enumerate(img)] if len(img) > 1 \
            else [(path, img[0])]
    else:
        images = [(path, img)]
    for label, im in images:
        if im.shape != size:
            raise RunError(f"image '{path}' has shape {img.shape}, but the model was trained "
                           f"on {size} images (a .npy file may also hold a stack N x "
                           f"{' x '.join(map(str, size))})")
        if not np.isfinite(im).all():
            raise RunError(f"image '{label}' contains NaN or infinite values; pass pixel "
                           "values in [0, 255]")
    return images


def batch_of_one(image, channels):
    """``image`` as a batch of one: (1, C, ...) from (C, H, W) colour or (H, W) gray."""
    return image[None] if channels > 1 else image[None, None]


def predict_files(checkpoint, paths, k=3):
    """[(label, [(class name, probability), ...]), ...] for image files: one entry per image
    (a .npy stack gives one per image, labelled ``path[i]``)."""
    model, cfg, info = load_run(checkpoint)
    mean, std, scale = _stats(info, cfg)
    names = info.get("class_names")
    channels = cfg["model_kwargs"].get("in_channels", 1)
    out = []
    for path in paths:
        for label, img in read_images(path, info.get("image_size"), channels):
            x = batch_of_one((img / scale - mean) / std, channels).astype(np.float32)
            with ember.no_grad():
                probs = model(ember.tensor(x)).softmax(1).numpy()[0]
            top = np.argsort(-probs)[:k]
            out.append((label, [(names[i] if names else str(i), float(probs[i]))
                                for i in top]))
    return out
