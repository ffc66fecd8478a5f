"""CenterNet ("Objects as Points", Zhou, Wang & Krahenbuhl 2019, https://arxiv.org/abs/1904.07850),
small: a one-stage anchor-free detector for the Fashion-MNIST scenes of issue 21.

Every object is one point, the centre of its box, on a (H/stride, W/stride) map: a per-class
heat map (sigmoid) is trained with the penalty-reduced focal loss against Gaussians splatted at
the centres (CenterNet's radius for IoU 0.7, sigma = diameter / 6, the maximum where two
Gaussians of one class meet); at each centre cell two more maps regress the box size (in cells,
L1, weight 0.1) and the sub-cell offset of the centre (L1, weight 1). Decoding keeps the cells
that equal the 3x3 max-pool of the heat map (the peaks), takes the top ``detections_per_img``
scores over all classes and cells, and reads each peak's box from its size and offset.

torchvision's detection interface: ``model.train(); model(images, targets)`` returns
``{"loss_heatmap", "loss_size", "loss_offset"}`` (weighted: their sum is the loss to minimise);
``model.eval(); model(images)`` returns one ``{"boxes", "labels", "scores"}`` per image.
``num_classes`` counts the background, as torchvision's: labels are in [1, num_classes) and the
heat map has one channel per class index (channel 0, the background, has no centres).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

import ember
from ember import nn
from ember.backend import to_numpy
from ember.nn import functional as F
from ember.tensor import Tensor
from ember.vision.targets import check_targets

__all__ = ["CenterNet", "CenterNetBackbone", "centernet", "decode_heatmap", "encode_targets",
           "focal_heatmap_loss", "gaussian_radius"]


def _conv_bn_relu(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


class CenterNetBackbone(nn.Module):
    """A small U-Net-like encoder/decoder with output stride 4: a 3x3 stem at full size, then
    per level a max-pool and two 3x3 conv-BN-ReLU (widths[1:], the last level at stride 8),
    and one transposed-convolution step back to stride 4 concatenated with the stride-4 map
    (skip) and two more conv-BN-ReLU. Output: (N, widths[2], H/4, W/4).

    Submodules: ``stem``, ``down.i`` (i = 0, 1, 2: strides 2, 4, 8), ``up``, ``fuse``.
    """

    def __init__(self, in_channels=1, widths=(16, 32, 64, 128)):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(f"CenterNetBackbone: widths needs 4 positive entries, got {widths}")
        self.widths = widths
        self.stem = nn.Sequential(*_conv_bn_relu(in_channels, widths[0]))
        self.down = nn.ModuleList([nn.Sequential(nn.MaxPool2d(2), *_conv_bn_relu(a, b),
                                                 *_conv_bn_relu(b, b))
                                   for a, b in itertools.pairwise(widths)])
        self.up = nn.ConvTranspose2d(widths[3], widths[2], 2, stride=2)
        self.fuse = nn.Sequential(*_conv_bn_relu(2 * widths[2], widths[2]),
                                  *_conv_bn_relu(widths[2], widths[2]))
        self.out_channels = widths[2]

    def forward(self, x):
        x = self.stem(x)
        x = self.down[0](x)
        s4 = self.down[1](x)
        s8 = self.down[2](s4)
        return self.fuse(ember.cat([self.up(s8), s4], dim=1))


def _head(c_in, c_mid, c_out, bias=0.0):
    head = nn.Sequential(nn.Conv2d(c_in, c_mid, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(c_mid, c_out, 1))
    if bias:
        nn.init.constant_(head[2].bias, bias)
    return head


def gaussian_radius(height, width, min_overlap=0.7):
    """CenterNet's Gaussian radius (in cells) for a (height, width) box: the smallest of the
    three corner displacements that keep IoU >= ``min_overlap`` (CornerNet's formula)."""
    h, w, m = float(height), float(width), float(min_overlap)
    b1, c1 = h + w, w * h * (1 - m) / (1 + m)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - m) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * m, -2 * m * (h + w), (m - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def encode_targets(targets, num_classes, out_size, stride):
    """The training maps of CenterNet for ``targets`` (one dict with ``boxes`` (n, 4) x1y1x2y2
    in pixels and ``labels`` (n,) per image) on a (h, w) = ``out_size`` grid of ``stride``.

    Returns float64 NumPy arrays ``heatmap`` (N, num_classes, h, w), ``size`` (N, 2, h, w)
    (box width, height in cells), ``offset`` (N, 2, h, w) (centre minus its cell, in cells),
    ``mask`` (N, 1, h, w) (1 at each object's centre cell). An object's centre cell is
    ``floor(centre / stride)``; its heat map holds 1 there and the Gaussian around it;
    a later object whose centre falls in the same cell overwrites the size and offset.
    """
    h, w = out_size
    n = len(targets)
    heat = np.zeros((n, num_classes, h, w))
    size = np.zeros((n, 2, h, w))
    offset = np.zeros((n, 2, h, w))
    mask = np.zeros((n, 1, h, w))
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    for i, t in enumerate(targets):
        boxes = np.asarray(_host(t["boxes"]), np.float64).reshape(-1, 4) / stride
        labels = np.asarray(_host(t["labels"])).reshape(-1)
        for (x1, y1, x2, y2), c in zip(boxes, labels):
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            ix, iy = min(math.floor(cx), w - 1), min(math.floor(cy), h - 1)
            bw, bh = x2 - x1, y2 - y1
            radius = max(0, int(gaussian_radius(math.ceil(bh), math.ceil(bw))))
            sigma = (2 * radius + 1) / 6
            g = np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma ** 2))
            g[(np.abs(xs - ix) > radius) | (np.abs(ys - iy) > radius)] = 0
            np.maximum(heat[i, c], g, out=heat[i, c])
            size[i, :, iy, ix] = (bw, bh)
            offset[i, :, iy, ix] = (cx - ix, cy - iy)
            mask[i, 0, iy, ix] = 1
    return {"heatmap": heat, "size": size, "offset": offset, "mask": mask}


