"""The VAE and conditional VAE (ember/models/vae.py): the reparameterisation gradient against
finite differences, the ELBO's terms against closed forms and torch.distributions, PyTorch's
example VAE built here giving the same loss and gradients after copying weights, shapes and
error paths."""
import importlib
import math

import numpy as np
import pytest

import ember
from ember import models
from tests._parity import assert_close, check_grad, check_op, copy_from_torch, import_torch

vae_module = importlib.import_module("ember.models.vae")  # ember.models.vae is the builder


def torch_vae(torch, features=784, hidden=400, code=20, classes=0):
    """PyTorch's example VAE (pytorch/examples vae/main.py), optionally conditional."""
    nn, F = torch.nn, torch.nn.functional

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(features + classes, hidden)
            self.fc21 = nn.Linear(hidden, code)
            self.fc22 = nn.Linear(hidden, code)
            self.fc3 = nn.Linear(code + classes, hidden)
            self.fc4 = nn.Linear(hidden, features)

        def forward(self, x, eps, y=None):
            h = x.flatten(1)
            if classes:
                onehot = F.one_hot(y, classes).to(x.dtype)
                h = torch.cat([h, onehot], 1)
            h = F.relu(self.fc1(h))
            mu, logvar = self.fc21(h), self.fc22(h)
            z = mu + eps * torch.exp(0.5 * logvar)
            if classes:
                z = torch.cat([z, onehot], 1)
            return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))).view(x.shape), mu, logvar
    return VAE()


