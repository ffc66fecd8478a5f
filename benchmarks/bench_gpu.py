"""ember on the GPU (CuPy) against PyTorch on the same GPU: the CNN workloads of
``bench_cnn.py`` (LeNet-5 and CIFAR ResNet-20; training step, batch 128, and inference,
batch 256), float32, same weights and data.

    python benchmarks/bench_gpu.py            # needs CuPy and a CUDA GPU

PyTorch runs its own kernels (cuDNN convolutions, fused elementwise ops); ember runs its
NumPy-style code on CuPy (im2col + cuBLAS products, one CuPy kernel per elementwise op).
Every timed call ends with a device synchronisation, so the ratios compare finished work.
No targets: the numbers say where the GPU backend stands.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # first: it sets the BLAS thread count before NumPy loads
from benchmarks.bench_cnn import data, twins


def synchronised(fn, sync):
    def run(*args):
        out = fn(*args)
        sync()
        return out
    return run


def main():
    torch = harness.import_torch()
    import ember
    if not (torch.cuda.is_available() and ember.cuda.is_available()):
        print("no CUDA GPU seen by both PyTorch and CuPy: nothing to measure")
        return 0
    import cupy
    e_sync, t_sync = cupy.cuda.Device().synchronize, torch.cuda.synchronize
    print(f"GPU: {torch.cuda.get_device_name()}, float32; ratio = ember / torch")
    rows = []
    for name in ("lenet", "resnet20"):
        (e_model, e_step, e_infer), (t_model, t_step, t_infer) = twins(name, "cuda")
        e_step, e_infer = synchronised(e_step, e_sync), synchronised(e_infer, e_sync)
        t_step, t_infer = synchronised(t_step, t_sync), synchronised(t_infer, t_sync)
        ex, ey = data("ember", name, 128, device="cuda")
        tx, ty = data("torch", name, 128, device="cuda")
        what = f"{name} train step (batch 128)"
        rows.append((what, harness.compare(what, lambda: e_step(ex, ey),
                                           lambda: t_step(tx, ty), repeat=30, warmup=5)))
        e_model.eval()
        t_model.eval()
        ex, _ = data("ember", name, 256, device="cuda")
        tx, _ = data("torch", name, 256, device="cuda")
        what = f"{name} inference (batch 256)"
        rows.append((what, harness.compare(what, lambda: e_infer(ex), lambda: t_infer(tx),
                                           repeat=30, warmup=5)))
    print("\n| benchmark (GPU) | ratio |\n|---|---|")
    for what, ratio in rows:
        print(f"| {what} | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
