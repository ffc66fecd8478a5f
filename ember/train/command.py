"""``ember train``: the run configuration (defaults < config file < flags), the optimizer,
scheduler, data and model it builds, and the command itself; moved out of ``ember/cli.py``
(which re-exports these names) so the task plumbing can grow beside the training code.

A run's *task* comes from its model: classification (the registry's classifiers: cross-
entropy, accuracy, confusion matrix) or, for the autoencoders, reconstruction / vae
(``ember.train.autoencode``: the model's loss, reconstruction error, the ELBO's terms, the
pictures). Both go through the same Trainer, checkpoints, resume and curves.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
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
    code_size: int = 0   # autoencoders: the code's width (0: the model's default)
    noise: float = 0.0   # denoising autoencoder: the input noise's std (0: the model's 0.4)
    pretrained: str = ""  # transfer learning: weights to start from (what fits is loaded)
    freeze: str = ""  # comma-separated submodules kept fixed (BN in eval)
    reinit: str = ""  # comma-separated submodules drawn afresh after loading (a new head)


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
    from ember.train.pipeline import RunError, check_file
    with open(check_file(path, "config file"), encoding="utf-8", errors="replace") as f:
        text = f.read()
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError as e:
            raise RunError("YAML configs need PyYAML: pip install pyyaml (or use JSON)") from e
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as e:
            where = getattr(e, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise RunError(f"config file '{path}' is not valid YAML{line} "
                           f"({getattr(e, 'problem', None) or 'parse error'}); fix it or "
                           "pass options as flags") from None
    else:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise RunError(f"config file '{path}' is not valid JSON ({e}); fix it or pass "
                           "options as flags") from None
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise UsageError(f"config file '{path}' must hold a mapping of option: value, got a "
                         f"{type(values).__name__}")
    types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    out = {}
    for key, value in values.items():
        name = _choose("config key", str(key).replace("-", "_"), sorted(types))
        out[name] = _typed(name, value, types[name], f"in config file '{path}'")
    return out


def _typed(name, value, kind, where):
    """``value`` checked against the TrainConfig field type (ints are accepted as floats)."""
    kind = {"int": int, "float": float, "bool": bool, "str": str}.get(kind, kind)
    ok = (isinstance(value, bool) if kind is bool else
          isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else
          isinstance(value, int) and not isinstance(value, bool) if kind is int else
          isinstance(value, kind))
    if not ok:
        raise UsageError(f"{name} {where} must be {kind.__name__}, got {value!r} "
                         f"({type(value).__name__})")
    return float(value) if kind is float else value


def _validate(cfg):
    """Refuse values that would silently do nothing or nonsense."""
    if cfg.epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {cfg.epochs}")
    if cfg.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {cfg.batch_size}")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise UsageError(f"--val-fraction must be in [0, 1), got {cfg.val_fraction}")
    if cfg.limit < 0:
        raise UsageError(f"--limit must be >= 0 (0: all the data), got {cfg.limit}")
    if not cfg.lr > 0:
        raise UsageError(f"--lr must be > 0, got {cfg.lr}")
    if cfg.code_size < 0 or cfg.noise < 0:
        raise UsageError(f"--code-size and --noise must be >= 0 (0: the model's default), "
                         f"got {cfg.code_size} and {cfg.noise}")


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
    """The builder's arguments for this data (LeNet-5 also needs the image size, the
    MNIST-1D GRU the sequence length)."""
    import inspect

    from ember import models
    _choose("model", name, models.list_models())
    kwargs = {"num_classes": num_classes, "in_channels": in_channels}
    params = inspect.signature(models.get_builder(name)).parameters
    for size_name in ("input_size", "time_steps"):
        if size_name in params:
            kwargs[size_name] = image_size[-1]
    return kwargs


def cmd_train(args) -> int:
    import ember
    from ember.train import Trainer, pipeline
    from ember.train.callbacks import run_files

    cfg, resume = _train_config(args)
    main_rank = pipeline.data_parallel.setup()  # mpirun -n N: rank 0 alone prints, writes
    make_plots = _plots_available()
    if not make_plots:
        _warn("train", "matplotlib is not installed: training without the plots "
              "(pip install matplotlib to get them)")
    ember.manual_seed(cfg.seed)
    from ember.train import autoencode, scenes
    task = autoencode.task_of(_choose("model", cfg.model, models_list()))
    if task in scenes.TASKS:  # they make their scenes from the data set's items
        _classifiers_only(cfg)
        return scenes.train_scenes(cfg, task, resume, make_plots, _optimizer_and_scheduler,
                                   cfg_run_dir(cfg))
    train_set, test_set = _datasets(cfg)
    if task != "classification":
        if pipeline.data_parallel.active():
            raise UsageError("autoencoders train in one process: run without mpirun")
        _classifiers_only(cfg)
        return autoencode.train_autoencoder(
            cfg, resume, make_plots, (train_set, test_set), _optimizer_and_scheduler,
            cfg_run_dir(cfg), functools.partial(_autoencoder_kwargs, cfg))
    loaders = pipeline.make_loaders(train_set, test_set, cfg)
    from ember import models
    model_kwargs = _model_kwargs(cfg.model, loaders.num_classes, loaders.in_channels,
                                 loaders.image_size)
    model = models.get_model(cfg.model, **model_kwargs).to(cfg.device)
    _transfer(cfg, model, resume)
    optimizer = _make_optimizer(cfg, [p for p in model.parameters() if p.requires_grad])
    scheduler, interval = _make_scheduler(cfg, optimizer, len(loaders.train))
    run_dir = pipeline.data_parallel.rank0_text(cfg_run_dir(cfg))  # one folder for all
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.json") if main_rank else os.devnull, "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=2)
    trainer = Trainer(model, ember.nn.CrossEntropyLoss(), optimizer, scheduler,
                      scheduler_interval=interval, device=cfg.device, progress=cfg.progress,
                      config=dict(dataclasses.asdict(cfg), model_kwargs=model_kwargs,
                                  preprocessing=pipeline.preprocessing(loaders)),
                      callbacks=run_files(run_dir))
    start = pipeline.fit_run(
        trainer, loaders.train, loaders.val, cfg.epochs, resume,
        f"training {cfg.model} on {cfg.data} ({len(loaders.train.dataset)} train / "
        f"{len(loaders.val.dataset) if loaders.val else 0} val / {len(test_set)} test) for "
        f"{cfg.epochs} epochs on {cfg.device}; run folder {run_dir}")
    result = pipeline.finish_run(trainer, loaders, run_dir, make_plots=make_plots)
    print(f"test accuracy {result['accuracy']:.4f} ({result['correct']}/{result['total']}), "
          f"test loss {result['loss']:.4f}, {time.perf_counter() - start:.1f} s")
    names = ("last.ckpt", "best.ckpt", "config.json", "metrics.csv", "metrics.jsonl",
             "results.json") + (pipeline.PLOT_FILES if make_plots else ())
    written = [n for n in names if os.path.exists(os.path.join(run_dir, n))]
    print(f"wrote {run_dir}: {', '.join(written)}")
    return pipeline.data_parallel.finish()


def _classifiers_only(cfg):
    if cfg.pretrained or cfg.freeze or cfg.reinit:
        raise UsageError("--pretrained, --freeze and --reinit apply to classifiers")


def _transfer(cfg, model, resume):
    """--pretrained (not on resume: the checkpoint holds the weights), --reinit, --freeze."""
    from ember.train import transfer
    if cfg.pretrained and not resume:
        print(f"{cfg.pretrained}: {transfer.load_pretrained(model, cfg.pretrained)}")
    if not resume:
        transfer.reinit(model, _split(cfg.reinit))
    frozen = transfer.freeze(model, _split(cfg.freeze))
    if frozen:
        print(f"frozen: {len(frozen)} parameter tensors in {cfg.freeze}")
    if not any(p.requires_grad for p in model.parameters()):
        raise UsageError(f"--freeze {cfg.freeze} leaves nothing to train")


def _split(names):
    return [n for n in names.split(",") if n]


def _optimizer_and_scheduler(cfg, params, steps_per_epoch):
    optimizer = _make_optimizer(cfg, params)
    return (optimizer, *_make_scheduler(cfg, optimizer, steps_per_epoch))


def _autoencoder_kwargs(cfg, num_classes, in_channels, image_size):
    """:func:`_model_kwargs` plus ``--code-size`` / ``--noise`` where given."""
    import inspect

    from ember import models
    kwargs = _model_kwargs(cfg.model, num_classes, in_channels, image_size)
    params = inspect.signature(models.get_builder(cfg.model)).parameters
    for flag, value in (("code_size", cfg.code_size), ("noise", cfg.noise)):
        if value:
            if flag not in params:
                raise UsageError(f"--{flag.replace('_', '-')}: model {cfg.model!r} has no "
                                 f"{flag} argument")
            kwargs[flag] = value
    return kwargs


def models_list():
    from ember import models
    return models.list_models()


def _plots_available():
    """Whether matplotlib imports (checked before training, not after it)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _warn(command, message):
    print(f"ember {command}: warning: {message}", file=sys.stderr)


