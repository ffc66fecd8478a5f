"""ember.nn.utils.rnn (packed sequences) against torch.nn.utils.rnn: values in float64,
gradients through a random weighting of every output, the index fields, round trips,
finite-difference gradchecks, PackedSequence's tuple behaviour and methods, and every
argument error. Each parity row is a ``fn(m, *xs)`` run unchanged on ember and on torch."""
import numpy as np
import pytest
from _parity import DEVICE, check_grad, check_op, import_torch, random_inputs
from _table import Op

import ember
from ember.nn.utils import rnn as R
from ember.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    packed_to_padded,
    pad_packed_sequence,
    pad_sequence,
    padded_to_packed,
    unpack_sequence,
    unpad_sequence,
)

torch = import_torch()

SORTED = [5, 3, 3, 1]      # decreasing, the longest as long as the time dim (T = 5)
SHORT = [4, 2, 2, 1]       # decreasing, all shorter than T: the padded tail is dropped
UNSORTED = [2, 5, 1, 3]    # needs enforce_sorted=False
TIES = [3, 1, 3, 2]        # ties: the sort is stable, as torch's


def _fields(p):
    """A PackedSequence's tensors (the index fields when present) for check_op."""
    return tuple(f for f in p if f is not None)


def _rnn(m):
    return m.nn.utils.rnn


def _padded_shape(lengths, batch_first, trailing, steps=5):
    b = len(lengths)
    return ((b, steps) if batch_first else (steps, b)) + trailing


def _pack(lengths, batch_first, enforce_sorted, as_tensor=False):
    def fn(m, x):
        ls = m.as_tensor(lengths) if as_tensor else lengths
        return _fields(_rnn(m).pack_padded_sequence(x, ls, batch_first, enforce_sorted))
    return fn


def _round_trip(lengths, batch_first, enforce_sorted, out_batch_first, **pad):
    def fn(m, x):
        p = _rnn(m).pack_padded_sequence(x, lengths, batch_first=batch_first,
                                         enforce_sorted=enforce_sorted)
        return _rnn(m).pad_packed_sequence(p, batch_first=out_batch_first, **pad)
    return fn


PACK = {}
for bf in (False, True):
    for trailing in ((), (2,), (2, 3)):
        k = f"bf{int(bf)}_{len(trailing)}d"
        PACK[f"sorted_{k}"] = Op(_pack(SORTED, bf, True), (_padded_shape(SORTED, bf, trailing),))
        PACK[f"short_{k}"] = Op(_pack(SHORT, bf, True), (_padded_shape(SHORT, bf, trailing),))
        PACK[f"unsorted_{k}"] = Op(_pack(UNSORTED, bf, False),
                                   (_padded_shape(UNSORTED, bf, trailing),))
    PACK[f"ties_bf{int(bf)}"] = Op(_pack(TIES, bf, False), (_padded_shape(TIES, bf, (2,)),))
    PACK[f"sorted_not_enforced_bf{int(bf)}"] = Op(_pack(SORTED, bf, False),
                                                  (_padded_shape(SORTED, bf, (2,)),))
    PACK[f"lengths_tensor_bf{int(bf)}"] = Op(_pack(UNSORTED, bf, False, as_tensor=True),
                                             (_padded_shape(UNSORTED, bf, (2,)),))
PACK["float_lengths"] = Op(_pack([5.0, 3.7, 3, 1], False, True), ((5, 4, 2),))
PACK["numpy_lengths"] = Op(_pack(np.array(UNSORTED), False, False), ((5, 4, 2),))
PACK["one_sequence"] = Op(_pack([3], False, True), ((3, 1, 2),))
PACK["all_length_one"] = Op(_pack([1, 1, 1], True, True), ((3, 1),))


@pytest.mark.parametrize("name", PACK)
def test_pack_padded_sequence_matches_torch(name):
    PACK[name].parity()


