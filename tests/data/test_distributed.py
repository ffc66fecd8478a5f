"""DistributedSampler: PyTorch's shards (padding, drop_last) and, on 2 and 3 processes,
coverage of every index per epoch and a new order per epoch."""
import numpy as np
import pytest
from _mpi import assert_section
from _parity import import_torch

from ember.data import DistributedSampler


def test_shards_match_torch_without_shuffle():
    torch_sampler = import_torch().utils.data.distributed.DistributedSampler
    for n in range(1, 14):
        for replicas in (1, 2, 3, 4):
            for drop_last in (False, True):
                for rank in range(replicas):
                    ours = DistributedSampler(range(n), replicas, rank, shuffle=False,
                                              drop_last=drop_last)
                    theirs = torch_sampler(range(n), replicas, rank, shuffle=False,
                                           drop_last=drop_last)
                    assert list(ours) == list(theirs) and len(ours) == len(theirs)
                    assert ours.total_size == theirs.total_size


def test_shuffle_is_one_permutation_per_epoch_shared_by_the_ranks():
    shards = [DistributedSampler(range(10), 2, r, seed=5) for r in range(2)]
    first = [list(s) for s in shards]
    assert sorted(first[0] + first[1]) == list(range(10))
    assert [list(s) for s in shards] == first  # the same epoch repeats
    for s in shards:
        s.set_epoch(1)
    second = [list(s) for s in shards]
    assert second != first and sorted(second[0] + second[1]) == list(range(10))
    assert list(DistributedSampler(range(10), 2, 0, seed=6)) != first[0]
    assert all(isinstance(i, int) for i in first[0])


def test_padding_repeats_the_order_when_it_is_shorter_than_the_ranks():
    got = [list(DistributedSampler(range(2), 5, r, shuffle=False)) for r in range(5)]
    assert got == [[0], [1], [0], [1], [0]]
    assert np.concatenate(got).size == 5


def test_errors():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), 2, 2)
    with pytest.raises(ValueError, match="num_replicas must be a positive integer"):
        DistributedSampler(range(4), 0, 0)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))


@pytest.mark.parametrize("n", [2, 3])
def test_every_index_once_per_epoch_on_processes(n):
    assert_section(n, "_worker_collectives.py", "sampler")
