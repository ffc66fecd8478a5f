"""minGPT's sorting demo (``demo.ipynb``): a tiny GPT learns to sort 6 digits from {0, 1, 2}.

Each example is a sequence of ``length`` digits followed by the same digits sorted, e.g.
``0 2 1 0 1 2 -> 0 0 1 1 2 2``, fed as ``x = seq[:-1]``, ``y = seq[1:]`` with the targets
over the prompt masked out (-1), so the loss counts only the sorted half. The recipe is the
notebook's: ``gpt-nano`` (3 layers, 3 heads, width 48), dropout 0.1, AdamW (lr 5e-4,
betas (0.9, 0.95), weight decay 0.1), gradient clipping at 1.0, batch 64, 2,000 iterations,
constant learning rate. Half the draws reject sequences with more than ``length // 2``
distinct digits (minGPT's trick to show more repeated digits), and a fixed hash of the
digits puts a quarter of all sequences in the held-out split.

After training, every distinct sequence of each split is completed greedily (``top_k=1``)
and counted correct when all ``length`` generated digits equal the sorted input.

Differences from minGPT: the model is :class:`ember.models.gpt.GPT` (nanoGPT's: tied
``lm_head``, weight decay on the embeddings too); the split hash is CRC-32 of the digits
(minGPT's ``hash(pickle.dumps(...))`` changes with ``PYTHONHASHSEED``); and the score is
over all distinct held-out sequences rather than 5,000 random draws.

    python -m ember.train.sort_demo            # the recipe; prints the scores and the time
"""
from __future__ import annotations

import itertools
import time
import zlib

import numpy as np

import ember
from ember.models.gpt import GPT, GPTConfig

__all__ = ["in_split", "sort_batch", "sort_demo", "sorted_fraction"]


def in_split(digits) -> str:
    """``"test"`` for a quarter of all sequences (CRC-32 of the digits % 4 == 0), else
    ``"train"``."""
    return "test" if zlib.crc32(bytes(int(d) for d in digits)) % 4 == 0 else "train"


def sort_batch(rng, batch_size, length=6, num_digits=3, split="train"):
    """``(x, y)`` int64 arrays of ``(batch_size, 2 * length - 1)``: random sequences of
    ``split`` (drawn as minGPT's SortDataset) followed by their sorted digits, shifted by
    one, with ``y``'s first ``length - 1`` targets -1 (ignored)."""
    rows = []
    while len(rows) < batch_size:
        digits = rng.integers(0, num_digits, length)
        if rng.random() < 0.5 and len(np.unique(digits)) > length // 2:
            continue
        if in_split(digits) == split:
            rows.append(np.concatenate([digits, np.sort(digits)]))
    seq = np.stack(rows).astype(np.int64)
    x, y = seq[:, :-1].copy(), seq[:, 1:].copy()
    y[:, :length - 1] = -1
    return x, y


def sorted_fraction(model, split, length=6, num_digits=3):
    """(correct, total): every distinct sequence of ``split`` completed greedily by
    ``model``, counted correct when the generated digits are the sorted input."""
    seqs = np.array([s for s in itertools.product(range(num_digits), repeat=length)
                     if in_split(s) == split], dtype=np.int64)
    out = model.generate(ember.tensor(seqs), length, top_k=1).numpy()
    correct = (out[:, length:] == np.sort(seqs, axis=1)).all(axis=1)
    return int(correct.sum()), len(seqs)


def sort_demo(iterations=2000, batch_size=64, lr=5e-4, seed=0, length=6, num_digits=3,
              n_layer=3, n_head=3, n_embd=48, dropout=0.1, log_every=0):
    """Train the sorting GPT with minGPT's recipe and score it on both splits.

    Returns a dict: ``model``, ``losses`` (per iteration), ``train`` and ``test``
    (correct, total) and ``seconds`` (training only) and ``eval_seconds``.
    """
    if iterations < 0 or batch_size < 1 or length < 2 or num_digits < 2:
        raise ValueError(f"sort_demo: need iterations >= 0, batch_size >= 1, length >= 2 and "
                         f"num_digits >= 2, got {iterations}, {batch_size}, {length}, "
                         f"{num_digits}")
    ember.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = GPT(GPTConfig(block_size=2 * length - 1, vocab_size=num_digits, n_layer=n_layer,
                          n_head=n_head, n_embd=n_embd, dropout=dropout, bias=True))
    optimizer = model.configure_optimizers(0.1, lr, (0.9, 0.95))
    losses, start = [], time.perf_counter()
    model.train()
    for it in range(iterations):
        x, y = sort_batch(rng, batch_size, length, num_digits, "train")
        _, loss = model(ember.tensor(x), ember.tensor(y))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        ember.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if log_every and (it % log_every == 0 or it == iterations - 1):
            print(f"iter {it}: train loss {losses[-1]:.5f}", flush=True)
    seconds = time.perf_counter() - start
    model.eval()
    start = time.perf_counter()
    result = {"model": model, "losses": losses, "seconds": seconds,
              "train": sorted_fraction(model, "train", length, num_digits),
              "test": sorted_fraction(model, "test", length, num_digits)}
    result["eval_seconds"] = time.perf_counter() - start
    return result


def main():
    r = sort_demo(log_every=100)
    for split in ("train", "test"):
        ok, n = r[split]
        print(f"{split} final score: {ok}/{n} = {100 * ok / n:.2f}% correct")
    print(f"training: {r['seconds']:.1f} s for {len(r['losses'])} iterations; scoring "
          f"{r['eval_seconds']:.1f} s")


if __name__ == "__main__":
    main()