PAD = {}
for bf in (False, True):
    for out_bf in (False, True):
        k = f"bf{int(bf)}{int(out_bf)}"
        PAD[f"sorted_{k}"] = Op(_round_trip(SORTED, bf, True, out_bf),
                                (_padded_shape(SORTED, bf, (2,)),))
        PAD[f"unsorted_{k}"] = Op(_round_trip(UNSORTED, bf, False, out_bf),
                                  (_padded_shape(UNSORTED, bf, (2,)),))
    PAD[f"total_length_bf{int(bf)}"] = Op(_round_trip(UNSORTED, bf, False, bf, total_length=7),
                                          (_padded_shape(UNSORTED, bf, (2,)),))
    PAD[f"padding_value_bf{int(bf)}"] = Op(
        _round_trip(SHORT, bf, True, bf, padding_value=-1.5, total_length=6),
        (_padded_shape(SHORT, bf, ()),))
PAD["total_length_equal"] = Op(_round_trip(SORTED, False, False, False, total_length=5),
                               ((5, 4, 2, 3),))
PAD["ties"] = Op(_round_trip(TIES, True, False, True, padding_value=2.0), ((4, 5, 2),))


@pytest.mark.parametrize("name", PAD)
def test_pad_packed_sequence_matches_torch(name):
    PAD[name].parity()


def _from_data(batch_sizes, sorted_indices=None, **pad):
    """pad_packed_sequence of a PackedSequence made from packed data directly."""
    def fn(m, data):
        s = None if sorted_indices is None else m.as_tensor(sorted_indices)
        p = _rnn(m).PackedSequence(data, m.as_tensor(batch_sizes), s)
        return _rnn(m).pad_packed_sequence(p, **pad)
    return fn


@pytest.mark.parametrize("pad", [{}, {"batch_first": True, "padding_value": 3.0},
                                 {"total_length": 6}])
@pytest.mark.parametrize("order", [None, [2, 0, 3, 1]])
def test_pad_packed_sequence_of_packed_data_matches_torch(pad, order):
    Op(_from_data([4, 3, 1, 1], order, **pad), ((9, 2),)).parity()


PAD_SEQ = {}
SEQ_SHAPES = ((3, 2), (5, 2), (1, 2), (4, 2))
for bf in (False, True):
    for side in ("right", "left"):
        k = f"bf{int(bf)}_{side}"
        PAD_SEQ[k] = Op(lambda m, *xs, bf=bf, side=side: _rnn(m).pad_sequence(
            list(xs), batch_first=bf, padding_side=side), SEQ_SHAPES)
        PAD_SEQ[f"{k}_value"] = Op(lambda m, *xs, bf=bf, side=side: _rnn(m).pad_sequence(
            xs, bf, -2.5, side), ((2,), (4,), (3,)))
        PAD_SEQ[f"{k}_empty_seq"] = Op(lambda m, *xs, bf=bf, side=side: _rnn(m).pad_sequence(
            list(xs), batch_first=bf, padding_side=side), ((2, 3, 1), (0, 3, 1), (3, 3, 1)))
        PAD_SEQ[f"{k}_tensor"] = Op(lambda m, x, bf=bf, side=side: _rnn(m).pad_sequence(
            x, batch_first=bf, padding_side=side), ((3, 4, 2),))
PAD_SEQ["one"] = Op(lambda m, x: _rnn(m).pad_sequence([x]), ((3, 2),))
PAD_SEQ["generator"] = Op(lambda m, x, y: _rnn(m).pad_sequence(s for s in (x, y)),
                          ((3,), (2,)))


@pytest.mark.parametrize("name", PAD_SEQ)
def test_pad_sequence_matches_torch(name):
    PAD_SEQ[name].parity()


