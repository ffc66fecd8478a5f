"""Recurrent layers: RNN, LSTM and GRU over whole sequences, and their one-step cells.

Signatures, defaults, parameter names and shapes are PyTorch's (``weight_ih_l0``,
``weight_hh_l1_reverse``, ``weight_hr_l0`` ...), so a state_dict moves 1:1 both ways. The
maths is in ``ember.nn.functional.rnn``.
"""
from __future__ import annotations

import math
import numbers

from ember.nn import init
from ember.nn.functional import rnn as R
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter
from ember.nn.utils.rnn import PackedSequence, packed_to_padded, padded_to_packed
from ember.ops.creation import empty

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _positive(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be greater than zero, got {value!r}")


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the stack of layers, the parameters, the checks.

    ``mode`` is ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"``.
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        _positive("hidden_size", hidden_size)
        _positive("num_layers", num_layers)
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) \
                or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size has to be smaller than hidden_size, got proj_size="
                             f"{proj_size} and hidden_size={hidden_size}")
        R.check_dropout_layers(dropout, num_layers)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        directions = 2 if bidirectional else 1
        gate_size = R.GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * directions
            for suffix in ("", "_reverse")[:directions]:
                shapes = {"weight_ih": (gate_size, layer_input),
                          "weight_hh": (gate_size, real_hidden)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for kind, shape in shapes.items():
                    name = f"{kind}_l{layer}{suffix}"
                    setattr(self, name, Parameter(empty(*shape, dtype=dtype, device=device)))
                    self._flat_weights_names.append(name)
        self.reset_parameters()

    def reset_parameters(self):
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        """The parameters grouped per layer and direction, as PyTorch's ``all_weights``."""
        per = len(self._flat_weights_names) // (self.num_layers * (1 + self.bidirectional))
        w = self._flat_weights
        return [w[i:i + per] for i in range(0, len(w), per)]

    def flatten_parameters(self):
        """PyTorch packs weights into one buffer for cuDNN here; ember's recurrence reads
        the parameters as they are, so there is nothing to do."""

    def _weights(self):
        """(w_ih, w_hh, b_ih, b_hh, w_hr) per layer and direction, absent ones None."""
        kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
        return [tuple(getattr(self, f"{k}_l{layer}{sfx}", None) for k in kinds)
                for layer in range(self.num_layers)
                for sfx in ("", "_reverse")[:1 + self.bidirectional]]

    def _state_shapes(self, batch):
        layers = self.num_layers * (1 + self.bidirectional)
        h = (layers, batch, self.proj_size or self.hidden_size)
        return (h, (layers, batch, self.hidden_size)) if self.mode == "LSTM" else (h,)

    def _check_states(self, hx, batch, unbatched):
        """hx as PyTorch takes it (per state: (L*D, B, P), or (L*D, P) unbatched)."""
        states = hx if self.mode == "LSTM" else (hx,)
        if self.mode == "LSTM" and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError("LSTM: hx must be a tuple (h_0, c_0) of tensors, got "
                            f"{type(hx).__name__}")
        for k, (state, shape) in enumerate(zip(states, self._state_shapes(batch))):
            which = f"hidden[{k}]" if self.mode == "LSTM" else "hidden"
            if unbatched and state.dim() != 2:
                raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got "
                                   f"{state.dim()}-D tensor")
            if not unbatched and state.dim() != 3:
                raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got "
                                   f"{state.dim()}-D tensor")
            got = tuple(state.shape) if not unbatched else (state.shape[0], 1, state.shape[1])
            if got != shape:
                expected = shape if not unbatched else (shape[0], shape[2])
                raise RuntimeError(f"Expected {which} size {expected}, got {list(state.shape)}")

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            x = packed_to_padded(data, batch_sizes)
            sizes = batch_sizes.array if hasattr(batch_sizes, "array") else batch_sizes
            unbatched = False
        else:
            if input.dim() not in (2, 3):
                raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got "
                                 f"{input.dim()}D tensor instead")
            unbatched = input.dim() == 2
            x = input.unsqueeze(1) if unbatched else input
            x = x.transpose(0, 1) if self.batch_first and not unbatched else x
            sizes = sorted_indices = unsorted_indices = None
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.shape[-1]}")
        if hx is not None:
            self._check_states(hx, x.shape[1], unbatched)
            states = hx if self.mode == "LSTM" else (hx,)
            states = [s.unsqueeze(1) if unbatched else s for s in states]
            if sorted_indices is not None:  # PyTorch takes hx in the caller's batch order
                states = [s.index_select(1, sorted_indices) for s in states]
            hx = tuple(states) if self.mode == "LSTM" else states[0]
        out, h = R.rnn(self.mode, x, hx, self._weights(), self.num_layers, self.dropout,
                       self.training, self.bidirectional, sizes)
        states = list(h) if self.mode == "LSTM" else [h]
        if packed:
            out = PackedSequence(padded_to_packed(out, batch_sizes), batch_sizes,
                                 sorted_indices, unsorted_indices)
            if unsorted_indices is not None:
                states = [s.index_select(1, unsorted_indices) for s in states]
        elif unbatched:
            out, states = out.squeeze(1), [s.squeeze(1) for s in states]
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, (tuple(states) if self.mode == "LSTM" else states[0])

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` per layer.

    Args:
        input_size, hidden_size: features of the input and of the hidden state.
        num_layers: stacked layers (default 1); each layer reads the outputs of the one below.
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.
        bias: learn ``b_ih`` and ``b_hh`` (default True).
        batch_first: input and output are (B, T, ·) instead of (T, B, ·) (not the states).
        dropout: dropout on the outputs of every layer but the last (default 0).
        bidirectional: a second pass reads the sequence backwards; outputs concatenate.

    Shape: input (T, B, input_size), (T, input_size) unbatched, or a ``PackedSequence``;
    ``h_0`` (num_layers * D, B, hidden_size) (zeros when omitted) -> output
    (T, B, D * hidden_size) and ``h_n`` like ``h_0``.

    Example:
        >>> import ember
        >>> rnn = ember.nn.RNN(10, 20, num_layers=2)
        >>> out, h_n = rnn(ember.randn(5, 3, 10))
        >>> out.shape, h_n.shape
        (ember.Size([5, 3, 20]), ember.Size([2, 3, 20]))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype)
        self.nonlinearity = nonlinearity

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity}"


class LSTM(RNNBase):
    """Long short-term memory: a cell state ``c`` that gates write, keep and read.

    ``i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (x W_ih^T + b_ih + h W_hh^T + b_hh)``;
    ``c_t = f * c_{t-1} + i * g``; ``h_t = o * tanh(c_t)`` (times ``W_hr^T`` when
    ``proj_size > 0``, which makes ``h`` proj_size wide).

    Args: as :class:`RNN` (no nonlinearity), plus ``proj_size`` (default 0: none).

    Shape: input as :class:`RNN`; ``hx = (h_0, c_0)`` with ``h_0`` (num_layers * D, B, P)
    (P = proj_size or hidden_size) and ``c_0`` (num_layers * D, B, hidden_size) -> output
    (T, B, D * P) and ``(h_n, c_n)``.

    Example:
        >>> import ember
        >>> lstm = ember.nn.LSTM(10, 20, batch_first=True)
        >>> out, (h_n, c_n) = lstm(ember.randn(3, 5, 10))
        >>> out.shape, c_n.shape
        (ember.Size([3, 5, 20]), ember.Size([1, 3, 20]))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit: ``r, z = sigmoid(...)``; ``n = tanh(x W_in^T + b_in + r * (h
    W_hn^T + b_hn))``; ``h_t = (1 - z) * n + z * h_{t-1}``.

    Args and shapes: as :class:`RNN` (no nonlinearity).

    Example:
        >>> import ember
        >>> gru = ember.nn.GRU(1, 6, batch_first=True, bidirectional=True)
        >>> out, h_n = gru(ember.randn(4, 40, 1))
        >>> out.shape, h_n.shape
        (ember.Size([4, 40, 12]), ember.Size([2, 4, 6]))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, device, dtype)


class RNNCellBase(Module):
    """What the cells share: ``weight_ih`` (G * hidden, input), ``weight_hh`` (G * hidden,
    hidden), ``bias_ih``, ``bias_hh``, all from U(-1/sqrt(hidden), 1/sqrt(hidden))."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        _positive("hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = num_chunks * hidden_size
        self.weight_ih = Parameter(empty(gates, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(empty(gates, hidden_size, dtype=dtype, device=device))
        for name in ("bias_ih", "bias_hh"):
            self.register_parameter(
                name, Parameter(empty(gates, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def _step(self, cell, input, hx, states):
        if input.dim() not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got "
                             f"{input.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} "
                               f"expected {self.input_size}")
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input
        if hx is None:
            zeros = x.new_zeros((x.shape[0], self.hidden_size))
            hs = (zeros, zeros)[:states]
        else:
            hs = hx if states == 2 else (hx,)
            want = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
            for k, h in enumerate(hs):
                if tuple(h.shape) != want:
                    which = f"hx[{k}]" if states == 2 else "hx"
                    raise RuntimeError(f"{which} has shape {tuple(h.shape)}, expected {want}")
            hs = tuple(h.unsqueeze(0) for h in hs) if unbatched else hs
        out = cell(x, hs if states == 2 else hs[0], self.weight_ih, self.weight_hh,
                   self.bias_ih, self.bias_hh)
        if unbatched:
            out = tuple(o.squeeze(0) for o in out) if states == 2 else out.squeeze(0)
        return out

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        return s if nonlinearity == "tanh" else s + f", nonlinearity={nonlinearity}"


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu).

    Shape: input (B, input_size) or (input_size,), hx like it with hidden_size (zeros when
    omitted) -> h' (B, hidden_size).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        cell = R.rnn_tanh_cell if self.nonlinearity == "tanh" else R.rnn_relu_cell
        return self._step(cell, input, hx, 1)


class LSTMCell(RNNCellBase):
    """One LSTM step: ``(h', c')`` from input and ``hx = (h, c)`` (zeros when omitted).

    Shape: input (B, input_size) or (input_size,); h and c (B, hidden_size).
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        return self._step(R.lstm_cell, input, hx, 2)


class GRUCell(RNNCellBase):
    """One GRU step: ``h'`` from input and hx (zeros when omitted).

    Shape: input (B, input_size) or (input_size,), hx (B, hidden_size).
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        return self._step(R.gru_cell, input, hx, 1)
