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
@pytest.mark.parametrize("name", ["ddp", "buckets", "no_sync", "broadcast_buffers",
                                  "find_unused", "unused_error", "marked_twice"])
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
    with pytest.raises(RuntimeError, match=r"Expected to mark a variable ready only once.*2\.weight"):
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


def test_unused_and_frozen_parameters():
    class Partly(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused, self.frozen = nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2)
            self.frozen.requires_grad_(False)

        def forward(self, x):
            return self.used(self.frozen(x))
    model = Partly()
    ddp = DDP(model, process_group=loopback_group(), find_unused_parameters=True)
    assert sum(ddp.bucket_sizes) == 4  # the frozen layer is not reduced
    for _ in range(2):
        ddp(ember.randn(3, 2)).sum().backward()
        assert model.used.weight.grad is not None and model.unused.weight.grad is None
        assert model.frozen.weight.grad is None


@pytest.mark.parametrize("overlap", [True, False])
def test_buckets_start_during_backward_as_they_fill(overlap):
    model = _model()
    group = loopback_group()
    seen = []  # how many parameters held a gradient when each all-reduce started
    started = group.backend.allreduce

    def spy(buf, op):
        seen.append(sum(p.grad is not None for p in model.parameters()))
        return started(buf, op)
    group.backend.allreduce = spy
    ddp = DDP(model, process_group=group, bucket_cap_mb=0.0001, overlap=overlap)
    ddp(ember.randn(5, 4, dtype=ember.float64)).sum().backward()
    # one bucket per parameter, last layer's bias first. A Linear's backward delivers the
    # weight's gradient, then the bias's: with overlap the last layer's two buckets start
    # once its bias gradient is final (its weight's is stored), before the first layer's
    # gradients exist; without overlap all four start at the end
    assert seen == ([1, 1, 3, 3] if overlap else [3, 3, 3, 3])
    assert all(p.grad is not None for p in model.parameters())


class Partly(nn.Module):
    """``used`` takes part in the output, ``unused`` does not."""

    def __init__(self):
        super().__init__()
        self.used, self.unused = nn.Linear(2, 2).double(), nn.Linear(2, 2).double()

    def forward(self, x):
        return self.used(x)


def test_unused_parameters_without_the_flag_raise_naming_them():
    ddp = DDP(Partly(), process_group=loopback_group())
    x = ember.randn(3, 2, dtype=ember.float64)
    with pytest.raises(RuntimeError, match=r"unused\.weight \(index 2\), unused\.bias .*"
                                           r"find_unused_parameters=True"):
        ddp(x).sum().backward()
    # as PyTorch, the next forward refuses to start while the reduction is unfinished
    with pytest.raises(RuntimeError, match=r"Expected to have finished reduction in the prior "
                                           r"iteration.*unused\.weight"):
        ddp(x)
    with ember.no_grad():  # an evaluation forward checks nothing
        ddp(x)


def test_find_unused_parameters_keeps_grads_of_globally_unused_untouched():
    model = Partly()
    ref = Partly()
    ref.load_state_dict(model.state_dict())
    ddp = DDP(model, process_group=loopback_group(), find_unused_parameters=True)
    x = ember.randn(3, 2, dtype=ember.float64)
    model.unused.weight.grad = ember.ones(2, 2, dtype=ember.float64)  # a stale gradient
    out = ddp(x)
    model.zero_grad()  # the Trainer's order: forward, zero_grad, backward
    out.square().sum().backward()
    ref(x).square().sum().backward()
    assert model.unused.weight.grad is None and model.unused.bias.grad is None
    assert np.allclose(model.used.weight.grad.numpy(), ref.used.weight.grad.numpy(),
                       rtol=1e-14, atol=0)
    model.unused.weight.grad = ember.ones(2, 2, dtype=ember.float64)
    ddp(x).sum().backward()  # not zeroed: unused on every rank, left as it was
    assert np.array_equal(model.unused.weight.grad.numpy(), np.ones((2, 2)))


def test_a_second_backward_through_one_forward_raises_naming_the_parameter():
    model = _model()
    ddp = DDP(model, process_group=loopback_group())
    loss = ddp(ember.randn(2, 4, dtype=ember.float64)).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match=r"Expected to mark a variable ready only once\. "
                                           r"Parameter 2\.weight \(index 2\) received a gradient "
                                           r"after this backward's reduction had finished"):
        loss.backward()
    # a parameter the forward's graph does not lead to, used outside it
    ddp = DDP(Partly(), process_group=loopback_group(), find_unused_parameters=True)
    out = ddp(ember.randn(3, 2, dtype=ember.float64))
    with pytest.raises(RuntimeError, match=r"unused\.weight .*forward's graph did not lead to"):
        (out.sum() + ddp.module.unused.weight.sum()).backward()


def test_the_forward_decides_whether_its_backward_is_reduced():
    model = _model()
    group = loopback_group()
    calls = []
    started = group.backend.allreduce
    group.backend.allreduce = lambda buf, op: calls.append(op) or started(buf, op)
    ddp = DDP(model, process_group=group)
    x = ember.randn(2, 4, dtype=ember.float64)
    with ddp.no_sync():
        out = ddp(x)
    out.sum().backward()  # a no_sync forward: local, even with the backward outside
    assert calls == []
    out = ddp(x)
    with ddp.no_sync():
        out.sum().backward()  # a synced forward: reduced, as PyTorch
    assert calls == ["sum"]
    with pytest.raises(RuntimeError, match="without a new forward"):
        model(x).sum().backward()  # the wrapped module called directly, after a step
    with ddp.no_sync():
        model(x).sum().backward()  # ... asked to be local
    assert calls == ["sum"]
