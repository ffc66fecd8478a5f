"""DataLoader: coverage of every index, seeded shuffling, drop_last, prefetch threads, fast path."""
import collections
import threading

import numpy as np
import pytest

import ember
from ember.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    default_convert,
)
from ember.data import transforms as T
from ember.data.dataset import ArrayDataset
from ember.tensor import Tensor


class Items(Dataset):
    """A plain data set (no fast path) that records which thread loaded each item."""

    def __init__(self, n):
        self.n, self.threads = n, set()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        self.threads.add(threading.current_thread().name)
        return np.full((2,), i, dtype=np.float32), i


def _indices(loader):
    return np.concatenate([b[1].numpy() for b in loader])


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("workers,prefetch", [(0, 0), (0, 2), (3, 1)])
def test_every_index_once_per_epoch(shuffle, workers, prefetch):
    loader = DataLoader(Items(103), batch_size=10, shuffle=shuffle, num_workers=workers,
                        prefetch_factor=prefetch)
    for _ in range(2):
        seen = _indices(loader)
        assert sorted(seen.tolist()) == list(range(103))
    assert len(loader) == 11


def test_sequential_order_and_batch_contents():
    batches = list(DataLoader(Items(7), batch_size=3))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    x, y = batches[0]
    assert x.shape == (3, 2) and x.dtype == ember.float32 and y.dtype == ember.int64
    assert np.array_equal(x.numpy()[:, 0], [0, 1, 2])


@pytest.mark.parametrize("n,bs,expected", [(10, 3, 3), (9, 3, 3), (2, 3, 0)])
def test_drop_last(n, bs, expected):
    loader = DataLoader(Items(n), batch_size=bs, drop_last=True, shuffle=True)
    batches = list(loader)
    assert len(loader) == len(batches) == expected
    assert all(len(b[1]) == bs for b in batches)
    assert len(DataLoader(Items(n), batch_size=bs)) == -(-n // bs)


def test_shuffle_is_reproducible_under_manual_seed():
    loader = DataLoader(Items(50), batch_size=8, shuffle=True)
    ember.manual_seed(3)
    first, second = _indices(loader), _indices(loader)
    ember.manual_seed(3)
    assert np.array_equal(_indices(loader), first)
    assert np.array_equal(_indices(loader), second)
    assert not np.array_equal(first, second)  # a new order every epoch
    assert not np.array_equal(first, np.arange(50))


def test_generator_argument_fixes_the_order():
    def run(seed):
        return _indices(DataLoader(Items(40), batch_size=7, shuffle=True, generator=seed))
    assert np.array_equal(run(5), run(np.random.default_rng(5)))
    assert not np.array_equal(run(5), run(6))
    ember.manual_seed(1)
    a = run(5)
    ember.manual_seed(2)
    assert np.array_equal(a, run(5))  # independent of the global seed


def _augmented(n=64):
    data = np.random.default_rng(0).integers(0, 256, (n, 12, 12), dtype=np.uint8)
    tf = T.Compose([T.ToTensor(), T.RandomCrop(10, padding=2), T.RandomHorizontalFlip(),
                    T.RandomErasing(p=0.5)])
    return ArrayDataset(data, np.arange(n) % 10, tf)


def _epoch(loader, seed):
    ember.manual_seed(seed)
    return [(x.numpy(), y.numpy()) for x, y in loader]


@pytest.mark.parametrize("workers,prefetch", [(0, 2), (0, 5), (2, 2), (4, 1)])
def test_prefetch_and_workers_give_identical_batches(workers, prefetch):
    ds = _augmented()
    sync = _epoch(DataLoader(ds, batch_size=10, shuffle=True, prefetch_factor=0), 7)
    threaded = _epoch(DataLoader(ds, batch_size=10, shuffle=True, num_workers=workers,
                                 prefetch_factor=prefetch), 7)
    assert len(sync) == len(threaded) == 7
    for (xa, ya), (xb, yb) in zip(sync, threaded):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)


