"""The GPU backend (CuPy) against the CPU one, beyond single ops: every layer family, the
losses, the model zoo, the optimizers, a training run and checkpoints give the same numbers
on "cuda" as on "cpu" (which the rest of the suite checks against PyTorch), in float64.

Skipped where CuPy sees no GPU. The op-level parity suite also runs on the GPU:
``EMBER_TEST_DEVICE=cuda python -m pytest tests/ops tests/nn``.
"""
from __future__ import annotations

import numpy as np
import pytest

import ember
from _parity import assert_close, host
from ember import nn

pytestmark = pytest.mark.skipif(not ember.cuda.is_available(),
                                reason="no CUDA device (CuPy with a GPU) here")

TOL = dict(rtol=1e-9, atol=1e-10)
GPU = "cuda"


def twins(make):
    """The same float64 module on the CPU and on the GPU (equal weights and buffers)."""
    ember.manual_seed(0)
    cpu = make().double()
    gpu = make().double()
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu.to(GPU)


def compare_forward_backward(make, shape, *, train=True, integer_input=None):
    """Forward and backward of ``make()`` on both devices: output, input gradient (float
    inputs) and every parameter's gradient must agree."""
    cpu, gpu = twins(make)
    cpu.train(train)
    gpu.train(train)
    rng = np.random.default_rng(0)
    x = rng.integers(0, integer_input, shape) if integer_input else rng.standard_normal(shape)
    floats = integer_input is None
    xc = ember.tensor(x, requires_grad=floats)
    xg = ember.tensor(x, requires_grad=floats, device=GPU)
    yc, yg = cpu(xc), gpu(xg)
    assert yg.device == ember.device(GPU)
    assert_close(host(yg), host(yc), what="output", **TOL)
    g = rng.standard_normal(tuple(yc.shape))
    (yc * ember.tensor(g)).sum().backward()
    (yg * ember.tensor(g, device=GPU)).sum().backward()
    if floats:
        assert_close(host(xg.grad), host(xc.grad), what="input gradient", **TOL)
    for (name, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert pg.grad.device == ember.device(GPU), name
        assert_close(host(pg.grad), host(pc.grad), what=f"gradient of {name}", **TOL)
    for (name, bc), (_, bg) in zip(cpu.named_buffers(), gpu.named_buffers()):
        assert_close(host(bg), host(bc), what=f"buffer {name}", **TOL)


LAYERS = {
    "linear": (lambda: nn.Linear(7, 5), (4, 7)),
    "bilinear": (lambda: nn.Bilinear(3, 3, 4), None),
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 11)),
    "conv2d": (lambda: nn.Conv2d(4, 6, 3, padding=1), (2, 4, 9, 9)),
    "conv2d_strided_dilated": (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2),
                               (2, 4, 11, 10)),
    "conv2d_groups": (lambda: nn.Conv2d(4, 8, 3, padding="same", groups=2), (2, 4, 7, 7)),
    "conv2d_depthwise": (lambda: nn.Conv2d(4, 4, 3, groups=4), (2, 4, 7, 7)),
    "conv3d": (lambda: nn.Conv3d(2, 3, 3, padding=1), (2, 2, 5, 5, 5)),
    "conv_transpose1d": (lambda: nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1), (2, 3, 6)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1,
                                                    output_padding=1), (2, 3, 5, 5)),
    "conv_transpose3d": (lambda: nn.ConvTranspose3d(2, 2, 2, stride=2), (1, 2, 3, 3, 3)),
    "maxpool1d": (lambda: nn.MaxPool1d(2), (2, 3, 10)),
    "maxpool2d": (lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 9, 9)),
    "maxpool3d": (lambda: nn.MaxPool3d(2), (1, 2, 4, 4, 4)),
    "minpool2d": (lambda: nn.MinPool2d(2), (2, 3, 8, 8)),
    "avgpool1d": (lambda: nn.AvgPool1d(3, stride=2), (2, 3, 11)),
    "avgpool2d": (lambda: nn.AvgPool2d(2), (2, 3, 8, 8)),
    "avgpool3d": (lambda: nn.AvgPool3d(2), (1, 2, 4, 4, 4)),
    "adaptive_avgpool2d": (lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
    "adaptive_maxpool2d": (lambda: nn.AdaptiveMaxPool2d(3), (2, 3, 7, 8)),
    "global_avgpool2d": (lambda: nn.GlobalAvgPool2d(), (2, 3, 5, 5)),
    "upsample_nearest": (lambda: nn.Upsample(scale_factor=2), (2, 3, 4, 4)),
    "upsample_bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear",
                                              align_corners=False), (2, 3, 4, 5)),
    "batchnorm1d": (lambda: nn.BatchNorm1d(5), (6, 5)),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), (4, 3, 5, 5)),
    "batchnorm3d": (lambda: nn.BatchNorm3d(2), (2, 2, 3, 3, 3)),
    "layernorm": (lambda: nn.LayerNorm((4, 5)), (3, 4, 5)),
    "groupnorm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "local_response_norm": (lambda: nn.LocalResponseNorm(3), (2, 5, 4, 4)),
    "embedding": (lambda: nn.Embedding(10, 4, padding_idx=0), None),
    "prelu": (lambda: nn.PReLU(3), (2, 3, 4)),
    "maxout": (lambda: nn.Maxout(6, 4, 3), (5, 6)),
    "activations": (lambda: nn.Sequential(
        nn.ELU(), nn.GELU(), nn.LeakyReLU(0.1), nn.SELU(), nn.SiLU(), nn.Softplus(),
        nn.Hardtanh(), nn.ReLU6(), nn.Tanh(), nn.Sigmoid(), nn.Softmax(dim=1),
        nn.LogSoftmax(dim=1)), (3, 6)),
    "activations_more": (lambda: nn.Sequential(
        nn.Mish(), nn.Hardswish(), nn.Hardsigmoid(), nn.CELU(0.5), nn.Softsign(),
        nn.LogSigmoid(), nn.Threshold(0.1, 0.5), nn.Hardshrink(0.2), nn.Softshrink(0.1),
        nn.Tanhshrink(), nn.Softmin(dim=1)), (3, 6)),
    "glu": (lambda: nn.GLU(dim=1), (3, 6)),
    "shuffles": (lambda: nn.Sequential(nn.PixelShuffle(2), nn.PixelUnshuffle(2),
                                       nn.ChannelShuffle(2)), (2, 8, 3, 3)),
    "padding": (lambda: nn.Sequential(
        nn.ReflectionPad2d(1), nn.ReplicationPad2d((1, 0, 2, 1)), nn.CircularPad2d(1),
        nn.ZeroPad2d(1), nn.ConstantPad2d(1, 0.5)), (2, 3, 4, 4)),
    "flatten_unflatten": (lambda: nn.Sequential(nn.Flatten(), nn.Unflatten(1, (2, 6))),
                          (3, 3, 4)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_layer_matches_cpu(name, train):
    make, shape = LAYERS[name]
    if name == "bilinear":
        cpu, gpu = twins(make)
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
        yc = cpu(ember.tensor(a), ember.tensor(b))
        yg = gpu(ember.tensor(a, device=GPU), ember.tensor(b, device=GPU))
        assert_close(host(yg), host(yc), what="output", **TOL)
    elif name == "embedding":
        compare_forward_backward(make, (3, 6), train=train, integer_input=10)
    else:
        compare_forward_backward(make, shape, train=train)


@pytest.mark.parametrize("momentum", [0.3, None], ids=["momentum", "cumulative"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("track", [True, False], ids=["running", "batch-only"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_batch_norm_kernels_match_cpu(monkeypatch, affine, track, train, momentum):
    """Batch norm's fused CuPy kernels (``ember/kernels/cuda_norm.py``) against the CPU's NumPy
    formulation, for every flag that changes their arguments; the kernels must be the ones
    that ran."""
    from ember.kernels import cuda_norm as _cuda_norm
    calls = []
    for name in ("batch_forward", "running_forward", "batch_backward"):
        fn = getattr(_cuda_norm, name)
        monkeypatch.setattr(_cuda_norm, name,
                            lambda *a, _fn=fn, _name=name, **k: calls.append(_name) or _fn(*a, **k))
    compare_forward_backward(
        lambda: nn.BatchNorm2d(4, momentum=momentum, affine=affine,
                               track_running_stats=track),
        (3, 4, 5, 6), train=train)
    batch_stats = train or not track
    assert calls == (["batch_forward", "batch_backward"] if batch_stats else ["running_forward"])


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_batch_norm_kernels_in_float32(train):
    """float32 through the fused kernels: close to the float64 CPU result."""
    ember.manual_seed(0)
    cpu = nn.BatchNorm2d(8).double()
    cpu.running_var.data[...] = np.linspace(0.5, 2.0, 8)
    gpu = nn.BatchNorm2d(8)
    gpu.load_state_dict(cpu.state_dict())
    gpu.float().to(GPU)
    cpu.train(train)
    gpu.train(train)
    x = np.random.default_rng(1).standard_normal((16, 8, 7, 7)) * 3 + 1
    xc = ember.tensor(x, requires_grad=True)
    xg = ember.tensor(x.astype(np.float32), device=GPU, requires_grad=True)
    yc, yg = cpu(xc), gpu(xg)
    assert yg.dtype == ember.float32
    g = np.random.default_rng(2).standard_normal(x.shape)
    (yc * ember.tensor(g)).sum().backward()
    (yg * ember.tensor(g.astype(np.float32), device=GPU)).sum().backward()
    assert_close(host(yg), host(yc), what="output", rtol=1e-5, atol=1e-5)
    assert_close(host(xg.grad), host(xc.grad), what="input gradient", rtol=1e-4, atol=1e-5)
    for name in ("weight", "bias"):
        assert_close(host(getattr(gpu, name).grad), host(getattr(cpu, name).grad),
                     what=f"gradient of {name}", rtol=1e-4, atol=1e-4)
    assert_close(host(gpu.running_var), host(cpu.running_var), what="running_var",
                 rtol=1e-5, atol=1e-6)


def test_batch_norm_statistics_on_another_device_is_a_clear_error():
    x = ember.tensor(np.ones((4, 3)), device=GPU)
    with pytest.raises(ValueError, match=r"batch_norm: expected all tensors on one device, "
                       r"got input on cuda:0, running_mean on cpu and running_var on cpu"):
        nn.functional.batch_norm(x, ember.zeros(3).double(), ember.ones(3).double())


def test_max_unpool_round_trip_matches_cpu():
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6))
    outs = []
    for device in ("cpu", GPU):
        t = ember.tensor(x, device=device, requires_grad=True)
        y, idx = nn.functional.max_pool2d(t, 2, return_indices=True)
        z = nn.MaxUnpool2d(2)(y, idx)
        z.sum().backward()
        outs.append((host(z), host(t.grad), host(idx)))
    for got, want in zip(outs[1], outs[0]):
        assert_close(got, want, **TOL)


def test_dropout_on_gpu_keeps_expectation():
    x = ember.ones(200_000, device=GPU)
    y = nn.Dropout(0.3)(x)
    kept = host(y) != 0
    assert y.device == ember.device(GPU)
    assert abs(kept.mean() - 0.7) < 0.01
    assert np.allclose(host(y)[kept], 1 / 0.7)


LOSSES = {
    "cross_entropy": (nn.CrossEntropyLoss(label_smoothing=0.1), "class"),
    "nll": (nn.NLLLoss(), "class"),
    "mse": (nn.MSELoss(), "same"),
    "l1": (nn.L1Loss(), "same"),
    "smooth_l1": (nn.SmoothL1Loss(), "same"),
    "huber": (nn.HuberLoss(delta=0.5), "same"),
    "bce_logits": (nn.BCEWithLogitsLoss(), "prob"),
    "kl_div": (nn.KLDivLoss(reduction="batchmean"), "prob"),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_matches_cpu(name):
    loss, target_kind = LOSSES[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5))
    target = {"class": rng.integers(0, 5, 6), "same": rng.standard_normal((6, 5)),
              "prob": rng.uniform(size=(6, 5))}[target_kind]
    values, grads = [], []
    for device in ("cpu", GPU):
        t = ember.tensor(x, device=device, requires_grad=True)
        out = loss(t, ember.tensor(target, device=device))
        out.backward()
        values.append(host(out))
        grads.append(host(t.grad))
    assert_close(values[1], values[0], **TOL)
    assert_close(grads[1], grads[0], **TOL)


MODELS = {  # (input shape, kwargs, train mode: not with dropout, whose masks differ by device)
    "lenet5": ((2, 1, 32, 32), {"c3_table": True}, True),
    "resnet20": ((2, 3, 32, 32), {}, True),
    "vgg_small_bn": ((2, 1, 28, 28), {}, False),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_zoo_matches_cpu(name):
    shape, kwargs, train = MODELS[name]
    compare_forward_backward(lambda: ember.models.get_model(name, **kwargs), shape, train=train)


OPTIMIZERS = {
    "sgd": lambda p: ember.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True,
                                     weight_decay=1e-3),
    "adam": lambda p: ember.optim.Adam(p, lr=0.01, amsgrad=True),
    "adamw": lambda p: ember.optim.AdamW(p, lr=0.01),
    "rmsprop": lambda p: ember.optim.RMSprop(p, lr=0.01, momentum=0.5),
    "adagrad": lambda p: ember.optim.Adagrad(p, lr=0.1),
    "adadelta": lambda p: ember.optim.Adadelta(p),
    "nadam": lambda p: ember.optim.NAdam(p, lr=0.01),
    "radam": lambda p: ember.optim.RAdam(p, lr=0.01),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_steps_match_cpu(name):
    cpu, gpu = twins(lambda: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 6)), rng.integers(0, 3, 16)
    for model, device in ((cpu, "cpu"), (gpu, GPU)):
        opt = OPTIMIZERS[name](model.parameters())
        sched = ember.optim.lr_scheduler.StepLR(opt, 2, gamma=0.5)
        for _ in range(4):
            opt.zero_grad()
            nn.functional.cross_entropy(model(ember.tensor(x, device=device)),
                                        ember.tensor(y, device=device)).backward()
            opt.step()
            sched.step()
    for (n, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert_close(host(pg), host(pc), what=n, **TOL)


def test_trainer_and_checkpoint_round_trip_on_gpu(tmp_path):
    """A few epochs with the Trainer on "cuda", a checkpoint written from GPU tensors, read
    back onto the CPU and onto the GPU with identical values."""
    from ember.data import DataLoader, TensorDataset
    from ember.train.trainer import Trainer

    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    loader = DataLoader(TensorDataset(ember.tensor(x), ember.tensor(y)), batch_size=32,
                        shuffle=True)
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2)).to(GPU)
    trainer = Trainer(model, nn.CrossEntropyLoss(),
                      ember.optim.Adam(model.parameters(), lr=0.05), device=GPU,
                      progress=False)
    trainer.fit(loader, epochs=15)
    assert trainer.evaluate(loader)["accuracy"] > 0.9
    path = tmp_path / "model.ember"
    ember.save(model.state_dict(), path)
    for device in ("cpu", GPU):
        state = ember.load(path, map_location=device)
        for k, v in model.state_dict().items():
            assert state[k].device == ember.device(device), k
            assert np.array_equal(host(state[k]), host(v)), k


def test_mixed_devices_raise_errors_that_name_both():
    x = ember.randn(2, 3, device=GPU)
    with pytest.raises(ValueError, match="expected all tensors on one device, got cpu and "
                                         "cuda:0"):
        nn.Linear(3, 2)(x)
    with pytest.raises(ValueError, match=r"target is on cpu but input is on cuda:0"):
        nn.functional.cross_entropy(x, ember.tensor([0, 1]))
    with pytest.raises(ValueError, match="where: condition is on cpu but the values are on "
                                         "cuda:0"):
        ember.where(ember.tensor([True, False, True]), x, 0.0)
