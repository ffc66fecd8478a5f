"""``ember explain``: attribution overlays for a trained model's decisions.

``ember explain CKPT IMAGE... --method gradcam`` explains the predicted class (or
``--target``) of each image under a checkpoint of ``ember train`` and writes one PNG per image
(the image beside the heat map laid over it); ``ember explain RUN_DIR`` does the same for the
run's misclassified test images (the predicted, wrong class: what the model looked at) and adds
an overview figure. The model, its preprocessing and the test set are rebuilt as ``ember
evaluate`` and ``ember predict`` rebuild them (``ember.train.pipeline``).
"""
from __future__ import annotations

import os

import numpy as np

import ember
from ember import nn
from ember.explain import visualize
from ember.explain.cam import CAM, GradCAMPlusPlus, GuidedGradCam, LayerGradCam
from ember.explain.gradient import InputXGradient, IntegratedGradients, NoiseTunnel, Saliency
from ember.explain.guided import Deconvolution, GuidedBackprop
from ember.explain.occlusion import Occlusion

__all__ = ["METHODS", "add_command", "attribution_maps", "default_layer", "explain_images",
           "explain_run"]

LAYER_METHODS = ("gradcam", "gradcam++", "cam")
METHODS = LAYER_METHODS + ("guided-gradcam", "saliency", "input-x-gradient",
                           "integrated-gradients", "smoothgrad", "guided-backprop",
                           "deconvolution", "occlusion")
SCALE = 4  # PNG pixels per image pixel


def _run_error(message):
    from ember.train.pipeline import RunError
    return RunError(message)


def default_layer(model, x):
    """The name of the module that is the last to finish with a feature map (N, C, h, w) of
    more than one position: where class activation maps are read (a ResNet's last stage,
    after its residual additions; LeNet-5's last pooling)."""
    finished = []

    def hook_for(name):
        def hook(module, args, out):
            if isinstance(out, ember.Tensor) and out.ndim == 4 and out.shape[2] * out.shape[3] > 1:
                finished.append(name)
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in model.named_modules() if n]
    try:
        with ember.no_grad():
            model(x[:1])
    finally:
        for h in handles:
            h.remove()
    if not finished:
        raise _run_error("explain: the model has no layer with spatial feature maps; pass "
                         "--layer or use a gradient method (--method saliency)")
    return finished[-1]


