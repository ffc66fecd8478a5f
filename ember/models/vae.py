"""The variational autoencoder (Kingma & Welling, 2014) and its conditional form, with the
ELBO's two terms.

The encoder gives a Gaussian q(z|x) = N(mu, diag(exp(logvar))); a code is drawn by the
reparameterisation z = mu + exp(logvar / 2) * eps, eps ~ N(0, I), so the gradient reaches
mu and logvar; the decoder gives p(x|z), Bernoulli (a sigmoid per pixel, the loss is the
binary cross-entropy summed over pixels) or Gaussian with a fixed standard deviation
``std``. The loss is the negative evidence lower bound per image, in nats:

    -ELBO(x) = E_q[-log p(x|z)]  +  KL(q(z|x) || N(0, I))
             = reconstruction    +  -1/2 sum(1 + logvar - mu^2 - exp(logvar))

estimated with one z per image, as PyTorch's example does. :func:`elbo_terms` gives the two
terms per image, :class:`ELBOLoss` their batch mean (the training loss) and keeps the terms of
the last batch for logging.

:class:`VAE` with its defaults is PyTorch's example (pytorch/examples, ``vae/main.py``):
784-400-(20, 20) with ReLU, 20-400-784 with a sigmoid, the same submodule names (``fc1``,
``fc21``, ``fc22``, ``fc3``, ``fc4``), so its state_dict loads into ember as it is.
"""
from __future__ import annotations

import math

import ember
from ember import nn
from ember.models.autoencoder import Autoencoder, _check_args, _shape
from ember.nn import functional as F

__all__ = ["VAE", "ConditionalVAE", "ELBOLoss", "cvae", "elbo_terms", "gaussian_kl",
           "reconstruction_nll", "reparameterize", "vae"]

LIKELIHOODS = ("bernoulli", "gaussian")


def reparameterize(mu, logvar):
    """A sample of N(mu, exp(logvar)) as ``mu + exp(logvar / 2) * eps``, eps ~ N(0, I) from
    ember's generator: differentiable in ``mu`` and ``logvar``."""
    return mu + ember.randn_like(mu) * (0.5 * logvar).exp()