def _host(x):
    return to_numpy(x.detach().array) if isinstance(x, Tensor) else np.asarray(x)


def decode_heatmap(heatmap, size, offset, stride, k=100, score_thresh=0.05, image_size=None):
    """Detections from CenterNet's maps: ``heatmap`` (N, C, h, w) *probabilities*, ``size`` and
    ``offset`` (N, 2, h, w) in cells (Tensors or arrays). A cell is a peak when it equals the
    maximum of its 3x3 neighbourhood; the top ``k`` peaks over all classes and cells with
    score > ``score_thresh`` give boxes ``((x + dx) -+ w / 2, (y + dy) -+ h / 2) * stride``,
    clipped to ``image_size`` (H, W) when given. Returns one dict per image with ``boxes``
    (float32, x1y1x2y2), ``labels`` (int64, the channel) and ``scores``, by decreasing score.
    """
    heat = heatmap if isinstance(heatmap, Tensor) else ember.tensor(np.asarray(heatmap))
    with ember.no_grad():
        peaks = F.max_pool2d(heat, 3, stride=1, padding=1)
    hm, pk = _host(heat), _host(peaks)
    sz, off = _host(size), _host(offset)
    n, _, h, w = hm.shape
    hm = np.where(hm == pk, hm, 0).reshape(n, -1)
    out = []
    for i in range(n):
        order = np.argsort(-hm[i], kind="stable")[:k]
        order = order[hm[i, order] > score_thresh]
        cls, pix = np.divmod(order, h * w)
        y, x = np.divmod(pix, w)
        cx = (x + off[i, 0, y, x]) * stride
        cy = (y + off[i, 1, y, x]) * stride
        bw, bh = sz[i, 0, y, x] * stride, sz[i, 1, y, x] * stride
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        if image_size is not None:
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, image_size[1])
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, image_size[0])
        out.append({"boxes": ember.tensor(boxes.astype(np.float32).reshape(-1, 4)),
                    "labels": ember.tensor(cls.astype(np.int64)),
                    "scores": ember.tensor(hm[i, order].astype(np.float32))})
    return out


