"""``ember export CKPT out.onnx``: a checkpoint written by ``ember train`` as an ONNX file
that onnxruntime (or any ONNX runtime) runs without ember. The graph takes normalised
images ``(x / scale - mean) / std`` of shape (batch, channels, *image size), the batch
dynamic, and returns the logits; the run's preprocessing and class names are stored in the
file's metadata (``metadata_props``)."""
from __future__ import annotations

import json

import numpy as np

DESCRIPTION = ("Export a checkpoint written by `ember train` to ONNX (needs the onnx package; "
               "--verify also onnxruntime).")


def add_command(sub, epilog):
    p = sub.add_parser("export", help="export a trained checkpoint to an ONNX file",
                       description=DESCRIPTION, epilog=epilog)
    p.add_argument("checkpoint", help="last.ckpt or best.ckpt of an `ember train` run")
    p.add_argument("output", help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (17 to 21; default 17)")
    p.add_argument("--static-batch", action="store_true",
                   help="fix the batch size to 1 instead of a dynamic batch axis")
    p.add_argument("--verify", action="store_true",
                   help="run the file with onnxruntime on random inputs at two batch sizes "
                        "and compare with ember")
    p.set_defaults(func=run)


def export_checkpoint(checkpoint, output, opset=17, dynamic=True):
    """Export the run's model; returns (ModelProto, model, example input)."""
    import ember
    import ember.onnx
    from ember.train.pipeline import RunError, load_run
    model, cfg, info = load_run(checkpoint)
    size = info.get("image_size")
    if not size:
        raise RunError(f"checkpoint '{checkpoint}' holds no image size (written by an older "
                       "ember?); keep results.json beside it")
    channels = int(cfg.get("model_kwargs", {}).get("in_channels", 1))
    x = ember.tensor(np.random.default_rng(0).standard_normal(
        (2, channels, *size)).astype(np.float32))
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
    proto = ember.onnx.export(model, (x if dynamic else x[:1],), None, input_names=["input"],
                              output_names=["logits"], dynamic_axes=axes,
                              opset_version=opset)
    meta = {"ember.model": cfg["model"], "ember.checkpoint": str(checkpoint),
            "ember.preprocessing": json.dumps({k: info[k] for k in (
                "mean", "std", "scale", "class_names", "image_size") if k in info})}
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    import onnx
    onnx.save(proto, str(output))
    return proto, model, x


def verify(proto, model, x):
    """The largest |onnxruntime - ember| over two batch sizes."""
    import onnxruntime

    import ember
    session = onnxruntime.InferenceSession(proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    worst = 0.0
    batch = [x.numpy()]
    if proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param:
        batch.append(np.concatenate([batch[0]] * 2 + [batch[0][:1]]))
    else:
        batch = [batch[0][:1]]
    for b in batch:
        with ember.no_grad():
            want = model(ember.tensor(b)).numpy()
        got = session.run(None, {"input": b})[0]
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def run(args) -> int:
    proto, model, x = export_checkpoint(args.checkpoint, args.output, args.opset,
                                        not args.static_batch)
    dims = [d.dim_param or str(d.dim_value) for d in
            proto.graph.input[0].type.tensor_type.shape.dim]
    print(f"wrote {args.output}: {len(proto.graph.node)} nodes, opset {args.opset}, "
          f"input 'input' ({', '.join(dims)}) float32 -> 'logits'")
    meta = {p.key: p.value for p in proto.metadata_props}
    print(f"inputs are normalised images: (x / scale - mean) / std with "
          f"{meta['ember.preprocessing']}")
    if args.verify:
        worst = verify(proto, model, x)
        print(f"onnxruntime vs ember: max |difference| {worst:.3g}")
        if not worst < 1e-3:
            from ember.train.pipeline import RunError
            raise RunError(f"onnxruntime differs from ember by {worst:.3g}; please report it")
    return 0
