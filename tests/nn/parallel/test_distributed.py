"""DistributedDataParallel: on 2 and 3 processes (mpirun, tests/distributed/_worker_ddp.py)
the parameters after k SGD steps with each rank on its shard equal one process on the whole
batch (float64 to 1e-12, float32 to 2e-6), with one bucket or many, with and without overlap,
with no_sync accumulation; in this process (a one-rank loopback group) the bookkeeping and
the errors."""
import numpy as np
import pytest
from _mpi import assert_section, loopback_group

import ember
from ember import nn
from ember.nn.parallel import DistributedDataParallel as DDP


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", ["ddp", "buckets", "no_sync", "broadcast_buffers"])
def test_ddp_equals_one_process_on_the_global_batch(n, name):
    assert_section(n, "_worker_ddp.py", name)


def _model():
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def test_one_rank_gives_the_plain_gradients():
    model, ref = _model(), _model()
    ref.load_state_dict(model.state_dict())
    ddp = DDP(model, process_group=loopback_group(), bucket_cap_mb=0.0001)
    assert ddp.bucket_sizes == [1, 1, 1, 1]  # one parameter each, last layer first
    x = ember.randn(5, 4, dtype=ember.float64)
    for _ in range(2):  # the second backward starts from the gradients of the first
        ddp(x).square().sum().backward()
        ref(x).square().sum().backward()
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert np.allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-14, atol=0), name
    assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]
    with ddp.no_sync():
        ddp(x).sum().backward()
    assert ddp.require_backward_grad_sync


def test_a_parameter_used_twice_is_reduced_once_its_gradients_are_summed():
    lin = nn.Linear(3, 3).double()
    model = nn.Sequential(lin, nn.Tanh(), lin)
    ref = nn.Sequential(nn.Linear(3, 3).double(), nn.Tanh())
    ref[0].load_state_dict(lin.state_dict())
    ddp = DDP(model, process_group=loopback_group())
    x = ember.randn(4, 3, dtype=ember.float64)
    ddp(x).sum().backward()
    ref[0](ref(x)).sum().backward()
    assert np.allclose(lin.weight.grad.numpy(), ref[0].weight.grad.numpy(), rtol=1e-14)


def test_errors():
    with pytest.raises(TypeError, match="must be an ember.nn.Module"):
        DDP(lambda x: x, process_group=loopback_group())
    with pytest.raises(ValueError, match="init_process_group"):
        DDP(_model())
    # a gradient from outside the forward, after the parameter's all-reduce
    model = _model()
    ddp = DDP(model, process_group=loopback_group())
    x = ember.randn(2, 4, dtype=ember.float64)
    with pytest.raises(RuntimeError, match="received a gradient after its all-reduce"):
        (ddp(x).sum() + model[2].weight.sum() * 0 + model[2].weight.sum()).backward()
    # a backward that reached only part of the parameters, then a new forward

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.a(x), self.b(x)
    ddp = DDP(TwoHeads(), process_group=loopback_group())
    a, _ = ddp(ember.randn(3, 2))
    a.sum().backward()
    with pytest.raises(RuntimeError, match=r"finished reduction in the prior iteration.*b\."):
        ddp(ember.randn(3, 2))
