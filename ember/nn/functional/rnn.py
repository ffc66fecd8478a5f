"""Recurrent nets: the Elman RNN (tanh / relu), the LSTM and the GRU, as cells and as layers.

The input's share of every gate, ``x W_ih^T + b_ih``, does not depend on the past, so a layer
computes it for all time steps in one GEMM before the loop (ordinary autograd). What is left
is the recurrence, and one :class:`Recurrence` Function runs it for a whole layer and
direction: forward steps through time on raw arrays, each step's gates fused in a few
in-place array passes; backward is backpropagation through time on raw arrays, and the
recurrent weights' gradient is one GEMM over all steps at the end. The tape holds one node
per layer and direction, not a dozen per step.

Gate layouts are PyTorch's, so weights map 1:1: LSTM ``(i, f, g, o)``, GRU ``(r, z, n)``::

    RNN   h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)        (or relu)
    LSTM  c' = f * c + i * g        h' = o * tanh(c')        (h' = h' W_hr^T with proj_size)
    GRU   n = tanh(x_n + r * (h W_hn^T + b_hn))               h' = (1 - z) * n + z * h

Packed (variable-length) batches arrive padded, time-major and sorted by decreasing length,
with ``batch_sizes[t]`` the rows still running at step t: a step updates only those rows,
so each sequence's final state is the one of its true last step.
"""
from __future__ import annotations

import warnings

from ember.autograd.function import Function
from ember.nn.functional.dropout import dropout
from ember.nn.functional.linear import linear
from ember.ops import cat, stack

__all__ = []  # reached as ember.nn.functional.rnn.*: torch.nn.functional has no RNN functions

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _sigmoid_(xp, x):
    """The logistic function in place, as ``(tanh(x / 2) + 1) / 2``: no overflow, no
    temporary."""
    x *= 0.5
    xp.tanh(x, out=x)
    x += 1
    x *= 0.5
    return x


