"""Corpus BLEU and exact match against NLTK's ``corpus_bleu`` (the oracle: it must be
installed under CI): random corpora with several references, short and empty hypotheses,
missing higher-order matches, other weights; the error paths."""
import warnings

import numpy as np
import pytest
from _parity import import_oracle

from ember.train.caption_metrics import caption_exact_match, corpus_bleu

WORDS = ["a", "an", "bag", "sneaker", "left", "of", "above", "below", "coat"]


def sentence(rng, lo=0, hi=9):
    return list(rng.choice(WORDS, rng.integers(lo, hi + 1)))


def nltk_bleu(refs, hyps, **kw):
    bleu = import_oracle("nltk.translate.bleu_score", pip="nltk")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns about zero n-gram overlaps
        return bleu.corpus_bleu(refs, hyps, **kw)


@pytest.mark.parametrize("seed", range(6))
def test_corpus_bleu_equals_nltk_on_random_corpora(seed):
    rng = np.random.default_rng(seed)
    refs = [[sentence(rng, 1) for _ in range(rng.integers(1, 4))] for _ in range(30)]
    # hypotheses: some copies of a reference, some edited, some random (some empty)
    hyps = []
    for r in refs:
        kind = rng.integers(3)
        h = list(r[0]) if kind == 0 else sentence(rng)
        if kind == 1 and r[0]:
            h = list(r[0])
            h[rng.integers(len(h))] = "dress"
        hyps.append(h)
    assert corpus_bleu(refs, hyps) == pytest.approx(nltk_bleu(refs, hyps), rel=1e-12)
    w = (0.5, 0.3, 0.2)
    assert corpus_bleu(refs, hyps, w) == pytest.approx(nltk_bleu(refs, hyps, weights=w),
                                                       rel=1e-12)


@pytest.mark.parametrize("refs, hyps", [
    ([[["a", "bag"]]], [["a", "bag"]]),                        # no 3- or 4-grams: ~0
    ([[["a", "bag", "left", "of", "a", "coat"]]], [["a", "bag", "left", "of", "a", "coat"]]),
    ([[["a", "bag"]]], [["coat"]]),                             # no unigram match: 0
    ([[["a", "bag", "left", "of", "a", "coat"]]], [["a", "a", "a", "a"]]),  # clipping, BP
    ([[["a", "bag"], ["a", "bag", "left", "of", "a", "coat"]]], [["a", "bag", "left", "of"]]),
    ([[["a", "bag"]], [["a", "coat", "above", "a", "bag"]]], [[], ["a", "coat", "above", "a",
                                                                   "bag", "of", "a"]]),
])
def test_corpus_bleu_edge_cases_equal_nltk(refs, hyps):
    assert corpus_bleu(refs, hyps) == pytest.approx(nltk_bleu(refs, hyps), rel=1e-12, abs=0)


def test_perfect_corpus_scores_one_and_exact_match():
    refs = ["a sneaker left of a bag", "an ankle boot above a coat"]
    assert corpus_bleu([[r.split()] for r in refs], [r.split() for r in refs]) == 1.0
    assert caption_exact_match(refs, refs) == 1.0
    assert caption_exact_match(refs, ["a sneaker left of a bag", "an ankle boot"]) == 0.5
    assert caption_exact_match([["a", "bag"]], ["a  bag"]) == 1.0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="corpus_bleu: 1 reference lists for 2 hypotheses"):
        corpus_bleu([[["a"]]], [["a"], ["b"]])
    with pytest.raises(ValueError, match="references of hypothesis 0 must be a non-empty"):
        corpus_bleu([[]], [["a"]])
    with pytest.raises(ValueError, match="weights must not be empty"):
        corpus_bleu([[["a"]]], [["a"]], weights=())
    with pytest.raises(ValueError, match="caption_exact_match: 1 references for 2"):
        caption_exact_match(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="no hypotheses"):
        caption_exact_match([], [])
