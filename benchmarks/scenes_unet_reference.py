"""Issue 21's reference, reproduced: a U-Net on the Fashion-MNIST scenes, evaluated as semantic
segmentation (pixel accuracy, mIoU over 11 classes) and, through connected components of each
predicted class, as detection (COCO box AP, AP50) and instance segmentation (mask AP).

    OPENBLAS_NUM_THREADS=1 python benchmarks/scenes_unet_reference.py            # ember
    OPENBLAS_NUM_THREADS=1 python benchmarks/scenes_unet_reference.py --framework torch
    python benchmarks/scenes_unet_reference.py --evaluate unet.pt                  # no training

The recipe: ``FashionScenes`` defaults (10,000 train scenes seed 0 from the full Fashion-MNIST
train split, 1,000 test scenes seed 1 from its test split, 64x64), ``ember.models.unet()``
(16-32-64, 2 poolings, BN, transposed convolutions), cross-entropy, Adam(lr=1e-3), batch 64
(shuffled by ``default_rng(seed)``), 3 epochs; then on the test split: argmax classes, and
per predicted class its 4-connected components of >= 20 pixels as instances (score = the
mean probability of the class over the component, box = its tight box). PyTorch's figures
(issue 21): pixel accuracy 0.942, mIoU 0.590, box AP 0.541 / AP50 0.647, mask AP 0.520.
``--framework torch`` trains the same recipe in PyTorch (a twin of the U-Net written below,
same initial weights, same batches), evaluated by the same code; ``--pycocotools`` also prints
pycocotools' figures for the same predictions.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

import ember
from benchmarks.harness import report_figures
from ember.data.datasets.scenes import FashionScenes

REFERENCE = {"pixel_accuracy": 0.942, "miou": 0.590, "box_ap": 0.541, "box_ap50": 0.647,
             "mask_ap": 0.520}


def torch_unet(torch, widths=(16, 32, 64), num_classes=11, in_channels=1):
    """The U-Net written in PyTorch, submodule names as ``ember.models.UNet``'s."""
    nn = torch.nn

    def double(c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                             nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                             nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                             nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.ModuleList([double(a, b) for a, b in
                                       zip((in_channels,) + widths, widths)])
            self.pool = nn.MaxPool2d(2)
            rev = widths[::-1]
            self.up = nn.ModuleList([nn.ConvTranspose2d(a, b, 2, stride=2)
                                     for a, b in itertools.pairwise(rev)])
            self.dec = nn.ModuleList([double(2 * c, c) for c in rev[1:]])
            self.head = nn.Conv2d(widths[0], num_classes, 1)

        def forward(self, x):
            skips = []
            for i, block in enumerate(self.down):
                x = block(x if i == 0 else self.pool(x))
                skips.append(x)
            for up, dec, skip in zip(self.up, self.dec, skips[-2::-1]):
                x = dec(torch.cat([up(x), skip], dim=1))
            return self.head(x)
    return UNet()


def build(framework, seed):
    """(library, model): ember's U-Net, or the torch twin holding ember's initial weights."""
    ember.manual_seed(seed)
    model = ember.models.unet()
    if framework == "ember":
        return ember, model
    import torch
    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", "1")))
    twin = torch_unet(torch)
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                          for k, v in model.state_dict().items()})
    return torch, twin


