"""The GRU baseline of MNIST-1D (Greydanus, "Scaling Down Deep Learning", 2020).

The paper's recurrent model reads the 40 samples of a sequence one at a time with a
bidirectional GRU of 6 hidden units per direction, starting from zero states; the outputs of
*every* time step (40 x 2 x 6 = 480 numbers) are flattened and a linear layer maps them to the
10 classes. At 10 classes that is 5,134 parameters (GRU 2 x 162, linear 480 x 10 + 10). The
paper trains it with Adam (lr 1e-2, batch 100, 6,001 steps, no weight decay) to 91% test
accuracy (the repository's benchmark table).
"""
from __future__ import annotations

from ember import nn

__all__ = ["GRU1D", "gru1d"]


class GRU1D(nn.Module):
    """A (bidirectional) GRU over a 1-D signal whose flattened outputs feed a linear layer.

    Args:
        num_classes: outputs of the linear head.
        in_channels: features per time step (1 for MNIST-1D).
        time_steps: the sequence length (the head reads every step's output: 40 for MNIST-1D).
        hidden_size: GRU units per direction (the paper: 6).
        bidirectional: a second GRU reads the sequence backwards (the paper: True).

    Shape: ``(N, in_channels, time_steps)`` (the ``Conv1d`` layout) or, with one channel,
    ``(N, time_steps)`` -> ``(N, num_classes)``. The submodules are the paper's ``gru`` and
    ``linear``, so state_dict keys equal its PyTorch model's (``gru.weight_ih_l0``, ...).
    """

    def __init__(self, num_classes=10, in_channels=1, time_steps=40, hidden_size=6,
                 bidirectional=True):
        super().__init__()
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels),
                            ("time_steps", time_steps), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GRU1D: {name} must be a positive integer, got {value!r}")
        self.in_channels, self.time_steps = in_channels, time_steps
        self.gru = nn.GRU(in_channels, hidden_size, batch_first=True,
                          bidirectional=bidirectional)
        directions = 2 if bidirectional else 1
        self.linear = nn.Linear(directions * hidden_size * time_steps, num_classes)

    def forward(self, x):
        if x.dim() == 2 and self.in_channels == 1:
            x = x.unsqueeze(1)
        if x.dim() != 3 or tuple(x.shape[1:]) != (self.in_channels, self.time_steps):
            raise ValueError(f"GRU1D: expected input of shape (N, {self.in_channels}, "
                             f"{self.time_steps})" + (f" or (N, {self.time_steps})"
                                                      if self.in_channels == 1 else "")
                             + f", got {tuple(x.shape)}")
        out, _ = self.gru(x.transpose(1, 2))  # (N, T, C) -> (N, T, D * hidden)
        return self.linear(out.flatten(1))


def gru1d(num_classes=10, in_channels=1, time_steps=40, hidden_size=6, bidirectional=True):
    """The MNIST-1D GRU baseline: bidirectional, 6 units, linear head over all 40 steps
    (5,134 parameters at 10 classes)."""
    return GRU1D(num_classes, in_channels, time_steps, hidden_size, bidirectional)
