"""Details of the lessons' architectures: LeNet-5's C3 table, GoogLeNet's auxiliary heads and
loss, the CIFAR ResNet's option-A shortcut, initialisation options."""
import numpy as np

import ember
from ember import models
from ember.models.lenet import C3_TABLE
from ember.models.resnet import ShortcutA

# Table I of LeCun et al. (1998): rows are S2 maps, columns C3 maps
PAPER_TABLE = """
X...XXX..XXXX.XX
XX...XXX..XXXX.X
XXX...XXX..X.XXX
.XXX..XXXX..X.XX
..XXX..XXXX.XX.X
...XXX..XXXX.XXX
"""


def test_c3_table_is_the_papers():
    table = np.array([[c == "X" for c in row] for row in PAPER_TABLE.split()], np.float32)
    np.testing.assert_array_equal(C3_TABLE, table.T)
    assert C3_TABLE.sum() == 60


def test_c3_mask_zeroes_weights_and_leaves_1516_effective_parameters():
    m = models.lenet5(c3_table=True)
    c3 = m.features.c3
    w = c3.weight.detach().numpy()
    assert np.count_nonzero(w) + c3.bias.numel() == 1516
    assert "features.c3.mask" not in m.state_dict()  # a fixed property, not a weight


def test_lenet_paper_uses_tanh_and_average_pooling():
    paper, modern = models.lenet5(), models.lenet5(variant="modern")
    assert [type(m).__name__ for m in paper.features] == [
        "Conv2d", "Tanh", "AvgPool2d", "Conv2d", "Tanh", "AvgPool2d", "Conv2d", "Tanh"]
    assert [type(m).__name__ for m in modern.features][1:3] == ["ReLU", "MaxPool2d"]


def test_googlenet_outputs_in_train_and_eval():
    m = models.googlenet(num_classes=5)
    x = ember.randn(2, 3, 32, 32)
    out = m.train()(x)
    assert isinstance(out, models.GoogLeNetOutputs)
    assert [tuple(o.shape) for o in out] == [(2, 5)] * 3
    with ember.no_grad():
        y = m.eval()(x)
    assert isinstance(y, ember.Tensor) and tuple(y.shape) == (2, 5)
    plain = models.googlenet(num_classes=5, aux_logits=False).train()
    assert isinstance(plain(x), ember.Tensor)
    assert plain.aux1 is None and not any(".aux" in k for k in plain.state_dict())


def test_googlenet_loss_weights_aux_heads():
    F = ember.nn.functional
    logits, a2, a1 = (ember.randn(4, 3) for _ in range(3))
    t = ember.tensor([0, 1, 2, 1])
    out = models.GoogLeNetOutputs(logits, a2, a1)
    expected = F.cross_entropy(logits, t) + 0.3 * (F.cross_entropy(a1, t)
                                                   + F.cross_entropy(a2, t))
    assert np.isclose(models.googlenet_loss(out, t).item(), expected.item())
    assert np.isclose(models.googlenet_loss(logits, t).item(), F.cross_entropy(logits, t).item())
    mse = models.googlenet_loss(out, ember.randn(4, 3), aux_weight=1.0,
                                criterion=ember.nn.functional.mse_loss)
    assert mse.item() > 0


def test_option_a_shortcut_subsamples_and_zero_pads():
    s = ShortcutA(4, 8, stride=2)
    assert not list(s.parameters())
    x = np.arange(2 * 4 * 6 * 6, dtype=np.float64).reshape(2, 4, 6, 6)
    y = s(ember.tensor(x)).numpy()
    assert y.shape == (2, 8, 3, 3)
    np.testing.assert_array_equal(y[:, 2:6], x[:, :, ::2, ::2])
    assert not y[:, :2].any() and not y[:, 6:].any()


def test_zero_init_residual():
    m = models.resnet18(num_classes=10, zero_init_residual=True)
    assert not m.layer1[0].bn2.weight.detach().numpy().any()
    assert np.all(m.layer1[0].bn1.weight.detach().numpy() == 1)
    assert not models.resnet50(zero_init_residual=True).layer4[2].bn3.weight.detach().numpy().any()


def test_torchvision_initialisation_statistics():
    """He normal (fan_out) convolutions as torchvision: std sqrt(2 / (out * k * k))."""
    m = models.resnet18(num_classes=10)
    w = m.layer3[0].conv2.weight.detach().numpy()  # 256 x 256 x 3 x 3
    assert abs(w.std() - np.sqrt(2 / (256 * 9))) < 0.02 * np.sqrt(2 / (256 * 9))
    a = models.alexnet(num_classes=10, variant="original")
    assert np.all(a.features[4].bias.detach().numpy() == 1)  # conv2: bias 1 in the paper
    assert np.all(a.features[0].bias.detach().numpy() == 0)
    assert abs(a.classifier[1].weight.detach().numpy().std() - 0.01) < 1e-4


def test_models_train_one_step_without_error():
    """A smoke test of backward through a whole model (tiny input)."""
    m = models.resnet20(num_classes=10)
    y = m(ember.randn(2, 3, 16, 16))
    ember.nn.functional.cross_entropy(y, ember.tensor([1, 2])).backward()
    assert all(p.grad is not None for p in m.parameters())
