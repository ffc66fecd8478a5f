"""Model-level parity with PyTorch: the same architecture written in plain PyTorch inside the
test, weights copied through state_dict, identical outputs, input and parameter gradients and
BN running statistics (float64)."""
from collections import OrderedDict

import numpy as np
import pytest
from _parity import assert_close, import_torch

import ember
from ember import models
from ember.models.lenet import C3_TABLE

TOL = {"rtol": 1e-8, "atol": 1e-10}


def torch_cifar_resnet(torch, depth, shortcut, num_classes=10):
    """CIFAR ResNet (He et al. 2015, section 4.2) in plain PyTorch."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.pad = 0
            self.downsample = None
            if stride != 1 or cin != cout:
                self.pad = cout - cin
                if shortcut == "B":
                    self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                    nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            if self.downsample is not None:
                identity = self.downsample(x)
            elif self.pad:
                p = self.pad
                identity = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p // 2, p - p // 2))
            else:
                identity = x
            return self.relu(out + identity)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            n = (depth - 2) // 6
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu = nn.ReLU(inplace=True)
            for i, (cin, cout, s) in enumerate([(16, 16, 1), (16, 32, 2), (32, 64, 2)]):
                setattr(self, f"layer{i + 1}", nn.Sequential(
                    Block(cin, cout, s), *[Block(cout, cout, 1) for _ in range(n - 1)]))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(64, num_classes)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return Net()


def randomize_bn(torch, model):
    """Non-trivial BN affine parameters and running statistics, so eval mode is tested."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.1, generator=g)
                m.running_mean.normal_(0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)


def copy_weights(ember_model, torch_model):
    ember_model.load_state_dict({k: v.detach().numpy()
                                 for k, v in torch_model.state_dict().items()})


def compare(torch, ember_model, torch_model, x_shape, train):
    """Forward both models, backpropagate one random upstream gradient, compare."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    ember_model.train(train)
    torch_model.train(train)
    ember_model.zero_grad()
    torch_model.zero_grad()
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ye, yt = ember_model(xe), torch_model(xt)
    assert_close(ye.detach().numpy(), yt.detach().numpy(), **TOL, what="output")
    g = rng.standard_normal(tuple(yt.shape))
    ye.backward(g)
    yt.backward(torch.tensor(g))
    assert_close(xe.grad.numpy(), xt.grad.numpy(), **TOL, what="input grad")
    torch_params = dict(torch_model.named_parameters())
    for name, p in ember_model.named_parameters():
        assert_close(p.grad.numpy(), torch_params[name].grad.numpy(), **TOL, what=name)
    torch_state = torch_model.state_dict()  # running statistics after the pass
    for name, b in ember_model.state_dict().items():
        assert_close(b.numpy(), torch_state[name].numpy(), **TOL, what=name)


@pytest.mark.parametrize("shortcut", ["A", "B"])
@pytest.mark.parametrize("train", [True, False])
def test_cifar_resnet20_matches_pytorch(shortcut, train):
    torch = import_torch()
    torch.manual_seed(0)
    tm = torch_cifar_resnet(torch, 20, shortcut).double()
    randomize_bn(torch, tm)
    em = models.resnet20(shortcut=shortcut).double()
    assert list(em.state_dict()) == list(tm.state_dict())
    copy_weights(em, tm)
    compare(torch, em, tm, (2, 3, 16, 16), train)


@pytest.mark.parametrize("variant, c3_table", [("paper", False), ("paper", True),
                                                ("modern", False)])
def test_lenet5_matches_pytorch(variant, c3_table):
    torch = import_torch()
    nn, F = torch.nn, torch.nn.functional
    mask = torch.tensor(C3_TABLE, dtype=torch.float64)[:, :, None, None]

    class MaskedConv(nn.Conv2d):
        def forward(self, x):
            return F.conv2d(x, self.weight * mask, self.bias)

    act, pool = (nn.Tanh, nn.AvgPool2d) if variant == "paper" else (nn.ReLU, nn.MaxPool2d)
    torch.manual_seed(0)
    tm = nn.Module()
    tm.features = nn.Sequential(OrderedDict([
        ("c1", nn.Conv2d(1, 6, 5, padding=2)), ("act1", act()), ("s2", pool(2)),
        ("c3", MaskedConv(6, 16, 5) if c3_table else nn.Conv2d(6, 16, 5)), ("act3", act()),
        ("s4", pool(2)), ("c5", nn.Conv2d(16, 120, 5)), ("act5", act())]))
    tm.classifier = nn.Sequential(OrderedDict([
        ("f6", nn.Linear(120, 84)), ("act6", act()), ("output", nn.Linear(84, 10))]))
    tm.forward = lambda x: tm.classifier(torch.flatten(tm.features(x), 1))
    tm.double()
    em = models.lenet5(variant=variant, c3_table=c3_table, input_size=28).double()
    copy_weights(em, tm)
    compare(torch, em, tm, (3, 1, 28, 28), train=True)
    if c3_table:  # masked connections get no gradient: they stay as initialised
        c3 = em.features.c3
        assert np.all(c3.weight.grad.numpy()[C3_TABLE == 0] == 0)


def test_googlenet_inception_block_matches_pytorch():
    """One Inception block (all four branches, ceil-mode pooling, concatenation)."""
    torch = import_torch()
    nn = torch.nn
    from ember.models.googlenet import Inception

    def basic(cin, cout, **kw):
        return nn.Sequential(OrderedDict([("conv", nn.Conv2d(cin, cout, bias=False, **kw)),
                                          ("bn", nn.BatchNorm2d(cout, eps=0.001)),
                                          ("relu", nn.ReLU())]))

    class TInception(nn.Module):
        def __init__(self):
            super().__init__()
            self.branch1 = basic(8, 4, kernel_size=1)
            self.branch2 = nn.Sequential(basic(8, 3, kernel_size=1),
                                         basic(3, 5, kernel_size=3, padding=1))
            self.branch3 = nn.Sequential(basic(8, 2, kernel_size=1),
                                         basic(2, 3, kernel_size=3, padding=1))
            self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                         basic(8, 2, kernel_size=1))

        def forward(self, x):
            return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x),
                              self.branch4(x)], 1)

    torch.manual_seed(0)
    tm = TInception().double()
    randomize_bn(torch, tm)
    em = Inception(8, 4, 3, 5, 2, 3, 2).double()
    copy_weights(em, tm)
    for train in (True, False):
        compare(torch, em, tm, (2, 8, 7, 7), train)