def test_pad_sequence_dtypes_follow_the_first_sequence():
    cases = [([[1, 2, 3], [1.5]], 0.0), ([[1.5, 2.5], [1, 2, 3]], 0.0),
             ([[1, 2, 3], [4]], 2.5), ([[True], [True, False]], 2.5)]
    for values, pad in cases:
        for side in ("right", "left"):
            e = pad_sequence([ember.tensor(v) for v in values], True, pad, side)
            t = torch.nn.utils.rnn.pad_sequence([torch.tensor(v) for v in values], True,
                                                pad, side)
            assert str(e.dtype) == str(t.dtype).replace("torch.", "")
            np.testing.assert_array_equal(e.numpy(), t.numpy())


PACK_SEQ = {
    "sorted": Op(lambda m, *xs: _fields(_rnn(m).pack_sequence(list(xs))),
                 ((5, 2), (3, 2), (3, 2), (1, 2))),
    "sorted_1d": Op(lambda m, *xs: _fields(_rnn(m).pack_sequence(xs)), ((3,), (2,), (1,))),
    "unsorted": Op(lambda m, *xs: _fields(_rnn(m).pack_sequence(list(xs), False)),
                   ((2, 2, 2), (5, 2, 2), (1, 2, 2), (3, 2, 2))),
    "ties": Op(lambda m, *xs: _fields(_rnn(m).pack_sequence(list(xs), enforce_sorted=False)),
               ((1,), (3,), (1,), (3,), (2,))),
}


@pytest.mark.parametrize("name", PACK_SEQ)
def test_pack_sequence_matches_torch(name):
    PACK_SEQ[name].parity()


@pytest.mark.parametrize("op", [PACK["unsorted_bf1_1d"], PAD["unsorted_bf01"],
                                PAD_SEQ["bf0_left_value"], PACK_SEQ["unsorted"]])
def test_float32_keeps_its_dtype(op):
    op.parity(dtype=np.float32)


def test_pad_packed_sequence_of_integers_matches_torch():
    values = [[1, 2, 3], [4], [5, 6]]
    for pad in (0.0, 7.6, -2):
        e = pad_packed_sequence(pack_sequence([ember.tensor(v) for v in values], False),
                                True, pad, 4)
        t = torch.nn.utils.rnn.pad_packed_sequence(
            torch.nn.utils.rnn.pack_sequence([torch.tensor(v) for v in values], False),
            True, pad, 4)
        for a, b in zip(e, t):
            assert a.dtype == ember.int64 and b.dtype == torch.int64
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_pack_sequence_equals_pack_of_pad():
    xs = [ember.tensor(a) for a in random_inputs(((2, 3), (4, 3), (1, 3)))]
    a = pack_sequence(xs, enforce_sorted=False)
    lengths = [len(x) for x in xs]
    b = pack_padded_sequence(pad_sequence(xs), lengths, enforce_sorted=False)
    for f, g in zip(a, b):
        np.testing.assert_array_equal(f.detach().numpy(), g.detach().numpy())


def _unpad(lengths, batch_first):
    # torch transposes its argument in place (batch_first=False): give it a copy
    return lambda m, x: _rnn(m).unpad_sequence(x.clone(), m.as_tensor(lengths), batch_first)


UNPAD = {}
for bf in (False, True):
    UNPAD[f"bf{int(bf)}"] = Op(_unpad(UNSORTED, bf), (_padded_shape(UNSORTED, bf, (2,)),))
    UNPAD[f"bf{int(bf)}_1d"] = Op(_unpad(SHORT, bf), (_padded_shape(SHORT, bf, ()),))
    UNPAD[f"bf{int(bf)}_zero_length"] = Op(_unpad([0, 5, 2], bf),
                                           (_padded_shape([0, 5, 2], bf, (2, 2)),))
