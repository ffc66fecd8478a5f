"""Two small CNNs for the Fashion-MNIST scenes (issue 21) and their losses:

- ``MultiLabelCNN`` (``multilabel_cnn``): which of the classes appear in a scene, the
  sigmoid + binary cross-entropy case: (N, num_classes) logits, one independent yes/no per
  class (``multilabel_loss``; ``multilabel_targets`` turns the scenes' label lists into 0/1
  rows). Three conv blocks (3x3 conv, no bias, BatchNorm, ReLU, 2x2 max pooling), global
  average pooling, a linear classifier.
- ``LocalisationCNN`` (``localisation_cnn``): classification + localisation of the one object
  of a 1-object scene; ``forward`` returns ``(logits, boxes)``: class logits (N, num_classes)
  and one box per image (N, 4) as (x1, y1, x2, y2) in pixels. The same conv blocks, then a
  shared fully connected layer and two heads, ``classifier`` and ``box_head``; the box head
  predicts (cx, cy, w, h) as fractions of the image (sigmoid), so every box is valid
  (x1 <= x2, y1 <= y2; it may reach past the image's edge by up to half its size). ``localisation_loss`` is the multi-task loss:
  cross-entropy + ``box_weight`` x smooth-L1 on the box coordinates divided by the image
  size (so the two terms have comparable scales).

Classes here are 0-based: the scenes' labels are class + 1 (0 is the background), so
``labels - 1``.
"""
from __future__ import annotations

import ember
from ember import nn
from ember.nn import functional as F

__all__ = ["LocalisationCNN", "MultiLabelCNN", "localisation_cnn", "localisation_loss",
           "multilabel_cnn", "multilabel_loss", "multilabel_targets"]


def _blocks(in_channels, widths):
    layers = []
    for c_in, c_out in zip((in_channels,) + widths, widths):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                   nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    return nn.Sequential(*layers)


def _widths(name, widths):
    widths = tuple(int(w) for w in widths)
    if not widths or min(widths) < 1:
        raise ValueError(f"{name}: widths needs at least 1 positive entry, got {widths}")
    return widths


def _check_images(name, x, in_channels, factor, size=None):
    if x.dim() != 4 or x.shape[1] != in_channels or x.shape[2] % factor or x.shape[3] % factor:
        raise ValueError(f"{name}: expected (N, {in_channels}, H, W) images with H and W "
                         f"divisible by {factor}, got {tuple(x.shape)}")
    if size is not None and tuple(x.shape[2:]) != size:
        raise ValueError(f"{name}: built for {size[0]}x{size[1]} images, got "
                         f"{tuple(x.shape)}")


class MultiLabelCNN(nn.Module):
    """Multi-label classifier: ``features`` (conv blocks of ``widths`` channels), global
    average pooling, ``classifier`` (Linear to ``num_classes`` logits, one sigmoid each).

    Args:
        num_classes: classes that may appear (10 for the scenes).
        in_channels: image channels.
        widths: channels of the conv blocks (each halves H and W).
    """

    def __init__(self, num_classes=10, in_channels=1, widths=(16, 32, 64)):
        super().__init__()
        self.widths, self.in_channels = _widths("MultiLabelCNN", widths), int(in_channels)
        self.features = _blocks(self.in_channels, self.widths)
        self.classifier = nn.Linear(self.widths[-1], num_classes)

    def forward(self, x):
        _check_images("MultiLabelCNN", x, self.in_channels, 2 ** len(self.widths))
        return self.classifier(self.features(x).mean((2, 3)))


