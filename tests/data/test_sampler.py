"""Samplers: RandomSampler draws lazily (a huge num_samples costs no memory) and gives the
same stream of indices as drawing them all at once, whatever the size."""
import time
import tracemalloc

import numpy as np
import pytest

from ember.data import DataLoader, RandomSampler
from ember.data import sampler as sampler_module


def _all_at_once(n, num_samples, replacement, seed):
    return _draw(np.random.default_rng(seed), n, num_samples, replacement)


def _draw(g, n, num_samples, replacement):
    """The stream as one draw: what RandomSampler gave before it drew lazily."""
    if replacement:
        return g.integers(0, n, size=num_samples).tolist()
    full, rest = divmod(num_samples, n)
    return np.concatenate([g.permutation(n) for _ in range(full)]
                          + [g.permutation(n)[:rest]]).tolist()


@pytest.mark.parametrize("n, num_samples, replacement", [
    (10, 5, True), (10, 10, False), (10, 7, False), (10, 25, False), (10, 30, False),
    (1000, 3 * (1 << 16) + 5, True), (7, 1 << 16, True)])
@pytest.mark.parametrize("lazy", [False, True])
def test_stream_equals_one_draw(n, num_samples, replacement, lazy, monkeypatch):
    if lazy:  # force the chunked path on small sizes
        monkeypatch.setattr(sampler_module, "_EAGER", 0)
        monkeypatch.setattr(sampler_module, "_CHUNK", 1000)
    s = RandomSampler(range(n), replacement=replacement, num_samples=num_samples, generator=3)
    g = np.random.default_rng(3)
    expected = [_draw(g, n, num_samples, replacement) for _ in range(2)]
    assert [list(s), list(s)] == expected  # the generator advanced exactly as before


def test_a_huge_num_samples_starts_at_once_with_little_memory():
    s = RandomSampler(range(10), replacement=True, num_samples=10 ** 10, generator=0)
    assert len(s) == 10 ** 10
    tracemalloc.start()
    t0 = time.perf_counter()
    it = iter(s)
    head = [next(it) for _ in range(5)]
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 20 * 2 ** 20, (elapsed, peak)
    assert head == _all_at_once(10, 5, True, 0)
    s = RandomSampler(range(10 ** 5), num_samples=10 ** 10, generator=0)  # permutations
    assert next(iter(s)) == _all_at_once(10 ** 5, 1, False, 0)[0]


def test_successive_epochs_repeat_under_a_seed_and_through_a_loader():
    a = RandomSampler(range(50), replacement=True, num_samples=200, generator=1)
    b = RandomSampler(range(50), replacement=True, num_samples=200, generator=1)
    epochs = [list(a), list(a)]
    assert epochs == [list(b), list(b)] and epochs[0] != epochs[1]
    loader = DataLoader(np.arange(50), batch_size=7, sampler=RandomSampler(
        range(50), replacement=True, num_samples=10 ** 9, generator=2))
    batch = next(iter(loader))
    assert batch.tolist() == _all_at_once(50, 7, True, 2)
