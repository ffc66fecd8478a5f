"""Packed sequences (``torch.nn.utils.rnn``): batches of sequences of different lengths.

A batch of sequences of different lengths is usually stored padded, ``T x B x *`` with
zeros after each sequence's end. A recurrent layer fed that tensor would step through the
padding too, and a short sequence's final hidden state would be the state after its
padding, not after its true last step. Packing removes the padding: the sequences are
sorted by decreasing length and their steps are stored time step by time step, each step
holding only the sequences still running (``batch_sizes[t]`` of them). An RNN given a
:class:`PackedSequence` computes step ``t`` on the first ``batch_sizes[t]`` rows only, so
it skips the padding, and each sequence's final state is the state at its true last step.

``pad_sequence`` / ``unpad_sequence`` go between a list of sequences and a padded tensor,
``pack_padded_sequence`` / ``pad_packed_sequence`` between a padded tensor and a packed
one, ``pack_sequence`` / ``unpack_sequence`` between a list and a packed sequence.
``packed_to_padded`` and ``padded_to_packed`` are the two raw moves the recurrent layers
use, in the packed (sorted) batch order. Every move of data is one gather of rows (with
one extra row holding the padding value where padding is made), with index tables built
in NumPy once, so gradients flow back through each of them.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from ember import backend
from ember.ops import as_tensor, cat, full, split
from ember.tensor import Tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "packed_to_padded",
    "pad_packed_sequence",
    "pad_sequence",
    "padded_to_packed",
    "unpack_sequence",
    "unpad_sequence",
]

_UNSORTED = ("`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
             "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
             "pack_sequence to sidestep this requirement if you do not need ONNX "
             "exportability.")


class PackedSequence_(NamedTuple):
    """The four fields of a :class:`PackedSequence` (PyTorch's base class of it)."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(PackedSequence_):
    """A batch of variable-length sequences with the padding removed.

    Fields (a named tuple, so ``data, batch_sizes, sorted_indices, unsorted_indices =
    packed`` unpacks it):

    - ``data``: ``(sum(lengths), *)``, the steps of all sequences, time step by time step;
      within a step, the sequences in decreasing order of length. Sequences ``abc`` and
      ``x`` give ``data`` ``a x b c`` and ``batch_sizes`` ``[2, 1, 1]``.
    - ``batch_sizes``: int64 CPU tensor, how many sequences are still running at each step.
    - ``sorted_indices``: int64 tensor on ``data``'s device, the original batch index of
      each sorted position, or ``None`` when the batch was given already sorted
      (``enforce_sorted=True``).
    - ``unsorted_indices``: its inverse permutation (``None`` with it).

    Made by :func:`pack_padded_sequence` and :func:`pack_sequence`, not by hand;
    ``PackedSequence(data, batch_sizes, sorted_indices)`` fills ``unsorted_indices`` in,
    and ``PackedSequence((data, batch_sizes))`` is accepted as in PyTorch.
    """

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise TypeError("PackedSequence: expected (data, batch_sizes) or a list or "
                                "tuple of them of length 2")
            data, batch_sizes = data
        if not isinstance(batch_sizes, Tensor):
            raise TypeError(f"PackedSequence: batch_sizes must be an int64 CPU tensor, got "
                            f"{type(batch_sizes).__name__}")
        if batch_sizes.device.type != "cpu":
            raise ValueError(
                "batch_sizes should always be on CPU. Instances of PackedSequence should "
                "never be created manually. They should be instantiated by functions like "
                "pack_sequence and pack_padded_sequences in nn.utils.rnn.")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with_data(self, data):
        """``self`` if ``data`` is its data, else a copy holding ``data`` and the index
        fields on its device (``batch_sizes`` stays on the CPU)."""
        if data is self.data:
            return self

        def move(t):
            return None if t is None else t.to(data.device)
        return type(self)(data, self.batch_sizes, move(self.sorted_indices),
                          move(self.unsorted_indices))

    def to(self, *args, **kwargs):
        """``data.to(*args, **kwargs)`` (a device, a dtype, both, or a tensor to match);
        the index fields follow ``data``'s device, ``batch_sizes`` stays on the CPU.
        Returns ``self`` when nothing changes."""
        return self._with_data(self.data.to(*args, **kwargs))

    def cpu(self):
        """The packed sequence with its data on the CPU."""
        return self._with_data(self.data.cpu())

    def cuda(self, device=None):
        """The packed sequence with its data on a GPU (``cuda``, ``cuda:N`` or N)."""
        return self._with_data(self.data.cuda(device))

    def double(self):
        """``data`` as float64."""
        return self.to(dtype=np.float64)

    def float(self):
        """``data`` as float32."""
        return self.to(dtype=np.float32)

    def half(self):
        """``data`` as float16."""
        return self.to(dtype=np.float16)

    def long(self):
        """``data`` as int64."""
        return self.to(dtype=np.int64)

    def int(self):
        """``data`` as int32."""
        return self.to(dtype=np.int32)

    def short(self):
        """``data`` as int16."""
        return self.to(dtype=np.int16)

    def char(self):
        """``data`` as int8."""
        return self.to(dtype=np.int8)

    def byte(self):
        """``data`` as uint8."""
        return self.to(dtype=np.uint8)

    @property
    def is_cuda(self):
        """Whether ``data`` is on a GPU."""
        return self.data.is_cuda

    def is_pinned(self):
        """Always False: ember does not pin host memory."""
        return False


def invert_permutation(permutation):
    """The inverse of a 1-D permutation tensor (``None`` for ``None``): ``out[p[i]] = i``.

    It turns a :class:`PackedSequence`'s ``sorted_indices`` into its ``unsorted_indices``.
    """
    if permutation is None:
        return None
    p = permutation.array
    if p.ndim != 1:
        raise IndexError(f"invert_permutation: expected a 1-D permutation, got shape "
                         f"{tuple(p.shape)}")
    host = backend.to_numpy(p)
    if host.size and (host.min() < 0 or host.max() >= host.size):
        bad = int(host[(host < 0) | (host >= host.size)][0])
        raise RuntimeError(f"invert_permutation: index {bad} is out of bounds for a "
                           f"permutation of size {host.size}")
    if np.bincount(host, minlength=host.size).max(initial=1) > 1:
        raise RuntimeError(f"invert_permutation: {host.tolist()} is not a permutation "
                           f"(an index repeats)")
    out = np.empty_like(host)
    out[host] = np.arange(host.size, dtype=host.dtype)
    return as_tensor(out, device=permutation.device)


# --- index tables (NumPy, built once per call) ----------------------------------------

def _host_ints(values, name, what):
    """``values`` (tensor, array, list) as a 1-D int64 NumPy array."""
    arr = backend.to_numpy(values.array) if isinstance(values, Tensor) else np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: {what} must be 1-D, got shape {tuple(arr.shape)}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: {what} must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _batch_sizes(batch_sizes, name):
    """``batch_sizes`` as int64 NumPy, checked to be positive and non-increasing."""
    bs = _host_ints(batch_sizes, name, "batch_sizes")
    if bs.size == 0 or bs.min() <= 0 or (np.diff(bs) > 0).any():
        raise ValueError(f"{name}: batch_sizes must be a non-empty, non-increasing sequence "
                         f"of positive counts, got {bs.tolist()}")
    return bs


def _check_rows(data, bs, name):
    if data.ndim < 1 or data.shape[0] != int(bs.sum()):
        raise ValueError(f"{name}: data of shape {tuple(data.shape)} should have "
                         f"sum(batch_sizes) = {int(bs.sum())} rows")


def _packed_rows(bs, order, steps):
    """(steps, len(order)) table: for time t and batch slot j, the packed row of sorted
    sequence ``order[j]`` at step t, or ``sum(bs)`` (the padding row) past its end."""
    running = np.zeros(steps, np.int64)
    running[:bs.size] = bs  # steps >= len(bs); no sequence runs beyond
    offsets = np.cumsum(running) - running
    live = order[None, :] < running[:, None]
    return np.where(live, offsets[:, None] + order[None, :], int(bs.sum()))


def _time_major_rows(bs):
    """(t, j) of every live slot of the sorted padded grid, in packed order: step by step,
    the first ``bs[t]`` sequences."""
    t = np.repeat(np.arange(bs.size), bs)
    j = np.arange(int(bs.sum())) - np.repeat(np.cumsum(bs) - bs, bs)
    return t, j


def _with_pad_row(rows, value):
    """``rows`` (N, *) with one more row, (N + 1, *), filled with ``value``."""
    pad = full((1, *rows.shape[1:]), value, dtype=rows.dtype, device=rows.device)
    return cat([rows, pad])


def _gather(rows, table):
    """``rows[table]``: one autograd gather with an index on ``rows``' device."""
    return rows[as_tensor(table, device=rows.device)]


def _sort(lengths, enforce_sorted, name, what):
    """(sorted lengths, sorted order or None): lengths checked > 0, and sorted if asked."""
    bad = np.flatnonzero(lengths <= 0)
    if bad.size:
        i = int(bad[0])
        raise RuntimeError(f"{name}: Length of all samples has to be greater than 0, but "
                           f"found an element in 'lengths' that is <= 0: {what}[{i}] = "
                           f"{int(lengths[i])}")
    if enforce_sorted:
        if (np.diff(lengths) > 0).any():
            raise RuntimeError(f"{name}: {_UNSORTED} (got lengths {lengths.tolist()})")
        return lengths, None
    order = np.argsort(-lengths, kind="stable")
    return lengths[order], order


def _lengths_to_batch_sizes(sorted_lengths):
    return (np.arange(sorted_lengths[0])[:, None] < sorted_lengths[None, :]).sum(1)


def _packed(data, sorted_lengths, order):
    """The PackedSequence of ``data`` (rows in packed order) for the sorted lengths."""
    bs = as_tensor(_lengths_to_batch_sizes(sorted_lengths).astype(np.int64))
    if order is None:
        return PackedSequence(data, bs, None, None)
    return PackedSequence(data, bs, as_tensor(order, device=data.device))


# --- the two raw moves used by the recurrent layers -----------------------------------

def packed_to_padded(data, batch_sizes):
    """Packed rows to a padded ``(T, B, *)`` tensor, in the packed (sorted) batch order.

    ``data`` is ``(sum(batch_sizes), *)``; ``T = len(batch_sizes)``, ``B = batch_sizes[0]``;
    slots past a sequence's end are zeros. ``batch_sizes`` may be a tensor, a NumPy array
    or a list. Differentiable with respect to ``data`` (one gather).
    """
    bs = _batch_sizes(batch_sizes, "packed_to_padded")
    _check_rows(data, bs, "packed_to_padded")
    table = _packed_rows(bs, np.arange(bs[0]), bs.size)
    return _gather(_with_pad_row(data, 0), table)


def padded_to_packed(padded, batch_sizes):
    """A padded ``(T', B, *)`` tensor (``T' >= len(batch_sizes)``, ``B = batch_sizes[0]``),
    in the packed (sorted) batch order, to packed rows ``(sum(batch_sizes), *)``: the
    inverse of :func:`packed_to_padded`. Differentiable with respect to ``padded``."""
    bs = _batch_sizes(batch_sizes, "padded_to_packed")
    if padded.ndim < 2 or padded.shape[0] < bs.size or padded.shape[1] != bs[0]:
        raise ValueError(f"padded_to_packed: expected a padded tensor of at least "
                         f"{bs.size} steps and batch {int(bs[0])} (T x B x *), got shape "
                         f"{tuple(padded.shape)}")
    t, b = _time_major_rows(bs)
    flat = padded.reshape((padded.shape[0] * padded.shape[1], *padded.shape[2:]))
    return _gather(flat, t * padded.shape[1] + b)


# --- padded <-> packed ----------------------------------------------------------------

def _lengths_argument(lengths, name):
    if isinstance(lengths, Tensor) and (lengths.ndim != 1 or lengths.device.type != "cpu"):
        raise RuntimeError(f"{name}: 'lengths' argument should be a 1D CPU int64 tensor, "
                           f"but got {lengths.ndim}D {lengths.device.type} {lengths.dtype} "
                           f"tensor")
    return _host_ints(lengths, name, "lengths")


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch ``T x B x *`` (``B x T x *`` with ``batch_first``) of sequences
    of the given ``lengths`` (a list or a 1-D CPU tensor) into a :class:`PackedSequence`.

    With ``enforce_sorted=True`` the lengths must be in decreasing order (and
    ``sorted_indices`` is None); with ``False`` the batch is sorted here (stably) and the
    permutation is kept in ``sorted_indices`` / ``unsorted_indices``. Steps past a
    sequence's length are dropped. Differentiable with respect to ``input`` (one gather).
    """
    name = "pack_padded_sequence"
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: expected input to be a Tensor, got {type(input).__name__}")
    lengths = _lengths_argument(lengths, name)
    if input.ndim < 2:
        raise ValueError(f"{name}: expected input of at least 2 dims "
                         f"({'B x T' if batch_first else 'T x B'} x *), got shape "
                         f"{tuple(input.shape)}")
    steps, batch = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    if lengths.size != batch:
        raise RuntimeError(f"{name}: Expected `len(lengths)` to be equal to batch_size, but "
                           f"got {lengths.size} (batch_size={batch}) for input of shape "
                           f"{tuple(input.shape)}")
    if input.numel() == 0:
        raise RuntimeError(f"{name}: Cannot pack empty tensors (input of shape "
                           f"{tuple(input.shape)})")
    long = np.flatnonzero(lengths > steps)
    if long.size:
        i = int(long[0])
        raise RuntimeError(f"{name}: lengths[{i}] = {int(lengths[i])} is longer than the "
                           f"input's {steps} time steps (input of shape "
                           f"{tuple(input.shape)}, batch_first={batch_first})")
    sorted_lengths, order = _sort(lengths, enforce_sorted, name, "lengths")
    bs = _lengths_to_batch_sizes(sorted_lengths)
    t, j = _time_major_rows(bs)
    b = j if order is None else order[j]
    flat = input.reshape((steps * batch, *input.shape[2:]))
    rows = b * steps + t if batch_first else t * batch + b
    return _packed(_gather(flat, rows), sorted_lengths, order)


def _packed_fields(sequence, name):
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{name}: expected a PackedSequence, got {type(sequence).__name__}")
    bs = _batch_sizes(sequence.batch_sizes, name)
    _check_rows(sequence.data, bs, name)
    u = sequence.unsorted_indices
    order = np.arange(bs[0]) if u is None else _host_ints(u, name, "unsorted_indices")
    return bs, order


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo :func:`pack_padded_sequence`: ``(padded, lengths)``, ``padded`` being
    ``T x B x *`` (``B x T x *`` with ``batch_first``) in the original batch order, with
    ``padding_value`` past each sequence's end, and ``lengths`` an int64 CPU tensor.

    ``T`` is the longest length, or ``total_length`` if given (it may not be shorter).
    Differentiable with respect to ``sequence.data`` (one gather).
    """
    name = "pad_packed_sequence"
    bs, order = _packed_fields(sequence, name)
    steps = bs.size
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                f"{name}: Expected total_length to be at least the length of the longest "
                f"sequence in input, but got total_length={total_length} and max sequence "
                f"length being {steps}")
        steps = int(total_length)
    table = _packed_rows(bs, order, steps)
    padded = _gather(_with_pad_row(sequence.data, padding_value),
                     table.T if batch_first else table)
    lengths = (bs[:, None] > np.arange(bs[0])[None, :]).sum(0)[order]
    return padded, as_tensor(lengths.astype(np.int64))


