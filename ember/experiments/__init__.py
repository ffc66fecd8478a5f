"""The lessons' experiments as functions that draw their figures.

Each experiment is a module with ``PRESETS`` (``quick``: seconds, for tests; ``default``:
seconds to a few minutes on two cores; some add ``full``, the documented full-size run) and
``run(out_dir, **settings)``; :func:`run_experiment` picks the settings, creates the folder
and returns an :class:`ExperimentResult` (the PNG figures, the CSV files of the numbers
behind them, and a summary of the headline numbers). ``ember experiment NAME`` is the same
from the command line (``ember/experiments/command.py``).

    >>> from ember.experiments import run_experiment
    >>> result = run_experiment("optimizers", "runs/optimizers", quick=True)
    >>> result.summary["steps_to_reach"]["lessons"]["Adam"]
"""
from __future__ import annotations

import importlib

from ember.experiments.common import ExperimentResult, prepare, settings_for

__all__ = ["EXPERIMENTS", "ExperimentResult", "run_experiment"]

# name -> (module, one line for `ember experiment --help`)
EXPERIMENTS = {
    "optimizers": ("optimizers", ("SGD, Momentum, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam, "
                   "Nadam on x²/20 + y² and d2l's 0.1 x1² + 2 x2², and training curves")),
    "init": ("initialization", ("activation histograms of a 5-layer net per weight init and "
             "activation, and training curves per init")),
    "batchnorm": ("batchnorm", ("with and without batch norm over initial weight scales, and "
                  "d2l's sigmoid LeNet with and without BN")),
    "overfitting": ("overfitting", ("a deep net on 300 images, then with weight decay, then "
                    "with dropout: train and test accuracy per epoch")),
    "lr-decay": ("lr_decay", ("constant, step, exponential and 1/t learning-rate decay on the "
                 "same run")),
    "activations": ("activations", ("gradient magnitude per layer through depth for sigmoid, "
                    "tanh, ReLU, ELU, Leaky ReLU, Maxout")),
    "receptive-field": ("receptive_fields", ("the measured receptive field of a unit per layer, "
                        "drawn on the input")),
    "gradient-ledger": ("gradient_ledger", ("upstream x local = downstream on every edge of "
                        "an MLP step on one example, checked by finite differences")),
}


def _module(name):
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    return importlib.import_module(f"ember.experiments.{EXPERIMENTS[name][0]}")


def run_experiment(name, out_dir, quick=False, **settings):
    """Run experiment ``name`` (a key of :data:`EXPERIMENTS`) writing its figures and CSV
    files into ``out_dir`` (created if needed).

    Args:
        name: the experiment.
        out_dir: the folder for its files.
        quick: the small, fast preset (what the tests run); else the default one.
        settings: override single settings of the preset (unknown names are an error);
            ``preset="full"`` picks an experiment's full-size preset where it has one.

    Returns:
        :class:`ExperimentResult`.
    """
    module = _module(name)
    chosen = settings_for(name, module.PRESETS, quick, settings)
    out_dir = prepare(out_dir)
    figures, csvs, summary, table = module.run(out_dir, **chosen)
    return ExperimentResult(name, out_dir, figures, csvs, summary, chosen, table)


def presets(name):
    """The presets of experiment ``name``: ``{preset: settings}``."""
    return _module(name).PRESETS
