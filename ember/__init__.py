"""ember: a deep learning framework written from scratch on NumPy (and CuPy on NVIDIA GPUs).

The public surface mirrors PyTorch: ``ember.tensor``, ``ember.randn``, ``ember.no_grad``,
``x.backward()``, ... See docs/architecture.md for how the pieces fit.
"""
from importlib import import_module as _import_module

from ember import backend
from ember.tensor import Size, Tensor, is_tensor  # first: tensor -> ops -> autograd
from ember.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ember.inference import inference_mode, is_inference_mode_enabled
from ember.backend import (Device, bool_, cuda_available, float16, float32, float64,
                           get_default_dtype, get_rng_state, int8, int16, int32, int64,
                           manual_seed, set_default_dtype, set_rng_state, uint8)
from ember.ops import *
from ember.ops.creation import BoolTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor
from ember import autograd, ops

from ember.ops.public import checked_namespace

globals().update(checked_namespace())  # ember.exp(np_array): PyTorch's TypeError
# torch.linalg's twin; the * above had bound ember.ops.linalg (matmul, einsum) to this name
linalg = _import_module("ember.linalg")
from ember import optim

__version__ = "0.1.0"

bool = bool_
float = float32
double = float64
half = float16
long = int64
int = int32


device = Device  # ember.device("cuda", 0), isinstance(d, ember.device), as torch.device


class cuda:
    """``ember.cuda.is_available()``, ``device_count()``, ``manual_seed(seed)`` (GPU 0, the
    current device) and ``manual_seed_all(seed)`` (every GPU); the seeds are those
    ``ember.manual_seed(seed)`` gives the GPUs, and without a GPU they do nothing."""
    is_available = staticmethod(cuda_available)
    device_count = staticmethod(backend.cuda_device_count)

    @staticmethod
    def manual_seed(seed):
        backend.manual_seed(seed, [Device("cuda", 0)])

    @staticmethod
    def manual_seed_all(seed):
        backend.manual_seed(seed, [Device("cuda", i) for i in range(backend.cuda_device_count())])
from ember.io.checkpoint import save, load
from ember import data, nn
from ember.summary import summary
from ember import models
from ember import onnx  # noqa: F401 - ember.onnx.export as torch.onnx (onnx imported on use)
from ember import accelerator, amp
from ember.amp import autocast
