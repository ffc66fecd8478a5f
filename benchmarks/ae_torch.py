"""The PyTorch twins of the four autoencoder runs of docs/results.md (issue 20).

    OPENBLAS_NUM_THREADS=1 python benchmarks/ae_torch.py vae --seed 0
    OPENBLAS_NUM_THREADS=1 python benchmarks/ae_torch.py conv_autoencoder
    OPENBLAS_NUM_THREADS=1 python benchmarks/ae_torch.py denoising_autoencoder
    OPENBLAS_NUM_THREADS=1 python benchmarks/ae_torch.py mlp_autoencoder

Each builds in PyTorch the architecture ember registers under that name (the same layers,
the same submodule names, PyTorch's own initialisation and shuffling, seeded with
``torch.manual_seed(seed)``) and trains it with the recipe of the ``ember train`` command in
docs/results.md: Adam (lr 1e-3), the whole 60,000-image training set (no validation split),
pixels scaled to [0, 1], float32, one thread. The test figures are computed as ember's
reconstruction task computes them (``ember/train/autoencode.py``): the VAE's negative ELBO in
nats per image (one sample of z per image, as PyTorch's example), split into reconstruction
and KL, and bits per dimension; the autoencoders' mean squared error per pixel against the
clean image (the denoising one on test images with noise drawn once from a seeded
generator; the noisy input's own error is printed beside it).

Fashion-MNIST is read through ember's data set reader (the Debian package's files), so both
frameworks see the same bytes.

    OPENBLAS_NUM_THREADS=1 python benchmarks/ae_torch.py conv_autoencoder --bench-steps 10

times training steps of the model instead (ember's and the twin, the recipe's batch, random
images), in CPU seconds of this process (``time.process_time``: other jobs on the machine
inflate it far less than wall-clock time).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

RECIPES = {  # epochs, batch size, loss of the model
    "vae": (10, 128, "elbo"),
    "conv_autoencoder": (5, 128, "bce"),
    "denoising_autoencoder": (5, 128, "bce"),
    "mlp_autoencoder": (10, 256, "mse"),
}


class VAE(nn.Module):
    """PyTorch's example VAE (pytorch/examples, vae/main.py): 784-400-(20, 20), 20-400-784."""

    def __init__(self, code_size=20, hidden=400, features=784):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.fc21 = nn.Linear(hidden, code_size)
        self.fc22 = nn.Linear(hidden, code_size)
        self.fc3 = nn.Linear(code_size, hidden)
        self.fc4 = nn.Linear(hidden, features)

    def encode(self, x):
        h = F.relu(self.fc1(x.flatten(1)))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))).view(-1, 1, 28, 28)

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def elbo_terms(out, x):
    """(reconstruction, KL) in nats, summed over the batch."""
    recon, mu, logvar = out
    rec = F.binary_cross_entropy(recon.flatten(1), x.flatten(1), reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return rec, kl


class ConvAutoencoder(nn.Module):
    """Conv 1->32 3x3 + ReLU + max-pool, twice; two stride-2 transposed convs 32->32 + ReLU;
    Conv 32->1 3x3 + sigmoid (Keras's denoising autoencoder)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                     nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(32, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.Conv2d(32, 1, 3, padding=1), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))


class MLPAutoencoder(nn.Module):
    """784-128-32-128-784: ReLU after the hidden layers, a linear code, sigmoid out."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
                                     nn.Linear(128, 32))
        self.decoder = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 784),
                                     nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))

    def forward(self, x):
        return self.decoder(self.encoder(x))


def noisy(x, std, generator=None):
    """``x`` plus Gaussian noise of ``std``, clipped to [0, 1]."""
    return (x + std * torch.randn(x.shape, generator=generator)).clamp(0.0, 1.0)


def load():
    import ember  # noqa: F401 - only the data set reader
    from ember.data import datasets

    def arrays(train):
        ds = datasets.get_dataset("fashion-mnist", train=train)
        x = np.asarray(ds.data, dtype=np.float32)[:, None] / 255.0
        return torch.from_numpy(x), torch.from_numpy(np.asarray(ds.targets, np.int64))
    return arrays(True), arrays(False)


