"""CNN training and inference steps, ember against PyTorch: LeNet-5 and CIFAR ResNet-20.

    python benchmarks/bench_cnn.py                 # everything, isolated (~5 min on 2 cores)
    python benchmarks/bench_cnn.py --quick         # 3 processes per library, fewer repeats
    python benchmarks/bench_cnn.py --processes 4   # processes per library (default 6)
    python benchmarks/bench_cnn.py --in-process    # both libraries in one process

Both frameworks run float32 on the same threads (2 unless EMBER_BENCH_THREADS says
otherwise), on the same data and the same weights (ember's copied from torch's state_dict).
A training step is forward + cross-entropy + backward + an SGD-with-momentum update written
by hand on the parameter arrays of each framework. Targets (ember time / torch time):
LeNet step <= 1.5x, ResNet-20 step <= 2.0x, inference of both (batch 256) <= 1.5x, and the
peak memory of a ResNet-20 step <= 2x torch's, each measured in a fresh process.
In the isolated mode (see ``harness.py``) every worker loads the same initial weights,
saved once by the parent from torch's freshly seeded model.
"""
from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("EMBER_BENCH_THREADS", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: I001 - first: sets BLAS threads before NumPy loads

import numpy as np

LR, MOMENTUM = 0.01, 0.9


# --- the two networks, written against either framework's nn ------------------------------

def lenet(nn):
    """LeNet-5 with ReLU and max pooling, for 1x28x28 inputs."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def resnet20(nn, F):
    """He et al.'s CIFAR ResNet-20 (16/32/64 channels, 3 blocks per stage) with 1x1
    convolution shortcuts where the shape changes."""

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class ResNet20(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            blocks, cin = [], 16
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                for i in range(3):
                    blocks.append(Block(cin, cout, stride if i == 0 else 1))
                    cin = cout
            self.layers = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.layers(F.relu(self.bn1(self.conv1(x))))
            return self.fc(self.pool(x).flatten(1))

    return ResNet20()


def build(framework, name, seed=0, device="cpu", state=None):
    """(model, step(x, y), infer(x)) for ``framework`` 'ember' or 'torch', with the weights
    of ``state`` (a state_dict of NumPy arrays) if given, on ``device``."""
    nn, F, no_grad = harness.libraries(framework, seed)
    model = lenet(nn) if name == "lenet" else resnet20(nn, F)
    if state is not None:
        if framework == "torch":
            from_numpy = harness.import_torch().from_numpy
            state = {k: from_numpy(np.asarray(v)) for k, v in state.items()}
        model.load_state_dict(state)
    model.to(device)
    params = list(model.parameters())
    bufs = [None] * len(params)

    def step(x, y):
        for p in params:
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        for i, p in enumerate(params):  # SGD with momentum, in place on the raw arrays
            g, w = (p.grad.data, p.data) if framework == "torch" else (p.grad.array, p.array)
            if bufs[i] is None:
                bufs[i] = g.clone() if framework == "torch" else g.copy()
            else:
                bufs[i] *= MOMENTUM
                bufs[i] += g
            w -= LR * bufs[i]
        return loss

    def infer(x):
        with no_grad():
            return model(x)

    return model, step, infer


def data(framework, name, batch, seed=0, device="cpu"):
    rng = np.random.default_rng(seed)
    shape = (batch, 1, 28, 28) if name == "lenet" else (batch, 3, 32, 32)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, 10, batch)
    if framework == "torch":
        torch = harness.import_torch()
        return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    import ember
    return ember.tensor(x, device=device), ember.tensor(y, device=device)


def twins(name, device="cpu"):
    """The ember and torch models with identical weights, on ``device``."""
    t_model, t_step, t_infer = build("torch", name)
    state = {k: v.detach().numpy() for k, v in t_model.state_dict().items()}
    t_model.to(device)  # in place: the parameters that t_step holds move with it
    return build("ember", name, device=device, state=state), (t_model, t_step, t_infer)


def check_same_loss(name):
    """Guard against timing two different computations: the first losses must agree."""
    (_, e_step, _), (_, t_step, _) = twins(name)
    e = float(e_step(*data("ember", name, 16)).item())
    t = float(t_step(*data("torch", name, 16)).item())
    assert abs(e - t) < 1e-4 * max(1.0, abs(t)), f"{name}: ember loss {e} vs torch {t}"


def bench_steps(name, target_train, target_infer, repeat):
    (e_model, e_step, e_infer), (t_model, t_step, t_infer) = twins(name)
    ex, ey = data("ember", name, 128)
    tx, ty = data("torch", name, 128)
    rows = [(f"{name} train step (batch 128)", target_train, harness.compare(
        f"{name} train step (batch 128)", lambda: e_step(ex, ey), lambda: t_step(tx, ty),
        target_train, repeat=repeat, warmup=2))]
    e_model.eval()
    t_model.eval()
    ex, _ = data("ember", name, 256)
    tx, _ = data("torch", name, 256)
    rows.append((f"{name} inference (batch 256)", target_infer, harness.compare(
        f"{name} inference (batch 256)", lambda: e_infer(ex), lambda: t_infer(tx),
        target_infer, repeat=repeat, warmup=2)))
    return rows


_MEMORY_SCRIPT = """
import sys; sys.path.insert(0, {root!r})
from benchmarks.bench_cnn import build, data
_, step, _ = build({fw!r}, "resnet20")
x, y = data({fw!r}, "resnet20", 128)
for _ in range(3):
    step(x, y)
"""


def bench_memory(target):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    peaks = {fw: harness.measure_peak_rss(_MEMORY_SCRIPT.format(root=root, fw=fw))
             for fw in ("ember", "torch")}
    ratio = peaks["ember"] / peaks["torch"]
    verdict = "  OK" if ratio <= target else f"  MISSES {target}x"
    print(f"{'resnet20 train step peak RSS':<48} ember {peaks['ember'] / 2**20:9.1f} MiB   "
          f"torch {peaks['torch'] / 2**20:9.1f} MiB   ratio {ratio:5.2f}x{verdict}")
    return ("resnet20 train step peak RSS", target, ratio)


def timed_call(library, name, what, state_dir):
    """The call a worker times: a train step (batch 128) or an inference (batch 256) of
    network ``name`` in ``library``, from the weights saved in ``state_dir``."""
    with np.load(os.path.join(state_dir, f"{name}.npz")) as f:
        state = dict(f)
    model, step, infer = build(library, name, state=state)
    if what == "step":
        x, y = data(library, name, 128)
        return lambda: step(x, y)
    model.eval()
    x, _ = data(library, name, 256)
    return lambda: infer(x)


NETWORKS = ("lenet", "resnet20")
TARGETS = {"lenet": (1.5, 1.5), "resnet20": (2.0, 1.5)}


def cases(quick, state_dir=None):
    """{key: Case} of the isolated mode, e.g. "lenet-step"."""
    out = {}
    for name in NETWORKS:
        repeat, rounds = (20, 2) if name == "lenet" else (5, 2)
        if quick:
            repeat, rounds = max(repeat // 2, 3), 1
        for what, target, label in zip(("step", "infer"), TARGETS[name],
                                       ("train step (batch 128)", "inference (batch 256)")):
            out[f"{name}-{what}"] = harness.Case(
                f"{name} {label}", lambda lib, n=name, w=what: timed_call(lib, n, w, state_dir),
                target, repeat=repeat, warmup=2 if name == "lenet" else 1, rounds=rounds)
    return out


def save_states(state_dir):
    """Save each network's initial torch weights for the workers (NumPy arrays, .npz)."""
    for name in NETWORKS:
        model, _, _ = build("torch", name)
        np.savez(os.path.join(state_dir, f"{name}.npz"),
                 **{k: v.detach().numpy() for k, v in model.state_dict().items()})


def main(argv=None):
    args = harness.parse_args(__doc__.splitlines()[0], argv, cases, "--state-dir")
    if args is None:
        return 0
    mode = "in one process" if args.in_process else f"{args.processes} processes per library"
    import ember
    print(f"threads: {harness.THREADS}, float32; ratio = ember / torch (lower is better); "
          f"{mode}; ember from {os.path.dirname(ember.__file__)}")
    # first, while this process is small: a child's ru_maxrss starts at its parent's RSS
    memory = bench_memory(2.0)
    for name in NETWORKS:
        check_same_loss(name)
    if args.in_process:
        rows = bench_steps("lenet", 1.5, 1.5, repeat=10 if args.quick else 30)
        rows += bench_steps("resnet20", 2.0, 1.5, repeat=3 if args.quick else 6)
    else:
        with tempfile.TemporaryDirectory() as state_dir:
            save_states(state_dir)
            extra = ["--state-dir", state_dir] + (["--quick"] if args.quick else [])
            rows = harness.run_cases(os.path.abspath(__file__), cases(args.quick), args,
                                     extra)
    rows.append(memory)
    print("\n| benchmark | ratio | target |\n|---|---|---|")
    for what, target, ratio in rows:
        print(f"| {what} | {ratio:.2f}x | <= {target}x {'ok' if ratio <= target else 'MISS'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
