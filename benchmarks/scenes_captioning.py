"""Image captioning on the Fashion-MNIST scenes (issue 21): ``ShowAttendTell`` (CNN encoder,
LSTM decoder with additive attention over the 8x8 feature-map cells) trained briefly, then
exact match and corpus BLEU-4 on the test split with greedy decoding and beam search (beam 3,
summed log-probabilities, not length-normalised).

    OPENBLAS_NUM_THREADS=1 python benchmarks/scenes_captioning.py --epochs 4

Data: ``FashionScenes`` defaults (10,000 train scenes seed 0 from the full Fashion-MNIST train
split, 1,000 test scenes seed 1 from its test split, 64x64). Training: cross-entropy of every
caption word and ``<end>`` (teacher forcing), Adam(lr=2e-3), batch 64 shuffled by
``default_rng(seed)``, gradient norm clipped to 5. The vocabulary comes from the train
captions.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

import ember
from ember.data.datasets import FashionScenes
from ember.models.captioning import CaptionVocab, ShowAttendTell, caption_loss
from ember.train.caption_metrics import caption_exact_match, corpus_bleu


def images_of(ds, idx):
    return ember.tensor(ds.images[idx][:, None].astype(np.float32) / 255)


def evaluate(model, vocab, ds, captions, beam_size, max_len=16, batch=100):
    hyps = []
    for s in range(0, len(ds), batch):
        idx = np.arange(s, min(s + batch, len(ds)))
        ids = model.generate(images_of(ds, idx), max_len, beam_size=beam_size)
        hyps += [vocab.decode(r) for r in ids]
    refs = [[c.split()] for c in captions]
    return (caption_exact_match(captions, hyps),
            corpus_bleu(refs, [h.split() for h in hyps]), hyps)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--attention", default="additive", choices=["additive", "dot"])
    p.add_argument("--train-images", type=int, default=10_000)
    p.add_argument("--test-images", type=int, default=1_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default="", help="write the model's state_dict here")
    args = p.parse_args(argv)
    ember.manual_seed(args.seed)
    train = FashionScenes(train=True, num_images=args.train_images)
    test = FashionScenes(train=False, num_images=args.test_images)
    train_caps = [train.caption(i) for i in range(len(train))]
    test_caps = [test.caption(i) for i in range(len(test))]
    vocab = CaptionVocab(train_caps)
    inputs, targets = vocab.batch(train_caps)
    print(f"vocabulary {len(vocab)} words, captions up to {inputs.shape[1] - 1} words")
    model = ShowAttendTell(len(vocab), attention=args.attention)
    opt = ember.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        order, losses = rng.permutation(len(train)), []
        for s in range(0, len(order), args.batch_size):
            idx = order[s:s + args.batch_size]
            longest = int((targets[idx] != 0).sum(1).max())
            scores = model(images_of(train, idx), ember.tensor(inputs[idx, :longest]))
            loss = caption_loss(scores, ember.tensor(targets[idx, :longest]))
            opt.zero_grad()
            loss.backward()
            ember.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(float(loss))
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f} ({time.time() - t0:.0f} s)",
              flush=True)
    train_s = time.time() - t0
    if args.save:
        ember.save(model.state_dict(), args.save)
    for beam in (1, 3):
        t = time.time()
        em, bleu, hyps = evaluate(model, vocab, test, test_caps, beam)
        print(f"beam {beam}: exact match {em:.3f}  BLEU-4 {bleu:.4f}  "
              f"({time.time() - t:.0f} s to caption {len(test)} scenes)")
        for i in range(3):
            print(f"   ref: {test_caps[i]!r}\n   hyp: {hyps[i]!r}")
    print(f"training {train_s:.0f} s")


if __name__ == "__main__":
    main()
