"""DataLoader: batches from a data set, shuffled reproducibly, loaded ahead in threads.

How a batch is made:

* **Fast path.** With the default ``collate_fn``, a data set that holds whole arrays
  (``TensorDataset``, the image data sets, Subsets and ConcatDatasets of them) returns the
  whole batch from ``get_batch(indices)``: one fancy index per array, random transforms applied
  to the batch at once, instead of one ``__getitem__`` call per item.
* **Item path.** Otherwise ``collate_fn([dataset[i] for i in indices])``.

Loading ahead: by default one background thread prepares the next ``prefetch_factor`` batches
while the model computes; ``num_workers=k`` uses ``k`` threads (``prefetch_factor`` batches
each). Threads, not processes: NumPy releases the GIL in the copies and arithmetic that loading
spends its time in, and threads need no pickling of the data set nor start-up cost.
``prefetch_factor=0`` with ``num_workers=0`` loads synchronously in the calling thread.

Reproducibility: each epoch draws one seed from ``generator`` (or ember's generator, seeded by
``ember.manual_seed``); the shuffle and every batch's random transforms draw from streams derived
from that seed and the batch number. So the same seed gives the same batches whether they are
loaded synchronously, by one thread or by several.
"""
from __future__ import annotations

import collections
import numbers
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ember import backend
from ember.data._rng import derived_generator, draw_seed, use_generator
from ember.data.dataset import make_generator
from ember.data.sampler import BatchSampler, RandomSampler, SequentialSampler
from ember.tensor import Tensor

__all__ = ["DataLoader", "default_collate", "default_convert"]

_SAMPLER_STREAM = 2 ** 32  # stream key of the sampler (batches use keys 0, 1, 2, ...)


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_collate(batch):
    """Stack a list of samples into a batch, as PyTorch's ``default_collate``.

    Arrays, Tensors and NumPy scalars are stacked into Tensors (keeping their dtype); Python
    ints become int64, floats float64 and bools bool Tensors; strings stay a list; tuples,
    lists, named tuples and dicts are collated field by field (tuples come back as lists).
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        xp = backend.get_array_module(elem.array)
        return Tensor._make(xp.stack([b.array for b in batch]))
    if backend.is_array(elem):
        if elem.dtype.kind in "OSU":
            raise TypeError(f"default_collate: cannot batch arrays of dtype {elem.dtype}")
        return Tensor._make(backend.get_array_module(elem).stack(batch))
    if isinstance(elem, np.generic):
        return Tensor._make(np.array(batch))
    if isinstance(elem, bool):
        return Tensor._make(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return Tensor._make(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return Tensor._make(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("default_collate: each sample in a batch must have the same "
                               f"number of fields, got {sorted({len(s) for s in batch})}")
        fields = [default_collate(list(column)) for column in zip(*batch)]
        return type(elem)(*fields) if _is_namedtuple(elem) else fields
    raise TypeError(f"default_collate: cannot batch samples of type {type(elem).__name__}; "
                    f"pass a collate_fn")


def _map_leaves(fn, data, tuples_as_lists=False):
    """``fn`` applied to every leaf of nested dicts, (named) tuples and lists."""
    if isinstance(data, collections.abc.Mapping):
        return {key: _map_leaves(fn, value, tuples_as_lists) for key, value in data.items()}
    if _is_namedtuple(data):
        return type(data)(*(_map_leaves(fn, d, tuples_as_lists) for d in data))
    if isinstance(data, (tuple, list)):
        items = [_map_leaves(fn, d, tuples_as_lists) for d in data]
        return items if tuples_as_lists else type(data)(items)
    return fn(data)


def default_convert(data):
    """Arrays (and NumPy scalars) to Tensors, recursively through tuples, lists and dicts."""
    return _map_leaves(lambda x: Tensor._make(x) if backend.is_array(x) or isinstance(x, np.generic)
                       else x, data)


def _batch_to_tensors(batch):
    """A ``get_batch`` result to what ``default_collate`` would have built from its items
    (arrays become Tensors, tuples lists)."""
    return _map_leaves(lambda x: Tensor._make(x) if backend.is_array(x) else x, batch,
                       tuples_as_lists=True)


def _to_device(batch, device):
    return _map_leaves(lambda x: Tensor._make(backend.to_device(x.array, device))
                       if isinstance(x, Tensor) else x, batch)


class DataLoader:
    """Iterate over ``dataset`` in batches of Tensors.

    Args:
        dataset: a map-style data set (``__getitem__`` and ``__len__``).
        batch_size: items per batch; None yields single items (converted to Tensors).
        shuffle: a new random order every epoch (a :class:`RandomSampler`).
        sampler: the order of indices (exclusive with ``shuffle``).
        batch_sampler: yields whole lists of indices (exclusive with batch_size, shuffle,
            sampler and drop_last).
        num_workers: threads loading batches in parallel (0: one prefetch thread, or none).
        collate_fn: list of items -> batch; None uses :func:`default_collate` and enables the
            array fast path.
        drop_last: drop the last, incomplete batch.
        generator: a ``numpy.random.Generator`` (or int seed) for shuffling and random
            transforms; None uses ember's generator (``ember.manual_seed``).
        prefetch_factor: batches loaded ahead per worker thread; 0 with ``num_workers=0``
            loads synchronously.
        device: move every batch to this device in the loading thread (overlaps the copy).
        pin_memory, pin_memory_device: accepted for PyTorch's loops and kept as attributes;
            no effect (ember has no pinned host memory: use ``device=`` to copy batches to
            the GPU in the loading thread).
        persistent_workers: accepted (needs ``num_workers > 0``, as PyTorch); no effect:
            ember's worker threads are cheap to start each epoch.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, *, drop_last=False,
                 generator=None, prefetch_factor=2, device=None, persistent_workers=False,
                 pin_memory_device=""):
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ValueError("DataLoader: batch_sampler is mutually exclusive with batch_size, "
                             "shuffle, sampler and drop_last")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler is mutually exclusive with shuffle")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        prefetch_factor = 2 if prefetch_factor is None else prefetch_factor
        if num_workers < 0 or prefetch_factor < 0:
            raise ValueError(f"DataLoader: num_workers ({num_workers}) and prefetch_factor "
                             f"({prefetch_factor}) must be >= 0")
        generator = make_generator(generator)
        if sampler is None:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = batch_size if batch_sampler is None else getattr(
            batch_sampler, "batch_size", None)
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.device = None if device is None else backend.Device(device)
        self.pin_memory, self.pin_memory_device = pin_memory, pin_memory_device
        self.persistent_workers = persistent_workers

    def __len__(self):
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def __iter__(self):
        return _LoaderIterator(self)

    def fetch(self, indices):
        """The batch for a list of indices (the loader's work for one step, in any thread).

        An exception from the data set keeps its type and gains a note naming the index (or
        the batch's indices) that raised it.
        """
        if self.batch_sampler is None:  # no auto-batching: ``indices`` is a single index
            item = self._item(indices)
            batch = default_convert(item) if self.collate_fn is None else self.collate_fn(item)
        else:
            batch = self._fast_batch(indices) if self.collate_fn is None else NotImplemented
            if batch is NotImplemented:
                collate = self.collate_fn or default_collate
                batch = collate([self._item(i) for i in indices])
        return batch if self.device is None else _to_device(batch, self.device)

    def _item(self, index):
        try:
            return self.dataset[index]
        except Exception as e:
            _add_note(e, f"DataLoader: raised by the data set loading index {index}")
            raise

    def _fast_batch(self, indices):
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is None:
            return NotImplemented
        try:
            batch = get_batch(np.asarray(indices, dtype=np.int64))
        except Exception as e:
            shown = ", ".join(str(int(i)) for i in list(indices)[:16])
            more = f", ... ({len(indices)} in all)" if len(indices) > 16 else ""
            _add_note(e, f"DataLoader: raised by the data set loading the batch of indices "
                         f"[{shown}{more}]")
            raise
        return batch if batch is NotImplemented else _batch_to_tensors(batch)