class Recurrence(Function):
    """One layer and direction of a recurrent net over a whole sequence.

    Inputs: ``gx`` (T, B, K*H), the input projections ``x W_ih^T + b_ih`` of K gates;
    ``h0`` (B, P) and for the LSTM ``c0`` (B, H), or None for zeros; ``w_hh`` (K*H, P),
    ``b_hh`` (K*H,) or None; ``w_hr`` (P, H) or None (LSTM projections; else P = H).
    Returns ``(y, h_n)`` or, for the LSTM, ``(y, h_n, c_n)``, with ``y`` (T, B, P).

    States live in one array ``S`` (T+1, B, P) in time order: going forward ``S[t]`` is the
    state before step t and ``S[t+1]`` after it; going backward (``reverse``) the other way
    round, so outputs and the states each step reads are plain slices of ``S``. Gates are
    kept gate-major, ``A`` (K, T, B, H): each gate of a step is one contiguous block, which
    makes the elementwise passes on it several times faster than on column slices.
    """

    def forward(self, gx, h0, c0, w_hh, b_hh, w_hr, mode="LSTM", reverse=False,
                batch_sizes=None):
        xp = self.xp
        T, B, G = gx.shape
        K, P = GATES[mode], w_hh.shape[1]
        H = G // K
        lstm, gru = mode == "LSTM", mode == "GRU"
        S = xp.empty((T + 1, B, P), gx.dtype)
        S[T if reverse else 0] = 0 if h0 is None else h0
        C = TC = M = HN = None
        if lstm:
            C = xp.empty((T + 1, B, H), gx.dtype)
            C[T if reverse else 0] = 0 if c0 is None else c0
            TC = xp.empty((T, B, H), gx.dtype)  # tanh(c), kept for backward
            if w_hr is not None:
                M = xp.empty((T, B, H), gx.dtype)  # o * tanh(c), before the projection
        # A: each gate's input, turned into the gate in place (GRU adds b_hn inside r * .)
        A = xp.empty((K, T, B, H), gx.dtype)
        A[...] = gx.reshape(T, B, K, H).transpose(2, 0, 1, 3)
        if b_hh is not None and not gru:
            A += b_hh.reshape(K, 1, 1, H)
        if gru:
            HN = xp.empty((T, B, H), gx.dtype)  # h W_hn^T + b_hn
        w_t = w_hh.T  # (P, K*H): h @ w_t is every gate's share in one GEMM

        def gates_of(h):  # (K, n, H): h W_hh^T, gate-major (a stacked (K, P, H) matmul of
            # NumPy does not reach the BLAS and was 30x slower at H = 128)
            return (h @ w_t).reshape(h.shape[0], K, H).transpose(1, 0, 2)
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            before, after = (t + 1, t) if reverse else (t, t + 1)
            n = B if batch_sizes is None else int(batch_sizes[t])
            if n < B:  # finished (or not yet started) rows keep their state
                S[after, n:] = S[before, n:]
                if lstm:
                    C[after, n:] = C[before, n:]
            h, a, out = S[before, :n], A[:, t, :n], S[after, :n]
            if gru:
                gh = gates_of(h)
                if b_hh is not None:
                    gh += b_hh.reshape(K, 1, H)
                a[:2] += gh[:2]
                _sigmoid_(xp, a[:2])
                r, z, g = a
                HN[t, :n] = gh[2]
                g += r * gh[2]
                xp.tanh(g, out=g)
                xp.subtract(h, g, out=out)  # h' = n + z * (h - n)
                out *= z
                out += g
            elif lstm:
                a += gates_of(h)
                _sigmoid_(xp, a[:2])
                xp.tanh(a[2], out=a[2])
                _sigmoid_(xp, a[3])
                i, f, g, o = a
                c = C[after, :n]
                xp.multiply(f, C[before, :n], out=c)
                c += i * g
                tc = TC[t, :n]
                xp.tanh(c, out=tc)
                xp.multiply(tc, o, out=out if M is None else M[t, :n])
                if M is not None:
                    xp.matmul(M[t, :n], w_hr.T, out=out)
            else:
                a = a[0]
                a += h @ w_hh.T
                xp.tanh(a, out=a) if mode == "RNN_TANH" else xp.maximum(a, 0, out=a)
                out[...] = a
        y = (S[:T] if reverse else S[1:]).copy()
        if batch_sizes is not None:  # padding rows of the output are zero, as PyTorch's
            sizes = xp.asarray(batch_sizes)
            y[xp.arange(B)[None, :] >= sizes[:, None]] = 0
        self.save_for_backward(w_hh, w_hr)
        self.state = (S, C, TC, A, HN, M, mode, reverse, batch_sizes)
        last = 0 if reverse else T
        return (y, S[last].copy(), C[last].copy()) if lstm else (y, S[last].copy())

    def backward(self, gy, gh_n, gc_n=None):
        xp = self.xp
        w_hh, w_hr = self.saved
        S, C, TC, A, HN, M, mode, reverse, batch_sizes = self.state
        K, T, B, H = A.shape
        lstm, gru = mode == "LSTM", mode == "GRU"
        new = xp.empty if batch_sizes is None else xp.zeros  # padding rows get no gradient
        dA = new(A.shape, A.dtype)  # the gradient of each gate's input
        DH = new((T, B, w_hh.shape[1]), A.dtype) if M is not None else None  # d(projected h)
        dh = gh_n.copy()  # the gradient reaching the running state
        dc = gc_n.copy() if lstm else None
        for t in (range(T) if reverse else range(T - 1, -1, -1)):
            before = t + 1 if reverse else t  # the state this step read
            n = B if batch_sizes is None else int(batch_sizes[t])
            d = dh[:n]
            d += gy[t, :n]
            a, da = A[:, t, :n], dA[:, t, :n]
            if lstm:
                (i, f, g, o), (di, df, dg, do) = a, da
                if M is not None:
                    DH[t, :n] = d
                    d = d @ w_hr
                tc = TC[t, :n]
                xp.multiply(d, tc, out=do)
                do *= o * (1 - o)
                d *= o
                d *= 1 - tc * tc
                dct = dc[:n]
                dct += d
                xp.multiply(dct, g, out=di)
                di *= i * (1 - i)
                xp.multiply(dct, C[before, :n], out=df)
                df *= f * (1 - f)
                xp.multiply(dct, i, out=dg)
                dg *= 1 - g * g
                dct *= f
                dh[:n] = _gates_times(da, w_hh)
            elif gru:
                (r, z, g), (dr, dz, dn) = a, da
                xp.multiply(d, 1 - z, out=dn)
                dn *= 1 - g * g
                xp.multiply(d, S[before, :n] - g, out=dz)
                dz *= z * (1 - z)
                xp.multiply(dn, HN[t, :n], out=dr)
                dr *= r * (1 - r)
                dgh = da.copy()
                dgh[2] *= r
                dh[:n] = d * z + _gates_times(dgh, w_hh)
            else:
                xp.multiply(d, 1 - a[0] * a[0] if mode == "RNN_TANH" else a[0] > 0, out=da[0])
                dh[:n] = da[0] @ w_hh
        dgh = dA  # the gradient of h W_hh^T + b_hh: dA, save for GRU's r * (h W_hn^T + b_hn)
        if gru:
            dgh = dA.copy()
            dgh[2] *= A[0]
        # the recurrent weights saw every step: one GEMM per gate over all (T * B) rows
        states = (S[1:] if reverse else S[:T]).reshape(T * B, -1)
        gw_hh = xp.matmul(dgh.reshape(K, T * B, H).transpose(0, 2, 1), states)
        gb_hh = dgh.sum(axis=(1, 2)).reshape(-1) if self.needs_input_grad[4] else None
        gw_hr = None
        if M is not None and self.needs_input_grad[5]:
            gw_hr = DH.reshape(T * B, -1).T @ M.reshape(T * B, H)
        dgx = dA.transpose(1, 2, 0, 3).reshape(T, B, K * H)
        return dgx, dh, dc, gw_hh.reshape(K * H, -1), gb_hh, gw_hr


