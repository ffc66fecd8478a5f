"""The ``ember`` command line: train, evaluate, predict, summary, list, demo.

``ember train`` with no arguments trains LeNet-5 on the Fashion-MNIST subset that ships
inside ember and writes ``runs/<name>/`` with the checkpoint, the config, the metric logs
and the plots. ``main(argv)`` returns an exit code, so tests call it directly.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import sys
import time


@dataclasses.dataclass
class TrainConfig:
    model: str = "lenet5"
    data: str = "fashion-mnist-subset"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    device: str = "cpu"
    seed: int = 0
    augment: bool = False
    val_fraction: float = 0.1
    name: str = ""
    out_dir: str = "runs"
    data_root: str = ""
    limit: int = 0
    progress: bool = True


OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "nadam")
SCHEDULERS = ("none", "step", "cosine", "exponential", "onecycle", "inverse-time", "plateau")


class UsageError(ValueError):
    """A bad name or value on the command line; printed without a traceback."""


def _choose(kind, name, options):
    if name in options:
        return name
    close = difflib.get_close_matches(name, list(options), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UsageError(f"unknown {kind} {name!r}.{hint} Choose from: {', '.join(options)}")


def _load_config_file(path):
    with open(path) as f:
        text = f.read()
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError as e:
            raise UsageError("YAML configs need PyYAML: pip install pyyaml (or use JSON)") from e
        values = yaml.safe_load(text) or {}
    else:
        values = json.loads(text)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in values:
        _choose("config key", key.replace("-", "_"), sorted(known))
    return {k.replace("-", "_"): v for k, v in values.items()}


def _make_optimizer(cfg, params):
    from ember import optim
    name = _choose("optimizer", cfg.optimizer, OPTIMIZERS)
    wd = cfg.weight_decay
    if name == "sgd":
        return optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd)
    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
           "adagrad": optim.Adagrad, "adadelta": optim.Adadelta, "nadam": optim.NAdam}[name]
    return cls(params, lr=cfg.lr, weight_decay=wd)


def _make_scheduler(cfg, optimizer, steps_per_epoch):
    """Returns (scheduler or None, interval)."""
    from ember.optim import lr_scheduler as S
    name = _choose("scheduler", cfg.scheduler, SCHEDULERS)
    if name == "none":
        return None, "epoch"
    if name == "step":
        return S.StepLR(optimizer, step_size=max(1, cfg.epochs // 3), gamma=0.1), "epoch"
    if name == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=cfg.epochs), "epoch"
    if name == "exponential":
        return S.ExponentialLR(optimizer, gamma=0.9), "epoch"
    if name == "inverse-time":
        return S.InverseTimeLR(optimizer, decay_rate=0.5), "epoch"
    if name == "plateau":
        return S.ReduceLROnPlateau(optimizer, factor=0.5, patience=1), "epoch"
    return S.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch), \
        "step"


def _datasets(cfg):
    from ember.data import datasets
    names = datasets.list_datasets()
    _choose("data set", cfg.data, names)
    root = cfg.data_root or None
    return (datasets.get_dataset(cfg.data, train=True, root=root),
            datasets.get_dataset(cfg.data, train=False, root=root))


def _model_kwargs(name, num_classes, in_channels, image_size):
    """The builder's arguments for this data (LeNet-5 also needs the image size)."""
    import inspect

    from ember import models
    _choose("model", name, models.list_models())
    kwargs = {"num_classes": num_classes, "in_channels": in_channels}
    if "input_size" in inspect.signature(models.get_builder(name)).parameters:
        kwargs["input_size"] = image_size[-1]
    return kwargs


