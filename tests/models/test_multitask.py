"""The scenes' multi-label CNN and classification + localisation CNN against PyTorch twins
(float64: outputs, multi-task losses and every parameter's gradient), shapes, state_dict
keys, targets and errors."""
import numpy as np
import pytest

import ember
from ember import models
from tests._parity import assert_close, copy_from_torch, host, import_torch


def torch_blocks(torch, in_channels, widths):
    nn, layers = torch.nn, []
    for a, b in zip((in_channels, *widths), widths):
        layers += [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b),
                   nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    return nn.Sequential(*layers)


def torch_multilabel(torch, num_classes, in_channels, widths):
    class MultiLabelCNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch_blocks(torch, in_channels, widths)
            self.classifier = torch.nn.Linear(widths[-1], num_classes)

        def forward(self, x):
            return self.classifier(self.features(x).mean((2, 3)))
    return MultiLabelCNN()


def torch_localisation(torch, num_classes, in_channels, size, widths, hidden):
    nn = torch.nn

    class LocalisationCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch_blocks(torch, in_channels, widths)
            f = 2 ** len(widths)
            self.fc = nn.Sequential(nn.Flatten(), nn.Linear(widths[-1] * (size // f) ** 2,
                                                            hidden), nn.ReLU(inplace=True))
            self.classifier = nn.Linear(hidden, num_classes)
            self.box_head = nn.Linear(hidden, 4)

        def forward(self, x):
            h = self.fc(self.features(x))
            c = torch.sigmoid(self.box_head(h))
            scale = torch.tensor([size, size, size, size], dtype=x.dtype)
            return self.classifier(h), torch.cat([c[:, :2] - c[:, 2:] / 2,
                                                  c[:, :2] + c[:, 2:] / 2], 1) * scale
    return LocalisationCNN()


def compare_grads(em, tm):
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(host(ep.grad), tp.grad.numpy(), 1e-10, 1e-10, f"gradient of {n}")


@pytest.mark.parametrize("widths, train", [((16, 32, 64), True), ((4, 6), False)])
def test_multilabel_twin(widths, train):
    torch = import_torch()
    torch.manual_seed(0)
    tm = torch_multilabel(torch, 5, 2, widths).double()
    em = models.multilabel_cnn(num_classes=5, in_channels=2, widths=widths).double()
    copy_from_torch(em, tm)
    tm.train(train)
    em.train(train)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 16, 16))
    y = (rng.random((3, 5)) < 0.4).astype(np.float64)
    pw = rng.random(5) + 0.5
    el = models.multilabel_loss(em(ember.tensor(x)), ember.tensor(y), ember.tensor(pw))
    tl = torch.nn.functional.binary_cross_entropy_with_logits(
        tm(torch.tensor(x)), torch.tensor(y), pos_weight=torch.tensor(pw))
    assert_close(host(el), tl.detach().numpy(), 1e-10, 1e-10, "loss")
    el.backward()
    tl.backward()
    compare_grads(em, tm)