def focal_heatmap_loss(logits, target):
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4) of heat-map ``logits`` against
    the Gaussian ``target`` (same shape), summed and divided by the number of centres (>= 1)."""
    pos = (target == 1).to(logits.dtype)
    p = ember.sigmoid(logits)
    pos_term = pos * (1 - p) ** 2 * F.logsigmoid(logits)
    neg_term = (1 - pos) * (1 - target) ** 4 * p ** 2 * F.logsigmoid(-logits)
    return -(pos_term + neg_term).sum() / pos.sum().clamp(min=1)


class CenterNet(nn.Module):
    """CenterNet on a small backbone (stride 4); see the module's docstring.

    Args:
        num_classes: classes including the background (11 for the scenes).
        in_channels: image channels.
        widths: the backbone's four widths (``CenterNetBackbone``).
        head_channels: hidden width of each head (3x3 conv + ReLU + 1x1 conv).
        score_thresh, detections_per_img: decoding (torchvision's ``box_score_thresh``,
            ``box_detections_per_img``).
        size_weight, offset_weight: the weights of the size and offset losses.

    Submodules: ``backbone``, ``heatmap_head``, ``size_head``, ``offset_head``.
    """

    stride = 4

    def __init__(self, num_classes=11, in_channels=1, widths=(16, 32, 64, 128),
                 head_channels=64, score_thresh=0.05, detections_per_img=100,
                 size_weight=0.1, offset_weight=1.0):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"CenterNet: num_classes counts the background and must be >= 2, "
                             f"got {num_classes}")
        self.num_classes = int(num_classes)
        self.score_thresh = float(score_thresh)
        self.detections_per_img = int(detections_per_img)
        self.size_weight, self.offset_weight = float(size_weight), float(offset_weight)
        self.backbone = CenterNetBackbone(in_channels, widths)
        c = self.backbone.out_channels
        self.heatmap_head = _head(c, head_channels, self.num_classes, bias=-2.19)
        self.size_head = _head(c, head_channels, 2)
        self.offset_head = _head(c, head_channels, 2)

    def _batch(self, images):
        if isinstance(images, Tensor):
            x = images if images.dim() == 4 else images.unsqueeze(0)
        else:
            images = list(images)
            shapes = {tuple(im.shape) for im in images}
            if not images or len(shapes) != 1 or len(next(iter(shapes))) != 3:
                raise ValueError(f"CenterNet: expected a list of (C, H, W) images of one size "
                                 f"or an (N, C, H, W) Tensor, got shapes "
                                 f"{[tuple(im.shape) for im in images]}")
            x = ember.stack(images)
        if x.dim() != 4 or x.shape[2] % 8 or x.shape[3] % 8:
            raise ValueError(f"CenterNet: images must be (N, C, H, W) with H and W divisible "
                             f"by 8, got {tuple(x.shape)}")
        return x

    def head_outputs(self, x):
        """(heat-map logits, size, offset) maps of a (N, C, H, W) batch."""
        f = self.backbone(x)
        return self.heatmap_head(f), self.size_head(f), self.offset_head(f)

    def forward(self, images, targets=None):
        x = self._batch(images)
        if self.training:
            if targets is None:
                raise ValueError("CenterNet: in training mode targets must be given "
                                 "(model(images, targets)); call model.eval() to detect")
            check_targets(x, targets, require_masks=self.requires_masks,
                          num_classes=self.num_classes, who=f"{type(self).__name__}: targets")
        features = self.backbone(x)
        heat, size, offset = (self.heatmap_head(features), self.size_head(features),
                              self.offset_head(features))
        if self.training:
            losses = self.loss(heat, size, offset, targets)
            losses.update(self.extra_losses(features, targets))
            return losses
        detections = decode_heatmap(ember.sigmoid(heat.detach()), size.detach(),
                                    offset.detach(), self.stride, self.detections_per_img,
                                    self.score_thresh, image_size=tuple(x.shape[-2:]))
        return self.extra_outputs(features, detections, tuple(x.shape[-2:]))

    requires_masks = False

    def extra_losses(self, features, targets):
        """More losses from the stride-4 ``features`` (a subclass's heads): none here."""
        return {}

    def extra_outputs(self, features, detections, image_size):
        """More outputs per detection (a subclass's heads): the detections unchanged here."""
        return detections

    def loss(self, heat, size, offset, targets):
        """The weighted losses of the head outputs against ``targets``."""
        enc = encode_targets(targets, self.num_classes, tuple(heat.shape[-2:]), self.stride)
        t = {k: ember.tensor(v, dtype=heat.dtype, device=heat.device) for k, v in enc.items()}
        mask, num = t["mask"], t["mask"].sum().clamp(min=1)
        return {"loss_heatmap": focal_heatmap_loss(heat, t["heatmap"]),
                "loss_size": self.size_weight * ((size - t["size"]).abs() * mask).sum() / num,
                "loss_offset": self.offset_weight * ((offset - t["offset"]).abs() * mask).sum()
                / num}


def centernet(num_classes=11, in_channels=1, **kwargs):
    """The scenes' CenterNet (stride 4, backbone widths 16-32-64-128)."""
    return CenterNet(num_classes=num_classes, in_channels=in_channels, **kwargs)


centernet.task = "detection"  # read by ember.train.autoencode.task_of
