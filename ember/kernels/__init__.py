"""Code that exists only for speed or for one device, each behind one entry point that a
layer family (``ember.nn.functional``) or an op calls, beside the plain route it replaces:

- ``conv_cpu.conv``: stride-1 convolution on the CPU as one in-place GEMM per kernel offset
  (no im2col); returns None where it does not apply. ``blas.gemm`` is its ctypes binding to
  the ``?gemm`` of the BLAS NumPy loaded.
- ``cuda_norm``: batch norm on CuPy as a few fused kernels (``fits`` says when).
- ``frames``: reusable scratch buffers and padded frames for convolution and pooling.
- ``arrays``: ``contract`` (two-operand einsum) and ``positive_part`` (max(x, 0)), the
  fast form on each device.

Only this package and ``ember.backend`` branch on the device (tests/test_architecture.py).
"""
