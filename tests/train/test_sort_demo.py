"""minGPT's sorting demo: the data, a few training iterations, the scoring."""
import itertools

import numpy as np
import pytest

import ember
from ember.train.sort_demo import in_split, sort_batch, sort_demo, sorted_fraction


def test_batches_are_sequences_then_their_sort_with_the_prompt_masked():
    rng = np.random.default_rng(0)
    x, y = sort_batch(rng, 32)
    assert x.shape == y.shape == (32, 11) and x.dtype == np.int64
    assert (y[:, :5] == -1).all()
    np.testing.assert_array_equal(y[:, 5:], np.sort(x[:, :6], axis=1))  # the sorted half
    np.testing.assert_array_equal(x[:, 6:], y[:, 5:-1])  # shifted by one
    assert all(in_split(row[:6]) == "train" for row in x)
    xt, _ = sort_batch(rng, 16, split="test")
    assert all(in_split(row[:6]) == "test" for row in xt)


def test_the_split_holds_out_about_a_quarter():
    splits = [in_split(s) for s in itertools.product(range(3), repeat=6)]
    assert 0.2 < splits.count("test") / len(splits) < 0.3


def test_a_few_iterations_train_and_score():
    r = sort_demo(iterations=30, batch_size=16, lr=5e-3, log_every=0)
    assert len(r["losses"]) == 30 and np.isfinite(r["losses"]).all()
    assert np.mean(r["losses"][-5:]) < np.mean(r["losses"][:5])
    ok, n = r["test"]
    assert 0 <= ok <= n and n == sum(in_split(s) == "test"
                                     for s in itertools.product(range(3), repeat=6))
    assert r["train"][1] + n == 3 ** 6


def test_scoring_counts_exact_sorts():
    class Oracle(ember.nn.Module):  # generates the sorted digits: every sequence correct
        def generate(self, idx, n, top_k=None):
            return ember.tensor(np.concatenate([idx.numpy(), np.sort(idx.numpy(), 1)], 1))
    ok, n = sorted_fraction(Oracle(), "test")
    assert ok == n > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="sort_demo: need iterations >= 0"):
        sort_demo(iterations=-1)
