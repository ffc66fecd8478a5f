"""SyncBatchNorm: BatchNorm over the whole data-parallel batch. On 2 and 3 processes (inside
DDP, tests/distributed/_worker_ddp.py) parameters and running statistics equal BatchNorm on
the whole batch; in one process it is BatchNorm (against torch); convert_sync_batchnorm."""
import numpy as np
import pytest
from _mpi import assert_section
from _parity import check_module, import_torch

import ember
from ember import nn


@pytest.mark.parametrize("n", [2, 3])
def test_sync_batchnorm_equals_batchnorm_on_the_whole_batch(n):
    assert_section(n, "_worker_ddp.py", "sync_batchnorm")


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 4), (2, 3, 2, 2, 2)])
def test_one_process_is_batchnorm(shape):
    torch = import_torch()
    x = np.random.default_rng(0).standard_normal(shape)
    kind = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}[len(shape)]
    em, tm = nn.SyncBatchNorm(3).double(), getattr(torch.nn, kind)(3).double()
    check_module(em, tm, [x])
    assert np.allclose(em.running_var.numpy(), tm.running_var.numpy(), rtol=1e-12)
    em.eval()
    tm.eval()
    check_module(em, tm, [x])


def test_convert_sync_batchnorm_keeps_parameters_buffers_and_keys():
    torch = import_torch()
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, momentum=None),
                          nn.Sequential(nn.BatchNorm1d(4, affine=False)))
    model[1].running_mean.array[...] = 0.5
    model.eval()
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                                 torch.nn.Sequential(torch.nn.BatchNorm1d(4, affine=False)))
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    tsync = torch.nn.SyncBatchNorm.convert_sync_batchnorm(tmodel)
    assert list(sync.state_dict()) == list(tsync.state_dict())
    assert type(sync[1]) is nn.SyncBatchNorm and type(sync[2][0]) is nn.SyncBatchNorm
    assert sync[1].weight is model[1].weight and sync[1].running_mean is model[1].running_mean
    assert sync[1].momentum is None and not sync[1].training and sync[2][0].weight is None
    assert sync[0] is model[0]


def test_errors():
    with pytest.raises(ValueError, match=r"expected at least 2D input \(got 1D input\)"):
        nn.SyncBatchNorm(3)(ember.zeros(3))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, \*\), got shape "
                                         r"\(2, 4\)"):
        nn.SyncBatchNorm(3)(ember.zeros(2, 4))
