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
import errno
import importlib
import os
import sys

from ember.train.command import (  # noqa: F401 - re-exported: tests and benchmarks use them
    OPTIMIZERS,
    SCHEDULERS,
    TrainConfig,
    UsageError,
    _choose,
    _datasets,
    _load_config_file,
    _make_optimizer,
    _make_scheduler,
    _model_kwargs,
    _plots_available,
    _train_config,
    _typed,
    _validate,
    _warn,
    add_train_parser,
    cfg_run_dir,
    cmd_train,
)


def cmd_evaluate(args) -> int:
    from ember.train import pipeline, scenes, seq2seq
    state = pipeline.load_run_state(args.checkpoint)
    if state["config"].get("task") in ("reconstruction", "vae"):  # an autoencoder
        from ember.train import autoencode
        print(autoencode.describe(autoencode.evaluate_run(args.checkpoint, args.device, state)))
        return 0
    if state["config"].get("task") in scenes.TASKS:  # detection, segmentation, ...
        print(f"test: {scenes.describe(state['config']['task'], scenes.evaluate_run(args.checkpoint, state, args.device))}")
        return 0
    if state["config"].get("task") == "seq2seq":  # the greedy exact match, no loss
        result = seq2seq.evaluate_seq2seq(state, device=args.device)
    else:
        result = pipeline.evaluate_checkpoint(args.checkpoint, args.device, state)
    loss = f", test loss {result['loss']:.4f}" if "loss" in result else " (exact match)"
    print(f"test accuracy {result['accuracy']:.4f} ({result['correct']}/{result['total']})"
          + loss)
    return 0


def cmd_predict(args) -> int:
    from ember.train import pipeline, scenes
    state = pipeline.load_run_state(args.checkpoint)
    task = state["config"].get("task")
    if task in scenes.TASKS:  # the image with its boxes, masks, caption... drawn
        out_dir = args.out or os.path.dirname(os.path.abspath(args.checkpoint))
        for label, pred, path in scenes.predict_files(args.checkpoint, state, args.images,
                                                      out_dir, args.score_threshold):
            print(f"{label} -> {path}")
            print("\n".join(scenes.summarize(task, pred)))
        return 0
    if task in ("reconstruction", "vae"):
        raise UsageError(f"checkpoint '{args.checkpoint}' is an autoencoder ({task}), not a "
                         "classifier: use `ember evaluate` for its reconstruction error or "
                         "`ember anomalies` to rank the test images")
    for label, top in pipeline.predict_files(args.checkpoint, args.images, k=args.top_k):
        print(label)
        for label, prob in top:
            print(f"  {prob:7.2%}  {label}")
    return 0


def cmd_list(args) -> int:
    what = _choose("listing", args.what, ("models", "datasets"))
    if what == "models":  # with each model's task: what `ember train` does with it
        from ember import models
        from ember.train import autoencode
        names = [f"{n:24} {autoencode.task_of(n)}" for n in models.list_models()]
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
COMMAND_MODULES = ("ember.train.autoencode", "ember.explain.command", "ember.onnx.command",
                   "ember.experiments.command")
EPILOG = ("Exit status: 0 success, 1 an error (files, data, disk, memory; one line on "
          "stderr), 2 a usage error. Set EMBER_DEBUG=1 to see the full traceback of an error.")


def build_parser():
    from ember.train.charlm import CharLMConfig
    parser = argparse.ArgumentParser(
        prog="ember", description="ember: deep learning from scratch on NumPy, checked "
        "against PyTorch. Run `ember train` to train LeNet-5 on the bundled Fashion-MNIST "
        "subset.", epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    add_train_parser(sub, EPILOG)

    e = sub.add_parser("evaluate", help="test accuracy of a checkpoint", epilog=EPILOG)
    e.add_argument("checkpoint")
    e.add_argument("--device", default="cpu")
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="top-k classes of image files (PNG or .npy); for a "
                       "scene model, the images with its boxes, masks or caption drawn",
                       description="Top-k classes of each image. A .npy file may hold a stack "
                       "of images (N x H x W): each is classified, labelled FILE[i]. For a "
                       "scene model (detection, segmentation, multi-label, localisation, "
                       "captioning) each image is written as FILE.pred.png with its "
                       "predictions drawn, and they are listed.", epilog=EPILOG)
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--top-k", type=_at_least(1), default=3)
    p.add_argument("--out", help="scene models: where the drawn images go (default: the "
                   "checkpoint's folder)")
    p.add_argument("--score-threshold", type=float, default=0.3, help="detection and "
                   "segmentation models: boxes scoring less are not drawn or listed (0.3)")
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
    except BrokenPipeError:  # the reader stopped (`ember list models | head`): stop quietly,
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as head's writers do
        return 141  # 128 + SIGPIPE
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