def attribution_maps(model, x, targets, method="gradcam", layer=None, baseline=0.0):
    """(N, H, W) heat maps of ``method`` for inputs ``x`` (N, C, H, W) and one class per
    example: layer maps upsampled bilinearly (ReLU'd), input maps scaled by captum's rule
    (absolute values summed over channels, 2% outliers clipped). ``baseline`` is the input
    that integrated gradients and occlusion start from (the normalised black image)."""
    if method not in METHODS:
        raise ValueError(f"explain: unknown method {method!r}; choose from {', '.join(METHODS)}")
    targets = [int(t) for t in targets]
    size = tuple(x.shape[2:])
    if method in LAYER_METHODS or method == "guided-gradcam":
        layer_name = layer or default_layer(model, x)
        try:
            module = model.get_submodule(layer_name)
        except (AttributeError, KeyError, ValueError) as e:
            raise _run_error(f"explain: no layer {layer_name!r} in {type(model).__name__} "
                             f"({e})") from None
    if method in LAYER_METHODS:
        if method == "gradcam":
            m = LayerGradCam(model, module).attribute(x, targets, relu_attributions=True)
        elif method == "gradcam++":
            m = GradCAMPlusPlus(model, module).attribute(x, targets)
        else:
            m = CAM(model, module).attribute(x, targets, relu_attributions=True)
        return visualize.upsample_to(m, size).numpy()[:, 0]
    if method == "guided-gradcam":
        a = GuidedGradCam(model, module).attribute(x, targets)
    elif method == "saliency":
        a = Saliency(model).attribute(x, targets)
    elif method == "input-x-gradient":
        a = InputXGradient(model).attribute(x, targets)
    elif method == "integrated-gradients":
        a = IntegratedGradients(model).attribute(x, baseline, targets, n_steps=32)
    elif method == "smoothgrad":
        spread = float((x.max() - x.min()).item())
        a = NoiseTunnel(Saliency(model)).attribute(x, nt_samples=16, stdevs=0.15 * spread,
                                                   target=targets)
    elif method == "guided-backprop":
        a = GuidedBackprop(model).attribute(x, targets)
    elif method == "deconvolution":
        a = Deconvolution(model).attribute(x, targets)
    else:  # occlusion: a window of about a seventh of the image, half-overlapping
        k = max(2, min(size) // 7)
        a = Occlusion(model).attribute(x, (x.shape[1], k, k), (x.shape[1], k // 2, k // 2),
                                       baseline, targets, perturbations_per_eval=16)
    return np.stack([visualize.normalize_attr(a[i]) for i in range(len(targets))])


def _panel(image, heat, alpha):
    """The gray image beside the overlay, as one (H, 2W + 3, 3) picture."""
    gray = visualize.overlay(image, np.zeros_like(heat), alpha=0.0)
    return visualize.make_grid(np.stack([gray, visualize.overlay(image, heat, alpha)]),
                               ncols=2, padding=1)


def _check_method_fits(model, method):
    if method in ("guided-backprop", "deconvolution", "guided-gradcam") and \
            not any(isinstance(m, nn.ReLU) for m in model.modules()):
        import sys
        print(f"ember explain: warning: {type(model).__name__} has no nn.ReLU modules, so "
              f"the guided/deconvolution backward pass of {method} is the plain gradient",
              file=sys.stderr)


def _load(checkpoint):
    from ember.train import pipeline
    model, cfg, info = pipeline.load_run(checkpoint)
    if len(info.get("image_size") or (0, 0)) != 2:
        raise _run_error(f"explain: checkpoint '{checkpoint}' is a model of "
                         f"{len(info['image_size'])}-D signals; explain draws maps over images")
    model = model.to(ember.float64)  # attributions in float64: no float32 noise in the maps
    return model, cfg, info


def _stats(info):
    if "mean" not in info:
        raise FileNotFoundError("the checkpoint holds no normalisation statistics (it was "
                                "written by an older ember) and results.json is missing "
                                "beside it; keep the run folder together")
    return info["mean"], info["std"], info.get("scale", 255.0)


def _target_of(target, probs, names, where):
    if target is None or target == "pred":
        return int(np.argmax(probs))
    if isinstance(target, str) and not target.lstrip("-").isdigit():
        if target not in names:
            raise _run_error(f"explain: --target {target!r} is not a class of this model "
                             f"({', '.join(names)})")
        return names.index(target)
    t = int(target)
    if not 0 <= t < len(probs):
        raise _run_error(f"explain: --target {t} is out of range for {len(probs)} classes "
                         f"({where})")
    return t


def _slug(text):
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


def explain_images(checkpoint, paths, method="gradcam", layer=None, target=None, out_dir=None,
                   alpha=0.5):
    """Explain each image of ``paths`` (PNG/JPEG/.npy, as ``ember predict`` reads them) under
    ``checkpoint``: one PNG per image in ``out_dir`` (default ``explain/`` beside the
    checkpoint). ``target``: a class index or name, or None for the predicted class.
    Returns [(label, predicted class, explained class, path written), ...]."""
    from ember.train import pipeline
    model, cfg, info = _load(checkpoint)
    mean, std, scale = _stats(info)
    names = list(info.get("class_names") or [])
    out_dir = out_dir or os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "explain")
    _check_method_fits(model, method)
    written = []
    channels = cfg["model_kwargs"].get("in_channels", 1)
    for path in paths:
        for label, img in pipeline.read_images(path, info.get("image_size"), channels):
            x = ember.tensor(pipeline.batch_of_one((img / scale - mean) / std, channels),
                             dtype=ember.float64)
            with ember.no_grad():
                probs = model(x).softmax(1).numpy()[0]
            names = names or [str(i) for i in range(len(probs))]
            pred, t = int(np.argmax(probs)), _target_of(target, probs, names, label)
            baseline = float((0 - mean) / std)
            heat = attribution_maps(model, x, [t], method, layer, baseline)[0]
            stem = _slug(os.path.splitext(os.path.basename(label))[0] +
                         label[len(path):])
            out = os.path.join(out_dir, f"{stem}_{method}_{_slug(names[t])}.png")
            visualize.save_image(_panel(img / 255.0, heat, alpha), out, scale=SCALE)
            written.append((label, names[pred], names[t], out))
    return written


def explain_run(run_dir, method="gradcam", layer=None, max_images=8, out_dir=None, alpha=0.5,
                batch_size=256, target="pred"):
    """Explain the first ``max_images`` misclassified test images of an ``ember train`` run
    folder (its ``last.ckpt``): the map of the predicted (wrong) class, or of the true class
    with ``target="true"``. Writes one PNG per image and ``overview_<method>.png`` into
    ``out_dir`` (default ``RUN_DIR/explain``); returns [(index, true class, predicted class,
    path), ...] and the overview's path."""
    if target not in (None, "pred", "true"):
        raise _run_error(f"explain: on a run folder --target is 'pred' (the predicted class, "
                         f"default) or 'true' (the true class), got {target!r}")
    from ember.data import datasets
    from ember.train import pipeline
    checkpoint = next((os.path.join(run_dir, n) for n in ("last.ckpt", "best.ckpt")
                       if os.path.isfile(os.path.join(run_dir, n))), None)
    if checkpoint is None:
        raise _run_error(f"explain: '{run_dir}' holds no last.ckpt or best.ckpt; pass the "
                         "folder of an `ember train` run or a checkpoint and images")
    model, cfg, info = _load(checkpoint)
    mean, std, scale = _stats(info)
    test_set = datasets.get_dataset(cfg["data"], train=False, root=cfg.get("data_root") or None)
    images, labels = pipeline.limit(*pipeline.images_of(test_set), cfg.get("limit", 0) // 5)
    x_all = pipeline.normalise(images, mean, std, scale)
    names = list(info.get("class_names") or [str(i) for i in range(int(labels.max()) + 1)])
    _check_method_fits(model, method)
    wrong, preds = [], []
    with ember.no_grad():
        for start in range(0, len(x_all), batch_size):
            p = model(ember.tensor(x_all[start:start + batch_size], dtype=ember.float64))
            p = p.argmax(1).numpy()
            for i in np.nonzero(p != labels[start:start + batch_size])[0]:
                if len(wrong) < max_images:
                    wrong.append(start + int(i))
                    preds.append(int(p[i]))
    if not wrong:
        raise _run_error(f"explain: the model in '{run_dir}' classifies all {len(labels)} "
                         "test images correctly; explain chosen images with `ember explain "
                         "CKPT IMAGE...`")
    out_dir = out_dir or os.path.join(run_dir, "explain")
    x = ember.tensor(x_all[wrong], dtype=ember.float64)
    explained = [int(labels[i]) for i in wrong] if target == "true" else preds
    heat = attribution_maps(model, x, explained, method, layer, float((0 - mean) / std))
    written, suffix = [], "_of-true" if target == "true" else ""
    for k, (i, p) in enumerate(zip(wrong, preds)):
        image = images[i] / float(scale)  # (C, H, W): gray or RGB
        out = os.path.join(out_dir, f"test{i:05d}_{method}_true-{_slug(names[labels[i]])}"
                                    f"_pred-{_slug(names[p])}{suffix}.png")
        visualize.save_image(_panel(image, heat[k], alpha), out, scale=SCALE)
        written.append((i, names[labels[i]], names[p], out))
    overview = _overview([images[i] / float(scale) for i in wrong], heat,
                         [f"{names[labels[i]]}\n→ {names[p]}" for i, p in zip(wrong, preds)],
                         os.path.join(out_dir, f"overview_{method}{suffix}.png"), method,
                         alpha, "true" if target == "true" else "predicted")
    return written, overview


def _overview(images, heats, titles, path, method, alpha, explained="predicted"):
    """A figure: the images on top, their overlays below, titled true → predicted."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.3 * n + 0.4, 3.0), squeeze=False)
    for j in range(n):
        axes[0, j].imshow(visualize.overlay(images[j], np.zeros(images[j].shape[-2:]), 0.0))
        axes[0, j].set_title(titles[j], fontsize=7)
        axes[1, j].imshow(visualize.overlay(images[j], heats[j], alpha))
        for ax in axes[:, j]:
            ax.axis("off")
    fig.suptitle(f"{method} of the {explained} class: misclassified test images (true → "
                 "predicted)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _positive(text):
    import argparse
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def cmd_explain(args) -> int:
    """`ember explain`: a run folder, or a checkpoint and images."""
    source, images = args.source, args.images
    if os.path.isdir(source):
        if images:
            raise _run_error(f"explain: '{source}' is a run folder: it explains the run's "
                             "misclassified test images and takes no IMAGE arguments")
        written, overview = explain_run(source, args.method, args.layer, args.max_images,
                                        args.out_dir, args.alpha, target=args.target)
        for i, true, pred, path in written:
            print(f"test image {i}: true {true}, predicted {pred} -> {path}")
        print(f"wrote {overview}")
        return 0
    if not images:
        raise _run_error(f"explain: pass image files after the checkpoint '{source}' (or a "
                         "run folder instead of the checkpoint)")
    for label, pred, target, path in explain_images(source, images, args.method, args.layer,
                                                    args.target, args.out_dir, args.alpha):
        print(f"{label}: predicted {pred}, explaining {target} -> {path}")
    return 0


def add_command(sub, epilog):
    """Add ``ember explain`` to the command line's subparsers."""
    p = sub.add_parser(
        "explain", help="attribution maps (Grad-CAM, saliency, ...) over images as PNGs",
        description="Explain a trained model's decisions: `ember explain CKPT IMAGE...` writes "
        "one PNG per image (the image beside the heat map over it) for the predicted class; "
        "`ember explain RUN_DIR` does it for the run's misclassified test images (and an "
        "overview figure). Methods: " + ", ".join(METHODS) + ".", epilog=epilog)
    p.add_argument("source", help="a checkpoint of `ember train`, or its run folder")
    p.add_argument("images", nargs="*", help="PNG/JPEG/.npy images (with a checkpoint)")
    p.add_argument("--method", default="gradcam", choices=METHODS)
    p.add_argument("--layer", default=None, help="the layer of gradcam/gradcam++/cam/"
                   "guided-gradcam (dotted name, e.g. features.s4; default: the last module "
                   "to give spatial feature maps)")
    p.add_argument("--target", default=None, help="the class to explain: an index or name, "
                   "default the predicted class; on a run folder 'pred' or 'true'")
    p.add_argument("--max-images", dest="max_images", type=_positive, default=8,
                   help="misclassified images to explain from a run folder (8)")
    p.add_argument("--alpha", type=float, default=0.5, help="opacity of the heat map (0.5)")
    p.add_argument("--out-dir", dest="out_dir", default=None,
                   help="where the PNGs go (default: explain/ beside the checkpoint)")
    p.set_defaults(func=cmd_explain)
    return p
