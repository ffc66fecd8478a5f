"""``ember charlm`` / ``ember generate``: a character-level LSTM language model on Shakespeare.

The recipe (defaults of :class:`CharLMConfig`): ``steps`` Adam updates (lr 2e-3) on batches
of ``batch_size`` windows of ``seq_len`` characters drawn uniformly from the training 90%
by one seeded NumPy generator (:func:`train_starts`), each window starting from a zero
state; cross-entropy on every step; the gradient norm clipped to ``clip``. Validation is
the mean cross-entropy in nats per character over one fixed set of ``eval_windows``
windows spread evenly over the validation 10% (:func:`eval_starts`). The PyTorch twin in
``benchmarks/charlm_torch.py`` takes its data, windows, evaluation windows and initial
weights from here, so the two runs differ only in the framework.

A run folder holds ``last.ckpt`` (an :func:`ember.io.save_checkpoint` file: model,
optimizer, step, RNG state and ``extra`` = config, model arguments, vocabulary, history),
``metrics.jsonl`` (one line per evaluation), ``results.json`` and ``loss.png``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import numpy as np

import ember
from ember.models.charlm import CharLSTM, generate
from ember.train.pipeline import RunError, check_file
from ember.train.trainer import _progress

__all__ = ["CharLMConfig", "eval_starts", "evaluate", "fit", "generate_text", "load_charlm",
           "load_data", "train_charlm", "train_starts"]

DATA_SETS = ("shakespeare", "shakespeare-excerpt")


MODELS = ("lstm", "gpt")


@dataclasses.dataclass
class CharLMConfig:
    data: str = "shakespeare"
    model: str = "lstm"     # or "gpt": nanoGPT's GPT (hidden = n_embd, seq_len = block_size)
    heads: int = 4          # GPT only
    schedule: str = "constant"  # or "cosine": linear warm-up, cosine decay to min_lr
    warmup: int = 0
    min_lr: float = 0.0
    weight_decay: float = 0.0   # AdamW's (GPT: on the >= 2-D weights only, as nanoGPT)
    beta2: float = 0.999
    steps: int = 2000
    batch_size: int = 32
    seq_len: int = 100
    hidden: int = 256
    layers: int = 1
    embed: int = 0          # 0: one-hot input
    dropout: float = 0.0
    lr: float = 2e-3
    clip: float = 5.0
    eval_every: int = 250
    eval_windows: int = 512
    seed: int = 0
    name: str = ""
    out_dir: str = "runs"
    data_root: str = ""
    progress: bool = True

    def check(self):
        """Refuse values that would do nothing or nonsense (a :class:`ValueError` naming the
        option)."""
        for key in ("steps", "batch_size", "seq_len", "hidden", "layers", "eval_every",
                    "eval_windows"):
            if getattr(self, key) < 1:
                raise ValueError(f"charlm: --{key.replace('_', '-')} must be >= 1, got "
                                 f"{getattr(self, key)}")
        if self.embed < 0:
            raise ValueError(f"charlm: --embed must be >= 0 (0: one-hot), got {self.embed}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"charlm: --dropout must be in [0, 1), got {self.dropout}")
        if not self.lr > 0 or not self.clip > 0:
            raise ValueError(f"charlm: --lr and --clip must be > 0, got {self.lr} and "
                             f"{self.clip}")
        if self.model not in MODELS or self.schedule not in ("constant", "cosine"):
            raise ValueError(f"charlm: --model must be lstm or gpt and --schedule constant or "
                             f"cosine, got {self.model!r} and {self.schedule!r}")
        if self.model == "gpt" and self.hidden % self.heads:
            raise ValueError(f"charlm: --hidden ({self.hidden}) must be a multiple of --heads "
                             f"({self.heads}) for the GPT")
        if self.warmup < 0 or self.min_lr < 0 or self.weight_decay < 0:
            raise ValueError("charlm: --warmup, --min-lr and --weight-decay must be >= 0")
        if self.data not in DATA_SETS:
            raise ValueError(f"charlm: unknown --data {self.data!r}; choose from "
                             f"{', '.join(DATA_SETS)}")

    def model_kwargs(self, vocab_size):
        if self.model == "gpt":
            return {"block_size": self.seq_len, "vocab_size": vocab_size,
                    "n_layer": self.layers, "n_head": self.heads, "n_embd": self.hidden,
                    "dropout": self.dropout, "bias": False}
        return {"vocab_size": vocab_size, "embed_dim": self.embed or None,
                "hidden_size": self.hidden, "num_layers": self.layers,
                "dropout": self.dropout}


def build_model(model, kwargs):
    """The model ``ember charlm`` trains: a :class:`CharLSTM` or (``model == "gpt"``) a GPT."""
    if model == "gpt":
        from ember.models.gpt import GPT, GPTConfig
        return GPT(GPTConfig(**kwargs))
    return CharLSTM(**kwargs)


def build_optimizer(model, cfg, m=ember):
    """Adam (the LSTM, no weight decay) or AdamW with nanoGPT's two groups: decay on the
    parameters of >= 2 dims only. ``m`` is the framework."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not cfg.weight_decay:
        return m.optim.Adam(params, lr=cfg.lr, betas=(0.9, cfg.beta2))
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return m.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, cfg.beta2))


