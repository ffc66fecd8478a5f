"""sample_next (nanoGPT's temperature / top-k draw) and the generate argument checks."""
import numpy as np
import pytest

import ember
from ember.models.sampling import check_generate_args, sample_next


def test_top_k_one_is_the_arg_max_and_draws_follow_the_probabilities():
    logits = ember.tensor(np.log([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]]))
    assert sample_next(logits, top_k=1).numpy().ravel().tolist() == [1, 0]
    rng = np.random.default_rng(0)
    draws = np.concatenate([sample_next(logits, rng=rng).numpy() for _ in range(4000)], 1)
    assert np.allclose((draws[0] == 1).mean(), 0.6, atol=0.03)
    top2 = np.concatenate([sample_next(logits, top_k=2, rng=rng).numpy() for _ in range(2000)], 1)
    assert set(top2[0]) == {1, 2} and np.allclose((top2[0] == 1).mean(), 2 / 3, atol=0.04)
    cold = sample_next(logits, temperature=1e-3, rng=rng)  # near-greedy
    assert cold.numpy().ravel().tolist() == [1, 0]
    ember.manual_seed(0)
    a = sample_next(logits)
    ember.manual_seed(0)
    assert np.array_equal(sample_next(logits).numpy(), a.numpy())


def test_generate_arguments_are_checked():
    rows, rng = check_generate_args("m.generate", [1, 2], 3, 1.0, None, 5)
    assert tuple(rows.shape) == (1, 2) and isinstance(rng, np.random.Generator)
    for args, message in [(([[1.5]], 1, 1.0, None), "idx must be int ids"),
                          (([1], -1, 1.0, None), "max_new_tokens must be an int >= 0"),
                          (([1], 1, 0.0, None), "temperature must be > 0"),
                          (([1], 1, 1.0, 0), "top_k must be None or an int >= 1")]:
        with pytest.raises(ValueError, match="m.generate: " + message):
            check_generate_args("m.generate", *args, None)
