"""How much of PyTorch's layer API ember has: the share of ``torch.nn``'s layer classes and of
``torch.nn.functional``'s functions that exist in ember under the same name, and what is
missing. Deprecated, CUDA-only and torch-internal names are left out (listed below, with why).

    python tools/api_coverage.py            # needs torch (the test extra)
"""
from __future__ import annotations

import inspect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ember  # noqa: E402

EXCLUDED_CLASSES = {
    "Container": "deprecated since PyTorch 0.4",
    "NLLLoss2d": "deprecated (NLLLoss takes N-d input)",
    "CrossMapLRN2d": "legacy Lua-torch layer",
    "DataParallel": "single-process multi-GPU, CUDA only (DistributedDataParallel is issue 24)",
    "SyncBatchNorm": "needs a process group (issue 24)",
    "RNNBase": "a base class, not a layer", "RNNCellBase": "a base class, not a layer",
}
EXCLUDED_FUNCTIONS = {
    "assert_int_or_pair": "torch-internal helper", "boolean_dispatch": "torch-internal helper",
    "handle_torch_function": "__torch_function__ machinery",
    "has_torch_function": "__torch_function__ machinery",
    "has_torch_function_unary": "__torch_function__ machinery",
    "has_torch_function_variadic": "__torch_function__ machinery",
    "native_channel_shuffle": "torch-internal kernel entry",
    "conv_tbc": "undocumented Fairseq kernel",
    "grouped_mm": "CUDA-only grouped GEMM", "scaled_mm": "CUDA-only FP8 GEMM",
    "scaled_grouped_mm": "CUDA-only FP8 grouped GEMM",
    "upsample": "deprecated (interpolate)", "upsample_bilinear": "deprecated (interpolate)",
    "upsample_nearest": "deprecated (interpolate)",
}


def torch_names():
    import torch.nn as tnn
    import torch.nn.functional as tf
    classes = {n for n, v in vars(tnn).items() if inspect.isclass(v)
               and issubclass(v, tnn.Module) and not n.startswith("_")}
    functions = {n for n, v in vars(tf).items() if callable(v) and not inspect.isclass(v)
                 and not n.startswith("_") and getattr(v, "__module__", "") != "typing"}
    return classes - set(EXCLUDED_CLASSES), functions - set(EXCLUDED_FUNCTIONS)


def coverage():
    """(share of classes, missing classes, share of functions, missing functions)."""
    classes, functions = torch_names()
    missing_c = sorted(n for n in classes if not hasattr(ember.nn, n))
    missing_f = sorted(n for n in functions if not hasattr(ember.nn.functional, n))
    return (1 - len(missing_c) / len(classes), missing_c,
            1 - len(missing_f) / len(functions), missing_f)


def main():
    share_c, missing_c, share_f, missing_f = coverage()
    print(f"torch.nn layer classes:      {share_c:6.1%} in ember.nn   "
          f"(missing {len(missing_c)}: {', '.join(missing_c)})")
    print(f"torch.nn.functional:         {share_f:6.1%} in ember.nn.functional   "
          f"(missing {len(missing_f)}: {', '.join(missing_f)})")
    print("left out of the count:")
    for name, why in {**EXCLUDED_CLASSES, **EXCLUDED_FUNCTIONS}.items():
        print(f"  {name}: {why}")


if __name__ == "__main__":
    main()
