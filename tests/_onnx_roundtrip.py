"""Shared by the ONNX tests: the oracles (onnx, onnxruntime) and one round trip: export,
``onnx.checker``, run by onnxruntime at the exported and at other batch sizes, compare with
ember's forward."""
import io

import numpy as np
from _parity import import_oracle

import ember
from ember import nn


def import_oracles():
    """(onnx, onnxruntime), or a skip; under CI (``CI`` set) a missing one is a failure."""
    return import_oracle("onnx", "onnxruntime")


def floats(*shape, seed=0, dtype=np.float32):
    return ember.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def run_onnx(proto, feeds):
    _, ort = import_oracles()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def outputs_of(out):
    if isinstance(out, ember.Tensor):
        return [out.numpy()]
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in outputs_of(o)]
    return []


def roundtrip(model, *batches, dynamic=None, rtol=1e-3, atol=1e-5, **kwargs):
    """Export ``model`` on the first batch (a tuple of Tensors) and check that onnxruntime
    gives ember's outputs on every batch. ``dynamic``: {input or output name: axes}.
    Returns the ModelProto."""
    onnx, _ = import_oracles()
    model.eval()
    buffer = io.BytesIO()
    proto = ember.onnx.export(model, batches[0], buffer, dynamic_axes=dynamic, **kwargs)
    onnx.checker.check_model(onnx.load_from_string(buffer.getvalue()), full_check=True)
    names = [i.name for i in proto.graph.input]
    for batch in batches:
        kw = batch[-1] if isinstance(batch[-1], dict) else {}
        batch = [t for t in batch if isinstance(t, ember.Tensor)]
        with ember.no_grad():
            want = outputs_of(model(*batch, **kw))
        got = run_onnx(proto, {n: t.numpy() for n, t in zip(names, batch)})
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return proto


def ops_of(proto):
    return [n.op_type for n in proto.graph.node]


class Lambda(nn.Module):
    """A module around a function of its inputs (for one op at a time)."""

    def __init__(self, fn, **params):
        super().__init__()
        self.fn = fn
        for k, v in params.items():
            setattr(self, k, v)

    def forward(self, *xs):
        return self.fn(self, *xs)


def randomize_batch_norms(model, seed=0):
    """Running statistics and affine parameters away from their initial 0 / 1, so that
    batch norm in eval mode does something."""
    rng = np.random.default_rng(seed)
    with ember.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                c = m.num_features
                m.running_mean.copy_(ember.tensor(rng.normal(0, 0.1, c).astype(np.float32)))
                m.running_var.copy_(ember.tensor(rng.uniform(0.5, 1.5, c).astype(np.float32)))
                if m.weight is not None:
                    m.weight.copy_(ember.tensor(rng.uniform(0.5, 1.5, c).astype(np.float32)))
                    m.bias.copy_(ember.tensor(rng.normal(0, 0.1, c).astype(np.float32)))
    return model
