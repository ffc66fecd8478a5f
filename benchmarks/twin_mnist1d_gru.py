"""The MNIST-1D GRU run of ``ember train`` and its PyTorch twin, seed by seed.

    python benchmarks/twin_mnist1d_gru.py                  # seeds 0..4, 150 epochs each
    python benchmarks/twin_mnist1d_gru.py --seeds 0 --epochs 2

For each seed, ember trains with the command of README's "Sequence tasks" section
(``ember train --data mnist1d --model gru1d --optimizer adam --lr 0.01 --batch-size 100
--epochs 150 --scheduler none --val-fraction 0 --seed S``: 40 steps an epoch, 6,000 steps).
The twin is the paper's model written in PyTorch (``torch.nn.GRU(1, 6, batch_first=True,
bidirectional=True)``, the outputs of all 40 steps flattened into ``torch.nn.Linear(480,
10)``), trained with ``torch.optim.Adam(lr=0.01)`` and ``torch.nn.CrossEntropyLoss`` on the
same data: it starts from ember's initial weights of that seed (copied by state_dict, the
keys are the same) and reads the batches of ember's seeded DataLoader in the same order, so
the two runs differ only by the arithmetic of the two frameworks (float32). Prints each
run's final test accuracy and time, then the mean and standard deviation of each.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

import ember
from ember import cli, models
from ember.train import pipeline

RECIPE = ["--data", "mnist1d", "--model", "gru1d", "--optimizer", "adam", "--lr", "0.01",
          "--batch-size", "100", "--scheduler", "none", "--val-fraction", "0"]


def run_ember(seed, epochs, out_dir):
    """``ember train`` with the recipe; (test accuracy, seconds)."""
    start = time.perf_counter()
    name = f"gru1d-seed{seed}"
    status = cli.main(["train", *RECIPE, "--epochs", str(epochs), "--seed", str(seed),
                       "--no-progress", "--out-dir", out_dir, "--name", name])
    assert status == 0, f"ember train failed with status {status}"
    import json
    with open(os.path.join(out_dir, name, "results.json")) as f:
        return json.load(f)["accuracy"], time.perf_counter() - start


def torch_model(torch):
    class GRUBase(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(1, 6, batch_first=True, bidirectional=True)
            self.linear = torch.nn.Linear(480, 10)

        def forward(self, x):  # x: (N, 1, 40)
            out, _ = self.gru(x.transpose(1, 2))
            return self.linear(out.reshape(out.shape[0], -1))
    return GRUBase()


def run_torch(seed, epochs):
    """The twin on ember's initial weights and batches; (test accuracy, seconds)."""
    import torch
    torch.set_num_threads(1)  # tiny matrices: threads only contend (with ember's BLAS too)
    start = time.perf_counter()
    args = cli.build_parser().parse_args(["train", *RECIPE, "--seed", str(seed)])
    cfg, _ = cli._train_config(args)
    ember.manual_seed(cfg.seed)  # the draws of cmd_train, in its order
    loaders = pipeline.make_loaders(*cli._datasets(cfg), cfg)
    model = models.get_model(cfg.model, **cli._model_kwargs(
        cfg.model, loaders.num_classes, loaders.in_channels, loaders.image_size))
    net = torch_model(torch)
    net.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        for x, y in loaders.train:  # one epoch seed drawn per epoch, as the Trainer does
            loss = loss_fn(net(torch.tensor(x.numpy())), torch.tensor(y.numpy()))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    correct = total = 0
    with torch.no_grad():
        for x, y in loaders.test:
            pred = net(torch.tensor(x.numpy())).argmax(1).numpy()
            correct += int((pred == y.numpy()).sum())
            total += len(pred)
    return correct / total, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--out-dir", default="")
    args = parser.parse_args()
    out_dir = args.out_dir or tempfile.mkdtemp(prefix="twin-gru1d-")
    results = {"ember": [], "torch": []}
    for seed in args.seeds:
        for name in ("ember", "torch"):
            acc, seconds = (run_ember(seed, args.epochs, out_dir) if name == "ember" else
                            run_torch(seed, args.epochs))
            results[name].append(acc)
            print(f"seed {seed} {name:5s} test accuracy {acc:.4f}  {seconds:6.1f} s",
                  flush=True)
    for name, accs in results.items():
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{name:5s} mean {np.mean(accs):.4f} +- {spread:.4f} over seeds {args.seeds}")
    print(f"ember run folders in {out_dir}")


if __name__ == "__main__":
    main()
