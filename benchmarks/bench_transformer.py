"""A small causal Transformer, ember against PyTorch: training step, peak memory, and
ember's generation with and without the key/value cache.

    python benchmarks/bench_transformer.py                 # everything, isolated (~5 min)
    python benchmarks/bench_transformer.py --quick         # 3 processes per library
    python benchmarks/bench_transformer.py --in-process    # both libraries in one process
    python benchmarks/bench_transformer.py step            # only the training step

The model is ``ember.models.gpt.GPT`` (nanoGPT's) with 2 pre-norm blocks, width 128, 4
heads, feed-forward 512 (4x), context 128, 65 symbols (Shakespeare's characters), dropout 0;
PyTorch runs the same model written in plain torch (nanoGPT's code, same names), from the
same initial weights. A training step is forward + cross-entropy over every position +
backward + each library's AdamW (lr 1e-3, nanoGPT's two weight-decay groups) on a batch of
16 x 128 random ids, float32, on the same threads (2 unless EMBER_BENCH_THREADS says
otherwise). Targets: step <= 1.5x torch, peak memory (VmHWM of a fresh process doing three
steps) <= 2x. Generation: tokens per second of ``GPT.generate`` from a 1-token prompt to
the full context (127 new tokens, batch 1), with ``use_cache=True`` and ``False`` (ember
only; no target).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("EMBER_BENCH_THREADS", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: I001 - first: sets BLAS threads before NumPy loads

import numpy as np

CONFIG = {"block_size": 128, "vocab_size": 65, "n_layer": 2, "n_head": 4, "n_embd": 128,
          "dropout": 0.0, "bias": True}
BATCH, LR, WEIGHT_DECAY, BETAS = 16, 1e-3, 0.1, (0.9, 0.95)


def torch_gpt(torch, config=None):
    """nanoGPT's GPT in plain PyTorch (dropout 0, so without the dropout layers), with
    ``config`` (GPTConfig's fields; default this benchmark's)."""
    nn, F = torch.nn, torch.nn.functional
    c = config or CONFIG

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
            self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(C, dim=2)
            q, k, v = (t.view(B, T, c["n_head"], C // c["n_head"]).transpose(1, 2)
                       for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn = nn.LayerNorm(c["n_embd"], bias=c["bias"]), Attn()
            self.ln_2, self.mlp = nn.LayerNorm(c["n_embd"], bias=c["bias"]), MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.ModuleDict({
                "wte": nn.Embedding(c["vocab_size"], c["n_embd"]),
                "wpe": nn.Embedding(c["block_size"], c["n_embd"]),
                "h": nn.ModuleList([Block() for _ in range(c["n_layer"])]),
                "ln_f": nn.LayerNorm(c["n_embd"], bias=c["bias"])})
            self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
            self.transformer.wte.weight = self.lm_head.weight

        def forward(self, idx, targets):
            x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(idx.shape[1]))
            for block in self.transformer.h:
                x = block(x)
            logits = self.lm_head(self.transformer.ln_f(x))
            return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    return GPT()


def initial_state(seed=0):
    """ember's freshly initialised GPT's weights as NumPy arrays."""
    import ember
    from ember.models.gpt import GPT, GPTConfig
    ember.manual_seed(seed)
    return {k: v.numpy() for k, v in GPT(GPTConfig(**CONFIG)).state_dict().items()}


def build(library, state):
    """(model, step) of ``library`` with the weights ``state``; ``step(x, y)`` returns the
    loss."""
    if library == "torch":
        torch = harness.import_torch()
        model = torch_gpt(torch)
        model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
        params = list(model.parameters())
        optimizer = torch.optim.AdamW(
            [{"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
            lr=LR, betas=BETAS)
    else:
        from ember.models.gpt import GPT, GPTConfig
        model = GPT(GPTConfig(**CONFIG))
        model.load_state_dict(state)
        optimizer = model.configure_optimizers(WEIGHT_DECAY, LR, BETAS)

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        return loss

    return model, step


def data(library, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, CONFIG["vocab_size"], (BATCH, CONFIG["block_size"]))
    y = rng.integers(0, CONFIG["vocab_size"], (BATCH, CONFIG["block_size"]))
    if library == "torch":
        torch = harness.import_torch()
        return torch.from_numpy(x), torch.from_numpy(y)
    import ember
    return ember.tensor(x), ember.tensor(y)


def check_same_loss(state):
    """Guard against timing two different computations: the first two losses agree."""
    _, e_step = build("ember", state)
    _, t_step = build("torch", state)
    ex, ey = data("ember")
    tx, ty = data("torch")
    for i in range(2):
        e, t = float(e_step(ex, ey).item()), float(t_step(tx, ty).item())
        assert abs(e - t) < 1e-4 * max(1.0, abs(t)), f"step {i}: ember loss {e} vs torch {t}"


_MEMORY_SCRIPT = """
import sys; sys.path.insert(0, {root!r})
import numpy as np
from benchmarks.bench_transformer import build, data
with np.load({path!r}) as f:
    state = dict(f)
