"""The ``ember`` command line: train, evaluate, predict, summary, list, demo; and the sequence
tasks: seq2seq, charlm (a character LSTM on Shakespeare) with generate.

``ember train`` with no arguments trains LeNet-5 on the Fashion-MNIST subset that ships
inside ember and writes ``runs/<name>/`` with the checkpoint, the config, the metric logs
and the plots. ``main(argv)`` returns an exit code, so tests call it directly.

Errors never show a traceback: ``main`` is the one place that turns them into one line,
``ember <command>: error: <message>``, on stderr. Exit codes: 0 success, 1 a problem with
files, data or the machine (missing, corrupt or unreadable files, a full disk, out of memory),
2 a usage error (a bad flag or config value). ``EMBER_DEBUG=1`` re-raises instead, for the
full traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import errno
import importlib
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
    from ember.train import CSVLogger, JSONLLogger, ModelCheckpoint, Trainer, pipeline

    cfg, resume = _train_config(args)
    main_rank = pipeline.data_parallel.setup()  # mpirun -n N: rank 0 alone prints, writes
    make_plots = _plots_available()
    if not make_plots:
        _warn("train", "matplotlib is not installed: training without the plots "
              "(pip install matplotlib to get them)")
    ember.manual_seed(cfg.seed)
    train_set, test_set = _datasets(cfg)
    loaders = pipeline.make_loaders(train_set, test_set, cfg)
    from ember import models
    model_kwargs = _model_kwargs(cfg.model, loaders.num_classes, loaders.in_channels,
                                 loaders.image_size)
    model = models.get_model(cfg.model, **model_kwargs).to(cfg.device)
    optimizer = _make_optimizer(cfg, model.parameters())
    scheduler, interval = _make_scheduler(cfg, optimizer, len(loaders.train))
    run_dir = pipeline.data_parallel.rank0_text(cfg_run_dir(cfg))  # one folder for all
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.json") if main_rank else os.devnull, "w") as f:
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
    result = pipeline.finish_run(trainer, loaders, run_dir, make_plots=make_plots)
    print(f"test accuracy {result['accuracy']:.4f} ({result['correct']}/{result['total']}), "
          f"test loss {result['loss']:.4f}, {time.perf_counter() - start:.1f} s")
    names = ("last.ckpt", "best.ckpt", "config.json", "metrics.csv", "metrics.jsonl",
             "results.json") + (pipeline.PLOT_FILES if make_plots else ())
    written = [n for n in names if os.path.exists(os.path.join(run_dir, n))]
    print(f"wrote {run_dir}: {', '.join(written)}")
    return pipeline.data_parallel.finish()


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
    values = {}
    resume = args.resume
    if resume:
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        values.update({k: v for k, v in load_run_state(resume)["config"].items()
                       if k in known})
    if args.config:
        values.update(_load_config_file(args.config))
    for f in dataclasses.fields(TrainConfig):
        flag = getattr(args, f.name, None)
        if flag is not None:
            values[f.name] = flag
    cfg = TrainConfig(**values)
    _validate(cfg)
    if resume and not cfg.name:
        cfg.name = os.path.basename(os.path.dirname(os.path.abspath(resume)))
        cfg.out_dir = os.path.dirname(os.path.dirname(os.path.abspath(resume)))
    return cfg, resume


def cmd_evaluate(args) -> int:
    from ember.train import pipeline, seq2seq
    state = pipeline.load_run_state(args.checkpoint)
    if state["config"].get("task") == "seq2seq":  # the greedy exact match, no loss
        result = seq2seq.evaluate_seq2seq(state, device=args.device)
    else:
        result = pipeline.evaluate_checkpoint(args.checkpoint, args.device, state)
    loss = f", test loss {result['loss']:.4f}" if "loss" in result else " (exact match)"
    print(f"test accuracy {result['accuracy']:.4f} ({result['correct']}/{result['total']})"
          + loss)
    return 0


def cmd_predict(args) -> int:
    from ember.train import pipeline
    for label, top in pipeline.predict_files(args.checkpoint, args.images, k=args.top_k):
        print(label)
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


def cmd_seq2seq(args) -> int:
    from ember.train import seq2seq
    cfg = seq2seq.Seq2seqConfig(**{k: v for k, v in vars(args).items()
                                   if k in {f.name for f in dataclasses.fields(
                                       seq2seq.Seq2seqConfig)}})
    try:
        seq2seq.check_config(cfg)
    except ValueError as e:
        raise UsageError(str(e)) from None
    make_plots = _plots_available()
    if not make_plots:
        _warn("seq2seq", "matplotlib is not installed: training without the plots")
    result = seq2seq.run_seq2seq(cfg, make_plots=make_plots)
    print(f"test accuracy {result['accuracy']:.4f} ({result['correct']}/{result['total']}) "
          f"exact match, {result['seconds']:.1f} s; wrote {result['run_dir']}")
    return 0


def cmd_demo(args) -> int:
    from ember.train.demo import run_demo
    return run_demo(steps=args.steps, hidden=args.hidden, lr=args.lr, seed=args.seed)


def cmd_charlm(args) -> int:
    from ember.train.charlm import CharLMConfig, train_charlm
    values = {k: v for k, v in vars(args).items()
              if k in {f.name for f in dataclasses.fields(CharLMConfig)} and v is not None}
    cfg = CharLMConfig(**values)
    try:
        cfg.check()
    except ValueError as e:
        raise UsageError(str(e).removeprefix("charlm: ")) from None
    result = train_charlm(cfg)
    print(f"validation loss {result['val_loss']:.4f} nats/char ({result['eval_characters']} "
          f"characters) after {result['steps']} steps, {result['seconds']:.1f} s; wrote "
          f"{result['run_dir']}: last.ckpt, config.json, metrics.jsonl, results.json"
          + (", loss.png" if os.path.exists(os.path.join(result["run_dir"], "loss.png"))
             else ""))
    return 0


def cmd_generate(args) -> int:
    from ember.train.charlm import generate_text
    if not args.temperature > 0:
        raise UsageError(f"--temperature must be > 0, got {args.temperature}")
    samples = generate_text(args.checkpoint, args.prompt, args.length, args.temperature,
                            args.top_k, args.seed, args.num_samples)
    for i, text in enumerate(samples):
        if len(samples) > 1:
            print(f"--- sample {i + 1} ---")
        print(text)
    return 0


def _at_least(low):
    """An argparse type: an int >= ``low`` (argparse reports others as a usage error)."""
    def parse(text):
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value
    parse.__name__ = "integer"
    return parse


# Commands living beside their task's code: add_command(sub, epilog) adds each subparser.
COMMAND_MODULES = ("ember.explain.command", "ember.onnx.command", "ember.experiments.command")
EPILOG = ("Exit status: 0 success, 1 an error (files, data, disk, memory; one line on "
          "stderr), 2 a usage error. Set EMBER_DEBUG=1 to see the full traceback of an error.")


def build_parser():
    from ember.train.charlm import CharLMConfig
    parser = argparse.ArgumentParser(
        prog="ember", description="ember: deep learning from scratch on NumPy, checked "
        "against PyTorch. Run `ember train` to train LeNet-5 on the bundled Fashion-MNIST "
        "subset.", epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (default: LeNet-5 on the bundled subset)",
                       description="Train a model. Flags override --config; defaults: "
                       + ", ".join(f"{f.name}={f.default}" for f in
                                   dataclasses.fields(TrainConfig))
                       + ". The plots need matplotlib: without it, training runs and "
                       "writes everything but the plots (with a warning).", epilog=EPILOG)
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

    e = sub.add_parser("evaluate", help="test accuracy of a checkpoint", epilog=EPILOG)
    e.add_argument("checkpoint")
    e.add_argument("--device", default="cpu")
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="top-k classes of image files (PNG or .npy)",
                       description="Top-k classes of each image. A .npy file may hold a stack "
                       "of images (N x H x W): each is classified, labelled FILE[i].",
                       epilog=EPILOG)
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--top-k", type=_at_least(1), default=3)
    p.set_defaults(func=cmd_predict)

    s = sub.add_parser("summary", help="layer table: shapes, parameters, MACs, receptive field")
    s.add_argument("model")
    s.add_argument("--input-size", default="1x28x28", help="CxHxW (default 1x28x28)")
    s.add_argument("--num-classes", type=_at_least(1), default=10)
    s.set_defaults(func=cmd_summary)

    li = sub.add_parser("list", help="list models or datasets")
    li.add_argument("what", help="models or datasets")
    li.set_defaults(func=cmd_list)

    q = sub.add_parser("seq2seq", help="seq2seq on the addition or date set (DLfS2 ch. 7)",
                       description="Train the book's Seq2seq (Embedding 16, LSTM 128) with "
                       "Adam, batch 128, gradient norm clipped to 5, teacher forcing; after "
                       "each epoch, the greedy exact-match accuracy on the test questions.",
                       epilog=EPILOG)
    q.add_argument("--data", default="addition", help="addition (default) or dates")
    q.add_argument("--reverse", action="store_true", help="reverse the question characters")
    q.add_argument("--peeky", action="store_true", help="PeekySeq2seq: the decoder sees the "
                   "encoder's state at every step")
    q.add_argument("--attention", default="", choices=["", "dot", "additive"],
                   help="AttentionSeq2seq (ch. 8): the decoder attends over every encoder "
                   "state, by dot-product (the book's) or additive scores; writes "
                   "attention.png")
    q.add_argument("--transformer", action="store_true", help="an encoder-decoder "
                   "Transformer (2 + 2 pre-norm layers, 4 heads, d_model = --hidden-size)")
    q.add_argument("--epochs", type=int, default=25)
    q.add_argument("--batch-size", dest="batch_size", type=int, default=128)
    q.add_argument("--lr", type=float, default=0.001, help="Adam's learning rate")
    q.add_argument("--max-grad", dest="max_grad", type=float, default=5.0,
                   help="clip the gradient's global norm to this")
    q.add_argument("--wordvec-size", dest="wordvec_size", type=int, default=16)
    q.add_argument("--hidden-size", dest="hidden_size", type=int, default=128)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--device", default="cpu")
    q.add_argument("--limit", type=int, default=0, help="use a random N training / N/5 test "
                   "pairs (quick runs)")
    q.add_argument("--name", default="", help="run folder name under --out-dir")
    q.add_argument("--out-dir", dest="out_dir", default="runs")
    q.add_argument("--data-root", dest="data_root", default="",
                   help="a folder with addition.txt / date.txt")
    q.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars")
    q.set_defaults(func=cmd_seq2seq)

    d = sub.add_parser("demo", help="a 2-layer MLP trained with the core API on spiral data")
    d.add_argument("--steps", type=_at_least(0), default=2000)
    d.add_argument("--hidden", type=_at_least(1), default=100)
    d.add_argument("--lr", type=float, default=1.0)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("charlm", help="train a character-level LSTM (or GPT) on Shakespeare's plays",
                       description="Train a character-level LSTM language model (Adam, "
                       "clipped gradients, random windows) and report the validation loss in "
                       "nats/char; writes a run folder with last.ckpt, metrics and loss.png. "
                       "Sample from it with `ember generate`.", epilog=EPILOG)
    c.add_argument("--data", help="shakespeare (default) or shakespeare-excerpt (shipped)")
    defaults = CharLMConfig()
    for flag, text in (
            ("steps", "optimizer steps"), ("batch-size", "windows per batch"),
            ("seq-len", "characters per window"), ("hidden", "LSTM units"),
            ("layers", "LSTM layers"), ("embed", "embedding size; 0: one-hot"),
            ("dropout", "dropout"), ("lr", "Adam learning rate"),
            ("clip", "gradient norm clip"), ("eval-every", "steps between validations"),
            ("eval-windows", "fixed validation windows"), ("seed", "random seed"),
            ("model", "lstm or gpt (nanoGPT's; --hidden is n_embd, --seq-len the block)"),
            ("heads", "GPT attention heads"),
            ("schedule", "constant or cosine (warm-up, cosine decay to --min-lr)"),
            ("warmup", "warm-up steps"), ("min-lr", "final learning rate of cosine"),
            ("weight-decay", "AdamW weight decay (0: Adam)"), ("beta2", "Adam's beta2"),
            ("name", "run folder name"), ("out-dir", "where run folders go"),
            ("data-root", "where to look for plays_gut.txt(.gz)")):
        default = getattr(defaults, flag.replace("-", "_"))
        c.add_argument("--" + flag, dest=flag.replace("-", "_"), type=type(default),
                       help=f"{text} ({default})" if default != "" else text)
    c.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar")
    c.set_defaults(func=cmd_charlm)

    g = sub.add_parser("generate", help="sample text from an `ember charlm` checkpoint",
                       epilog=EPILOG)
    g.add_argument("checkpoint")
    g.add_argument("--prompt", default="\n", help="text to continue (default a newline)")
    g.add_argument("--length", type=_at_least(0), default=500, help="characters to add")
    g.add_argument("--temperature", type=float, default=1.0, help="divides the logits (> 0)")
    g.add_argument("--top-k", dest="top_k", type=_at_least(1), default=None,
                   help="sample from the k most likely characters only")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--num-samples", dest="num_samples", type=_at_least(1), default=1)
    g.set_defaults(func=cmd_generate)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_command(sub, EPILOG)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0, 1 error, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"ember {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the one place where errors become one line
        if os.environ.get("EMBER_DEBUG", "") not in ("", "0"):
            raise
        message, status = _describe(e)
        print(f"ember {args.command}: error: {message}", file=sys.stderr)
        return status


def _describe(e):
    """(one-line message, exit status) of an exception: the errors a user can fix, named
    with what to do; anything else as an unexpected error pointing to EMBER_DEBUG=1."""
    from ember.io import CheckpointError
    from ember.train.pipeline import RunError
    if isinstance(e, UsageError):
        return _one_line(e), 2
    if isinstance(e, MemoryError):
        return "out of memory; try a smaller --batch-size or model, or free memory", 1
    if isinstance(e, OSError) and e.errno is not None:
        return _describe_os_error(e), 1
    if isinstance(e, ImportError) and e.name:
        return f"{_one_line(e)}; install it: pip install {e.name.split('.')[0]}", 1
    if isinstance(e, (RunError, CheckpointError, OSError, ImportError, RuntimeError,
                      ValueError, FloatingPointError)):
        return _one_line(e), 1
    return (f"unexpected {type(e).__name__}: {_one_line(e)} (probably a bug in ember: rerun "
            "with EMBER_DEBUG=1 for the traceback and report it)"), 1


def _describe_os_error(e):
    where = f" '{e.filename}'" if e.filename else ""
    if e.errno == errno.ENOSPC:
        return (f"no space left on the device writing{where}: free some disk space and run "
                "again (files saved before, such as the last checkpoint, are intact; "
                "continue with --resume)")
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}: check the file's permissions or use another path"
    if e.errno == errno.EISDIR:
        return f"{where.strip() or 'the path'} is a directory; pass a file"
    return f"{e.strerror or _one_line(e)}{where}"


def _one_line(e):
    """The message and notes of ``e`` on one line."""
    text = " ".join([str(e), *getattr(e, "__notes__", ())])
    return " ".join(text.split()) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
