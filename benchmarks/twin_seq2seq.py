"""The PyTorch twin of ``ember seq2seq`` (DLfS2 ch. 7 on the addition set).

    python benchmarks/twin_seq2seq.py                           # plain, reversed, peeky+rev.
    python benchmarks/twin_seq2seq.py --runs peeky-reversed --epochs 2

For each configuration the twin takes what ``ember seq2seq --seed S`` starts from
(``ember.train.seq2seq.prepare``: the same data, the model's initial weights, copied by
state_dict, and the batches of its seeded DataLoader, read in the same order) and trains the
same model written in PyTorch (``nn.Embedding``, ``nn.LSTM(batch_first=True)``,
``nn.Linear``, the peeky concatenations) with ``torch.optim.Adam(lr=0.001)``,
``clip_grad_norm_(5.0)`` and the mean cross-entropy of every answer step, then answers the
test questions greedily after every epoch, as ``ember seq2seq`` does. So the two runs differ
only by the two frameworks' float32 arithmetic. Prints the exact-match test accuracy of
every epoch (compare with the ember run's ``metrics.csv``), the last one and the time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ember.train import seq2seq

RUNS = {"plain": {}, "reversed": {"reverse": True},
        "peeky-reversed": {"reverse": True, "peeky": True}}


def torch_seq2seq(torch, vocab_size, wordvec_size, hidden_size, peeky):
    """Encoder (Embedding -> LSTM, last h) and (Peeky)Decoder, with ember's names."""
    nn, extra = torch.nn, hidden_size if peeky else 0

    class Part(nn.Module):
        def __init__(self, decoder):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, wordvec_size)
            self.lstm = nn.LSTM(wordvec_size + extra * decoder, hidden_size, batch_first=True)
            if decoder:
                self.affine = nn.Linear(hidden_size + extra, vocab_size)

        def forward(self, xs, h=None, state=None):
            out = self.embed(xs)
            if h is None:  # the encoder: its last hidden state
                return self.lstm(out)[1][0]
            hs = h[0].unsqueeze(1).expand(-1, xs.shape[1], -1)
            out = torch.cat([hs, out], 2) if peeky else out
            out, state = self.lstm(out, (h, torch.zeros_like(h)) if state is None else state)
            out = torch.cat([hs, out], 2) if peeky else out
            return self.affine(out), state

    model = nn.Module()
    model.encoder, model.decoder = Part(False), Part(True)
    return model


def exact_match(torch, net, run):
    """The greedy exact match on the test questions."""
    with torch.no_grad():
        xs = torch.tensor(run.x_test)
        h = net.encoder(xs)
        sample, state, guesses = torch.full((len(xs), 1), run.start_id), None, []
        for _ in range(run.t_test.shape[1] - 1):
            scores, state = net.decoder(sample, h, state)
            sample = scores.argmax(-1)
            guesses.append(sample)
    return float((torch.cat(guesses, 1).numpy() == run.t_test[:, 1:]).all(1).mean())


def run_torch(cfg):
    """(exact-match test accuracy of every epoch, seconds) of the twin of ``cfg``."""
    import torch
    torch.set_num_threads(1)  # as ember's runs here: one core each (the machine is shared)
    start = time.perf_counter()
    run = seq2seq.prepare(cfg)
    net = torch_seq2seq(torch, run.data.vocab_size, cfg.wordvec_size, cfg.hidden_size,
                        cfg.peeky)
    net.load_state_dict({k: torch.tensor(v.numpy()) for k, v in
                         run.model.state_dict().items()})
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    accuracies = []
    for _ in range(cfg.epochs):
        for xs, dec_xs, targets in run.loader:  # one epoch seed per epoch, as the Trainer
            xs, dec_xs, targets = (torch.tensor(a.numpy()) for a in (xs, dec_xs, targets))
            scores, _ = net.decoder(dec_xs, net.encoder(xs))
            loss = torch.nn.functional.cross_entropy(scores.flatten(0, 1), targets.flatten())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad)
            optimizer.step()
        accuracies.append(exact_match(torch, net, run))
    return accuracies, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in args.runs:
        cfg = seq2seq.Seq2seqConfig(epochs=args.epochs, seed=args.seed, **RUNS[name])
        accuracies, seconds = run_torch(cfg)
        print(f"torch {name:14s} seed {args.seed}: test exact match per epoch "
              f"{' '.join(f'{a:.4f}' for a in accuracies)}", flush=True)
        print(f"torch {name:14s} seed {args.seed}: test exact match {accuracies[-1]:.4f} after "
              f"{args.epochs} epochs, {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
