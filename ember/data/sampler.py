"""Samplers: which indices a DataLoader visits, and in what order.

Random samplers draw from their ``generator`` (a ``numpy.random.Generator`` or an int seed) or,
when it is None, from ember's data generator (``ember.manual_seed`` fixes it), when iteration
starts: every epoch gets a new order, and re-seeding repeats the same sequence of orders.
"""
from __future__ import annotations

import functools
import itertools

from ember.data.dataset import _as_generator, make_generator

_EAGER = 1 << 22  # a RandomSampler draws up to this many indices when iteration starts,
_CHUNK = 1 << 16  # and beyond, this many at a time (with replacement) as they are consumed

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "BatchSampler"]


class Sampler:
    """Base class: subclasses define ``__iter__`` (yielding indices) and ``__len__``."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation (or, with ``replacement``, ``num_samples`` uniform draws)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = make_generator(generator)
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"RandomSampler: num_samples must be a positive integer, "
                             f"got {self.num_samples!r}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        """Up to ``_EAGER`` indices are drawn here, when iteration starts; more are drawn as
        they are consumed, ``_CHUNK`` at a time with replacement, one permutation at a time
        without (more samples than items: whole permutations back to back), so a huge
        ``num_samples`` costs no memory. The stream equals one draw of all indices at once
        (NumPy's generators do not depend on how a draw is split): a seed gives the same
        indices whatever the size."""
        gen, n, total = _as_generator(self.generator), len(self.data_source), self.num_samples
        if self.replacement:
            sizes = itertools.chain(itertools.repeat(_CHUNK, total // _CHUNK),
                                    [total % _CHUNK] if total % _CHUNK else [])
            draw, drawn = functools.partial(gen.integers, 0, n), total
        else:
            full, rest = divmod(total, n)
            sizes = itertools.chain(itertools.repeat(n, full), [rest])
            draw, drawn = (lambda k: gen.permutation(n)[:k]), (full + 1) * n
        blocks = (draw(k).tolist() for k in sizes)
        blocks = list(blocks) if drawn <= _EAGER else itertools.chain([next(blocks)], blocks)
        return itertools.chain.from_iterable(blocks)

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = make_generator(generator)

    def __iter__(self):
        perm = _as_generator(self.generator).permutation(len(self.indices))
        return (self.indices[i] for i in perm.tolist())

    def __len__(self):
        return len(self.indices)


class BatchSampler(Sampler):
    """Group another sampler's indices into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``)."""

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size must be a positive integer, "
                             f"got {batch_size!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        it = iter(self.sampler)
        while batch := list(itertools.islice(it, self.batch_size)):
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