UNPACK = {
    "sorted": Op(lambda m, *xs: _rnn(m).unpack_sequence(_rnn(m).pack_sequence(xs)),
                 ((4, 2), (2, 2), (1, 2))),
    "unsorted": Op(lambda m, *xs: _rnn(m).unpack_sequence(_rnn(m).pack_sequence(xs, False)),
                   ((2,), (5,), (1,), (5,))),
    "from_padded": Op(lambda m, x: _rnn(m).unpack_sequence(_rnn(m).pack_padded_sequence(
        x, UNSORTED, batch_first=True, enforce_sorted=False)), ((4, 5, 3),)),
}


@pytest.mark.parametrize("name", UNPAD)
def test_unpad_sequence_matches_torch(name):
    UNPAD[name].parity()


@pytest.mark.parametrize("name", UNPACK)
def test_unpack_sequence_matches_torch(name):
    UNPACK[name].parity()


@pytest.mark.parametrize("order", [None, [2, 0, 3, 1]])
def test_unpack_sequence_of_packed_data_matches_torch(order):
    def fn(m, data):
        s = None if order is None else m.as_tensor(order)
        return _rnn(m).unpack_sequence(_rnn(m).PackedSequence(data, m.as_tensor([4, 3, 1, 1]),
                                                              s))
    Op(fn, ((9, 2),)).parity()


def test_unpad_sequence_leaves_its_input_alone_and_round_trips():
    x = ember.tensor(random_inputs([(5, 4, 2)])[0])
    before = x.numpy().copy()
    parts = unpad_sequence(x, ember.as_tensor(UNSORTED))
    assert tuple(x.shape) == (5, 4, 2)
    np.testing.assert_array_equal(x.numpy(), before)
    again = pad_sequence(parts)
    for b, n in enumerate(UNSORTED):
        np.testing.assert_array_equal(again.numpy()[:n, b], before[:n, b])
        assert not again.numpy()[n:, b].any()
    assert unpad_sequence(ember.zeros(3, 0), []) == []


@pytest.mark.parametrize("perm", [[2, 0, 1], [0], [3, 1, 0, 4, 2], []])
def test_invert_permutation_matches_torch(perm):
    e = R.invert_permutation(ember.tensor(perm, dtype=ember.int64))
    t = torch.nn.utils.rnn.invert_permutation(torch.tensor(perm, dtype=torch.int64))
    assert e.dtype == ember.int64
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert R.invert_permutation(None) is None


# --- the raw moves the recurrent layers use ---------------------------------------------

BATCH_SIZES = [4, 3, 3, 1, 1]


@pytest.mark.parametrize("kind", ["list", "numpy", "tensor"])
@pytest.mark.parametrize("trailing", [(), (3,), (2, 2)])
def test_packed_to_padded_matches_torch(kind, trailing):
    bs = {"list": BATCH_SIZES, "numpy": np.array(BATCH_SIZES),
          "tensor": ember.as_tensor(BATCH_SIZES)}[kind]
    tp = torch.nn.utils.rnn.PackedSequence
    check_op(lambda x: packed_to_padded(x, bs),
             lambda x: torch.nn.utils.rnn.pad_packed_sequence(
                 tp(x, torch.tensor(BATCH_SIZES)))[0],
             shapes=((sum(BATCH_SIZES), *trailing),))


@pytest.mark.parametrize("kind", ["list", "numpy", "tensor"])
@pytest.mark.parametrize("extra_steps", [0, 2])
def test_padded_to_packed_matches_torch(kind, extra_steps):
    bs = {"list": BATCH_SIZES, "numpy": np.array(BATCH_SIZES),
          "tensor": ember.as_tensor(BATCH_SIZES)}[kind]
    lengths = (np.array(BATCH_SIZES)[:, None] > np.arange(4)[None, :]).sum(0).tolist()
    check_op(lambda x: padded_to_packed(x, bs),
             lambda x: torch.nn.utils.rnn.pack_padded_sequence(x, lengths).data,
             shapes=((5 + extra_steps, 4, 3),))


