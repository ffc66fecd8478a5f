"""``ember seq2seq``: the addition (or date) task of "Deep Learning from Scratch 2", ch. 7.

The book's recipe: Adam (lr 0.001), batch 128 (the last, incomplete batch of an epoch is
dropped, as the book's trainer runs ``N // batch_size`` steps), the gradient's global norm
clipped to 5.0, 25 epochs; the loss is the cross-entropy of every answer character, the
decoder reading the correct answer shifted by one (teacher forcing, ``'_'`` the start
symbol). After every epoch the model answers the 5,000 test questions greedily and the
exact-match accuracy (every character right) is logged as ``test_accuracy``: the book's
figure (it has no validation split). ``reverse`` reverses the question characters
(Sutskever et al. 2014); ``peeky`` uses :class:`ember.models.seq2seq.PeekySeq2seq`.

The run folder is ``ember train``'s: ``last.ckpt`` (model, optimizer, history, RNG state and
this config), ``config.json``, ``metrics.csv``, ``metrics.jsonl``, ``results.json``,
``curves.png`` (training loss and per-character accuracy, test exact match) and
``samples.txt`` (the first test questions with the model's answers).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time

import numpy as np

import ember
from ember.nn import functional as F
from ember.train.callbacks import Callback, CSVLogger, JSONLLogger, ModelCheckpoint
from ember.train.trainer import Trainer

__all__ = [
    "ExactMatch",
    "Seq2seqConfig",
    "Seq2seqTrainer",
    "evaluate_seq2seq",
    "exact_match",
    "prepare",
    "run_seq2seq",
    "sequence_loss",
]

DATA = ("addition", "dates")


@dataclasses.dataclass
class Seq2seqConfig:
    data: str = "addition"
    reverse: bool = False
    peeky: bool = False
    attention: str = ""  # "dot" or "additive": AttentionSeq2seq (ch. 8)
    transformer: bool = False  # TransformerSeq2seq (hidden_size = d_model)
    epochs: int = 25
    batch_size: int = 128
    lr: float = 0.001
    max_grad: float = 5.0
    wordvec_size: int = 16
    hidden_size: int = 128
    seed: int = 0
    device: str = "cpu"
    limit: int = 0
    name: str = ""
    out_dir: str = "runs"
    data_root: str = ""
    progress: bool = True

    @property
    def model(self):
        if self.transformer:
            return "transformer_seq2seq"
        if self.attention:
            return f"attention_seq2seq_{self.attention}"
        return "peeky_seq2seq" if self.peeky else "seq2seq"


def sequence_loss(scores, targets):
    """The mean cross-entropy over every (sequence, step): scores (N, T, V), targets (N, T)
    (the book's TimeSoftmaxWithLoss)."""
    return F.cross_entropy(scores.flatten(0, 1), targets.flatten())


class Seq2seqTrainer(Trainer):
    """The Trainer, with the training accuracy counted per answer character (teacher
    forced: each step's arg-max against the correct next character)."""

    @staticmethod
    def _accuracy(scores, targets):
        return float((scores.array.argmax(-1) == targets.array).mean())


def exact_match(model, questions, answers, start_id, batch_size=1000, device="cpu"):
    """(accuracy, guesses): greedy answers (N, T-1) to ``questions`` (N, T_in) and the
    fraction whose every character equals ``answers[:, 1:]`` (``answers`` (N, T) start with
    the start symbol)."""
    was_training = model.training
    model.eval()
    guesses = []
    for i in range(0, len(questions), batch_size):
        xs = ember.tensor(questions[i:i + batch_size]).to(device)
        guesses.append(ember.backend.to_numpy(
            model.generate(xs, start_id, answers.shape[1] - 1).array))
    model.train(was_training)
    guesses = np.concatenate(guesses) if guesses else np.zeros((0, answers.shape[1] - 1))
    correct = (guesses == answers[:, 1:]).all(1)
    return float(correct.mean()) if len(correct) else float("nan"), guesses


class ExactMatch(Callback):
    """After every epoch: the greedy exact-match accuracy on ``questions``/``answers``,
    logged as ``test_accuracy`` (before the loggers and checkpoints that follow it)."""

    def __init__(self, questions, answers, start_id, device="cpu"):
        self.questions, self.answers, self.start_id = questions, answers, start_id
        self.device = device

    def on_epoch_end(self, trainer, logs):
        logs["test_accuracy"], _ = exact_match(trainer.model, self.questions, self.answers,
                                               self.start_id, device=self.device)


def _data(cfg):
    """(train questions, train answers, test questions, test answers, the data set) as the
    book prepares them: the question characters reversed with ``reverse``; ``limit`` keeps a
    seeded random subset of N training and N/5 test pairs."""
    from ember.data import datasets
    from ember.train.pipeline import limit
    root = cfg.data_root or None
    train, test = (datasets.get_dataset(cfg.data, train=split, root=root)
                   for split in (True, False))
    x, t = limit(train.data, train.targets, cfg.limit)
    x_test, t_test = limit(test.data, test.targets, cfg.limit // 5)
    if cfg.reverse:
        x, x_test = x[:, ::-1].copy(), x_test[:, ::-1].copy()
    return x, t, x_test, t_test, train


def build_model(cfg, vocab_size):
    from ember.models.seq2seq import PeekySeq2seq, Seq2seq
    if cfg.transformer:
        from ember.models.attention_seq2seq import TransformerSeq2seq
        return TransformerSeq2seq(vocab_size, d_model=cfg.hidden_size)
    if cfg.attention:
        from ember.models.attention_seq2seq import AttentionSeq2seq
        return AttentionSeq2seq(vocab_size, cfg.wordvec_size, cfg.hidden_size, cfg.attention)
    cls = PeekySeq2seq if cfg.peeky else Seq2seq
    return cls(vocab_size, cfg.wordvec_size, cfg.hidden_size)


def check_config(cfg):
    """Refuse values that would do nothing or nonsense (raised as ValueError)."""
    if cfg.data not in DATA:
        raise ValueError(f"--data must be one of {', '.join(DATA)}, got {cfg.data!r}")
    for name in ("epochs", "batch_size", "wordvec_size", "hidden_size"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got "
                             f"{getattr(cfg, name)}")
    if not cfg.lr > 0 or not cfg.max_grad > 0:
        raise ValueError(f"--lr and --max-grad must be > 0, got {cfg.lr} and {cfg.max_grad}")
    if cfg.limit < 0:
        raise ValueError(f"--limit must be >= 0 (0: all the data), got {cfg.limit}")
    if cfg.attention not in ("", "dot", "additive"):
        raise ValueError(f"--attention must be dot or additive, got {cfg.attention!r}")
    if sum(map(bool, (cfg.attention, cfg.peeky, cfg.transformer))) > 1:
        raise ValueError("--attention, --peeky and --transformer are different models: pick "
                         "one")


@dataclasses.dataclass
class Prepared:
    model: object
    loader: object  # (question, answer[:, :-1], answer[:, 1:]) batches
    x_test: np.ndarray
    t_test: np.ndarray
    start_id: int
    data: object  # the training set (vocabulary, decode)


def prepare(cfg):
    """The seeded model and training batches of a run (its PyTorch twin starts from them)."""
    from ember.data import DataLoader, TensorDataset
    check_config(cfg)
    ember.manual_seed(cfg.seed)
    x, t, x_test, t_test, data = _data(cfg)
    if len(x) < cfg.batch_size:
        raise ValueError(f"--batch-size {cfg.batch_size} is larger than the {len(x)} "
                         f"training pairs (the last incomplete batch is dropped)")
    model = build_model(cfg, data.vocab_size).to(cfg.device)
    loader = DataLoader(TensorDataset(x, t[:, :-1], t[:, 1:]), batch_size=cfg.batch_size,
                        shuffle=True, drop_last=True)
    start_id = int(t[0, 0])  # every answer starts with the start symbol '_'
    return Prepared(model, loader, x_test, t_test, start_id, data)


def run_seq2seq(cfg, make_plots=True):
    """Train as the book does and write the run folder; returns the final result dict."""
    run = prepare(cfg)
    model, loader, x_test, t_test, start_id, data = (
        run.model, run.loader, run.x_test, run.t_test, run.start_id, run.data)
    run_dir = os.path.join(cfg.out_dir, cfg.name or f"{cfg.model}-{cfg.data}"
                           f"{'-reversed' if cfg.reverse else ''}-{time.strftime('%Y%m%d-%H%M%S')}")
    os.makedirs(run_dir, exist_ok=True)
    config = dict(dataclasses.asdict(cfg), task="seq2seq", model=cfg.model,
                  vocab_size=data.vocab_size, start_id=start_id)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    trainer = Seq2seqTrainer(
        model, sequence_loss, ember.optim.Adam(model.parameters(), lr=cfg.lr),
        device=cfg.device, progress=cfg.progress, grad_clip=cfg.max_grad, config=config,
        callbacks=[ExactMatch(x_test, t_test, start_id, cfg.device), _PrintEpoch(),
                   ModelCheckpoint(run_dir), CSVLogger(os.path.join(run_dir, "metrics.csv")),
                   JSONLLogger(os.path.join(run_dir, "metrics.jsonl"))])
    print(f"training {cfg.model} on {cfg.data}{' (reversed questions)' if cfg.reverse else ''}"
          f" ({len(loader.dataset)} train / {len(x_test)} test pairs) for {cfg.epochs} epochs on "
          f"{cfg.device}; run folder {run_dir}")
    start = time.perf_counter()
    trainer.fit(loader, epochs=cfg.epochs)
    accuracy, guesses = exact_match(model, x_test, t_test, start_id, device=cfg.device)
    correct = round(accuracy * len(x_test))
    result = {"accuracy": accuracy, "correct": correct, "total": len(x_test),
              "train_loss": trainer.history[-1]["train_loss"], "epochs": trainer.epoch,
              "seconds": round(time.perf_counter() - start, 1), "checkpoint": "last.ckpt"}
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(run_dir, "samples.txt"), "w") as f:
        f.write(samples(data, x_test, t_test, guesses, cfg.reverse))
    if make_plots:
        from ember.train import plots
        plots.plot_curves(trainer.history, os.path.join(run_dir, "curves.png"))
        if cfg.attention:
            plot_attention(model, data, x_test[:1], start_id, t_test.shape[1] - 1, cfg,
                           os.path.join(run_dir, "attention.png"))
    result["run_dir"] = run_dir
    return result


def plot_attention(model, data, question, start_id, length, cfg, path):
    """The book's figure: the weights each answer character gave each question character,
    for one question (read in its original order when the input was reversed)."""
    from ember.train import plots
    x = ember.tensor(question, device=cfg.device)
    guess, weights = model.attention_weights(x, start_id, length)
    weights = weights[0].cpu().numpy()
    chars = list(data.decode(question[0]))
    if cfg.reverse:  # the model read the reversed question: show it the right way round
        chars, weights = chars[::-1], weights[:, ::-1]
    plots.plot_attention(weights, chars, list(data.decode(guess[0].cpu().numpy())), path)


class _PrintEpoch(Callback):
    """One line per epoch with the test exact match (the progress bar shows the loss)."""

    def on_epoch_end(self, trainer, logs):
        print(f"epoch {logs['epoch']}: train loss {logs['train_loss']:.4f}, test exact match "
              f"{logs['test_accuracy']:.4f} ({logs['seconds']:.1f} s)", flush=True)


def samples(data, questions, answers, guesses, reverse, n=20):
    """The first ``n`` test questions, the correct answers and the model's, marked."""
    lines = []
    for q, a, g in zip(questions[:n], answers[:n], guesses[:n]):
        q = q[::-1] if reverse else q
        ok = (g == a[1:]).all()
        lines.append(f"{data.decode(q)} = {data.decode(a[1:])}  model: {data.decode(g)}  "
                     f"{'ok' if ok else 'WRONG'}")
    return "\n".join(lines) + "\n"


def evaluate_seq2seq(state, device="cpu"):
    """The test exact match of a checkpoint ``ember seq2seq`` wrote (its ``state`` dict)."""
    cfg = Seq2seqConfig(**{k: v for k, v in state["config"].items()
                           if k in {f.name for f in dataclasses.fields(Seq2seqConfig)}})
    _, _, x_test, t_test, data = _data(cfg)
    model = build_model(cfg, data.vocab_size)
    model.load_state_dict(state["model"])
    accuracy, _ = exact_match(model.to(device), x_test, t_test, state["config"]["start_id"],
                              device=device)
    return {"accuracy": accuracy, "correct": round(accuracy * len(x_test)),
            "total": len(x_test)}