def _gates_times(da, w):
    """``sum_k da[k] @ w[k*H:(k+1)*H]``: the gate-major gradient (K, n, H) times the stacked
    weights (K*H, P), as one GEMM."""
    K, n, H = da.shape
    return da.transpose(1, 0, 2).reshape(n, K * H) @ w


def recurrence(gx, h0, c0, w_hh, b_hh=None, w_hr=None, mode="LSTM", reverse=False,
               batch_sizes=None):
    """One layer and direction over a sequence, from its input projections ``gx`` (T, B, G)
    (see :class:`Recurrence`): ``(y, h_n)``, or ``(y, h_n, c_n)`` for the LSTM."""
    if mode not in GATES:
        raise ValueError(f"recurrence: unknown mode {mode!r}; expected one of {list(GATES)}")
    return Recurrence.apply(gx, h0, c0, w_hh, b_hh, w_hr, mode=mode, reverse=reverse,
                            batch_sizes=batch_sizes)


def rnn(mode, input, hx, weights, num_layers=1, dropout_p=0.0, training=True,
        bidirectional=False, batch_sizes=None):
    """A stack of recurrent layers over a time-major ``input`` (T, B, I).

    ``hx`` is None, ``h0`` or (LSTM) ``(h0, c0)``, each (num_layers * D, B, ·);
    ``weights`` lists ``(w_ih, w_hh, b_ih, b_hh, w_hr)`` per layer and direction in
    PyTorch's order (layer 0 forward, layer 0 reverse, layer 1 ...), absent ones None.
    Dropout (``dropout_p``, when ``training``) acts on the outputs of all but the last
    layer. Returns ``(output (T, B, D * P), h_n)`` or, for the LSTM, ``(output, (h_n, c_n))``.
    """
    lstm = mode == "LSTM"
    h0, c0 = (hx if lstm else (hx, None)) if hx is not None else (None, None)
    directions = 2 if bidirectional else 1
    x, h_n, c_n = input, [], []
    for layer in range(num_layers):
        outs = []
        for d in range(directions):
            k = layer * directions + d
            w_ih, w_hh, b_ih, b_hh, w_hr = weights[k]
            res = recurrence(linear(x, w_ih, b_ih), None if h0 is None else h0[k],
                             None if c0 is None else c0[k], w_hh, b_hh, w_hr, mode=mode,
                             reverse=d == 1, batch_sizes=batch_sizes)
            outs.append(res[0])
            h_n.append(res[1])
            if lstm:
                c_n.append(res[2])
        x = cat(outs, -1) if directions == 2 else outs[0]
        if dropout_p and training and layer < num_layers - 1:
            x = dropout(x, dropout_p, True)
    if lstm:
        return x, (stack(h_n), stack(c_n))
    return x, stack(h_n)


def _cell(mode, input, hx, w_ih, w_hh, b_ih, b_hh):
    """One time step: the layer's recurrence with T = 1."""
    h0, c0 = hx if mode == "LSTM" else (hx, None)
    res = recurrence(linear(input, w_ih, b_ih).unsqueeze(0), h0, c0, w_hh, b_hh, mode=mode)
    return (res[1], res[2]) if mode == "LSTM" else res[1]


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """``tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` for input (B, I) and hx (B, H)."""
    return _cell("RNN_TANH", input, hx, w_ih, w_hh, b_ih, b_hh)


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """``relu(x W_ih^T + b_ih + h W_hh^T + b_hh)`` for input (B, I) and hx (B, H)."""
    return _cell("RNN_RELU", input, hx, w_ih, w_hh, b_ih, b_hh)


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: ``(h', c')`` from input (B, I) and ``hx = (h, c)``, each (B, H)."""
    return _cell("LSTM", input, hx, w_ih, w_hh, b_ih, b_hh)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: ``h'`` from input (B, I) and hx (B, H)."""
    return _cell("GRU", input, hx, w_ih, w_hh, b_ih, b_hh)


def check_dropout_layers(dropout_p, num_layers):
    """PyTorch's warning: dropout acts between layers, so one layer makes it a no-op."""
    if dropout_p > 0 and num_layers == 1:
        warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                      "non-zero dropout expects num_layers greater than 1, but got "
                      f"dropout={dropout_p} and num_layers={num_layers}", stacklevel=3)