def test_packed_padded_round_trip_and_zeros():
    data = ember.tensor(random_inputs([(12, 3)])[0])
    padded = packed_to_padded(data, BATCH_SIZES)
    assert tuple(padded.shape) == (5, 4, 3)
    running = np.arange(4)[None, :] < np.array(BATCH_SIZES)[:, None]
    assert not padded.numpy()[~running].any()
    np.testing.assert_array_equal(padded_to_packed(padded, BATCH_SIZES).numpy(), data.numpy())


def test_gradchecks():
    check_grad(lambda x: packed_to_padded(x, BATCH_SIZES), shapes=((12, 2),))
    check_grad(lambda x: padded_to_packed(x, BATCH_SIZES), shapes=((5, 4, 2),))
    for op in (PACK["unsorted_bf1_1d"], PAD["unsorted_bf10"], PAD["padding_value_bf0"],
               PAD_SEQ["bf1_left_value"], PACK_SEQ["unsorted"], UNPAD["bf0"],
               UNPACK["unsorted"]):
        op.gradcheck()


# --- PackedSequence -----------------------------------------------------------------------

def _both(values, enforce_sorted=True):
    e = pack_sequence([ember.tensor(v, device=DEVICE) for v in values], enforce_sorted)
    t = torch.nn.utils.rnn.pack_sequence([torch.tensor(v) for v in values], enforce_sorted)
    return e, t


def test_packed_sequence_is_torch_s_named_tuple():
    e, t = _both([[1, 2, 3], [4, 5], [6]])
    assert PackedSequence._fields == type(t)._fields
    assert repr(e.cpu()) == repr(t)
    data, batch_sizes, sorted_indices, unsorted_indices = e
    assert sorted_indices is None and unsorted_indices is None
    assert len(e) == 4 and e[1] is batch_sizes and e[2:] == (None, None)
    assert list(e._asdict()) == list(t._asdict())
    assert batch_sizes.dtype == ember.int64 and batch_sizes.device.type == "cpu"
    np.testing.assert_array_equal(batch_sizes.numpy(), [3, 2, 1])
    assert isinstance(e._replace(data=data * 2), PackedSequence)
    eu, tu = _both([[1], [2, 3, 4], [5, 6]], enforce_sorted=False)
    assert repr(eu.cpu()) == repr(tu)


def test_packed_sequence_constructors():
    data = ember.tensor([1.0, 2.0, 3.0])
    bs = ember.as_tensor([2, 1])
    p = PackedSequence(data, bs, ember.as_tensor([1, 0]))
    np.testing.assert_array_equal(p.unsorted_indices.numpy(), [1, 0])
    q = PackedSequence((data, bs))
    assert q.data is data and q.batch_sizes is bs and q.sorted_indices is None
    with pytest.raises(TypeError, match="PackedSequence"):
        PackedSequence(data)
    with pytest.raises(TypeError, match="batch_sizes must be an int64 CPU tensor, got list"):
        PackedSequence(data, [2, 1])


def test_packed_sequence_conversions():
    e, t = _both([[1.5, 2, 3], [4, 5]], enforce_sorted=False)
    assert e.to(ember.float32) is e and e.to(device=DEVICE) is e
    for method in ("double", "float", "half", "long", "int", "short", "char", "byte"):
        em, tm = getattr(e, method)(), getattr(t, method)()
        assert str(em.data.dtype) == str(tm.data.dtype).replace("torch.", ""), method
        assert em.batch_sizes is e.batch_sizes and em.sorted_indices is e.sorted_indices
    d = e.to(ember.float64)
    assert d.data.dtype == ember.float64 and d.batch_sizes is e.batch_sizes
    assert e.to(ember.zeros(1, dtype=ember.float16)).data.dtype == ember.float16
    host = e.cpu()
    assert not host.is_cuda and not host.is_pinned()
    assert host.sorted_indices.device.type == "cpu" and host.batch_sizes.device.type == "cpu"
    if not ember.cuda.is_available():
        return
    g = host.cuda()
    assert g.is_cuda and g.sorted_indices.is_cuda and g.unsorted_indices.is_cuda
    assert g.batch_sizes.device.type == "cpu"
    assert g.to("cpu", ember.float64).data.device.type == "cpu"