class LocalisationCNN(nn.Module):
    """Class + box of the one object in an image: ``features`` (conv blocks), ``fc``
    (Linear + ReLU on the flattened map), ``classifier`` (num_classes logits) and
    ``box_head`` (4 numbers: sigmoid (cx, cy, w, h) as fractions of the image, returned as
    x1, y1, x2, y2 pixels).

    Args:
        num_classes: classes (10 for the scenes).
        in_channels: image channels.
        image_size: (H, W) (or one int) of the images, divisible by 2 ** len(widths).
        widths: channels of the conv blocks.
        hidden: width of the shared fully connected layer.
    """

    def __init__(self, num_classes=10, in_channels=1, image_size=64, widths=(16, 32, 64),
                 hidden=128):
        super().__init__()
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.widths, self.in_channels = _widths("LocalisationCNN", widths), int(in_channels)
        factor = 2 ** len(self.widths)
        if len(size) != 2 or size[0] % factor or size[1] % factor or min(size) < factor:
            raise ValueError(f"LocalisationCNN: image_size must be (H, W) divisible by "
                             f"{factor}, got {image_size}")
        self.image_size = (int(size[0]), int(size[1]))
        self.features = _blocks(self.in_channels, self.widths)
        flat = self.widths[-1] * (size[0] // factor) * (size[1] // factor)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(hidden, num_classes)
        self.box_head = nn.Linear(hidden, 4)

    def forward(self, x):
        _check_images("LocalisationCNN", x, self.in_channels, 2 ** len(self.widths),
                      self.image_size)
        h = self.fc(self.features(x))
        cxcywh = ember.sigmoid(self.box_head(h))
        height, width = self.image_size
        scale = ember.tensor([width, height, width, height], dtype=x.dtype, device=x.device)
        centre, half = cxcywh[:, :2], cxcywh[:, 2:] / 2
        boxes = ember.cat([centre - half, centre + half], dim=1) * scale
        return self.classifier(h), boxes


def multilabel_cnn(num_classes=10, in_channels=1, widths=(16, 32, 64)):
    """The multi-label CNN of the scenes (16-32-64 channels, global average pooling)."""
    return MultiLabelCNN(num_classes=num_classes, in_channels=in_channels, widths=widths)


def localisation_cnn(num_classes=10, in_channels=1, image_size=64, widths=(16, 32, 64),
                     hidden=128):
    """The classification + localisation CNN of the 1-object scenes."""
    return LocalisationCNN(num_classes=num_classes, in_channels=in_channels,
                           image_size=image_size, widths=widths, hidden=hidden)


def multilabel_targets(labels, num_classes=10, offset=1):
    """(N, num_classes) float32 0/1 rows from a list of per-image label arrays (the scenes'
    ``labels``, class + ``offset``): 1 where the class appears in the image."""
    import numpy as np
    out = np.zeros((len(labels), num_classes), dtype=np.float32)
    for i, lab in enumerate(labels):
        cls = np.asarray(lab.numpy() if isinstance(lab, ember.Tensor) else lab,
                         dtype=np.int64).reshape(-1) - offset
        if len(cls) and (cls.min() < 0 or cls.max() >= num_classes):
            raise ValueError(f"multilabel_targets: image {i} has labels {(cls + offset).tolist()}"
                             f" outside [{offset}, {num_classes + offset})")
        out[i, cls] = 1.0
    return ember.tensor(out)


def multilabel_loss(logits, targets, pos_weight=None):
    """Binary cross-entropy on the sigmoid of each logit, averaged over images and classes."""
    if tuple(logits.shape) != tuple(targets.shape) or logits.dim() != 2:
        raise ValueError(f"multilabel_loss: logits and targets must both be (N, C), got "
                         f"{tuple(logits.shape)} and {tuple(targets.shape)}")
    return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)


def localisation_loss(logits, boxes, target_classes, target_boxes, image_size=64,
                      box_weight=1.0, beta=1.0 / 9):
    """``cross_entropy(logits, target_classes) + box_weight * smooth_l1_loss(boxes / size,
    target_boxes / size, beta=beta)`` (``size``: the image side, or (H, W)); returns
    ``(total, class_loss, box_loss)``."""
    n = logits.shape[0] if logits.dim() == 2 else -1
    if (logits.dim() != 2 or tuple(boxes.shape) != (n, 4)
            or tuple(target_boxes.shape) != (n, 4) or tuple(target_classes.shape) != (n,)):
        raise ValueError(f"localisation_loss: expected logits (N, C), boxes (N, 4), "
                         f"target_classes (N,) and target_boxes (N, 4), got "
                         f"{tuple(logits.shape)}, {tuple(boxes.shape)}, "
                         f"{tuple(target_classes.shape)} and {tuple(target_boxes.shape)}")
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    scale = ember.tensor([w, h, w, h], dtype=boxes.dtype, device=boxes.device)
    class_loss = F.cross_entropy(logits, target_classes)
    box_loss = F.smooth_l1_loss(boxes / scale, target_boxes / scale, beta=beta)
    return class_loss + box_weight * box_loss, class_loss, box_loss


multilabel_cnn.task = "multilabel"  # read by ember.train.autoencode.task_of
localisation_cnn.task = "localisation"
