"""The autoencoders of ember/models/autoencoder.py: shapes, encode/decode round trips, error
paths, and PyTorch twins built here giving the same outputs, loss and gradients after copying
the weights (float64)."""
import numpy as np
import pytest

import ember
from ember import models
from tests._parity import assert_close, check_module, copy_from_torch, import_torch


def torch_mlp_ae(torch, features=784, hidden=128, code=32, shape=(1, 28, 28)):
    nn = torch.nn
    m = nn.Module()
    m.encoder = nn.Sequential(nn.Flatten(), nn.Linear(features, hidden), nn.ReLU(),
                              nn.Linear(hidden, code))
    m.decoder = nn.Sequential(nn.Linear(code, hidden), nn.ReLU(), nn.Linear(hidden, features),
                              nn.Sigmoid(), nn.Unflatten(1, shape))
    m.forward = lambda x: m.decoder(m.encoder(x))
    return m


def torch_conv_ae(torch, c=1, width=32):
    nn = torch.nn
    m = nn.Module()
    m.encoder = nn.Sequential(nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    m.decoder = nn.Sequential(
        nn.ConvTranspose2d(width, width, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(width, width, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.Conv2d(width, c, 3, padding=1), nn.Sigmoid())
    m.forward = lambda x: m.decoder(m.encoder(x))
    return m


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape)


@pytest.mark.parametrize("name, kwargs, code", [
    ("mlp_autoencoder", {}, (32,)),
    ("mlp_autoencoder", {"code_size": 2, "hidden_sizes": (64, 16), "in_channels": 3,
                         "input_size": 8}, (2,)),
    ("conv_autoencoder", {}, (32, 7, 7)),
    ("conv_autoencoder", {"channels": (8, 4, 6), "in_channels": 3, "input_size": 16},
     (6, 2, 2)),
    ("denoising_autoencoder", {"noise": 0.3}, (32, 7, 7)),
])
def test_shapes_and_round_trip(name, kwargs, code):
    m = models.get_model(name, **kwargs).eval()
    shape = m.input_shape
    x = ember.rand(3, *shape)
    m.requires_grad_(False)
    z = m.encode(x)
    assert tuple(z.shape) == (3, *code) == (3, *m.code_shape)
    y = m.decode(z)
    assert tuple(y.shape) == (3, *shape)
    assert np.array_equal(m(x).numpy(), y.numpy())  # forward is decode(encode(x))
    assert 0 <= y.numpy().min() and y.numpy().max() <= 1  # a sigmoid out
    assert tuple(m.anomaly_score(x).shape) == (3,)


def test_parameter_counts_and_keys():
    assert sum(p.numel() for p in models.conv_autoencoder().parameters()) == 28353
    assert sum(p.numel() for p in models.mlp_autoencoder().parameters()) == \
        2 * (784 * 128 + 128 * 32) + 128 + 32 + 128 + 784
    assert list(models.denoising_autoencoder().state_dict()) == \
        list(models.conv_autoencoder().state_dict())
    assert models.denoising_autoencoder().noise == 0.4


@pytest.mark.parametrize("which", ["mlp", "conv"])
def test_parity_with_pytorch_twin(which):
    torch = import_torch()
    torch.manual_seed(0)
    if which == "mlp":
        em, tm = models.mlp_autoencoder(), torch_mlp_ae(torch)
        x = _images((4, 1, 28, 28))
    else:
        em = models.conv_autoencoder(in_channels=1, input_size=12, channels=(5, 5))
        tm = torch_conv_ae(torch, width=5)
        x = _images((2, 1, 12, 12))
    em.double()
    tm.double()
    check_module(em, tm, [x])  # outputs, input gradient, parameter gradients
    # the training loss (the model's own) and its gradients
    for p in em.parameters():
        p.grad = None
    tm.zero_grad()
    el = em.loss_function()(em(ember.tensor(x)), ember.tensor(x))
    tx = torch.tensor(x)
    fn = torch.nn.MSELoss() if which == "mlp" else torch.nn.BCELoss()
    tl = fn(tm(tx), tx)
    el.backward()
    tl.backward()
    assert_close(el.item(), tl.item(), 1e-12, 1e-12, "loss")
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(ep.grad.numpy(), tp.grad.numpy(), 1e-10, 1e-10, f"gradient of {n}")


def test_encode_decode_agree_with_twin_halves():
    torch = import_torch()
    em, tm = models.conv_autoencoder(input_size=8, channels=(3, 4)).double(), \
        torch_conv_ae(torch, width=3).double()
    tm.encoder[3] = torch.nn.Conv2d(3, 4, 3, padding=1).double()
    tm.decoder[0] = torch.nn.ConvTranspose2d(4, 4, 3, 2, 1, 1).double()
    tm.decoder[2] = torch.nn.ConvTranspose2d(4, 3, 3, 2, 1, 1).double()
    tm.decoder[4] = torch.nn.Conv2d(3, 1, 3, padding=1).double()
    copy_from_torch(em, tm)
    x = _images((2, 1, 8, 8))
    with ember.no_grad(), torch.no_grad():
        z = em.encode(ember.tensor(x))
        assert_close(z.numpy(), tm.encoder(torch.tensor(x)).numpy(), 1e-12, 1e-12, "code")
        assert_close(em.decode(z).numpy(), tm.decoder(torch.tensor(z.numpy())).numpy(),
                     1e-12, 1e-12, "decode")


def test_wrong_shapes_name_the_model_and_both_shapes():
    m = models.mlp_autoencoder(code_size=8)
    with pytest.raises(ValueError, match=r"MLPAutoencoder.decode: expected a code of shape "
                                         r"\(N, 8\), got \(4, 16\)"):
        m.decode(ember.zeros(4, 16))
    with pytest.raises(ValueError, match=r"MLPAutoencoder.encode: expected an input of shape "
                                         r"\(N, 1, 28, 28\), got \(2, 1, 32, 32\)"):
        m.encode(ember.zeros(2, 1, 32, 32))
    c = models.conv_autoencoder()
    with pytest.raises(ValueError, match=r"ConvAutoencoder.decode: expected a code of shape "
                                         r"\(N, 32, 7, 7\), got \(4, 16, 7, 7\)"):
        c.decode(ember.zeros(4, 16, 7, 7))
    with pytest.raises(ValueError, match=r"ConvAutoencoder.*encode.*\(N, 1, 28, 28\), got "
                                         r"\(1, 3, 28, 28\)"):
        c(ember.zeros(1, 3, 28, 28))  # through Module.__call__: the layer is named too
    with pytest.raises(ValueError, match=r"DenoisingAutoencoder.decode"):
        models.denoising_autoencoder().decode(ember.zeros(1, 32))


@pytest.mark.parametrize("build, err", [
    (lambda: models.ConvAutoencoder(input_size=30),
     "ConvAutoencoder: input_size 30 is not divisible by 4"),
    (lambda: models.ConvAutoencoder(channels=()), "ConvAutoencoder: channels"),
    (lambda: models.MLPAutoencoder(code_size=0), "MLPAutoencoder: code_size"),
    (lambda: models.MLPAutoencoder(loss="l1"), "MLPAutoencoder: loss must be one of"),
    (lambda: models.MLPAutoencoder(in_channels=0), "MLPAutoencoder: in_channels"),
    (lambda: models.DenoisingAutoencoder(noise=0), "DenoisingAutoencoder: noise must be > 0"),
])
def test_bad_arguments(build, err):
    with pytest.raises(ValueError, match=err):
        build()


def test_builders_carry_their_task():
    from ember.train.autoencode import task_of
    assert task_of("conv_autoencoder") == task_of("mlp_autoencoder") == "reconstruction"
    assert task_of("denoising_autoencoder") == "reconstruction"
    assert task_of("lenet5") == "classification"
