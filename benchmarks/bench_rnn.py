"""Recurrent nets, ember against PyTorch: LSTM / GRU training steps, LSTM inference, memory.

    python benchmarks/bench_rnn.py                  # everything, isolated (minutes; far longer loaded)
    python benchmarks/bench_rnn.py --quick          # 3 processes per library, fewer repeats
    python benchmarks/bench_rnn.py lstm-step        # one case (lstm-step, gru-step,
                                                    #   bilstm-step, lstm-infer, lstm-memory)
    python benchmarks/bench_rnn.py --processes 10   # processes per library (default 6)
    python benchmarks/bench_rnn.py --in-process     # both libraries in one process

Both frameworks run float32 on the same threads (2 unless EMBER_BENCH_THREADS says
otherwise), on the same data and the same weights (ember's copied from torch's state_dict).
The workload: a sequence classifier, input 64 features, hidden 256, T = 50 steps, batch 64,
a Linear head (10 classes) on the last step's output. A training step is forward +
cross-entropy + backward + a plain SGD update written by hand on the parameter arrays.

* ``lstm-step``: ``LSTM(64, 256, batch_first=True)`` — target <= 1.5x torch's time;
* ``lstm-memory``: the peak RSS of a fresh process doing three such steps — target <= 2x;
* ``gru-step``: the same with ``GRU`` (no target);
* ``bilstm-step``: ``LSTM(64, 256, num_layers=2, bidirectional=True)``, time-major input
  (batch_first=False), head on the last step's 512 features (no target);
* ``lstm-infer``: the single-layer LSTM classifier's forward under ``no_grad`` (no target).

Before anything is timed the parent checks that ember's and torch's first losses (and the
inference logits) agree for every network, so both sides time the same computation. In the
isolated mode (see ``harness.py``) every worker loads the same initial weights, saved once
by the parent from torch's freshly seeded model.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

os.environ.setdefault("EMBER_BENCH_THREADS", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: I001 - first: sets BLAS threads before NumPy loads

import numpy as np

LR = 0.01
INPUT, HIDDEN, STEPS, BATCH, CLASSES = 64, 256, 50, 64, 10

# name: (layer class, extra layer arguments, batch_first)
NETWORKS = {
    "lstm": ("LSTM", {}, True),
    "gru": ("GRU", {}, True),
    "bilstm": ("LSTM", {"num_layers": 2, "bidirectional": True}, False),
}


def classifier(nn, name):
    """A recurrent layer and a Linear head on its last step's output."""
    kind, extra, batch_first = NETWORKS[name]
    width = HIDDEN * (2 if extra.get("bidirectional") else 1)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, kind)(INPUT, HIDDEN, batch_first=batch_first, **extra)
            self.head = nn.Linear(width, CLASSES)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1] if batch_first else out[-1])

    return Classifier()


def build(framework, name, seed=0, state=None):
    """(model, step(x, y), infer(x)) for ``framework`` 'ember' or 'torch', with the weights
    of ``state`` (a state_dict of NumPy arrays) if given."""
    nn, F, no_grad = harness.libraries(framework, seed)
    model = classifier(nn, name)
    if state is not None:
        if framework == "torch":
            from_numpy = harness.import_torch().from_numpy
            state = {k: from_numpy(np.asarray(v)) for k, v in state.items()}
        model.load_state_dict(state)
    params = list(model.parameters())

    def step(x, y):
        for p in params:
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        for p in params:  # plain SGD, in place on the raw arrays
            g, w = (p.grad.data, p.data) if framework == "torch" else (p.grad.array, p.array)
            w -= LR * g
        return loss

    def infer(x):
        with no_grad():
            return model(x)

    return model, step, infer


def data(framework, name, seed=0):
    """Random inputs in the network's layout ((B, T, I) if batch_first, else (T, B, I))
    and labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, STEPS, INPUT)).astype(np.float32)
    if not NETWORKS[name][2]:
        x = np.ascontiguousarray(x.transpose(1, 0, 2))
    y = rng.integers(0, CLASSES, BATCH)
    if framework == "torch":
        torch = harness.import_torch()
        return torch.from_numpy(x), torch.from_numpy(y)
    import ember
    return ember.tensor(x), ember.tensor(y)


def initial_state(name):
    """torch's freshly seeded weights for ``name``, as NumPy arrays."""
    model, _, _ = build("torch", name)
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def check_same_loss(name):
    """Guard against timing two different computations: with the same weights the first
    losses, the weights after one SGD step and the inference logits must agree."""
    state = initial_state(name)
    e_model, e_step, e_infer = build("ember", name, state=state)
    t_model, t_step, t_infer = build("torch", name, state=state)
    (ex, ey), (tx, ty) = data("ember", name), data("torch", name)
    e, t = float(e_step(ex, ey).item()), float(t_step(tx, ty).item())
    assert abs(e - t) < 1e-4 * max(1.0, abs(t)), f"{name}: ember loss {e} vs torch {t}"
    for (k, we), (_, wt) in zip(e_model.state_dict().items(), t_model.state_dict().items()):
        gap = np.abs(we.numpy() - wt.numpy()).max()
        assert gap < 1e-5, f"{name}: {k} differs by {gap} after one SGD step"
    gap = np.abs(e_infer(ex).numpy() - t_infer(tx).numpy()).max()
    assert gap < 1e-4, f"{name}: inference logits differ by {gap}"
    return e, t


