"""RNN, LSTM, GRU and their cells against torch.nn: outputs, final states, the input's and
every parameter's gradient, in float64, across the layouts PyTorch supports."""
import numpy as np
import pytest
from _parity import assert_close, check_module, copy_from_torch, host, import_torch

import ember

torch = import_torch()

LAYERS = {"RNN": (ember.nn.RNN, torch.nn.RNN), "LSTM": (ember.nn.LSTM, torch.nn.LSTM),
          "GRU": (ember.nn.GRU, torch.nn.GRU)}
CELLS = {"RNNCell": (ember.nn.RNNCell, torch.nn.RNNCell),
         "LSTMCell": (ember.nn.LSTMCell, torch.nn.LSTMCell),
         "GRUCell": (ember.nn.GRUCell, torch.nn.GRUCell)}
CONFIGS = [{}, {"num_layers": 2, "bidirectional": True, "batch_first": True},
           {"bias": False, "bidirectional": True}, {"num_layers": 3, "batch_first": True}]


def _pair(name, *args, **kwargs):
    em_cls, tm_cls = {**LAYERS, **CELLS}[name]
    return em_cls(*args, **kwargs).double(), tm_cls(*args, **kwargs).double()


def _weighted(out, seed=1):
    """A random linear function of every output (tensors of either library), so each
    output's gradient is checked, not only their sum."""
    outs = []
    for o in out if isinstance(out, (tuple, list)) else (out,):
        outs += list(o) if isinstance(o, (tuple, list)) else [o]
    rng = np.random.default_rng(seed)
    total = 0
    for o in outs:
        w = rng.standard_normal(tuple(o.shape))
        total = total + (o * (ember.tensor(w) if isinstance(o, ember.Tensor)
                              else torch.tensor(w))).sum()
    return total


def _flat(o):
    return [q for p in o for q in _flat(p)] if isinstance(o, (tuple, list)) else [o]


def _to(lib, a):
    """Arrays (or tuples of them) as leaf tensors of ``lib`` that require grad."""
    if isinstance(a, tuple):
        return tuple(_to(lib, x) for x in a)
    return lib.tensor(a, requires_grad=True)


def _compare(em, tm, inputs):
    """Forward both with torch's weights, backward a random weighting of every output, and
    compare outputs, final states, the inputs' and every parameter's gradient."""
    copy_from_torch(em, tm)
    t_in, e_in = [_to(torch, a) for a in inputs], [_to(ember, a) for a in inputs]
    t_out, e_out = tm(*t_in), em(*e_in)
    _weighted(t_out).backward()
    _weighted(e_out).backward()
    for k, (a, b) in enumerate(zip(_flat(e_out), _flat(t_out))):
        assert_close(host(a), b.detach().numpy(), 1e-10, 1e-10, f"output {k}")
    for k, (a, b) in enumerate(zip(_flat(e_in), _flat(t_in))):
        assert_close(host(a.grad), b.grad.numpy(), 1e-10, 1e-10, f"gradient of input {k}")
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(host(ep.grad), tp.grad.numpy(), 1e-10, 1e-10, f"gradient of {n}")


@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("name", LAYERS)
def test_layer_matches_torch(name, config):
    em, tm = _pair(name, 4, 5, **config)
    _compare(em, tm, [np.random.default_rng(0).standard_normal((3, 6, 4))])