def test_prefetch_really_uses_a_background_thread():
    ds = Items(30)
    list(DataLoader(ds, batch_size=4, collate_fn=default_collate))
    assert ds.threads and all(name.startswith("ember-data") for name in ds.threads)
    ds = Items(30)
    list(DataLoader(ds, batch_size=4, prefetch_factor=0))
    assert ds.threads == {threading.current_thread().name}


def test_fast_path_matches_item_path_and_skips_getitem():
    ds = ArrayDataset(np.arange(60, dtype=np.uint8).reshape(15, 2, 2), np.arange(15) % 3,
                      T.RandomHorizontalFlip())
    calls = []
    ds.__class__ = type("Counting", (ArrayDataset,), {
        "__getitem__": lambda self, i: calls.append(i) or ArrayDataset.__getitem__(self, i)})
    fast = _epoch(DataLoader(ds, batch_size=4, shuffle=True), 11)
    assert calls == []
    slow = _epoch(DataLoader(ds, batch_size=4, shuffle=True, collate_fn=default_collate), 11)
    assert len(calls) == 15
    for (xa, ya), (xb, yb) in zip(fast, slow):  # one random transform: same draws either way
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)


def test_fast_path_through_subset_and_concat():
    a = TensorDataset(np.arange(10.0), np.arange(10))
    b = TensorDataset(np.arange(10.0, 16.0), np.arange(10, 16))
    ds = Subset(ConcatDataset([a, b]), [15, 0, 11, 3, 9, 10])
    batch = next(iter(DataLoader(ds, batch_size=6)))
    assert isinstance(batch, list) and batch[1].tolist() == [15, 0, 11, 3, 9, 10]
    assert batch[0].dtype == ember.float64
    assert ds.get_batch(np.array([1, 0])) is not NotImplemented


def test_transform_without_batch_support_falls_back_to_items():
    ds = ArrayDataset(np.zeros((5, 2, 2), np.uint8), np.arange(5), lambda x: x + 1)
    assert ds.get_batch(np.arange(2)) is NotImplemented
    x, y = next(iter(DataLoader(ds, batch_size=5)))
    assert (x.numpy() == 1).all() and y.tolist() == [0, 1, 2, 3, 4]


def test_batch_size_none_and_samplers():
    loader = DataLoader(TensorDataset(np.arange(4)), batch_size=None)
    items = list(loader)
    assert len(loader) == 4 and isinstance(items[0], tuple) and items[2][0].item() == 2
    bs = BatchSampler(SequentialSampler(range(5)), 2, drop_last=False)
    loader = DataLoader(Items(5), batch_sampler=bs)
    assert [b[1].tolist() for b in loader] == [[0, 1], [2, 3], [4]]
    loader = DataLoader(Items(6), batch_size=3, sampler=RandomSampler(range(6), generator=0))
    assert sorted(_indices(loader).tolist()) == list(range(6))


@pytest.mark.parametrize("kwargs", [{"batch_sampler": [[0]], "batch_size": 2},
                                    {"batch_sampler": [[0]], "shuffle": True},
                                    {"sampler": [0, 1], "shuffle": True},
                                    {"num_workers": -1}])
def test_conflicting_arguments(kwargs):
    with pytest.raises(ValueError, match="DataLoader"):
        DataLoader(Items(3), **kwargs)


class Failing(Items):
    def __getitem__(self, i):
        if i == 5:
            raise KeyError("item 5 is broken")
        return super().__getitem__(i)


@pytest.mark.parametrize("workers,prefetch", [(0, 0), (0, 2), (2, 2)])
def test_errors_in_loading_reach_the_caller(workers, prefetch):
    it = iter(DataLoader(Failing(12), batch_size=2, num_workers=workers,
                         prefetch_factor=prefetch))
    assert next(it)[1].tolist() == [0, 1]
    next(it)
    with pytest.raises(KeyError, match="item 5 is broken"):
        next(it)


