"""Times of ember.vision.ops' region ops (torchvision does not import beside torch 2.13.0
here, so there is no ratio): 512 regions on (8, 64, 16, 16) float32 features, 7x7 outputs,
forward and the backward of ``.sum()``, best of 5; then RoIAlign against RoIPool on large
bins (Fast R-CNN's VGG16 conv5: 128 regions of 32-500 px on (2, 256, 38, 50) features,
``spatial_scale=1/16``, bins up to 10 pixels a side); prints docs/benchmarks.md's table rows.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_vision_ops.py
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

import ember
from ember.vision import ops


def large_bins(rng):
    """The (name, call) cases of 128 regions on VGG16 conv5-sized features (a 600x800 image)."""
    x = ember.tensor(rng.standard_normal((2, 256, 38, 50)).astype(np.float32),
                     requires_grad=True)
    xy, wh = rng.uniform(0, 700, (128, 2)) * [1, 0.75], rng.uniform(32, 500, (128, 2))
    rois = ember.tensor(np.c_[rng.integers(0, 2, 128), xy, np.minimum(xy + wh, [800, 600])]
                        .astype(np.float32))
    return [("roi_align sampling_ratio=2, large bins",
             lambda: ops.roi_align(x, rois, 7, 1 / 16, 2, True)),
            ("roi_pool, large bins", lambda: ops.roi_pool(x, rois, 7, 1 / 16))]


def main():
    rng = np.random.default_rng(0)
    x = ember.tensor(rng.standard_normal((8, 64, 16, 16)).astype(np.float32),
                     requires_grad=True)
    xy, wh = rng.uniform(0, 56, (512, 2)), rng.uniform(4, 32, (512, 2))
    rois = ember.tensor(np.c_[rng.integers(0, 8, 512), xy, np.minimum(xy + wh, 64)]
                        .astype(np.float32))
    cases = [("roi_align sampling_ratio=2", lambda: ops.roi_align(x, rois, 7, 0.25, 2, True)),
             ("roi_align adaptive", lambda: ops.roi_align(x, rois, 7, 0.25, -1, True)),
             ("roi_pool", lambda: ops.roi_pool(x, rois, 7, 0.25))]
    cases += large_bins(np.random.default_rng(1))
    for name, fn in cases:
        fwd, bwd = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            y = fn()
            t1 = time.perf_counter()
            y.sum().backward()
            fwd.append(t1 - t0)
            bwd.append(time.perf_counter() - t1)
        print(f"| {name} | {1000 * min(fwd):.1f} | {1000 * min(bwd):.1f} |")
    boxes = ember.tensor(np.c_[xy, xy + wh].astype(np.float32))
    scores = ember.tensor(rng.uniform(size=512).astype(np.float32))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        ops.nms(boxes, scores, 0.5)
        times.append(time.perf_counter() - t0)
    print(f"| nms, 512 boxes | {1000 * min(times):.1f} | - |")


if __name__ == "__main__":
    main()