@pytest.mark.parametrize("name", LAYERS)
def test_given_initial_states_match_torch(name):
    em, tm = _pair(name, 3, 5, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(2)
    x, h0 = rng.standard_normal((7, 2, 3)), rng.standard_normal((4, 2, 5))
    _compare(em, tm, [x, (h0, rng.standard_normal((4, 2, 5))) if name == "LSTM" else h0])


def test_lstm_projections_match_torch():
    em, tm = _pair("LSTM", 4, 6, num_layers=2, bidirectional=True, proj_size=3)
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
    _compare(em, tm, [np.random.default_rng(3).standard_normal((5, 2, 4))])


@pytest.mark.parametrize("name", LAYERS)
def test_unbatched_input_matches_torch(name):
    em, tm = _pair(name, 4, 5, num_layers=2)
    _compare(em, tm, [np.random.default_rng(4).standard_normal((6, 4))])


def test_relu_rnn_matches_torch():
    em, tm = _pair("RNN", 4, 5, nonlinearity="relu", num_layers=2)
    _compare(em, tm, [np.random.default_rng(5).standard_normal((6, 3, 4))])


def test_parameter_names_shapes_and_repr_match_torch():
    for name in LAYERS:
        kw = {"num_layers": 2, "bidirectional": True, "batch_first": True, "dropout": 0.5}
        if name == "LSTM":
            kw["proj_size"] = 2
        em, tm = _pair(name, 3, 4, **kw)
        assert [(n, tuple(p.shape)) for n, p in em.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
        assert repr(em) == repr(tm)
        assert len(em.all_weights) == len(tm.all_weights)
    for name in CELLS:
        em, tm = _pair(name, 3, 4, bias=False)
        assert [(n, tuple(p.shape)) for n, p in em.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
        assert repr(em) == repr(tm)


def test_initialisation_is_uniform_in_one_over_sqrt_hidden():
    ember.manual_seed(0)
    w = np.concatenate([host(p).ravel() for p in ember.nn.LSTM(8, 64).parameters()])
    bound = 1 / np.sqrt(64)
    assert w.min() >= -bound and w.max() <= bound and abs(w.mean()) < 0.01
    assert np.std(w) == pytest.approx(bound / np.sqrt(3), rel=0.05)


@pytest.mark.parametrize("name", CELLS)
def test_cells_match_torch(name):
    em, tm = _pair(name, 4, 5)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4))
    _compare(em, tm, [x])  # hx omitted: zeros
    h = rng.standard_normal((3, 5))
    _compare(em, tm, [x, (h, rng.standard_normal((3, 5))) if name == "LSTMCell" else h])
    em1, tm1 = _pair(name, 4, 5, bias=False)
    _compare(em1, tm1, [x[0]])  # unbatched


def test_dropout_between_layers_only_in_training():
    ember.manual_seed(0)
    lstm = ember.nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = ember.randn(4, 2, 3)
    a, b = lstm(x)[0], lstm(x)[0]
    assert not np.allclose(host(a), host(b))  # different masks in training
    lstm.eval()
    assert np.allclose(host(lstm(x)[0]), host(lstm(x)[0]))
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        ember.nn.GRU(3, 4, dropout=0.2)


def test_truncated_bptt_carries_detached_states():
    """Two chunks with the state detached between them equal one run forward; the second
    chunk's gradients stop at the chunk boundary, as in PyTorch."""
    em, tm = _pair("LSTM", 3, 4, num_layers=2)
    copy_from_torch(em, tm)
    em.zero_grad()
    x = np.random.default_rng(7).standard_normal((10, 2, 3))
    full = host(em(ember.tensor(x))[0])
    out1, (h, c) = em(ember.tensor(x[:5]))
    out2, _ = em(ember.tensor(x[5:]), (h.detach(), c.detach()))
    assert_close(np.concatenate([host(out1), host(out2)]), full, 1e-12, 1e-12, "chunks")
    _, (th, tc) = tm(torch.tensor(x[:5]))
    t2, _ = tm(torch.tensor(x[5:]), (th.detach(), tc.detach()))
    _weighted(out2).backward()
    _weighted(t2).backward()
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(host(ep.grad), tp.grad.numpy(), 1e-10, 1e-10, f"chunk-2 gradient of {n}")


def test_float32_matches_torch():
    em, tm = ember.nn.GRU(4, 8, batch_first=True), torch.nn.GRU(4, 8, batch_first=True)
    check_module(em, tm, [np.random.default_rng(8).standard_normal((2, 9, 4))],
                 dtype=np.float32)


def test_wrong_sizes_are_named():
    lstm = ember.nn.LSTM(10, 20)
    with pytest.raises(RuntimeError, match=r"LSTM\(10, 20\).*Expected 10, got 5"):
        lstm(ember.randn(3, 2, 5))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 20\), got "
                                           r"\[1, 3, 20\]"):
        lstm(ember.randn(3, 2, 10), (ember.zeros(1, 3, 20), ember.zeros(1, 3, 20)))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(2, 2, 20\)"):
        ember.nn.GRU(10, 20, bidirectional=True)(ember.randn(3, 2, 10), ember.zeros(1, 2, 20))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        ember.nn.RNN(10, 20)(ember.randn(1, 3, 2, 10))
    with pytest.raises(RuntimeError, match="hx should also be 2-D"):
        ember.nn.RNN(10, 20)(ember.randn(3, 10), ember.zeros(1, 1, 20))
    with pytest.raises(TypeError, match=r"hx must be a tuple \(h_0, c_0\)"):
        lstm(ember.randn(3, 2, 10), ember.zeros(1, 2, 20))
    with pytest.raises(RuntimeError, match="inconsistent input_size: got 3 expected 10"):
        ember.nn.GRUCell(10, 20)(ember.randn(2, 3))
    with pytest.raises(RuntimeError, match=r"hx has shape \(2, 5\), expected \(2, 20\)"):
        ember.nn.GRUCell(10, 20)(ember.randn(2, 10), ember.zeros(2, 5))


def test_bad_construction_is_refused():
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        ember.nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        ember.nn.RNNBase("GRU", 3, 4, proj_size=2)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        ember.nn.GRU(3, 0)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        ember.nn.LSTM(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        ember.nn.RNN(3, 4, nonlinearity="sigmoid")