class _FailsAt(Dataset):
    def __init__(self, n, bad, error):
        self.n, self.bad, self.error = n, bad, error

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.bad:
            raise self.error
        return np.float64(i)


class _BatchFailsAt(TensorDataset):
    def get_batch(self, indices):
        if 17 in indices:
            raise ValueError("bad record")
        return super().get_batch(indices)


def _shown(e):
    import traceback
    return "".join(traceback.format_exception(e))


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("error", [ValueError("bad pixel"), OSError(5, "I/O error"),
                                   UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid byte")])
def test_an_error_from_the_dataset_names_the_index(workers, error):
    loader = DataLoader(_FailsAt(40, 17, error), batch_size=4, shuffle=True,
                        num_workers=workers)
    with pytest.raises(type(error)) as info:
        list(loader)
    assert info.value is error  # same object: type, args and attributes kept
    assert "index 17" in _shown(info.value)


@pytest.mark.parametrize("workers", [0, 2])
def test_an_error_from_a_batch_fetch_names_the_indices(workers):
    loader = DataLoader(_BatchFailsAt(np.arange(40.0)), batch_size=4, num_workers=workers)
    with pytest.raises(ValueError, match="bad record") as info:
        list(loader)
    assert "indices [16, 17, 18, 19]" in _shown(info.value)
    single = DataLoader(_FailsAt(40, 17, KeyError(17)), batch_size=None, num_workers=workers)
    with pytest.raises(KeyError) as info:
        list(single)
    assert "index 17" in _shown(info.value)


def test_breaking_out_early_releases_threads():
    for _ in range(5):
        for _ in DataLoader(Items(100), batch_size=2, num_workers=3):
            break  # dropping the iterator shuts its threads down, no garbage collection needed
    for thread in threading.enumerate():
        if thread.name.startswith("ember-data"):
            thread.join(timeout=5)
    assert not [t for t in threading.enumerate() if t.name.startswith("ember-data")]


def test_default_collate_structures():
    Point = collections.namedtuple("Point", "x y")
    batch = default_collate([{"a": 1, "b": (1.5, "s"), "p": Point(np.int32(1), Tensor([1.0]))},
                             {"a": 2, "b": (2.5, "t"), "p": Point(np.int32(2), Tensor([2.0]))}])
    assert batch["a"].dtype == ember.int64 and batch["a"].tolist() == [1, 2]
    assert batch["b"][0].dtype == ember.float64 and batch["b"][1] == ["s", "t"]
    assert isinstance(batch["p"], Point) and batch["p"].x.dtype == ember.int32
    assert batch["p"].y.shape == (2, 1)
    assert default_collate([True, False]).dtype == ember.bool
    with pytest.raises(RuntimeError, match="same number of fields"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(TypeError, match="collate_fn"):
        default_collate([object()])
    converted = default_convert({"x": np.ones(2), "n": 3})
    assert isinstance(converted["x"], Tensor) and converted["n"] == 3


def test_device_argument(device):
    loader = DataLoader(TensorDataset(np.arange(6.0)), batch_size=3, device=device)
    (x,) = next(iter(loader))
    assert x.device == ember.device(device)


@pytest.mark.filterwarnings("ignore:.pin_memory")
def test_pytorch_loader_arguments_are_accepted():
    torch = pytest.importorskip("torch")
    for m, loader_cls in ((ember, DataLoader), (torch, torch.utils.data.DataLoader)):
        data = m.utils.data.TensorDataset(m.arange(10)) if m is torch else \
            ember.data.TensorDataset(ember.arange(10))
        loader = loader_cls(data, batch_size=4, pin_memory=True, num_workers=1,
                            persistent_workers=True, prefetch_factor=3, pin_memory_device="")
        assert [b[0].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
        assert loader.pin_memory and loader.persistent_workers and loader.prefetch_factor == 3
        with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
            loader_cls(data, persistent_workers=True)
    assert DataLoader(ember.data.TensorDataset(ember.arange(3)), prefetch_factor=None)\
        .prefetch_factor == 2
