"""ONNX export (``ember.onnx.export``, PyTorch's ``torch.onnx.export``): a tracer that runs
the model once and writes each op it runs as ONNX nodes (see ``ember/onnx/export.py``).
Needs the ``onnx`` package (``pip install 'ember[onnx]'``); ember itself does not."""
from ember.onnx.export import export
from ember.onnx.graph import ExportError

__all__ = ["ExportError", "export"]
