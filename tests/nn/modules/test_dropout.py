"""Dropout layers: train/eval, reprs against PyTorch, argument errors naming the layer, and
Dropout(0.0) against PyTorch's."""
import numpy as np
import pytest
from _parity import import_torch, random_inputs

import ember
from ember import nn

torch = import_torch()


@pytest.mark.parametrize("name", ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
                                  "AlphaDropout", "FeatureAlphaDropout"])
def test_modules_train_eval_repr(name):
    m = getattr(nn, name)(0.25)
    tm = getattr(torch.nn, name)(0.25)
    assert repr(m) == repr(tm)
    assert repr(getattr(nn, name)(inplace=True)) == repr(getattr(torch.nn, name)(inplace=True))
    x = ember.tensor(np.random.default_rng(0).uniform(1, 2, (8, 6, 4, 3, 2)))
    if name in ("Dropout", "AlphaDropout"):
        x = x.reshape(48, 24)
    elif name == "Dropout1d":
        x = x.reshape(8, 6, 24)
    elif name == "Dropout2d":
        x = x.reshape(8, 6, 4, 6)
    y = m(x)
    assert not np.array_equal(y.numpy(), x.numpy())
    m.eval()
    assert m(x) is x
    with pytest.raises(ValueError, match=f"{name}: dropout probability"):
        getattr(nn, name)(-0.1)


def test_dropout_module_parity_with_p0():
    x, = random_inputs([(3, 4)])
    assert np.array_equal(nn.Dropout(0.0)(ember.tensor(x)).numpy(),
                          torch.nn.Dropout(0.0)(torch.tensor(x)).numpy())