def _add_note(e, note):
    """Attach ``note`` to exception ``e`` (shown under its message in tracebacks), keeping its
    type and attributes. Before Python 3.11 (no ``add_note``) the message is extended instead
    where the exception is a plain one-argument exception; otherwise it is left as is."""
    if hasattr(e, "add_note"):
        e.add_note(note)
    elif len(e.args) == 1 and isinstance(e.args[0], str) and not isinstance(e, KeyError):
        e.args = (f"{e.args[0]} ({note})",)


def _fetch(loader, seed, number, indices):
    """Batch ``number`` of an epoch, its random transforms drawn from its own stream. (A plain
    function: queued work must not hold the iterator, so that dropping it stops the threads.)"""
    with use_generator(derived_generator(seed, number)):
        return loader.fetch(indices)


class _LoaderIterator:
    """One epoch: indices come from the sampler in the calling thread; batches are fetched
    in the calling thread or a thread pool, and come back in order."""

    def __init__(self, loader):
        self._loader = loader
        self._seed = draw_seed(loader.generator)
        self._sampler_gen = derived_generator(self._seed, _SAMPLER_STREAM)
        sampler = loader.batch_sampler if loader.batch_sampler is not None else loader.sampler
        with use_generator(self._sampler_gen):
            self._indices = iter(sampler)
        self._count = 0
        threads = loader.num_workers or (1 if loader.prefetch_factor else 0)
        self._depth = max(loader.prefetch_factor, 1) * threads
        self._pool = ThreadPoolExecutor(threads, "ember-data") if threads else None
        self._pending = collections.deque()
        self._exhausted = self._closed = False

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def _next_indices(self):
        with use_generator(self._sampler_gen):
            indices = next(self._indices)
        self._count += 1
        return self._count - 1, indices

    def _fill(self):
        while not self._exhausted and len(self._pending) < self._depth:
            try:
                number, indices = self._next_indices()
            except StopIteration:
                self._exhausted = True
                return
            self._pending.append(self._pool.submit(_fetch, self._loader, self._seed, number,
                                                   indices))

    def __next__(self):
        if self._closed:
            raise StopIteration
        if self._pool is None:
            return _fetch(self._loader, self._seed, *self._next_indices())
        self._fill()
        if not self._pending:
            self.close()
            raise StopIteration
        future = self._pending.popleft()
        self._fill()
        try:
            return future.result()
        except BaseException:
            self.close()
            raise

    def close(self):
        """Cancel the batches loaded ahead and release the threads."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._exhausted = self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __del__(self):
        if hasattr(self, "_pool"):  # __init__ may have failed before creating it
            self.close()