def lr_at(cfg, step):
    """The learning rate of ``step`` (1-based): constant, or nanoGPT's ``get_lr`` (linear
    warm-up over ``warmup`` steps, then cosine decay to ``min_lr`` at the last step)."""
    if cfg.schedule == "constant":
        return cfg.lr
    it = step - 1
    if it < cfg.warmup:
        return cfg.lr * (it + 1) / (cfg.warmup + 1)
    ratio = (it - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * min(ratio, 1.0))) * (cfg.lr - cfg.min_lr)


def load_data(cfg):
    """(train, val) :class:`~ember.data.datasets.Shakespeare` splits with windows of
    ``seq_len``; ``shakespeare-excerpt`` is the excerpt shipped with ember."""
    from ember.data.datasets import Shakespeare
    excerpt = cfg.data == "shakespeare-excerpt"
    root = cfg.data_root or None
    return (Shakespeare(train=True, root=root, block_size=cfg.seq_len, excerpt=excerpt),
            Shakespeare(train=False, root=root, block_size=cfg.seq_len, excerpt=excerpt))


def train_starts(num_windows, steps, batch_size, seed):
    """The window starts of every training batch, ``(steps, batch_size)`` int64: uniform
    over ``0 .. num_windows - 1`` from ``numpy.random.default_rng(seed)`` (the stream both
    frameworks read, so their batches are the same)."""
    return np.random.default_rng(seed).integers(0, num_windows, size=(steps, batch_size))


def eval_starts(num_windows, count):
    """``count`` (at most ``num_windows``) window starts spread evenly over the split."""
    return np.unique(np.linspace(0, num_windows - 1, min(count, num_windows)).round()
                     .astype(np.int64))


def _logits(model, x, y):
    """Every position's logits: a GPT (nanoGPT's, with ``lm_head``) returns them all only when
    given targets; the LSTM returns them always."""
    return model(x, y)[0] if hasattr(model, "lm_head") else model(x)[0]


def evaluate(model, dataset, starts, batch_size=128, m=ember):
    """Mean cross-entropy (nats/char) of ``model`` on the windows of ``dataset`` at
    ``starts``, each from a zero state. ``m`` is the framework: ember, or torch for the twin
    (the calls are PyTorch's, so one function serves both)."""
    model.eval()
    total, count = 0.0, 0
    with m.no_grad():
        for i in range(0, len(starts), batch_size):
            x, y = dataset.get_batch(starts[i:i + batch_size])
            logits = _logits(model, m.tensor(x), m.tensor(y))
            loss = m.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), m.tensor(y).reshape(-1),
                reduction="sum")
            total, count = total + float(loss.item()), count + y.size
    model.train()
    return total / count


def fit(model, optimizer, train, val, cfg, m=ember):
    """Run ``cfg``'s recipe on ``model``: yields ``(step, loss, entry)`` after every step,
    ``entry`` being the evaluation (``step``, ``train_loss`` averaged since the last one,
    ``val_loss``, ``seconds``) every ``eval_every`` steps and at the last, else None.
    ``m`` is the framework (ember, or torch for the twin)."""
    starts = train_starts(len(train), cfg.steps, cfg.batch_size, cfg.seed)
    held_out = eval_starts(len(val), cfg.eval_windows)
    start, running = time.perf_counter(), []
    for step in range(1, cfg.steps + 1):
        x, y = train.get_batch(starts[step - 1])
        for group in optimizer.param_groups:
            group["lr"] = lr_at(cfg, step)
        logits = _logits(model, m.tensor(x), m.tensor(y))
        loss = m.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             m.tensor(y).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        m.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optimizer.step()
        value = float(loss.item())
        if not np.isfinite(value):
            raise FloatingPointError(f"charlm: the loss became {value} at step {step}")
        running.append(value)
        entry = None
        if step % cfg.eval_every == 0 or step == cfg.steps:
            entry = {"step": step, "train_loss": float(np.mean(running)),
                     "val_loss": evaluate(model, val, held_out, m=m),
                     "seconds": time.perf_counter() - start}
            running = []
        yield step, value, entry


