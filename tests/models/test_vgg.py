"""SmallVGG (the "2 conv + pooling + BN" network) against the same network in PyTorch."""
import numpy as np

import ember
from _parity import assert_close, import_torch
from ember.models import SmallVGG


def torch_twin(torch, dropout):
    nn = torch.nn
    return nn.ModuleDict({
        "features": nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32),
                                  nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(32, 64, 3, padding=1),
                                  nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2, 2)),
        "classifier": nn.Sequential(nn.Linear(64 * 7 * 7, 256), nn.BatchNorm1d(256), nn.ReLU(),
                                    nn.Dropout(dropout), nn.Linear(256, 10))})


def test_small_vgg_matches_torch_train_and_eval():
    torch = import_torch()
    model = SmallVGG(dropout=0.0).double()
    twin = torch_twin(torch, 0.0).double()
    model.load_state_dict({k: v.detach().numpy() for k, v in twin.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28))
    for train in (True, False):
        model.train(train)
        twin.train(train)
        ex = ember.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        eo = model(ex)
        to = twin["classifier"](twin["features"](tx).flatten(1))
        assert_close(eo.detach().numpy(), to.detach().numpy(), 1e-9, 1e-9, "output")
        g = np.random.default_rng(1).standard_normal(eo.shape)
        (eo * ember.tensor(g)).sum().backward()
        (to * torch.tensor(g)).sum().backward()
        assert_close(ex.grad.numpy(), tx.grad.numpy(), 1e-9, 1e-9, "input grad")
        for (name, p), tp in zip(model.named_parameters(), twin.parameters()):
            assert_close(p.grad.numpy(), tp.grad.numpy(), 1e-9, 1e-9, name)
            p.grad, tp.grad = None, None
    for (name, b), tb in zip(model.named_buffers(), twin.buffers()):
        assert_close(b.numpy(), tb.numpy(), 1e-9, 1e-9, name)
