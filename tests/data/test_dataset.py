"""Dataset, TensorDataset, ArrayDataset, Subset, ConcatDataset, random_split and samplers."""
import numpy as np
import pytest

import ember
from ember.data import (
    ArrayDataset,
    BatchSampler,
    ConcatDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    random_split,
)
from ember.data import transforms as T


def test_tensor_dataset_items_and_batches():
    x, y = ember.randn(5, 3), ember.tensor([0, 1, 2, 3, 4])
    ds = TensorDataset(x, y)
    assert len(ds) == 5 and ds.tensors[0] is x
    xi, yi = ds[2]
    assert np.array_equal(xi.numpy(), x.numpy()[2]) and yi.item() == 2
    bx, by = ds.get_batch(np.array([4, 0]))
    assert np.array_equal(bx, x.numpy()[[4, 0]]) and by.tolist() == [4, 0]
    assert len(TensorDataset(np.zeros((3, 2)))) == 3


def test_tensor_dataset_size_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(5, 3\), \(4,\)"):
        TensorDataset(np.zeros((5, 3)), np.zeros(4))


def test_array_dataset():
    ds = ArrayDataset(np.arange(12, dtype=np.uint8).reshape(3, 2, 2), np.array([2, 0, 1]),
                      target_transform=lambda t: t * 10)
    x, y = ds[1]
    assert x.dtype == np.uint8 and y == 0 and ds[0][1] == 20
    assert ds.get_batch(np.arange(2)) is NotImplemented  # target_transform: item path
    ds.target_transform = None
    x, y = ds.get_batch(np.array([2, 0]))
    assert x.shape == (2, 2, 2) and y.tolist() == [1, 2]
    with pytest.raises(ValueError, match="3 items but 2 targets"):
        ArrayDataset(np.zeros((3, 2)), np.zeros(2))


def test_subset_and_concat():
    a, b = TensorDataset(np.arange(4)), TensorDataset(np.arange(10, 13))
    cat = a + b
    assert isinstance(cat, ConcatDataset) and len(cat) == 7
    assert [cat[i][0].item() for i in range(7)] == [0, 1, 2, 3, 10, 11, 12]
    assert cat[-1][0].item() == 12
    with pytest.raises(IndexError):
        cat[-8]
    batch = cat.get_batch(np.array([6, 0, 4, 3]))
    assert batch[0].tolist() == [12, 0, 10, 3]
    sub = Subset(cat, [5, 1])
    assert len(sub) == 2 and sub[0][0].item() == 11 and sub[[1, 0]][0][0].item() == 1
    assert Subset(range(5), [1]).get_batch(np.array([0])) is NotImplemented


def test_random_split_lengths_and_fractions():
    ds = TensorDataset(np.arange(10))
    parts = random_split(ds, [3, 7], generator=0)
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    again = random_split(ds, [3, 7], generator=np.random.default_rng(0))
    assert parts[0].indices == again[0].indices
    assert [len(p) for p in random_split(ds, [0.5, 0.3, 0.2])] == [5, 3, 2]
    assert [len(p) for p in random_split(range(11), [0.5, 0.5])] == [6, 5]  # PyTorch's rule
    ember.manual_seed(4)
    a = random_split(ds, [5, 5])[0].indices
    ember.manual_seed(4)
    assert random_split(ds, [5, 5])[0].indices == a
    with pytest.raises(ValueError, match="sum to"):
        random_split(ds, [3, 3])
    with pytest.raises(TypeError, match="generator"):
        random_split(ds, [5, 5], generator="seed")


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    rs = RandomSampler(range(20), generator=1)
    first, second = list(rs), list(rs)
    assert sorted(first) == list(range(20)) and first != second  # advances every epoch
    assert list(RandomSampler(range(20), generator=1)) == first
    ember.manual_seed(0)
    a = list(RandomSampler(range(20)))
    ember.manual_seed(0)
    assert list(RandomSampler(range(20))) == a
    many = list(RandomSampler(range(3), num_samples=7, generator=0))
    assert len(many) == 7 and sorted(many[:6]) == [0, 0, 1, 1, 2, 2]
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=0))
    assert len(drawn) == 50 and set(drawn) == {0, 1, 2}
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(range(3), num_samples=0)
    sub = list(SubsetRandomSampler([10, 20, 30], generator=0))
    assert sorted(sub) == [10, 20, 30] and len(SubsetRandomSampler([1, 2])) == 2


@pytest.mark.parametrize("n,bs,drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, True)])
def test_batch_sampler(n, bs, drop):
    batches = list(BatchSampler(range(n), bs, drop))
    assert len(batches) == len(BatchSampler(range(n), bs, drop))
    flat = [i for b in batches for i in b]
    assert flat == list(range(len(flat)))
    assert all(len(b) == bs for b in batches[:-1])
    if drop:
        assert all(len(b) == bs for b in batches)
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(range(3), 0, False)


def test_transformed_array_dataset_batch_matches_items():
    data = np.random.default_rng(0).integers(0, 256, (6, 5, 5), dtype=np.uint8)
    ds = ArrayDataset(data, np.arange(6), T.Compose([T.ToTensor(), T.Normalize(0.5, 0.25)]))
    x, _ = ds.get_batch(np.arange(6))
    items = np.stack([ds[i][0].numpy() for i in range(6)])
    assert x.shape == (6, 1, 5, 5) and np.allclose(x.numpy(), items)