def gaussian_kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per row, in nats: ``-1/2 sum(1 + logvar - mu^2 -
    exp(logvar))`` over all but the first dimension; shape (N,)."""
    if _shape(mu) != _shape(logvar):
        raise ValueError(f"gaussian_kl: mu and logvar must have the same shape, got "
                         f"{_shape(mu)} and {_shape(logvar)}")
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).flatten(1).sum(1)


def reconstruction_nll(recon, x, likelihood="bernoulli", std=1.0):
    """-log p(x|z) per image, in nats, shape (N,): the binary cross-entropy summed over
    pixels (``"bernoulli"``: ``recon`` holds probabilities; PyTorch clamps its logs at -100),
    or the Gaussian negative log-likelihood with mean ``recon`` and standard deviation
    ``std`` (``"gaussian"``: ``sum((x - recon)^2) / (2 std^2) + D log(std sqrt(2 pi))``)."""
    if _shape(recon) != _shape(x):
        raise ValueError(f"reconstruction_nll: the reconstruction has shape {_shape(recon)} "
                         f"but the target {_shape(x)}")
    if likelihood == "bernoulli":
        return F.binary_cross_entropy(recon, x, reduction="none").flatten(1).sum(1)
    if likelihood != "gaussian":
        raise ValueError(f"reconstruction_nll: likelihood must be 'bernoulli' or 'gaussian', "
                         f"got {likelihood!r}")
    d = math.prod(_shape(x)[1:])
    const = d * (math.log(std) + 0.5 * math.log(2 * math.pi))
    return (x - recon).pow(2).flatten(1).sum(1) / (2 * std ** 2) + const


def elbo_terms(output, x, likelihood="bernoulli", std=1.0):
    """(reconstruction, KL) per image, each of shape (N,), from a VAE's output
    ``(recon, mu, logvar)`` and the target images ``x``; their sum is -ELBO."""
    recon, mu, logvar = output
    return reconstruction_nll(recon, x, likelihood, std), gaussian_kl(mu, logvar)


class ELBOLoss:
    """The negative ELBO averaged over the batch, in nats per image: ``loss(output, x)``.

    After each call ``last`` holds the batch means of the two terms as floats
    (``{"recon": ..., "kl": ...}``) for logging.
    """

    def __init__(self, likelihood="bernoulli", std=1.0):
        self.likelihood, self.std = likelihood, std
        self.last = {}

    def __call__(self, output, x):
        rec, kl = elbo_terms(output, x, self.likelihood, self.std)
        rec, kl = rec.mean(), kl.mean()
        self.last = {"recon": rec.item(), "kl": kl.item()}
        return rec + kl

    def __repr__(self):
        return f"ELBOLoss(likelihood={self.likelihood!r}, std={self.std})"


class VAE(Autoencoder):
    """A variational autoencoder with one hidden layer each way.

    Args:
        in_channels, input_size: the image shape (C, H, W), pixels in [0, 1].
        code_size: the latent dimension.
        hidden: the width of the hidden layers.
        likelihood: ``"bernoulli"`` (binary cross-entropy) or ``"gaussian"`` (fixed
            ``std``); the decoder ends in a sigmoid either way.
        std: the Gaussian decoder's standard deviation.

    ``encode(x)`` returns ``(mu, logvar)``, each (N, code_size); ``decode(z)`` the images
    (N, C, H, W); ``forward(x)`` returns ``(recon, mu, logvar)`` with z drawn by
    :func:`reparameterize` (in eval mode too, as PyTorch's example: the test loss is a
    one-sample ELBO estimate; use ``decode(encode(x)[0])`` for the mean code's image).
    ``sample(n)`` decodes n draws from the prior.
    """

    task = "vae"
    loss = "elbo"

    def __init__(self, in_channels=1, input_size=28, code_size=20, hidden=400,
                 likelihood="bernoulli", std=1.0, num_classes=0):
        super().__init__()
        name = type(self).__name__
        _check_args(name, in_channels, input_size, likelihood, LIKELIHOODS)
        if code_size < 1 or hidden < 1:
            raise ValueError(f"{name}: code_size and hidden must be >= 1, got {code_size} "
                             f"and {hidden}")
        if not std > 0:
            raise ValueError(f"{name}: std must be > 0, got {std}")
        self.input_shape = (in_channels, input_size, input_size)
        self.code_shape = (code_size,)
        self.likelihood, self.std, self.num_classes = likelihood, float(std), num_classes
        features = math.prod(self.input_shape)
        self.fc1 = nn.Linear(features + num_classes, hidden)
        self.fc21 = nn.Linear(hidden, code_size)
        self.fc22 = nn.Linear(hidden, code_size)
        self.fc3 = nn.Linear(code_size + num_classes, hidden)
        self.fc4 = nn.Linear(hidden, features)

    def encode(self, x):
        """``(mu, logvar)`` of q(z|x), each (N, code_size)."""
        self._check(x, self.input_shape, "an input", "encode")
        h = F.relu(self.fc1(x.flatten(1)))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        """The decoder's images (Bernoulli probabilities or Gaussian means), (N, C, H, W)."""
        self._check(z, self.code_shape, "a code", "decode")
        return self._decode(z)

    def _decode(self, z):
        out = F.sigmoid(self.fc4(F.relu(self.fc3(z))))
        return out.unflatten(1, self.input_shape)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar)), mu, logvar

    def anomaly_score(self, x):
        """Per image, the mean squared error of the mean code's reconstruction
        ``decode(mu)`` (deterministic), shape (N,)."""
        return (self.decode(self.encode(x)[0]) - x).pow(2).flatten(1).mean(1)

    def sample(self, n):
        """``n`` images decoded from codes drawn from the prior N(0, I)."""
        z = ember.randn(n, *self.code_shape, device=self.fc4.weight.device)
        return self.decode(z)

    def loss_function(self):
        """:class:`ELBOLoss` with this model's likelihood."""
        return ELBOLoss(self.likelihood, self.std)

    def extra_repr(self):
        return (f"input_shape={self.input_shape}, code_size={self.code_shape[0]}, "
                f"likelihood={self.likelihood!r}"
                + (f", std={self.std}" if self.likelihood == "gaussian" else ""))