def cfg_run_dir(cfg):
    name = cfg.name or f"{cfg.model}-{cfg.data}-{time.strftime('%Y%m%d-%H%M%S')}"
    return os.path.join(cfg.out_dir, name)


def _train_config(args):
    """Defaults < config file < flags; ``--resume`` restores the run's own config."""
    from ember.train.pipeline import load_run_state
    values, saved = {}, None
    resume = args.resume
    if resume:
        saved = load_run_state(resume)
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        values.update({k: v for k, v in saved["config"].items() if k in known})
    if args.config:
        values.update(_load_config_file(args.config))
    for f in dataclasses.fields(TrainConfig):
        flag = getattr(args, f.name, None)
        if flag is not None:
            values[f.name] = ",".join(flag) if isinstance(flag, list) else flag
    cfg = TrainConfig(**_with_recipe(values))
    _validate(cfg)
    if saved is not None:
        _check_resume(cfg, saved, resume)
    if resume and not cfg.name:
        cfg.name = os.path.basename(os.path.dirname(os.path.abspath(resume)))
        cfg.out_dir = os.path.dirname(os.path.dirname(os.path.abspath(resume)))
    return cfg, resume


def _with_recipe(values):
    """``values`` over the defaults of the model's task where it has its own (the scene
    models train with Adam: ``ember.train.scenes.recipe``)."""
    from ember.train import autoencode, scenes
    model = _choose("model", values.get("model", TrainConfig.model), models_list())
    task = autoencode.task_of(model)
    return {**scenes.recipe(task), **values} if task in scenes.TASKS else values