def test_packed_sequence_data_carries_gradients():
    x = ember.tensor(random_inputs([(5, 4, 2)])[0], requires_grad=True)
    p = pack_padded_sequence(x, UNSORTED, enforce_sorted=False).double()
    padded, lengths = pad_packed_sequence(p)
    padded.sum().backward()
    mask = np.arange(5)[:, None] < np.array(UNSORTED)[None, :]
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(mask[..., None], (5, 4, 2)))
    np.testing.assert_array_equal(lengths.numpy(), UNSORTED)


# --- errors -------------------------------------------------------------------------------

def test_pack_padded_sequence_errors():
    x = ember.zeros(4, 3, 2)
    cases = [
        ([4, 0, 1], {}, RuntimeError, r"greater than 0.*lengths\[1\] = 0"),
        ([4, 2, -3], {"enforce_sorted": False}, RuntimeError, r"<= 0: lengths\[2\] = -3"),
        ([4, 5, 1], {"enforce_sorted": False}, RuntimeError,
         r"lengths\[1\] = 5 is longer than the input's 4 time steps"),
        ([3, 3, 4, 1], {"batch_first": True}, RuntimeError,
         r"lengths\[2\] = 4 is longer than the input's 3 time steps"),
        ([2, 3, 1], {}, RuntimeError, "must be sorted in decreasing order.*enforce_sorted=False"),
        ([3, 1], {}, RuntimeError,
         r"len\(lengths\)` to be equal to batch_size, but got 2 \(batch_size=3\)"),
        ([3, 1, 1, 1], {}, RuntimeError, r"got 4 \(batch_size=3\)"),
        ([[3, 1, 1]], {}, ValueError, r"lengths must be 1-D, got shape \(1, 3\)"),
        (["a", "b", "c"], {}, TypeError, "lengths must be integers"),
    ]
    for lengths, kw, error, match in cases:
        with pytest.raises(error, match="pack_padded_sequence: .*" + match):
            pack_padded_sequence(x, lengths, **kw)
    with pytest.raises(RuntimeError, match="1D CPU int64 tensor, but got 2D"):
        pack_padded_sequence(x, ember.as_tensor([[3, 1, 1]]))
    with pytest.raises(ValueError, match=r"at least 2 dims \(T x B x \*\), got shape \(4,\)"):
        pack_padded_sequence(ember.zeros(4), [3])
    with pytest.raises(RuntimeError, match="Cannot pack empty tensors"):
        pack_padded_sequence(ember.zeros(0, 3, 2), [1, 1, 1])
    with pytest.raises(TypeError, match="expected input to be a Tensor, got list"):
        pack_padded_sequence([[1.0]], [1])


def test_pad_packed_sequence_errors():
    p = pack_sequence([ember.zeros(3), ember.zeros(2)])
    with pytest.raises(ValueError, match="total_length=2 and max sequence length being 3"):
        pad_packed_sequence(p, total_length=2)
    with pytest.raises(TypeError, match="pad_packed_sequence: expected a PackedSequence, got "
                                        "Tensor"):
        pad_packed_sequence(p.data)
    with pytest.raises(TypeError, match="unpack_sequence: expected a PackedSequence"):
        unpack_sequence((p.data, p.batch_sizes))
    bad = PackedSequence(ember.zeros(4), p.batch_sizes)
    with pytest.raises(ValueError, match=r"shape \(4,\) should have sum\(batch_sizes\) = 5"):
        pad_packed_sequence(bad)


