"""SyncBatchNorm: batch norm whose training statistics cover the batch of every process."""
from __future__ import annotations

from ember import distributed
from ember.nn.functional.sync_batchnorm import sync_batch_norm
from ember.nn.modules.normalization import _BatchNorm
from ember.ops.inplace import increment_version

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    """``nn.BatchNorm{1,2,3}d`` over the whole data-parallel batch: in training, with a
    process group of more than one rank up, mean and variance are those of all ranks' inputs
    together (PyTorch's ``nn.SyncBatchNorm``); otherwise (evaluation, one process) it is
    ``F.batch_norm``. Takes input of shape (N, C, *); ``process_group`` defaults to the
    default group. Build one from a model's BatchNorm layers with
    :meth:`convert_sync_batchnorm`."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype)
        self.process_group = process_group

    def _check_input(self, x):
        if x.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {x.ndim}D input)")
        if x.shape[1] != self.num_features:
            raise ValueError(f"expected input of shape (N, {self.num_features}, *), got shape "
                             f"{tuple(x.shape)}")

    def _world(self):
        if self.process_group is not None:
            return self.process_group.size
        return distributed.get_world_size() if distributed.is_initialized() else 1

    def forward(self, input):
        self._check_input(input)
        if not (self.training and self._world() > 1):
            return super().forward(input)
        counting = self.track_running_stats
        factor = self.momentum
        if counting and self.momentum is None:  # cumulative moving average
            factor = 1.0 / (float(self.num_batches_tracked.array) + 1)
        y = sync_batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            factor, self.eps, self.process_group)
        if counting:
            self.num_batches_tracked.array += 1
            increment_version(self.num_batches_tracked)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm1d/2d/3d (itself or inside) replaced by a
        SyncBatchNorm holding the same parameters, buffers and mode (PyTorch's)."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            if module.affine:
                out.weight = module.weight
                if module.bias is None:
                    out.register_parameter("bias", None)
                else:
                    out.bias = module.bias
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(out, name, getattr(module, name))
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out