def torch_loss(torch, out, x):
    recon, mu, logvar = out
    bce = torch.nn.functional.binary_cross_entropy(recon, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (bce + kld) / len(x)


@pytest.fixture
def fixed_eps(monkeypatch):
    """Make the VAE's draw of eps a given array (the twin gets the same one)."""
    holder = {}

    def reparameterize(mu, logvar):
        return mu + ember.tensor(holder["eps"], dtype=mu.dtype) * (0.5 * logvar).exp()
    monkeypatch.setattr(vae_module, "reparameterize", reparameterize)
    return holder


@pytest.mark.parametrize("conditional", [False, True])
def test_parity_with_pytorch_example(fixed_eps, conditional):
    torch = import_torch()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    classes = 3 if conditional else 0
    tm = torch_vae(torch, features=2 * 6 * 6, hidden=7, code=4, classes=classes).double()
    em = (models.cvae(num_classes=3, in_channels=2, input_size=6, code_size=4, hidden=7)
          if conditional else models.vae(in_channels=2, input_size=6, code_size=4, hidden=7))
    assert list(em.state_dict()) == list(tm.state_dict())  # the example's keys
    copy_from_torch(em.double(), tm)
    x = rng.uniform(0, 1, (5, 2, 6, 6))
    y = np.array([0, 2, 1, 1, 0])
    fixed_eps["eps"] = eps = rng.standard_normal((5, 4))
    args = (ember.tensor(x), ember.tensor(y)) if conditional else (ember.tensor(x),)
    out = em(*args)
    tout = tm(torch.tensor(x), torch.tensor(eps), torch.tensor(y) if conditional else None)
    for e, t, what in zip(out, tout, ("recon", "mu", "logvar")):
        assert_close(e.detach().numpy(), t.detach().numpy(), 1e-12, 1e-12, what)
    loss = em.loss_function()(out, ember.tensor(x))
    tl = torch_loss(torch, tout, torch.tensor(x))
    loss.backward()
    tl.backward()
    assert_close(loss.item(), tl.item(), 1e-12, 1e-12, "negative ELBO")
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(ep.grad.numpy(), tp.grad.numpy(), 1e-10, 1e-10, f"gradient of {n}")


def test_reparameterisation_gradient_by_finite_differences():
    def f(mu, logvar):
        ember.manual_seed(7)  # the same eps on every call
        z = vae_module.reparameterize(mu, logvar)
        return (z * z.sin()).sum()
    check_grad(f, shapes=[(3, 4), (3, 4)], low=-1.5, high=1.5)
    # and the closed form: dz/dmu = 1, dz/dlogvar = eps exp(logvar / 2) / 2
    mu = ember.zeros(2, 3, requires_grad=True)
    logvar = ember.full((2, 3), 0.4, requires_grad=True)
    ember.manual_seed(1)
    z = vae_module.reparameterize(mu, logvar)
    z.sum().backward()
    eps = (z.detach().numpy() - 0.0) / math.exp(0.2)
    assert np.allclose(mu.grad.numpy(), 1)
    assert np.allclose(logvar.grad.numpy(), 0.5 * eps * math.exp(0.2))


def test_kl_closed_form_on_small_cases():
    kl = vae_module.gaussian_kl(ember.zeros(2, 3), ember.zeros(2, 3))
    assert np.array_equal(kl.numpy(), [0, 0])
    mu = ember.tensor([[1.0, 0.0], [2.0, -1.0]], dtype=ember.float64)
    logvar = ember.tensor([[0.0, math.log(4.0)], [0.0, 0.0]], dtype=ember.float64)
    # KL(N(m, s^2) || N(0, 1)) = (s^2 + m^2 - 1 - log s^2) / 2 per dimension
    expected = [0.5 * 1 + 0.5 * (4 - 1 - math.log(4)), 0.5 * 4 + 0.5 * 1]
    assert_close(vae_module.gaussian_kl(mu, logvar).numpy(), expected, 1e-14, 1e-14, "KL")


def test_kl_and_reconstruction_against_torch_distributions():
    torch = import_torch()
    D = torch.distributions

    def kl(m, mu, logvar):
        if m is ember:
            return vae_module.gaussian_kl(mu, logvar)
        q = D.Normal(mu, torch.exp(0.5 * logvar))
        return D.kl_divergence(q, D.Normal(torch.zeros_like(mu), 1.0)).sum(1)
    check_op(lambda mu, lv: kl(ember, mu, lv), lambda mu, lv: kl(torch, mu, lv),
             shapes=[(4, 5), (4, 5)])

    rng = np.random.default_rng(1)
    probs, x = rng.uniform(0.05, 0.95, (3, 1, 2, 4)), rng.uniform(0, 1, (3, 1, 2, 4))
    check_op(lambda p, t: vae_module.reconstruction_nll(p, t),
             lambda p, t: -(t * p.log() + (1 - t) * (1 - p).log()).flatten(1).sum(1),
             inputs=[probs, x])
    check_op(lambda m, t: vae_module.reconstruction_nll(m, t, "gaussian", 0.3),
             lambda m, t: -D.Normal(m, 0.3).log_prob(t).flatten(1).sum(1),
             inputs=[probs, x])


def test_elbo_terms_and_loss():
    rng = np.random.default_rng(2)
    recon = ember.tensor(rng.uniform(0.1, 0.9, (4, 1, 3, 3)))
    x = ember.tensor(rng.uniform(0, 1, (4, 1, 3, 3)))
    mu, logvar = ember.tensor(rng.normal(size=(4, 2))), ember.tensor(rng.normal(size=(4, 2)))
    rec, kl = vae_module.elbo_terms((recon, mu, logvar), x)
    assert tuple(rec.shape) == tuple(kl.shape) == (4,)
    loss_fn = vae_module.ELBOLoss()
    loss = loss_fn((recon, mu, logvar), x)
    assert np.isclose(loss.item(), (rec + kl).mean().item())
    assert np.isclose(loss_fn.last["recon"], rec.mean().item())
    assert np.isclose(loss_fn.last["kl"], kl.mean().item())
    assert "ELBOLoss(likelihood='bernoulli'" in repr(loss_fn)


def test_monte_carlo_elbo_bound():
    """The one-sample ELBO estimates average to within noise of a many-sample mean, and
    -ELBO >= the reconstruction term's floor (KL >= 0)."""
    ember.manual_seed(0)
    m = models.vae(in_channels=1, input_size=4, code_size=2, hidden=8).eval()
    x = ember.rand(6, 1, 4, 4)
    loss_fn = m.loss_function()
    with ember.no_grad():
        values = [loss_fn(m(x), x).item() for _ in range(200)]
    assert loss_fn.last["kl"] >= 0
    assert np.std(values) / np.sqrt(len(values)) < 0.05 * abs(np.mean(values))


def test_shapes_round_trip_and_samples():
    m = models.vae(code_size=3).eval().requires_grad_(False)
    x = ember.rand(2, 1, 28, 28)
    mu, logvar = m.encode(x)
    assert tuple(mu.shape) == tuple(logvar.shape) == (2, 3)
    assert tuple(m.decode(mu).shape) == (2, 1, 28, 28)
    recon, mu2, _ = m(x)
    assert np.array_equal(mu.numpy(), mu2.numpy())  # encode is deterministic
    assert tuple(recon.shape) == (2, 1, 28, 28)
    assert tuple(m.sample(5).shape) == (5, 1, 28, 28)
    assert tuple(m.anomaly_score(x).shape) == (2,)
    c = models.cvae(num_classes=4, code_size=3).eval().requires_grad_(False)
    y = ember.tensor([0, 3])
    assert tuple(c.decode(c.encode(x, y)[0], y).shape) == (2, 1, 28, 28)
    assert tuple(c.sample(6).shape) == (6, 1, 28, 28)
    assert tuple(c.anomaly_score(x, y).shape) == (2,)
    g = models.vae(likelihood="gaussian", std=0.5)
    assert "std=0.5" in repr(g) and g.loss_function().likelihood == "gaussian"


def test_errors_name_the_model_and_both_shapes():
    m = models.vae()
    with pytest.raises(ValueError, match=r"VAE.decode: expected a code of shape \(N, 20\), "
                                         r"got \(4, 16\)"):
        m.decode(ember.zeros(4, 16))
    with pytest.raises(ValueError, match=r"VAE.encode: expected an input of shape "
                                         r"\(N, 1, 28, 28\), got \(4, 784\)"):
        m.encode(ember.zeros(4, 784))
    c = models.cvae()
    with pytest.raises(ValueError, match=r"ConditionalVAE.decode: expected a code of shape "
                                         r"\(N, 20\), got \(2, 10\)"):
        c.decode(ember.zeros(2, 10), ember.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"ConditionalVAE.encode: expected integer labels "
                                         r"of shape \(2,\), got \(3,\)"):
        c.encode(ember.zeros(2, 1, 28, 28), ember.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\), got 0..12"):
        c.decode(ember.zeros(2, 20), ember.tensor([0, 12]))
    with pytest.raises(ValueError, match="gaussian_kl: mu and logvar must have the same shape"):
        vae_module.gaussian_kl(ember.zeros(2, 3), ember.zeros(2, 4))
    with pytest.raises(ValueError, match=r"reconstruction_nll: the reconstruction has shape "
                                         r"\(2, 3\) but the target \(2, 4\)"):
        vae_module.reconstruction_nll(ember.zeros(2, 3), ember.zeros(2, 4))
    with pytest.raises(ValueError, match="likelihood must be 'bernoulli' or 'gaussian'"):
        vae_module.reconstruction_nll(ember.zeros(2, 3), ember.zeros(2, 3), "poisson")


@pytest.mark.parametrize("build, err", [
    (lambda: models.VAE(likelihood="poisson"), "VAE: loss must be one of 'bernoulli'"),
    (lambda: models.VAE(code_size=0), "VAE: code_size and hidden must be >= 1"),
    (lambda: models.VAE(std=0), "VAE: std must be > 0"),
    (lambda: models.ConditionalVAE(num_classes=0), "ConditionalVAE: num_classes"),
])
def test_bad_arguments(build, err):
    with pytest.raises(ValueError, match=err):
        build()
