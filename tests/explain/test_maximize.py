"""Activation maximisation: on a linear model the L2-regularised maximiser is known exactly
(w / (2 l2)); on a CNN the objective rises, the class wins, the model is left as it was."""
import numpy as np
import pytest

import ember
from ember import nn
from ember.explain import maximize_activation


def test_linear_model_reaches_the_closed_form():
    ember.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double()
    w = model[1].weight.detach().numpy()
    r = maximize_activation(model, (1, 4, 4), target=2, steps=300, lr=0.05, l2=0.5, jitter=0)
    np.testing.assert_allclose(r.input.numpy().ravel(), w[2], atol=1e-6)  # argmax w.x - |x|^2/2
    assert r.history[-1] > r.history[0] and r.input.shape == (1, 1, 4, 4)


def test_cnn_class_and_channel():
    ember.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 5)).train()
    before = [p.detach().numpy().copy() for p in model.parameters()]
    r = maximize_activation(model, (1, 8, 8), target=3, steps=60, lr=0.1, l2=1e-3)
    assert r.activation > 5 * abs(r.history[0]) and r.activation > 1.0
    with ember.no_grad():
        assert int(model(r.input).argmax(1).item()) == 3
    again = maximize_activation(model, (1, 8, 8), target=3, steps=60, lr=0.1, l2=1e-3)
    np.testing.assert_array_equal(again.input.numpy(), r.input.numpy())  # seeded
    unit = maximize_activation(model, (1, 8, 8), layer="1", channel=2, steps=30, lr=0.1)
    assert unit.activation > unit.history[0]
    assert model.training and all(p.requires_grad and p.grad is None for p in
                                  model.parameters())
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), b)


def test_errors():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="pass either target= .* or layer= with channel="):
        maximize_activation(model, (1, 2, 2))
    with pytest.raises(IndexError, match=r"unit \(5,\) is out of range for an output of "
                                         r"shape \(1, 2\)"):
        maximize_activation(model, (1, 2, 2), target=5, steps=1)
    with pytest.raises(TypeError, match="model must be an ember.nn.Module"):
        maximize_activation(lambda x: x, (1, 2, 2), target=0)
    with pytest.raises(ValueError, match="steps, l2 and jitter must be >= 0"):
        maximize_activation(model, (1, 2, 2), target=0, jitter=-1)
