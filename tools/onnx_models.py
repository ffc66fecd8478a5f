"""Export every model of ``ember.models`` (the registry and the models outside it) with
``ember.onnx.export``, dynamic batch, and compare onnxruntime with ember at two batch sizes.
Prints one line per model: nodes, export time, the largest relative difference, or the
error that names what cannot be exported.

    OPENBLAS_NUM_THREADS=1 python tools/onnx_models.py          # needs onnx, onnxruntime
    OPENBLAS_NUM_THREADS=1 python tools/onnx_models.py lenet5 vit_tiny
    OPENBLAS_NUM_THREADS=1 python tools/onnx_models.py --time   # ember vs onnxruntime speed
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

import ember
import ember.onnx
from ember import models

# registry name -> (builder kwargs, input shape without the batch)
REGISTRY = {
    "lenet5": ({}, (1, 32, 32)), "alexnet": ({"in_channels": 3}, (3, 64, 64)),
    "vgg_small_bn": ({}, (1, 28, 28)), "vgg11": ({"in_channels": 3}, (3, 32, 32)),
    "vgg11_bn": ({"in_channels": 3}, (3, 32, 32)), "vgg16": ({"in_channels": 3}, (3, 32, 32)),
    "googlenet": ({"in_channels": 3}, (3, 64, 64)), "gru1d": ({}, (1, 40)),
    "resnet18": ({"in_channels": 3}, (3, 32, 32)), "resnet50": ({"in_channels": 3}, (3, 32, 32)),
    "resnet20": ({"in_channels": 3}, (3, 32, 32)), "resnet56": ({"in_channels": 3}, (3, 32, 32)),
    "vit_tiny": ({}, (1, 28, 28)),
}


def _others():
    """Models outside the registry: (name, model, make_input(batch))."""
    from ember.models.gpt import GPT, GPTConfig
    rng = np.random.default_rng(0)
    tokens = (lambda v, t: lambda b: ember.tensor(rng.integers(0, v, (b, t))))
    gpt = GPT(GPTConfig(block_size=32, vocab_size=65, n_layer=2, n_head=4, n_embd=64,
                        dropout=0.0))
    out = [("gpt (no cache)", gpt, tokens(65, 16)),
           ("CharLSTM", models.CharLSTM(65, 64, 2), tokens(65, 16))]
    for name, make in (("dlfs_mlp", models.dlfs_mlp), ("dlfs_simple_convnet",
                       models.dlfs_simple_convnet), ("dlfs_deep_convnet",
                                                     models.dlfs_deep_convnet)):
        shape = (784,) if name == "dlfs_mlp" else (1, 28, 28)
        out.append((name, make(), lambda b, s=shape: ember.randn(b, *s)))
    return out


def check(name, model, make, batches=(2, 3)):
    import onnxruntime as ort
    model.eval()
    start = time.perf_counter()
    try:
        proto = ember.onnx.export(model, (make(batches[0]),), None, input_names=["x"],
                                  dynamic_axes={"x": [0]})
    except Exception as e:  # noqa: BLE001 - the line reports it
        return f"{name:22s} not exported: {type(e).__name__}: {e}"
    seconds = time.perf_counter() - start
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    worst = 0.0
    for b in batches:
        x = make(b)
        with ember.no_grad():
            want = model(x)
        want = (want[0] if isinstance(want, tuple) else want).numpy()
        got = session.run(None, {"x": x.numpy()})[0]
        worst = max(worst, float(np.abs(got - want).max() / (np.abs(want).max() + 1e-12)))
    return (f"{name:22s} {len(proto.graph.node):4d} nodes  export {seconds:5.2f} s  "
            f"max |ort - ember| / max |ember| = {worst:.1e} at batch {batches}")


def timing(reps=5):
    """Forward time of ember and of onnxruntime (one thread each) on the exported graph."""
    import onnxruntime as ort
    for name, shape in (("lenet5", (256, 1, 32, 32)), ("resnet20", (64, 3, 32, 32))):
        model = models.get_model(name, num_classes=10, in_channels=shape[1]).eval()
        x = ember.randn(*shape)
        proto = ember.onnx.export(model, (x,), None, input_names=["x"], dynamic_axes={"x": [0]})
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(proto.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        times = {"ember": [], "onnxruntime": []}
        for _ in range(reps + 1):  # the first of each is a warm-up
            start = time.perf_counter()
            with ember.no_grad():
                model(x)
            times["ember"].append(time.perf_counter() - start)
            start = time.perf_counter()
            session.run(None, {"x": x.numpy()})
            times["onnxruntime"].append(time.perf_counter() - start)
        print(f"{name} batch {shape[0]}: " + ", ".join(
            f"{k} {min(v[1:]) * 1e3:.1f} ms" for k, v in times.items()) + f" (best of {reps})")


def main(names):
    if names == ["--time"]:
        return timing()
    ember.manual_seed(0)
    for name, (kwargs, shape) in REGISTRY.items():
        if names and name not in names:
            continue
        model = models.get_model(name, num_classes=10, **kwargs)
        print(check(name, model, lambda b, s=shape: ember.randn(b, *s)), flush=True)
    for name, model, make in _others():
        if not names or name.split()[0] in names:
            print(check(name, model, make), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
