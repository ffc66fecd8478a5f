"""Caption metrics: exact match and corpus BLEU (Papineni et al. 2002), computed as
``nltk.translate.bleu_score.corpus_bleu`` computes them (with its defaults: no smoothing,
brevity penalty against the closest reference length), in plain Python.

BLEU-N = BP * exp(sum_n w_n log p_n), where p_n is the corpus's clipped n-gram precision
(each hypothesis n-gram counts at most as often as it occurs in one of its references; the
denominator is ``max(1, hypothesis n-grams)`` per sentence) and BP = exp(1 - r / c) when the
hypotheses' total length c is under r, the sum of the closest reference lengths. As in NLTK,
a zero precision of a higher order enters as the smallest positive float (so the score is
~0, not an error) and no unigram match at all gives 0.
"""
from __future__ import annotations

import math
import sys
from collections import Counter

__all__ = ["caption_exact_match", "corpus_bleu"]


def _ngrams(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _check(who, list_of_references, hypotheses):
    if len(list_of_references) != len(hypotheses):
        raise ValueError(f"{who}: {len(list_of_references)} reference lists for "
                         f"{len(hypotheses)} hypotheses; expected one list per hypothesis")
    for i, refs in enumerate(list_of_references):
        if isinstance(refs, str) or not len(refs):
            raise ValueError(f"{who}: the references of hypothesis {i} must be a non-empty "
                             f"list of token lists, got {refs!r}")


def corpus_bleu(list_of_references, hypotheses, weights=(0.25, 0.25, 0.25, 0.25)):
    """Corpus BLEU of ``hypotheses`` (token lists) against ``list_of_references`` (for each
    hypothesis, a list of reference token lists); ``weights`` (BLEU-4's by default) give the
    n-gram orders. Equals NLTK's ``corpus_bleu`` with its defaults."""
    _check("corpus_bleu", list_of_references, hypotheses)
    if not len(weights):
        raise ValueError("corpus_bleu: weights must not be empty")
    orders = len(weights)
    num, den = [0] * (orders + 1), [0] * (orders + 1)
    hyp_len = ref_len = 0
    for refs, hyp in zip(list_of_references, hypotheses):
        hyp = list(hyp)
        for n in range(1, orders + 1):
            counts = _ngrams(hyp, n)
            max_ref = Counter()
            for ref in refs:
                for gram, k in _ngrams(list(ref), n).items():
                    max_ref[gram] = max(max_ref[gram], k)
            num[n] += sum(min(k, max_ref[g]) for g, k in counts.items())
            den[n] += max(1, sum(counts.values()))
        hyp_len += len(hyp)
        ref_len += min((len(r) for r in refs), key=lambda r: (abs(r - len(hyp)), r))
    if num[1] == 0:
        return 0
    if hyp_len > ref_len:
        bp = 1.0
    elif hyp_len == 0:
        bp = 0.0
    else:
        bp = math.exp(1 - ref_len / hyp_len)
    logs = (w * math.log(num[n] / den[n] if num[n] else sys.float_info.min)
            for w, n in zip(weights, range(1, orders + 1)))
    return bp * math.exp(math.fsum(logs))


def caption_exact_match(references, hypotheses):
    """The fraction of ``hypotheses`` (strings or token lists) equal to their reference (one
    per hypothesis, same form), compared word by word."""
    if len(references) != len(hypotheses):
        raise ValueError(f"caption_exact_match: {len(references)} references for "
                         f"{len(hypotheses)} hypotheses")
    if not len(hypotheses):
        raise ValueError("caption_exact_match: no hypotheses")

    def words(x):
        return x.split() if isinstance(x, str) else list(x)
    return sum(words(r) == words(h) for r, h in zip(references, hypotheses)) / len(hypotheses)