# --- lists of sequences ---------------------------------------------------------------

def _joined(sequences, name):
    """(all sequences' rows joined, (N, *); their lengths): one dtype and device, the
    first sequence's (as PyTorch copies each into a tensor like the first)."""
    if isinstance(sequences, Tensor):
        if sequences.ndim < 2:
            raise RuntimeError(f"{name}: a tensor of sequences needs at least 2 dims "
                               f"(B x L x *), got shape {tuple(sequences.shape)}")
        batch, steps = sequences.shape[:2]
        if batch == 0:
            raise RuntimeError(f"{name}: received an empty list of sequences")
        flat = sequences.reshape((batch * steps, *sequences.shape[2:]))
        return flat, np.full(batch, steps, np.int64)
    if not isinstance(sequences, Iterable):
        raise RuntimeError(  # noqa: TRY004 - PyTorch's type and wording
            f"{name}: Expected iterable for input sequences, but got arg of type: "
            f"{type(sequences)}")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError(f"{name}: received an empty list of sequences")
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"{name}: expected Tensor as element {i} of sequences, but got "
                            f"{type(s).__name__}")
    first = sequences[0]
    for i, s in enumerate(sequences):
        if s.ndim == 0:
            raise RuntimeError(f"{name}: sequences[{i}] is 0-d; each sequence needs a "
                               f"length dim (L x *)")
        if tuple(s.shape[1:]) != tuple(first.shape[1:]):
            raise RuntimeError(f"{name}: sequences must have the same trailing dims (L x *): "
                               f"sequences[0] has shape {tuple(first.shape)} but "
                               f"sequences[{i}] has shape {tuple(s.shape)}")
    lengths = np.array([s.shape[0] for s in sequences], np.int64)
    same = [s.to(device=first.device, dtype=first.dtype) for s in sequences]
    return cat(same), lengths


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Pad a list of ``L_i x *`` tensors to one ``T x B x *`` tensor (``B x T x *`` with
    ``batch_first``), ``T`` the longest length, filling with ``padding_value`` after each
    sequence (``padding_side="right"``) or before it (``"left"``).

    The result has the first sequence's dtype and device, as in PyTorch. A tensor
    ``B x L x *`` is taken as B sequences of length L. Differentiable (one gather).
    """
    name = "pad_sequence"
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"{name}: Expected padding_side to be one of left or right, but "
                           f"got {padding_side}.")
    flat, lengths = _joined(sequences, name)
    steps, n = int(lengths.max()), int(lengths.sum())
    t = np.arange(steps)[None, :]
    first = t - (steps - lengths[:, None]) if padding_side == "left" else t
    live = (first >= 0) & (first < lengths[:, None])
    table = np.where(live, (np.cumsum(lengths) - lengths)[:, None] + first, n)  # (B, T)
    return _gather(_with_pad_row(flat, padding_value), table if batch_first else table.T)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Split a padded ``T x B x *`` tensor (``B x T x *`` with ``batch_first``) back into
    the list of its B sequences, the i-th holding its first ``lengths[i]`` steps.

    Unlike PyTorch's, it leaves ``padded_sequences`` as it is (PyTorch transposes it in
    place when ``batch_first`` is False). Differentiable (one gather, then a split).
    """
    name = "unpad_sequence"
    x = padded_sequences
    if x.ndim < 2:
        raise ValueError(f"{name}: expected a padded tensor of at least 2 dims, got shape "
                         f"{tuple(x.shape)}")
    lengths = _host_ints(lengths, name, "lengths")
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else x.shape[:2]
    if lengths.size != batch:
        raise ValueError(f"{name}: got {lengths.size} lengths for a batch of {batch} "
                         f"(padded shape {tuple(x.shape)}, batch_first={batch_first})")
    bad = np.flatnonzero((lengths < 0) | (lengths > steps))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name}: lengths[{i}] = {int(lengths[i])} is outside [0, {steps}] "
                         f"(padded shape {tuple(x.shape)}, batch_first={batch_first})")
    if batch == 0:
        return []
    b = np.repeat(np.arange(batch), lengths)
    t = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows = _gather(x.reshape((steps * batch, *x.shape[2:])),
                   b * steps + t if batch_first else t * batch + b)
    return list(split(rows, [int(v) for v in lengths]))


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of ``L_i x *`` tensors into a :class:`PackedSequence` (what
    ``pack_padded_sequence(pad_sequence(sequences), lengths)`` gives, in one gather).

    With ``enforce_sorted=True`` the sequences must come longest first; with ``False``
    they are sorted here and the permutation is kept in the index fields.
    """
    name = "pack_sequence"
    flat, lengths = _joined(sequences, name)
    sorted_lengths, order = _sort(lengths, enforce_sorted, name, "lengths")
    bs = _lengths_to_batch_sizes(sorted_lengths)
    t, j = _time_major_rows(bs)
    b = j if order is None else order[j]
    starts = np.cumsum(lengths) - lengths
    return _packed(_gather(flat, starts[b] + t), sorted_lengths, order)


def unpack_sequence(packed_sequences):
    """Undo :func:`pack_sequence`: the list of sequences, in the original order, each
    ``L_i x *``. Differentiable (one gather, then a split)."""
    name = "unpack_sequence"
    bs, order = _packed_fields(packed_sequences, name)
    offsets = np.cumsum(bs) - bs
    sorted_lengths = (bs[:, None] > np.arange(bs[0])[None, :]).sum(0)
    lengths = sorted_lengths[order]
    j = np.repeat(np.arange(lengths.size), lengths)
    t = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows = _gather(packed_sequences.data, offsets[t] + order[j])
    return list(split(rows, [int(v) for v in lengths]))