_MEMORY_SCRIPT = """
import sys; sys.path.insert(0, {root!r})
from benchmarks.bench_rnn import build, data
_, step, _ = build({fw!r}, "lstm")
x, y = data({fw!r}, "lstm")
print('BASE', [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmRSS')][0])
for _ in range(3):
    step(x, y)
"""

MEMORY_TITLE = "LSTM train step peak RSS"


def bench_memory(target):
    """Peak RSS of a fresh process per library doing three LSTM steps; also printed, the
    peak minus the RSS before the first step (the libraries' own imports weigh in the
    ratio: torch's ~200 MiB more than ember's)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    peaks, growth = {}, {}
    for fw in harness.LIBRARIES:
        code = _MEMORY_SCRIPT.format(root=root, fw=fw) + \
            "print('PEAK', [ln.split()[1] for ln in open('/proc/self/status') " \
            "if ln.startswith('VmHWM')][0])"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=dict(os.environ)).stdout.split()
        peaks[fw] = int(out[out.index("PEAK") + 1]) * 1024
        growth[fw] = peaks[fw] - int(out[out.index("BASE") + 1]) * 1024
    ratio = peaks["ember"] / peaks["torch"]
    verdict = "  OK" if ratio <= target else f"  MISSES {target}x"
    print(f"{MEMORY_TITLE:<48} ember {peaks['ember'] / 2**20:9.1f} MiB   "
          f"torch {peaks['torch'] / 2**20:9.1f} MiB   ratio {ratio:5.2f}x{verdict}  (peak minus "
          f"the RSS before the first step: ember {growth['ember'] / 2**20:.1f} MiB, torch "
          f"{growth['torch'] / 2**20:.1f} MiB)", flush=True)
    return (MEMORY_TITLE, target, ratio)


def timed_call(library, name, what, state_dir=None):
    """The call a worker times: a train step or an inference of network ``name`` in
    ``library``, from the weights saved in ``state_dir`` (else torch's seeded ones)."""
    if state_dir is None:  # in-process: both libraries in this process
        state = initial_state(name)
    else:
        with np.load(os.path.join(state_dir, f"{name}.npz")) as f:
            state = dict(f)
    model, step, infer = build(library, name, state=state)
    x, y = data(library, name)
    if what == "step":
        return lambda: step(x, y)
    model.eval()
    return lambda: infer(x)


# key: (network, what, title, target)
CASES = {
    "lstm-step": ("lstm", "step", "LSTM train step (64-256, T 50, batch 64)", 1.5),
    "gru-step": ("gru", "step", "GRU train step (64-256, T 50, batch 64)", None),
    "bilstm-step": ("bilstm", "step", "2-layer bidir. LSTM train step (time-major)", None),
    "lstm-infer": ("lstm", "infer", "LSTM inference, no_grad (T 50, batch 64)", None),
}


def cases(quick, state_dir=None):
    """{key: Case} of the timed cases (``lstm-memory`` is measured apart)."""
    out = {}
    for key, (name, what, title, target) in CASES.items():
        repeat, rounds = (10, 3) if what == "step" else (20, 3)
        if name == "bilstm":
            repeat = 4
        if quick:
            repeat, rounds = max(repeat // 2, 3), 1
        out[key] = harness.Case(
            title, lambda lib, n=name, w=what: timed_call(lib, n, w, state_dir), target,
            repeat=repeat, warmup=2, rounds=rounds)
    return out


def save_states(state_dir):
    """Save each network's initial torch weights for the workers (NumPy arrays, .npz)."""
    for name in NETWORKS:
        np.savez(os.path.join(state_dir, f"{name}.npz"), **initial_state(name))


def main(argv=None):
    args = harness.parse_args(__doc__.splitlines()[0], argv, cases, "--state-dir")
    if args is None:
        return 0
    known = [*CASES, "lstm-memory"]
    unknown = set(args.cases) - set(known)
    if unknown:
        raise SystemExit(f"unknown case(s) {sorted(unknown)}; known: {known}")
    timed = [c for c in args.cases if c in CASES]
    memory_wanted = not args.cases or "lstm-memory" in args.cases
    mode = "in one process" if args.in_process else f"{args.processes} processes per library"
    import ember
    print(f"threads: {harness.THREADS}, float32; ratio = ember / torch (lower is better); "
          f"{mode}; ember from {os.path.dirname(ember.__file__)}", flush=True)
    # first, while this process is small: a child's ru_maxrss starts at its parent's RSS
    memory = bench_memory(2.0) if memory_wanted else None
    rows = []
    if timed or not args.cases:
        for name in NETWORKS:
            e, t = check_same_loss(name)
            print(f"same computation: {name} first loss ember {e:.6f}, torch {t:.6f}",
                  flush=True)
        args.cases = timed
        if args.in_process:
            rows = harness.run_cases(os.path.abspath(__file__), cases(args.quick), args)
        else:
            with tempfile.TemporaryDirectory() as state_dir:
                save_states(state_dir)
                extra = ["--state-dir", state_dir] + (["--quick"] if args.quick else [])
                rows = harness.run_cases(os.path.abspath(__file__),
                                         cases(args.quick, state_dir), args, extra)
    if memory is not None:
        rows.append(memory)
    print("\n| benchmark | ratio | target |\n|---|---|---|")
    for what, target, ratio in rows:
        verdict = "-" if target is None else \
            f"<= {target}x {'ok' if ratio <= target else 'MISS'}"
        print(f"| {what} | {ratio:.2f}x | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
