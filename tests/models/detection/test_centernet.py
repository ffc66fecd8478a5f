"""CenterNet: target encoding of hand-made boxes, decoding of a hand-made heat map to exact
boxes, losses and gradients against a PyTorch twin (float64, same weights), the focal loss by
finite differences, torchvision's interface (train dict / eval list) and the errors."""
import itertools
import math

import numpy as np
import pytest

import ember
from ember.models.detection import (
    CenterNet,
    centernet,
    decode_heatmap,
    encode_targets,
    focal_heatmap_loss,
    gaussian_radius,
)
from tests._parity import assert_close, check_grad, import_torch


def target(boxes, labels):
    return {"boxes": ember.tensor(np.asarray(boxes, np.float32).reshape(-1, 4)),
            "labels": ember.tensor(np.asarray(labels, np.int64))}


# --- target encoding -------------------------------------------------------------------------

def test_encode_hand_made_boxes():
    # box 1: centre (16, 24) px = cell (4, 6) exactly; box 2: centre (5.5, 7.5) px = (1.375,
    # 1.875) cells -> cell (1, 1), offset (0.375, 0.875)
    enc = encode_targets([target([[8, 8, 24, 40], [1, 2, 10, 13]], [3, 5])], num_classes=11,
                         out_size=(16, 16), stride=4)
    heat, size, off, mask = enc["heatmap"], enc["size"], enc["offset"], enc["mask"]
    assert heat.shape == (1, 11, 16, 16) and size.shape == off.shape == (1, 2, 16, 16)
    assert heat[0, 3, 6, 4] == 1 and heat[0, 5, 1, 1] == 1
    assert np.argwhere(heat == 1).tolist() == [[0, 3, 6, 4], [0, 5, 1, 1]]
    assert np.argwhere(mask).tolist() == [[0, 0, 1, 1], [0, 0, 6, 4]]
    assert size[0, :, 6, 4].tolist() == [4, 8] and off[0, :, 6, 4].tolist() == [0, 0]
    assert size[0, :, 1, 1].tolist() == [9 / 4, 11 / 4]
    assert off[0, :, 1, 1].tolist() == [0.375, 0.875]
    # the Gaussian of box 1 (4 x 8 cells): radius from CornerNet's formula, sigma = d / 6
    r = int(gaussian_radius(8, 4))
    assert r >= 1
    sigma = (2 * r + 1) / 6
    assert heat[0, 3, 6, 5] == pytest.approx(math.exp(-1 / (2 * sigma ** 2)))
    assert heat[0, 3, 6, 4 + r + 1] == 0
    # other classes and the background channel stay empty
    assert heat[0, [0, 1, 2, 4, 6, 7, 8, 9, 10]].sum() == 0


def test_encode_overlapping_same_class_takes_maximum():
    enc = encode_targets([target([[0, 0, 16, 16], [4, 0, 20, 16]], [2, 2])], 4, (8, 8), 4)
    a = encode_targets([target([[0, 0, 16, 16]], [2])], 4, (8, 8), 4)["heatmap"]
    b = encode_targets([target([[4, 0, 20, 16]], [2])], 4, (8, 8), 4)["heatmap"]
    assert np.array_equal(enc["heatmap"], np.maximum(a, b))


def test_gaussian_radius_is_the_smallest_of_cornernets_three():
    h, w, m = 10.0, 6.0, 0.7
    r1 = ((h + w) + math.sqrt((h + w) ** 2 - 4 * w * h * (1 - m) / (1 + m))) / 2
    r2 = (2 * (h + w) + math.sqrt(4 * (h + w) ** 2 - 16 * (1 - m) * w * h)) / 2
    r3 = (-2 * m * (h + w) + math.sqrt(4 * m ** 2 * (h + w) ** 2
                                       - 16 * m * (m - 1) * w * h)) / 2
    assert gaussian_radius(h, w, m) == pytest.approx(min(r1, r2, r3), rel=1e-14)


# --- decoding -------------------------------------------------------------------------------

