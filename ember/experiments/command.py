"""``ember experiment NAME``: run one of the lessons' experiments (``ember.experiments``) and
write its figures and CSV files into a folder."""
from __future__ import annotations

import argparse
import ast

from ember.experiments import EXPERIMENTS, presets, run_experiment

__all__ = ["add_command", "parse_settings", "run_command"]


def parse_settings(pairs):
    """``["epochs=3", "lr=0.1", "lenet_dataset=fashion-mnist"]`` -> a dict; values are
    Python literals where they parse as one, else strings."""
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"experiment: --set expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def run_command(args):
    """Run the experiment(s) the parsed ``args`` name; print each summary table and the
    files written. Returns 0."""
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    settings = parse_settings(args.set)
    if args.full:
        settings["preset"] = "full"
    for name in names:
        if args.full and "full" not in presets(name):
            settings_here = {k: v for k, v in settings.items() if k != "preset"}
        else:
            settings_here = settings
        out_dir = args.out if len(names) == 1 else f"{args.out}/{name}"
        result = run_experiment(name, out_dir, quick=args.quick, **settings_here)
        print(f"== {name} ({result.settings['preset']} settings) ==")
        if result.table:
            print(result.table)
        for path in result.figures + result.csvs:
            print(f"wrote {path}")
    return 0


def add_command(sub, epilog):
    """Add ``experiment`` to the ``ember`` command line's subparsers ``sub``."""
    lines = "\n".join(f"  {name:<16} {help_}" for name, (_, help_) in EXPERIMENTS.items())
    p = sub.add_parser(
        "experiment", help="run one of the lessons' experiments and draw its figures",
        description="Run one of the lessons' experiments; its figures (PNG) and the numbers "
        "behind them (CSV) go into --out.\n\nexperiments:\n" + lines,
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=[*EXPERIMENTS, "all"], metavar="NAME",
                   help="the experiment (or 'all')")
    p.add_argument("--out", default=None,
                   help="output folder (default: runs/experiments/NAME)")
    p.add_argument("--quick", action="store_true",
                   help="the small preset the tests run (seconds)")
    p.add_argument("--full", action="store_true",
                   help="the documented full-size run where an experiment has one "
                        "(batchnorm: d2l's LeNet on all of Fashion-MNIST, 10 epochs)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one setting of the preset (repeatable), e.g. --set epochs=5")

    def run(args):
        if args.quick and args.full:
            raise ValueError("experiment: --quick and --full exclude each other")
        if args.out is None:
            args.out = f"runs/experiments/{args.name}"
        return run_command(args)

    p.set_defaults(func=run)
    return p