def train_charlm(cfg: CharLMConfig):
    """Train a :class:`CharLSTM` with ``cfg``'s recipe and write the run folder; returns the
    results dict (``val_loss``, ``seconds``, ``run_dir``, ...)."""
    cfg.check()
    train, val = load_data(cfg)
    ember.manual_seed(cfg.seed)
    kwargs = cfg.model_kwargs(train.vocab_size)
    model = build_model(cfg.model, kwargs)
    optimizer = build_optimizer(model, cfg)
    name = cfg.name or f"charlm-{cfg.data}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = os.path.join(cfg.out_dir, name)
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=2)
    extra = {"config": dataclasses.asdict(cfg), "model_kwargs": kwargs,
             "chars": "".join(train.chars), "history": [], "train_losses": []}
    what = (f"GPT({cfg.layers} layers x {cfg.heads} heads x {cfg.hidden})" if cfg.model == "gpt"
            else f"LSTM({kwargs['embed_dim'] or 'one-hot'} -> {cfg.hidden} x {cfg.layers})")
    print(f"charlm: {what} on {cfg.data} ({len(train.data)} train / {len(val.data)} val characters, vocab "
          f"{train.vocab_size}); {cfg.steps} steps of {cfg.batch_size} x {cfg.seq_len}; "
          f"run folder {run_dir}")
    start = time.perf_counter()
    bar = _progress(fit(model, optimizer, train, val, cfg), cfg.steps, "charlm", cfg.progress)
    with open(os.path.join(run_dir, "metrics.jsonl"), "w") as log:
        for step, loss, entry in bar:
            extra["train_losses"].append(loss)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss:.3f}")
            if entry is not None:
                extra["history"].append(entry)
                log.write(json.dumps(entry) + "\n")
                log.flush()
                ember.io.save_checkpoint(os.path.join(run_dir, "last.ckpt"), model=model,
                                         optimizer=optimizer, step=step, extra=extra)
    result = dict(extra["history"][-1], run_dir=run_dir, steps=cfg.steps,
                  eval_characters=int(len(eval_starts(len(val), cfg.eval_windows))
                                      * cfg.seq_len))
    result["seconds"] = time.perf_counter() - start
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    plot_loss(extra["train_losses"], extra["history"], os.path.join(run_dir, "loss.png"))
    return result


def plot_loss(train_losses, history, path):
    """The training loss of every step (and its running mean) and the validation loss of
    every evaluation, against the step."""
    from ember.train.plots import _pyplot
    try:
        plt = _pyplot()
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    losses = np.asarray(train_losses, dtype=float)
    ax.plot(np.arange(1, len(losses) + 1), losses, color="tab:blue", alpha=0.3, lw=0.8)
    window = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    ax.plot(np.arange(window, len(losses) + 1), smooth, color="tab:blue", label="train")
    ax.plot([h["step"] for h in history], [h["val_loss"] for h in history], "-s",
            color="tab:orange", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/char)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def load_charlm(checkpoint, device="cpu"):
    """(model in eval mode, vocabulary string, extra) from an ``ember charlm`` checkpoint."""
    from ember.io import CheckpointError
    state = ember.load(check_file(checkpoint, "checkpoint"))
    extra = state.get("extra") if isinstance(state, dict) else None
    if not isinstance(extra, dict) or "chars" not in extra or "model_kwargs" not in extra:
        raise RunError(f"checkpoint '{checkpoint}' was not written by `ember charlm` (it holds "
                       "no vocabulary and model arguments); pass a charlm run's last.ckpt")
    model = build_model(extra.get("config", {}).get("model", "lstm"), extra["model_kwargs"])
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint '{checkpoint}': {e}") from None
    return model.to(device).eval(), extra["chars"], extra


def generate_text(checkpoint, prompt, length=500, temperature=1.0, top_k=None, seed=0,
                  num_samples=1):
    """``num_samples`` continuations of ``prompt`` (each returned with the prompt) by the
    model of ``checkpoint``, seeded by ``seed``."""
    model, chars, _ = load_charlm(checkpoint)
    if not prompt:
        raise RunError("generate: --prompt must hold at least one character")
    unknown = sorted(set(prompt) - set(chars))
    if unknown:
        raise RunError(f"generate: the prompt has characters {unknown} that are not in the "
                       f"model's vocabulary of {len(chars)}")
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.array([[stoi[c] for c in prompt]] * num_samples, dtype=np.int64)
    ember.manual_seed(seed)
    if isinstance(model, CharLSTM):
        out = generate(model, ember.tensor(ids), length, temperature=temperature, top_k=top_k)
    else:
        out = model.generate(ember.tensor(ids), length, temperature=temperature, top_k=top_k)
    return ["".join(chars[i] for i in row) for row in out.numpy()]