def test_decode_hand_made_heatmap_to_exact_boxes():
    heat = np.zeros((1, 3, 8, 8))
    heat[0, 1, 2, 3] = 0.9     # peak: class 1 at cell (x=3, y=2)
    heat[0, 1, 2, 4] = 0.5     # its neighbour, not a peak
    heat[0, 2, 5, 6] = 0.7     # peak: class 2 at cell (x=6, y=5)
    heat[0, 2, 0, 0] = 0.01    # a peak under the score threshold
    size = np.zeros((1, 2, 8, 8))
    off = np.zeros((1, 2, 8, 8))
    size[0, :, 2, 3] = (2.0, 3.0)
    off[0, :, 2, 3] = (0.5, 0.25)
    size[0, :, 5, 6] = (1.0, 1.5)
    (out,) = decode_heatmap(heat, size, off, stride=4, k=10, score_thresh=0.05)
    # centre (3.5, 2.25) cells = (14, 9) px, size (8, 12) px -> (10, 3, 18, 15)
    assert out["boxes"].numpy().tolist() == [[10, 3, 18, 15], [22, 17, 26, 23]]
    assert out["labels"].numpy().tolist() == [1, 2]
    assert out["labels"].dtype == ember.int64 and out["boxes"].dtype == ember.float32
    assert np.allclose(out["scores"].numpy(), [0.9, 0.7])
    (top1,) = decode_heatmap(heat, size, off, stride=4, k=1)
    assert top1["labels"].numpy().tolist() == [1]
    (clipped,) = decode_heatmap(heat, size * 4, off, stride=4, image_size=(32, 32))
    assert clipped["boxes"].numpy().min() >= 0 and clipped["boxes"].numpy().max() <= 32


def test_encode_then_decode_gives_the_boxes_back():
    boxes = [[35, 35, 63, 48], [30, 9, 58, 30], [3, 1, 20, 27]]
    enc = encode_targets([target(boxes, [8, 10, 1])], 11, (16, 16), 4)
    (out,) = decode_heatmap(enc["heatmap"], enc["size"], enc["offset"], 4, score_thresh=0.99)
    got = sorted(zip(out["labels"].numpy().tolist(), out["boxes"].numpy().tolist()))
    assert got == sorted(zip([8, 10, 1], [[float(v) for v in b] for b in boxes]))


# --- losses and gradients against a torch twin --------------------------------------------------