def train(lib, model, data, epochs, batch_size, lr, seed, cosine=False, log_every=20):
    """The recipe's training loop (``cosine``: the learning rate decays to 0 by step, for the
    longer schedules); returns seconds."""
    opt = lib.optim.Adam(model.parameters(), lr=lr)
    total_steps = epochs * -(-len(data) // batch_size)
    sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, total_steps) if cosine else None
    loss_fn = lib.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    model.train()
    start = time.perf_counter()
    n = len(data)
    for epoch in range(epochs):
        order = rng.permutation(n)
        total, steps = 0.0, 0
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            x = lib.from_numpy(data.images[idx][:, None].astype(np.float32) / 255)
            y = lib.from_numpy(data.semantic[idx].astype(np.int64))
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += float(loss.item())
            steps += 1
            if steps % log_every == 0:
                print(f"epoch {epoch + 1} step {steps}: loss {total / steps:.4f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
        print(f"epoch {epoch + 1}: mean loss {total / steps:.4f}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    return time.perf_counter() - start


def predict_probs(lib, model, data, batch_size=100):
    """Softmax probabilities (N, 11, H, W) float32 NumPy on ``data``, in eval mode."""
    model.eval()
    out = []
    with lib.no_grad():
        for s in range(0, len(data), batch_size):
            x = lib.from_numpy(data.images[s:s + batch_size][:, None].astype(np.float32) / 255)
            out.append(lib.softmax(model(x), dim=1).numpy())
    return np.concatenate(out)


def evaluate(probs, data, with_pycocotools=False, connectivity=4):
    """The reference's figures for softmax ``probs`` on the scenes ``data``."""
    from ember.vision.metrics import coco_evaluate, segmentation_scores
    from ember.vision.segmentation import semantic_to_instances
    pred = probs.argmax(1)
    scores = segmentation_scores(pred, data.semantic, num_classes=11)
    preds = [semantic_to_instances(p, min_area=20, connectivity=connectivity) for p in probs]
    targets = [{"boxes": data.boxes[i], "labels": data.labels[i], "masks": data.masks(i)}
               for i in range(len(data))]
    box = coco_evaluate(preds, targets, iou_type="bbox")
    mask = coco_evaluate(preds, targets, iou_type="segm")
    print("per-class IoU:", " ".join(f"{v:.3f}" for v in scores["iou"]))
    out = {"pixel_accuracy": scores["pixel_accuracy"], "miou": scores["miou"],
           "box_ap": box["map"], "box_ap50": box["map_50"], "mask_ap": mask["map"]}
    if with_pycocotools:
        from ember.vision.metrics import pycocotools_evaluate
        for kind in ("bbox", "segm"):
            ref = pycocotools_evaluate(preds, targets, iou_type=kind)
            print(f"pycocotools {kind}: AP {ref['map']:.4f} AP50 {ref['map_50']:.4f}")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", choices=("ember", "torch"), default="ember")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cosine", action="store_true",
                        help="decay the learning rate to 0 by a cosine over the run's steps")
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--test-size", type=int, default=1_000)
    parser.add_argument("--save", default=None, help="write the trained state_dict here")
    parser.add_argument("--evaluate", default=None,
                        help="skip training: load this state_dict (ember.save file)")
    parser.add_argument("--pycocotools", action="store_true")
    parser.add_argument("--connectivity", type=int, default=4, choices=(4, 8),
                        help="of the connected components (4: SciPy's default)")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args(argv)
    train_data = FashionScenes(train=True, num_images=args.train_size)
    test_data = FashionScenes(train=False, num_images=args.test_size)
    lib, model = build(args.framework, args.seed)
    seconds = 0.0
    if args.evaluate:
        state = ember.load(args.evaluate)
        if args.framework == "torch":
            import torch
            state = {k: torch.from_numpy(v.numpy().copy()) for k, v in state.items()}
        model.load_state_dict(state)
    else:
        seconds = train(lib, model, train_data, args.epochs, args.batch_size, args.lr,
                        args.seed, args.cosine)
        if args.save:
            state = model.state_dict()
            if args.framework == "torch":
                state = {k: ember.tensor(v.detach().numpy()) for k, v in state.items()}
            ember.save(state, args.save)
    start = time.perf_counter()
    probs = predict_probs(lib, model, test_data)
    infer = time.perf_counter() - start
    figures = evaluate(probs, test_data, args.pycocotools, args.connectivity)
    figures.update(framework=args.framework, train_seconds=round(seconds, 1),
                   inference_images_per_s=round(len(test_data) / infer, 1))
    report_figures(figures, args.json, REFERENCE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