def cmd_train(args) -> int:
    import ember
    from ember.train import CSVLogger, JSONLLogger, ModelCheckpoint, Trainer
    from ember.train import pipeline

    cfg, resume = _train_config(args)
    ember.manual_seed(cfg.seed)
    train_set, test_set = _datasets(cfg)
    loaders = pipeline.make_loaders(train_set, test_set, cfg)
    from ember import models
    model_kwargs = _model_kwargs(cfg.model, loaders.num_classes, loaders.in_channels,
                                 loaders.image_size)
    model = models.get_model(cfg.model, **model_kwargs).to(cfg.device)
    optimizer = _make_optimizer(cfg, model.parameters())
    scheduler, interval = _make_scheduler(cfg, optimizer, len(loaders.train))
    run_dir = cfg_run_dir(cfg)
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=2)
    trainer = Trainer(model, ember.nn.CrossEntropyLoss(), optimizer, scheduler,
                      scheduler_interval=interval, device=cfg.device, progress=cfg.progress,
                      config=dict(dataclasses.asdict(cfg), model_kwargs=model_kwargs,
                                  preprocessing=pipeline.preprocessing(loaders)),
                      callbacks=[ModelCheckpoint(run_dir), CSVLogger(os.path.join(
                          run_dir, "metrics.csv")), JSONLLogger(os.path.join(
                              run_dir, "metrics.jsonl"))])
    if resume:
        trainer.resume(resume)
        print(f"resumed from {resume} after epoch {trainer.epoch}")
    print(f"training {cfg.model} on {cfg.data} ({len(loaders.train.dataset)} train / "
          f"{len(loaders.val.dataset) if loaders.val else 0} val / {len(test_set)} test) for "
          f"{cfg.epochs} epochs on {cfg.device}; run folder {run_dir}")
    start = time.perf_counter()
    trainer.fit(loaders.train, loaders.val, epochs=cfg.epochs)
    if trainer.stop_reason:
        print(trainer.stop_reason)
    result = pipeline.finish_run(trainer, loaders, run_dir)
    print(f"test accuracy {result['accuracy']:.4f} ({result['correct']}/{result['total']}), "
          f"test loss {result['loss']:.4f}, {time.perf_counter() - start:.1f} s")
    print(f"wrote {run_dir}: last.ckpt, best.ckpt, config.json, metrics.csv, metrics.jsonl, "
          "curves.png, lr.png, confusion.png, misclassified.png")
    return 0


def cfg_run_dir(cfg):
    name = cfg.name or f"{cfg.model}-{cfg.data}-{time.strftime('%Y%m%d-%H%M%S')}"
    return os.path.join(cfg.out_dir, name)


def _train_config(args):
    """Defaults < config file < flags; ``--resume`` restores the run's own config."""
    import ember
    values = {}
    resume = args.resume
    if resume:
        state = ember.load(resume)
        saved = state.get("config") if isinstance(state, dict) else None
        if not isinstance(saved, dict) or "model" not in saved:
            raise ember.io.CheckpointError(
                f"'{resume}' is not a checkpoint written by `ember train` (it has no run "
                "config); --resume takes last.ckpt from an ember train run folder. To "
                "continue from weights or an ember.io.save_checkpoint file, use "
                "ember.train.Trainer(...).resume(path) in Python")
        values.update(saved)
        values.pop("model_kwargs", None)
        values.pop("preprocessing", None)
    if args.config:
        values.update(_load_config_file(args.config))
    for f in dataclasses.fields(TrainConfig):
        flag = getattr(args, f.name, None)
        if flag is not None:
            values[f.name] = flag
    cfg = TrainConfig(**values)
    if resume and not cfg.name:
        cfg.name = os.path.basename(os.path.dirname(os.path.abspath(resume)))
        cfg.out_dir = os.path.dirname(os.path.dirname(os.path.abspath(resume)))
    return cfg, resume


def cmd_evaluate(args) -> int:
    from ember.train import pipeline
    result = pipeline.evaluate_checkpoint(args.checkpoint, device=args.device)
    print(f"test accuracy {result['accuracy']:.4f} ({result['correct']}/{result['total']}), "
          f"test loss {result['loss']:.4f}")
    return 0


def cmd_predict(args) -> int:
    from ember.train import pipeline
    for path, top in pipeline.predict_files(args.checkpoint, args.images, k=args.top_k):
        print(path)
        for label, prob in top:
            print(f"  {prob:7.2%}  {label}")
    return 0