class ConditionalVAE(VAE):
    """A conditional VAE: the encoder sees the image and its class (one-hot, concatenated
    to the flattened image), the decoder the code and the class; so the code is free to hold
    what the class does not say (style), and ``sample(n, y)`` draws images of chosen classes.

    ``forward(x, y)``, ``encode(x, y)``, ``decode(z, y)`` take integer class labels ``y``
    of shape (N,); the other arguments are :class:`VAE`'s.
    """

    task = "vae"

    def __init__(self, num_classes=10, in_channels=1, input_size=28, code_size=20, hidden=400,
                 likelihood="bernoulli", std=1.0):
        if num_classes < 1:
            raise ValueError(f"ConditionalVAE: num_classes must be >= 1, got {num_classes}")
        super().__init__(in_channels, input_size, code_size, hidden, likelihood, std,
                         num_classes)

    def _one_hot(self, y, n, method):
        if y.ndim != 1 or _shape(y)[0] != n or y.dtype.kind not in "iu":
            raise ValueError(f"ConditionalVAE.{method}: expected integer labels of shape "
                             f"({n},), got {_shape(y)} {y.dtype}")
        if n and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(f"ConditionalVAE.{method}: labels must be in [0, "
                             f"{self.num_classes}), got {int(y.min())}..{int(y.max())}")
        return F.one_hot(y, self.num_classes).to(self.fc1.weight.dtype)

    def encode(self, x, y):
        self._check(x, self.input_shape, "an input", "encode")
        h = ember.cat([x.flatten(1), self._one_hot(y, _shape(x)[0], "encode")], 1)
        h = F.relu(self.fc1(h))
        return self.fc21(h), self.fc22(h)

    def decode(self, z, y):
        self._check(z, self.code_shape, "a code", "decode")
        return self._decode(ember.cat([z, self._one_hot(y, _shape(z)[0], "decode")], 1))

    def forward(self, x, y):
        mu, logvar = self.encode(x, y)
        return self.decode(reparameterize(mu, logvar), y), mu, logvar

    def anomaly_score(self, x, y):
        """Per image, the mean squared error of ``decode(mu, y)``, shape (N,)."""
        return (self.decode(self.encode(x, y)[0], y) - x).pow(2).flatten(1).mean(1)

    def sample(self, n, y=None):
        """``n`` images of classes ``y`` (default: 0, 1, ..., cycling) from the prior."""
        if y is None:
            y = ember.arange(n) % self.num_classes
        z = ember.randn(n, *self.code_shape, device=self.fc4.weight.device)
        return self.decode(z, y.to(self.fc4.weight.device))


def vae(num_classes=10, in_channels=1, input_size=28, code_size=20, hidden=400,
        likelihood="bernoulli", std=1.0):
    """:class:`VAE`: PyTorch's example with the defaults (``num_classes`` is unused)."""
    return VAE(in_channels, input_size, code_size, hidden, likelihood, std)


def cvae(num_classes=10, in_channels=1, input_size=28, code_size=20, hidden=400,
         likelihood="bernoulli", std=1.0):
    """:class:`ConditionalVAE` on ``num_classes`` classes."""
    return ConditionalVAE(num_classes, in_channels, input_size, code_size, hidden, likelihood,
                          std)


vae.task = cvae.task = "vae"  # read by ember.train.autoencode.task_of
