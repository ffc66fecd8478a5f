"""The PyTorch twin of ``ember experiment batchnorm``'s LeNet part: d2l.ai's sigmoid LeNet with
and without batch norm, trained with the same recipe in PyTorch.

    python benchmarks/bn_experiment_torch.py                    # all 60,000 images, 10 epochs
    python benchmarks/bn_experiment_torch.py --dataset fashion-mnist-subset --epochs 3

One loop for both: ``ember.experiments.batchnorm.train_lenet`` (d2l's recipe: SGD at lr 0.9
without BN and 1.0 with BN, batch 256, cross-entropy) written in PyTorch's API, run here with
``m=torch``. Same data (ember's loader, pixels / 255), same batches (one seeded NumPy
permutation per epoch), and by default the same initial weights (ember's Xavier-uniform draw
copied by state_dict key; ``--own-init`` lets torch draw its own). It prints d2l's figures
per run (training loss and training accuracy over the last epoch, test accuracy) and the
wall time, and writes them to ``--out`` (JSON).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from ember.experiments import batchnorm, common


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist",
                        help="fashion-mnist (all 60,000 images) or fashion-mnist-subset")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--own-init", action="store_true",
                        help="let torch draw the initial weights instead of copying ember's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="", help="write the results here (JSON)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = common.image_arrays(None, None, dataset=args.dataset, flat=False, seed=args.seed)
    results = {}
    for key, use_bn in (("plain", False), ("bn", True)):
        initial = None if args.own_init else batchnorm.initial_state(use_bn, args.seed)
        start = time.perf_counter()
        hist = batchnorm.train_lenet(torch, use_bn, data, args.epochs, args.seed, initial)
        results[key] = {"train_loss": hist["train_loss"][-1],
                        "train_acc": hist["running_acc"][-1],
                        "test_acc": hist["test_acc"][-1],
                        "per_epoch_train_loss": hist["train_loss"],
                        "seconds": time.perf_counter() - start}
        r = results[key]
        print(f"torch LeNet {key:<5} (lr {batchnorm.LENET_LR[use_bn]}): train loss "
              f"{r['train_loss']:.3f}, train acc {r['train_acc']:.3f}, test acc "
              f"{r['test_acc']:.3f}, {r['seconds']:.0f} s", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