def torch_centernet(torch, num_classes=11, in_channels=1, widths=(16, 32, 64, 128), hc=64):
    nn = torch.nn

    def cbr(a, b):
        return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(*cbr(in_channels, widths[0]))
            self.down = nn.ModuleList([nn.Sequential(nn.MaxPool2d(2), *cbr(a, b), *cbr(b, b))
                                       for a, b in itertools.pairwise(widths)])
            self.up = nn.ConvTranspose2d(widths[3], widths[2], 2, stride=2)
            self.fuse = nn.Sequential(*cbr(2 * widths[2], widths[2]),
                                      *cbr(widths[2], widths[2]))

        def forward(self, x):
            x = self.down[0](self.stem(x))
            s4 = self.down[1](x)
            return self.fuse(torch.cat([self.up(self.down[2](s4)), s4], 1))

    def head(c):
        return nn.Sequential(nn.Conv2d(widths[2], hc, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(hc, c, 1))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = Backbone()
            self.heatmap_head, self.size_head, self.offset_head = (head(num_classes), head(2),
                                                                   head(2))

        def forward(self, x, enc):
            f = self.backbone(x)
            heat, size, off = self.heatmap_head(f), self.size_head(f), self.offset_head(f)
            t = {k: torch.from_numpy(v) for k, v in enc.items()}
            pos = (t["heatmap"] == 1).double()
            p = torch.sigmoid(heat)
            focal = -(pos * (1 - p) ** 2 * torch.nn.functional.logsigmoid(heat)
                      + (1 - pos) * (1 - t["heatmap"]) ** 4 * p ** 2
                      * torch.nn.functional.logsigmoid(-heat)).sum() / pos.sum().clamp(min=1)
            num = t["mask"].sum().clamp(min=1)
            return {"loss_heatmap": focal,
                    "loss_size": 0.1 * ((size - t["size"]).abs() * t["mask"]).sum() / num,
                    "loss_offset": ((off - t["offset"]).abs() * t["mask"]).sum() / num}
    return Net()


def test_losses_and_gradients_match_a_torch_twin():
    torch = import_torch()
    torch.manual_seed(0)
    twin = torch_centernet(torch, widths=(4, 8, 8, 16), hc=8).double()
    model = centernet(widths=(4, 8, 8, 16), head_channels=8).double()
    model.load_state_dict({k: v.detach().numpy() for k, v in twin.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (2, 1, 32, 32))
    targets = [target([[2, 3, 14, 17], [10, 12, 30, 29]], [1, 10]), target([[5, 5, 21, 13]], [4])]
    losses = model.train()(ember.tensor(x), targets)
    enc = encode_targets(targets, 11, (8, 8), 4)
    ref = twin.train()(torch.from_numpy(x), enc)
    assert set(losses) == set(ref) == {"loss_heatmap", "loss_size", "loss_offset"}
    for k in ref:
        assert_close(losses[k].item(), ref[k].item(), 1e-10, 1e-10, k)
        assert losses[k].dtype == ember.float64
    sum(losses.values()).backward()
    sum(ref.values()).backward()
    names = [n for n, _ in twin.named_parameters()]
    assert [n for n, _ in model.named_parameters()] == names
    for (n, ep), (_, tp) in zip(model.named_parameters(), twin.named_parameters()):
        assert_close(ep.grad.numpy(), tp.grad.numpy(), 1e-9, 1e-10, f"gradient of {n}")


def test_focal_loss_gradient_by_finite_differences():
    enc = encode_targets([target([[2, 3, 14, 17]], [1])], 3, (6, 6), 4)["heatmap"]
    check_grad(lambda x: focal_heatmap_loss(x, ember.tensor(enc)), shapes=((1, 3, 6, 6),))


# --- interface and errors ---------------------------------------------------------------------

def test_train_returns_a_dict_eval_returns_one_dict_per_image():
    ember.manual_seed(0)
    model = centernet(widths=(4, 8, 8, 16), head_channels=8, detections_per_img=7,
                      score_thresh=0.0)
    images = [ember.rand(1, 32, 32), ember.rand(1, 32, 32)]
    losses = model.train()(images, [target([[2, 3, 14, 17]], [1]), target(np.zeros((0, 4)), [])])
    assert sorted(losses) == ["loss_heatmap", "loss_offset", "loss_size"]
    assert all(v.dim() == 0 for v in losses.values())
    sum(losses.values()).backward()
    out = model.eval()(images)
    assert isinstance(out, list) and len(out) == 2
    for d in out:
        assert sorted(d) == ["boxes", "labels", "scores"]
        assert tuple(d["boxes"].shape) == (7, 4) and tuple(d["labels"].shape) == (7,)
        assert d["labels"].dtype == ember.int64
        s = d["scores"].numpy()
        assert np.all(s[:-1] >= s[1:])
    assert len(model(ember.rand(3, 1, 32, 32))) == 3
    assert isinstance(model, CenterNet) and CenterNet.stride == 4


def test_errors_name_the_model_image_and_field():
    model = centernet(widths=(4, 8, 8, 16), head_channels=8)
    x = ember.rand(2, 1, 32, 32)
    good = target([[2, 3, 14, 17]], [1])
    with pytest.raises(ValueError, match="training mode targets must be given"):
        model.train()(x)
    with pytest.raises(ValueError, match=r"CenterNet: targets\[1\]\['boxes'\].*x2 <= x1"):
        model(x, [good, target([[10, 3, 4, 17]], [1])])
    with pytest.raises(ValueError, match=r"targets\[0\].*missing field 'boxes'"):
        model(x, [{"labels": ember.tensor([1])}, good])
    with pytest.raises(ValueError, match=r"targets\[1\]\['labels'\].*\[0, 11\)"):
        model(x, [good, target([[2, 3, 14, 17]], [11])])
    with pytest.raises(ValueError, match=r"CenterNet: images must be .* divisible by 8.*30"):
        model(ember.rand(2, 1, 30, 32), [good, good])
    with pytest.raises(ValueError, match="CenterNet: expected a list of .* one size"):
        model.eval()([ember.rand(1, 32, 32), ember.rand(1, 16, 16)])
    with pytest.raises(ValueError, match="CenterNet: num_classes"):
        centernet(num_classes=1)
    with pytest.raises(ValueError, match="CenterNetBackbone: widths"):
        centernet(widths=(4, 8))
