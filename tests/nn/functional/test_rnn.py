"""The recurrence Function (BPTT on raw arrays) by finite differences, and the cell
functions against torch's ``torch.rnn_tanh_cell`` / ``lstm_cell`` / ``gru_cell``."""
import numpy as np
import pytest
from _parity import check_grad, check_op, import_torch

import ember
from ember.nn.functional import rnn as R

torch = import_torch()

H, P, B, T = 3, 2, 4, 5


def _shapes(mode, proj=False):
    g = R.GATES[mode] * H
    p = P if proj else H
    return [(T, B, g), (B, p), (B, H), (g, p), (g,)] + ([(p, H)] if proj else [])


@pytest.mark.parametrize("batch_sizes", [None, np.array([4, 4, 3, 1, 1])], ids=["full", "packed"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mode", list(R.GATES))
def test_recurrence_gradients_by_finite_differences(mode, reverse, batch_sizes):
    lstm = mode == "LSTM"

    def run(gx, h0, c0, w_hh, b_hh):
        out = R.recurrence(gx, h0, c0 if lstm else None, w_hh, b_hh, mode=mode,
                           reverse=reverse, batch_sizes=batch_sizes)
        return sum((o * (k + 1.5)).sum() if k else (o * o).sum() for k, o in enumerate(out))

    check_grad(run, _shapes(mode), low=-1, high=1, away_from=0 if mode == "RNN_RELU" else None)


@pytest.mark.parametrize("batch_sizes", [None, np.array([4, 3, 3, 2, 1])], ids=["full", "packed"])
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_projection_gradients_by_finite_differences(reverse, batch_sizes):
    def run(gx, h0, c0, w_hh, b_hh, w_hr):
        y, h, c = R.recurrence(gx, h0, c0, w_hh, b_hh, w_hr, mode="LSTM", reverse=reverse,
                               batch_sizes=batch_sizes)
        return (y * y).sum() + (h * 2).sum() + (c * 3).sum()

    check_grad(run, _shapes("LSTM", proj=True), low=-1, high=1)


def test_packed_rows_keep_their_state_and_output_zero():
    gx, h0, c0, w, b = (ember.tensor(a) for a in _arrays())
    sizes = np.array([4, 4, 3, 1, 1])
    y, h, _ = R.recurrence(gx, h0, c0, w, b, mode="LSTM", batch_sizes=sizes)
    assert np.all(y.numpy()[2, 3:] == 0) and np.all(y.numpy()[3:, 1:] == 0)
    # the row of length 2 ends with its state after step 1
    assert np.allclose(h.numpy()[2], y.numpy()[2, 2]) and np.allclose(h.numpy()[3], y.numpy()[1, 3])


def _arrays():
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s) for s in [(T, B, 4 * H), (B, H), (B, H), (4 * H, H), (4 * H,)]]


CELLS = [("rnn_tanh_cell", 1), ("rnn_relu_cell", 1), ("gru_cell", 3), ("lstm_cell", 4)]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name, gates", CELLS, ids=[c[0] for c in CELLS])
def test_cell_functions_match_torch(name, gates, bias):
    def fn(m, x, h, c, w_ih, w_hh, b_ih, b_hh):
        f = getattr(R, name) if m is ember else getattr(torch, name)
        hx = (h, c) if name == "lstm_cell" else h
        return f(x, hx, w_ih, w_hh, b_ih if bias else None, b_hh if bias else None)

    shapes = [(B, 5), (B, H), (B, H), (gates * H, 5), (gates * H, H), (gates * H,), (gates * H,)]
    check_op(lambda *a: fn(ember, *a), lambda *a: fn(torch, *a), shapes=shapes,
             away_from=0 if name == "rnn_relu_cell" else None)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown mode 'LSTMX'"):
        R.recurrence(*(ember.tensor(a) for a in _arrays()), mode="LSTMX")