# schedules planned over the run's length: a longer resumed run does not stretch them
PLANNED_SCHEDULES = ("cosine", "step", "onecycle")


def _check_resume(cfg, saved, path):
    """Refuse a resume that would train nothing; warn when it outruns a planned schedule."""
    done, planned = int(saved.get("epoch", 0)), saved["config"].get("epochs", cfg.epochs)
    if cfg.epochs <= done:
        raise UsageError(f"'{path}' has already trained {done} of its {planned} epochs: pass "
                         f"--epochs N with N > {done} to train more")
    if cfg.epochs > planned and cfg.scheduler in PLANNED_SCHEDULES:
        _warn("train", f"the {cfg.scheduler} schedule of '{path}' was planned for {planned} "
              f"epochs and is not stretched to {cfg.epochs}: past epoch {planned} the "
              "learning rate goes on as the scheduler defines (PyTorch's semantics). For a "
              f"fresh schedule, start a new run from its weights: --pretrained {path}")


def add_train_parser(sub, epilog):
    """The ``train`` subparser (``set_defaults(func=cmd_train)``)."""
    t = sub.add_parser("train", help="train a model (default: LeNet-5 on the bundled subset)",
                       description="Train a model. Flags override --config; defaults: "
                       + ", ".join(f"{f.name}={f.default}" for f in
                                   dataclasses.fields(TrainConfig))
                       + ". The plots need matplotlib: without it, training runs and "
                       "writes everything but the plots (with a warning).", epilog=epilog)
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
    t.add_argument("--code-size", dest="code_size", type=int,
                   help="autoencoders: the code's width (default: the model's)")
    t.add_argument("--noise", type=float, help="denoising autoencoder: the std of the "
                   "Gaussian noise added to its inputs (default 0.4)")
    t.add_argument("--pretrained", metavar="FILE", help="start from these weights: an `ember "
                   "train` checkpoint, a state_dict (ember, torch.save, .safetensors) or the "
                   "book's .pkl; tensors whose name or shape differ keep their new values")
    t.add_argument("--freeze", nargs="+", metavar="NAME", help="submodules not "
                   "to train (e.g. features); their batch norms stay in eval mode")
    t.add_argument("--reinit", nargs="+", metavar="NAME", help="submodules drawn "
                   "afresh after --pretrained (a new head, e.g. classifier.output)")
    t.add_argument("--config", help="a YAML or JSON file of the options above")
    t.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its checkpoint")
    t.set_defaults(func=cmd_train)
    return t
