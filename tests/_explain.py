"""A small CNN built in ember and in PyTorch with the same weights (float64), and captum as
the oracle (a missing captum fails under CI, as torch does)."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from _parity import copy_from_torch, import_oracle, import_torch

import ember


def import_captum():
    """captum.attr, or a skip; under CI (``CI`` set) a missing captum is a failure."""
    import_torch()
    return import_oracle("captum.attr", pip="captum")


def layers(m):
    """conv(2->4) relu pool conv(4->6) relu [flatten linear(96->5)]: the same code for both
    frameworks (``m`` is ember or torch)."""
    nn = m.nn
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(2, 4, 3, padding=1)), ("relu1", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(4, 6, 3, padding=1)), ("relu2", nn.ReLU()),
        ("flatten", nn.Flatten()), ("fc", nn.Linear(6 * 4 * 4, 5)),
    ]))


def twins(seed=0):
    """(ember model, torch model, ember input, torch input): float64, eval mode, a batch of
    four 2x8x8 images."""
    torch = import_torch()
    torch.manual_seed(seed)
    tm = layers(torch).double().eval()
    em = copy_from_torch(layers(ember).to(ember.float64), tm).eval()
    x = np.random.default_rng(seed).normal(size=(4, 2, 8, 8))
    return em, tm, ember.tensor(x), torch.tensor(x)


TARGETS = [0, 3, 1, 4]  # one class per example: a batch of several targets


def assert_same(ours, theirs, rtol=1e-6, atol=1e-9, what=""):
    """ember's attribution against captum's (values as float64)."""
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs), what
    for a, b in zip(ours, theirs):
        assert isinstance(a, ember.Tensor), f"{what}: returned {type(a).__name__}"
        a = a.detach().numpy().astype(np.float64)
        b = b.detach().numpy().astype(np.float64)
        assert a.shape == b.shape, f"{what}: shape {a.shape} vs captum {b.shape}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)
        assert np.abs(b).max() > 0, f"{what}: an all-zero attribution checks nothing"