def run(name, seed, epochs=None, noise=0.4, limit=0):
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    default_epochs, batch, loss_kind = RECIPES[name]
    epochs = epochs or default_epochs
    (x_train, _), (x_test, _) = load()
    if limit:
        x_train, x_test = x_train[:limit], x_test[:max(1, limit // 5)]
    model = {"vae": VAE, "conv_autoencoder": ConvAutoencoder,
             "denoising_autoencoder": ConvAutoencoder, "mlp_autoencoder": MLPAutoencoder}[name]()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    denoise = name == "denoising_autoencoder"
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_train))
        total = 0.0
        for i in range(0, len(x_train), batch):
            clean = x_train[order[i:i + batch]]
            xin = noisy(clean, noise) if denoise else clean
            out = model(xin)
            if loss_kind == "elbo":
                rec, kl = elbo_terms(out, clean)
                loss = (rec + kl) / len(clean)
            elif loss_kind == "bce":
                loss = F.binary_cross_entropy(out, clean)
            else:
                loss = F.mse_loss(out, clean)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(clean)
        print(f"epoch {epoch + 1}: train loss {total / len(x_train):.5f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    model.eval()
    result = {"model": name, "seed": seed, "epochs": epochs,
              "seconds": round(time.perf_counter() - start, 1)}
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        sums = {"rec": 0.0, "kl": 0.0, "mse": 0.0, "noisy_mse": 0.0}
        for i in range(0, len(x_test), 256):
            clean = x_test[i:i + 256]
            if name == "vae":
                rec, kl = elbo_terms(model(clean), clean)
                sums["rec"] += rec.item()
                sums["kl"] += kl.item()
                sums["mse"] += F.mse_loss(model(clean)[0], clean, reduction="sum").item()
            else:
                xin = noisy(clean, noise, gen) if denoise else clean
                sums["mse"] += F.mse_loss(model(xin), clean, reduction="sum").item()
                sums["noisy_mse"] += F.mse_loss(xin, clean, reduction="sum").item()
    n, d = len(x_test), x_test[0].numel()
    if name == "vae":
        elbo = (sums["rec"] + sums["kl"]) / n
        result.update(neg_elbo=elbo, recon=sums["rec"] / n, kl=sums["kl"] / n,
                      bits_per_dim=elbo / (d * math.log(2)), mse=sums["mse"] / (n * d))
    else:
        result.update(mse=sums["mse"] / (n * d))
        if denoise:
            result.update(noisy_mse=sums["noisy_mse"] / (n * d))
    return result


def bench(name, steps):
    """CPU seconds per training step of ember's model and of the twin: (ember, torch)."""
    import ember
    from ember import models
    torch.set_num_threads(1)
    _, batch, loss_kind = RECIPES[name]
    x = np.random.default_rng(0).uniform(0, 1, (batch, 1, 28, 28)).astype(np.float32)
    ember.manual_seed(0)
    em = models.get_model(name)
    eopt, eloss = ember.optim.Adam(em.parameters(), lr=1e-3), em.loss_function()
    tm = {"vae": VAE, "mlp_autoencoder": MLPAutoencoder}.get(name, ConvAutoencoder)()
    topt, tx = torch.optim.Adam(tm.parameters(), lr=1e-3), torch.from_numpy(x)
    ex = ember.tensor(x)

    def ember_step():
        loss = eloss(em(ex), ex)
        eopt.zero_grad()
        loss.backward()
        eopt.step()

    def torch_step():
        out = tm(tx)
        if loss_kind == "elbo":
            rec, kl = elbo_terms(out, tx)
            loss = (rec + kl) / batch
        else:
            loss = (F.binary_cross_entropy if loss_kind == "bce" else F.mse_loss)(out, tx)
        topt.zero_grad()
        loss.backward()
        topt.step()
    times = []
    for step in (ember_step, torch_step):
        step()  # warm up
        start = time.process_time()
        for _ in range(steps):
            step()
        times.append((time.process_time() - start) / steps)
    return tuple(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", choices=sorted(RECIPES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=0, help="0: the recipe's")
    p.add_argument("--noise", type=float, default=0.4)
    p.add_argument("--limit", type=int, default=0, help="first N train / N/5 test images")
    p.add_argument("--out", default="", help="also write the result as JSON here")
    p.add_argument("--bench-steps", type=int, default=0, help="time this many training "
                   "steps of ember and of the twin instead of training")
    args = p.parse_args(argv)
    if args.bench_steps:
        e, t = bench(args.model, args.bench_steps)
        print(json.dumps({"model": args.model, "batch": RECIPES[args.model][1],
                          "ember_cpu_s_per_step": round(e, 4), "torch_cpu_s_per_step":
                          round(t, 4), "ratio": round(e / t, 2)}))
        return
    result = run(args.model, args.seed, args.epochs, args.noise, args.limit)
    print(json.dumps(result))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