def cmd_list(args) -> int:
    what = _choose("listing", args.what, ("models", "datasets"))
    if what == "models":
        from ember import models
        names = models.list_models()
    else:
        from ember.data import datasets
        names = datasets.list_datasets()
    print("\n".join(names))
    return 0


def cmd_summary(args) -> int:
    import ember
    from ember import models
    try:
        size = tuple(int(s) for s in args.input_size.split("x"))
    except ValueError:
        raise UsageError(f"--input-size must look like 1x28x28, got {args.input_size!r}")
    model = models.get_model(args.model, **_model_kwargs(args.model, args.num_classes, size[0],
                                                          size[1:]))
    print(ember.summary(model, size))
    return 0


def cmd_demo(args) -> int:
    from ember.train.demo import run_demo
    return run_demo(steps=args.steps, hidden=args.hidden, lr=args.lr, seed=args.seed)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ember", description="ember: deep learning from scratch on NumPy, checked "
        "against PyTorch. Run `ember train` to train LeNet-5 on the bundled Fashion-MNIST "
        "subset.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (default: LeNet-5 on the bundled subset)",
                       description="Train a model. Flags override --config; defaults: "
                       + ", ".join(f"{f.name}={f.default}" for f in
                                   dataclasses.fields(TrainConfig)))
    t.add_argument("--model", help="model name (see `ember list models`)")
    t.add_argument("--data", help="data set name (see `ember list datasets`)")
    t.add_argument("--epochs", type=int, help="epochs to train in total")
    t.add_argument("--batch-size", dest="batch_size", type=int, help="batch size")
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--optimizer", help=f"one of {', '.join(OPTIMIZERS)}")
    t.add_argument("--momentum", type=float, help="SGD momentum")
    t.add_argument("--weight-decay", dest="weight_decay", type=float, help="L2 weight decay")
    t.add_argument("--scheduler", help=f"one of {', '.join(SCHEDULERS)}")
    t.add_argument("--device", help="cpu, cuda or cuda:N")
    t.add_argument("--seed", type=int, help="random seed (same seed, same run)")
    t.add_argument("--augment", action="store_true", default=None,
                   help="random crop (padding 2) and horizontal flip")
    t.add_argument("--val-fraction", dest="val_fraction", type=float,
                   help="fraction of the training set held out for validation")
    t.add_argument("--name", help="run folder name under --out-dir")
    t.add_argument("--out-dir", dest="out_dir", help="where run folders go (default runs)")
    t.add_argument("--data-root", dest="data_root", help="where to look for data files")
    t.add_argument("--limit", type=int, help="use a random N training / N/5 test images "
                   "(quick runs)")
    t.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bars")
    t.add_argument("--config", help="a YAML or JSON file of the options above")
    t.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its checkpoint")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test accuracy of a checkpoint")
    e.add_argument("checkpoint")
    e.add_argument("--device", default="cpu")
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="top-k classes of image files (PNG or .npy)")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--top-k", type=int, default=3)
    p.set_defaults(func=cmd_predict)

    s = sub.add_parser("summary", help="layer table: shapes, parameters, MACs, receptive field")
    s.add_argument("model")
    s.add_argument("--input-size", default="1x28x28", help="CxHxW (default 1x28x28)")
    s.add_argument("--num-classes", type=int, default=10)
    s.set_defaults(func=cmd_summary)

    li = sub.add_parser("list", help="list models or datasets")
    li.add_argument("what", help="models or datasets")
    li.set_defaults(func=cmd_list)

    d = sub.add_parser("demo", help="a 2-layer MLP trained with the core API on spiral data")
    d.add_argument("--steps", type=int, default=2000)
    d.add_argument("--hidden", type=int, default=100)
    d.add_argument("--lr", type=float, default=1.0)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except UsageError as e:
        print(f"ember {args.command}: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, RuntimeError, ValueError, FloatingPointError) as e:
        print(f"ember {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())