def test_pad_sequence_errors():
    cases = [
        ([], RuntimeError, "received an empty list of sequences"),
        (3, RuntimeError, "Expected iterable for input sequences, but got arg of type"),
        ([ember.zeros(3, 2), ember.zeros(2, 3)], RuntimeError,
         r"sequences\[0\] has shape \(3, 2\) but sequences\[1\] has shape \(2, 3\)"),
        ([ember.zeros(3, 2), ember.zeros(2)], RuntimeError,
         r"sequences\[0\] has shape \(3, 2\) but sequences\[1\] has shape \(2,\)"),
        ([ember.zeros(3), ember.tensor(1.0)], RuntimeError, r"sequences\[1\] is 0-d"),
        ([ember.zeros(3), 3], TypeError, "expected Tensor as element 1 of sequences, but got int"),
        (ember.zeros(3), RuntimeError, r"at least 2 dims \(B x L x \*\), got shape \(3,\)"),
        (ember.zeros(0, 3), RuntimeError, "received an empty list"),
    ]
    for sequences, error, match in cases:
        with pytest.raises(error, match="pad_sequence: .*" + match):
            pad_sequence(sequences)
    with pytest.raises(RuntimeError, match="padding_side to be one of left or right, but got "
                                           "middle"):
        pad_sequence([ember.zeros(2)], padding_side="middle")
    with pytest.raises(RuntimeError, match="pack_sequence: received an empty list"):
        pack_sequence([])
    with pytest.raises(RuntimeError, match="pack_sequence: .*sorted in decreasing order"):
        pack_sequence([ember.zeros(2), ember.zeros(3)])
    with pytest.raises(RuntimeError, match=r"pack_sequence: .*<= 0: lengths\[1\] = 0"):
        pack_sequence([ember.zeros(2), ember.zeros(0)])


def test_unpad_sequence_errors():
    x = ember.zeros(3, 2)
    with pytest.raises(ValueError, match=r"unpad_sequence: got 3 lengths for a batch of 2"):
        unpad_sequence(x, ember.as_tensor([3, 1, 1]))
    with pytest.raises(ValueError, match=r"lengths\[0\] = 5 is outside \[0, 3\]"):
        unpad_sequence(x, [5, 1])
    with pytest.raises(ValueError, match=r"lengths\[1\] = -1 is outside \[0, 2\]"):
        unpad_sequence(x, [1, -1, 0], batch_first=True)
    with pytest.raises(ValueError, match="at least 2 dims"):
        unpad_sequence(ember.zeros(3), [3])


def test_helper_and_permutation_errors():
    with pytest.raises(ValueError, match=r"packed_to_padded: batch_sizes must be a non-empty, "
                                         r"non-increasing .* got \[1, 2\]"):
        packed_to_padded(ember.zeros(3), [1, 2])
    with pytest.raises(ValueError, match=r"got \[2, 0\]"):
        packed_to_padded(ember.zeros(2), [2, 0])
    with pytest.raises(ValueError, match=r"packed_to_padded: data of shape \(4, 2\) should "
                                         r"have sum\(batch_sizes\) = 3 rows"):
        packed_to_padded(ember.zeros(4, 2), [2, 1])
    with pytest.raises(ValueError, match=r"padded_to_packed: .* at least 2 steps and batch 2 "
                                         r".* got shape \(2, 3\)"):
        padded_to_packed(ember.zeros(2, 3), [2, 1])
    with pytest.raises(ValueError, match=r"got shape \(1, 2\)"):
        padded_to_packed(ember.zeros(1, 2), [2, 1])
    with pytest.raises(IndexError, match=r"1-D permutation, got shape \(1, 2\)"):
        R.invert_permutation(ember.as_tensor([[1, 0]]))
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for a permutation of "
                                           "size 2"):
        R.invert_permutation(ember.as_tensor([0, 5]))
    with pytest.raises(RuntimeError, match=r"\[0, 0\] is not a permutation"):
        R.invert_permutation(ember.as_tensor([0, 0]))