_, step = build({lib!r}, state)
x, y = data({lib!r})
for _ in range(3):
    step(x, y)
"""


def bench_memory(state_path, target=2.0):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    peaks = {lib: harness.measure_peak_rss(_MEMORY_SCRIPT.format(root=root, path=state_path,
                                                                 lib=lib))
             for lib in harness.LIBRARIES}
    ratio = peaks["ember"] / peaks["torch"]
    verdict = "  OK" if ratio <= target else f"  MISSES {target}x"
    print(f"{'GPT-2x128 train step peak RSS':<48} ember {peaks['ember'] / 2**20:9.1f} MiB   "
          f"torch {peaks['torch'] / 2**20:9.1f} MiB   ratio {ratio:5.2f}x{verdict}",
          flush=True)
    return ("GPT 2x128 train step peak RSS", target, ratio)


def bench_generation(state, rounds=3, new_tokens=127):
    """ember's tokens/s generating ``new_tokens`` from a 1-token prompt, cached and not;
    checks both give the same tokens."""
    import ember
    from ember.models.gpt import GPT, GPTConfig
    model = GPT(GPTConfig(**CONFIG))
    model.load_state_dict(state)
    prompt = ember.tensor([[0]])
    rates, outs = {}, {}
    for use_cache in (True, False):
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            outs[use_cache] = model.generate(prompt, new_tokens, generator=1,
                                             use_cache=use_cache).numpy()
            best = min(best, time.perf_counter() - t0)
        rates[use_cache] = new_tokens / best
    assert (outs[True] == outs[False]).all(), "cached and uncached generation differ"
    print(f"{'GPT-2x128 generation, batch 1, 127 tokens':<48} cached {rates[True]:8.1f} tok/s"
          f"   uncached {rates[False]:8.1f} tok/s   speed-up {rates[True] / rates[False]:.2f}x",
          flush=True)
    return rates


def timed_step(library, state_path):
    with np.load(state_path) as f:
        state = dict(f)
    _, step = build(library, state)
    x, y = data(library)
    return lambda: step(x, y)


def cases(quick, state_path=None):
    repeat, rounds = (5, 1) if quick else (10, 2)
    return {"step": harness.Case("GPT 2x128 train step (16 x 128 tokens, AdamW)",
                                 lambda lib: timed_step(lib, state_path), 1.5,
                                 repeat=repeat, warmup=2, rounds=rounds)}


def main(argv=None):
    args = harness.parse_args(__doc__.splitlines()[0], argv, cases, "--state")
    if args is None:
        return 0
    mode = "in one process" if args.in_process else f"{args.processes} processes per library"
    import ember
    print(f"threads: {harness.THREADS}, float32; ratio = ember / torch (lower is better); "
          f"{mode}; ember from {os.path.dirname(ember.__file__)}", flush=True)
    state = initial_state()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "gpt.npz")
        np.savez(path, **state)
        rows = []
        if not args.cases:
            rows.append(bench_memory(path))
        check_same_loss(state)
        if args.in_process:
            e_fn, t_fn = timed_step("ember", path), timed_step("torch", path)
            case = cases(args.quick, path)["step"]
            rows.append((case.title, case.target, harness.compare(
                case.title, e_fn, t_fn, case.target, rounds=3, repeat=case.repeat,
                warmup=case.warmup)))
        else:
            extra = ["--state", path] + (["--quick"] if args.quick else [])
            rows += harness.run_cases(os.path.abspath(__file__), cases(args.quick, path),
                                      args, extra)
        if not args.cases:
            bench_generation(state)
    print("\n| benchmark | ratio | target |\n|---|---|---|")
    for what, target, ratio in rows:
        print(f"| {what} | {ratio:.2f}x | <= {target}x {'ok' if ratio <= target else 'MISS'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