@pytest.mark.parametrize("widths, size, train", [((16, 32, 64), 32, True), ((4, 6), 16, False)])
def test_localisation_twin(widths, size, train):
    torch = import_torch()
    torch.manual_seed(1)
    tm = torch_localisation(torch, 4, 1, size, widths, 12).double()
    em = models.localisation_cnn(num_classes=4, in_channels=1, image_size=size, widths=widths,
                                 hidden=12).double()
    copy_from_torch(em, tm)
    tm.train(train)
    em.train(train)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 1, size, size))
    cls = rng.integers(0, 4, 3)
    xy = rng.integers(0, size // 2, (3, 2)).astype(np.float64)
    boxes = np.concatenate([xy, xy + rng.integers(2, size // 2, (3, 2))], 1)
    logits, pred = em(ember.tensor(x))
    tlogits, tpred = tm(torch.tensor(x))
    assert_close(host(pred), tpred.detach().numpy(), 1e-10, 1e-10, "boxes")
    total, cl, bl = models.localisation_loss(logits, pred, ember.tensor(cls),
                                             ember.tensor(boxes), image_size=size,
                                             box_weight=2.0)
    F = torch.nn.functional
    tcl = F.cross_entropy(tlogits, torch.tensor(cls))
    tbl = F.smooth_l1_loss(tpred / size, torch.tensor(boxes) / size, beta=1 / 9)
    ttotal = tcl + 2.0 * tbl
    for e, t, what in ((total, ttotal, "total"), (cl, tcl, "class"), (bl, tbl, "box")):
        assert_close(host(e), t.detach().numpy(), 1e-10, 1e-10, f"{what} loss")
    total.backward()
    ttotal.backward()
    compare_grads(em, tm)


def test_shapes_keys_and_boxes():
    m = models.localisation_cnn()
    keys = list(m.state_dict())
    assert keys[0] == "features.0.weight" and keys[-4:] == [
        "classifier.weight", "classifier.bias", "box_head.weight", "box_head.bias"]
    with ember.no_grad():
        logits, boxes = m.eval()(ember.rand(2, 1, 64, 64))
    b = boxes.numpy()
    assert tuple(logits.shape) == (2, 10) and b.shape == (2, 4)
    assert (b[:, 2] >= b[:, 0]).all() and (b[:, 3] >= b[:, 1]).all()
    ml = models.multilabel_cnn()
    assert list(ml.state_dict())[-2:] == ["classifier.weight", "classifier.bias"]
    with ember.no_grad():
        assert tuple(ml.eval()(ember.zeros(3, 1, 64, 64)).shape) == (3, 10)


def test_multilabel_targets():
    t = models.multilabel_targets([np.array([1, 3, 3]), ember.tensor([10]), []], 10)
    want = np.zeros((3, 10), np.float32)
    want[0, [0, 2]] = 1
    want[1, 9] = 1
    np.testing.assert_array_equal(t.numpy(), want)
    with pytest.raises(ValueError, match=r"multilabel_targets: image 1 has labels \[0\] "
                                         r"outside \[1, 11\)"):
        models.multilabel_targets([[1], [0]])


def test_errors():
    with pytest.raises(ValueError, match=r"MultiLabelCNN: expected \(N, 1, H, W\) images with "
                                         r"H and W divisible by 8, got \(1, 1, 30, 32\)"):
        models.multilabel_cnn()(ember.zeros(1, 1, 30, 32))
    with pytest.raises(ValueError, match=r"LocalisationCNN: built for 64x64 images, got "
                                         r"\(1, 1, 32, 32\)"):
        models.localisation_cnn()(ember.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="LocalisationCNN: image_size must be"):
        models.localisation_cnn(image_size=60)
    with pytest.raises(ValueError, match="MultiLabelCNN: widths needs at least 1"):
        models.multilabel_cnn(widths=())
    with pytest.raises(ValueError, match=r"multilabel_loss: logits and targets must both be "
                                         r"\(N, C\), got \(2, 10\) and \(2, 9\)"):
        models.multilabel_loss(ember.zeros(2, 10), ember.zeros(2, 9))
    with pytest.raises(ValueError, match=r"localisation_loss: expected .* got \(2, 10\), "
                                         r"\(2, 4\), \(3,\) and \(2, 4\)"):
        models.localisation_loss(ember.zeros(2, 10), ember.zeros(2, 4),
                                 ember.zeros(3, dtype=ember.int64), ember.zeros(2, 4))


def test_losses_finite_differences():
    from tests._parity import check_grad
    rng = np.random.default_rng(2)
    cls = ember.tensor(rng.integers(0, 4, 3))
    target = ember.tensor(rng.random((3, 4)) * 16, dtype=ember.float64)
    # smooth-L1's kink (|d| = beta) is kept away from by the random boxes
    check_grad(lambda lg, bx: models.localisation_loss(lg, bx, cls, target, 16)[0],
               inputs=[rng.standard_normal((3, 4)), rng.random((3, 4)) * 16 + 20])
    y = ember.tensor((rng.random((3, 5)) < 0.5).astype(np.float64))
    check_grad(lambda z: models.multilabel_loss(z, y), shapes=((3, 5),))
