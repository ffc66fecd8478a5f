"""Transformer layers, stacks and nn.Transformer against torch.nn in float64 (outputs, the
inputs' and every parameter's gradient) with every mask, post- and pre-norm; their
state_dict keys, deep copies, initialisation, dropout and errors; and the two positional
encodings ember adds (values against the formula)."""
import math

import numpy as np
import pytest
from _parity import assert_close, check_grad, check_op, copy_from_torch, host, import_torch

import ember

torch = import_torch()

# bool key padding masks beside float attention masks (PyTorch deprecates mixing them, and
# both libraries say so); torch's nested-tensor fast path, which ember does not have
pytestmark = [pytest.mark.filterwarnings("ignore:Support for mismatched"),
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")]

D, NH, FF, S, T, N = 8, 2, 16, 5, 4, 3


def check_layer(em, tm, fn, shapes, **kwargs):
    """check_op of ``fn(layer, m, *xs)`` with torch's weights, then every parameter's
    gradient."""
    copy_from_torch(em, tm)
    check_op(lambda *x: fn(em, ember, *x), lambda *x: fn(tm, torch, *x), shapes=shapes,
             **kwargs)
    names = [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in em.named_parameters()] == names
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        tg = np.zeros(tuple(tp.shape)) if tp.grad is None else tp.grad.numpy()
        eg = np.zeros(tuple(ep.shape)) if ep.grad is None else host(ep.grad)
        assert_close(eg, tg, 1e-10, 1e-10, f"gradient of {n}")


def pair(name, *args, **kwargs):
    kwargs.setdefault("dropout", 0.0)
    act = kwargs.pop("activation", None)
    em_kw, tm_kw = dict(kwargs), dict(kwargs)
    if act == "tanh":  # a callable, one per library
        em_kw["activation"], tm_kw["activation"] = ember.tanh, torch.tanh
    elif act is not None:
        em_kw["activation"] = tm_kw["activation"] = act
    return (getattr(ember.nn, name)(*args, **em_kw).double(),
            getattr(torch.nn, name)(*args, **tm_kw).double())


def mask(m, shape, kind, seed=0):
    """A bool mask (True: masked, never a whole row) or a float one, of either library."""
    rng = np.random.default_rng(seed)
    if kind == "bool":
        a = rng.random(shape) < 0.3
        a[..., 0] = False
        return m.tensor(a)
    return m.tensor(rng.standard_normal(shape))


def causal(m, size):
    return m.nn.Transformer.generate_square_subsequent_mask(size, dtype=m.float64)


def seq(batch_first, length):
    return (N, length, D) if batch_first else (length, N, D)


CONFIGS = [{}, {"norm_first": True}, {"activation": "gelu"}, {"activation": "tanh"},
           {"bias": False}, {"batch_first": True, "norm_first": True},
           {"layer_norm_eps": 1e-3}]


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_encoder_layer_matches_torch(config):
    bf = config.get("batch_first", False)
    check_layer(*pair("TransformerEncoderLayer", D, NH, FF, **config), lambda a, m, x: a(
        x, src_mask=mask(m, (S, S), "bool", 1),
        src_key_padding_mask=mask(m, (N, S), "bool", 2)), shapes=[seq(bf, S)])


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_masks_causal_and_unbatched(norm_first):
    em, tm = pair("TransformerEncoderLayer", D, NH, FF, norm_first=norm_first)
    for call in (lambda m: {}, lambda m: {"src_mask": mask(m, (N * NH, S, S), "float", 3)},
                 lambda m: {"src_key_padding_mask": mask(m, (N, S), "float", 4)},
                 lambda m: {"src_mask": causal(m, S), "is_causal": True},
                 lambda m: {"src_mask": mask(m, (S, S), "float", 5),
                            "src_key_padding_mask": mask(m, (N, S), "bool", 6)}):
        check_layer(em, tm, lambda a, m, x, call=call: a(x, **call(m)), shapes=[(S, N, D)])
    check_layer(em, tm, lambda a, m, x: a(x, src_mask=causal(m, S), is_causal=True,
                                          src_key_padding_mask=mask(m, (S,), "bool", 7)),
                shapes=[(S, D)])


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_decoder_layer_matches_torch(config):
    bf = config.get("batch_first", False)
    check_layer(*pair("TransformerDecoderLayer", D, NH, FF, **config), lambda a, m, t, mem: a(
        t, mem, tgt_mask=causal(m, T), memory_mask=mask(m, (T, S), "bool", 1),
        tgt_key_padding_mask=mask(m, (N, T), "bool", 2),
        memory_key_padding_mask=mask(m, (N, S), "bool", 3), tgt_is_causal=True),
        shapes=[seq(bf, T), seq(bf, S)])


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_float_masks_and_unbatched(norm_first):
    em, tm = pair("TransformerDecoderLayer", D, NH, FF, norm_first=norm_first)
    check_layer(em, tm, lambda a, m, t, mem: a(t, mem), shapes=[(T, N, D), (S, N, D)])
    check_layer(em, tm, lambda a, m, t, mem: a(
        t, mem, tgt_mask=mask(m, (N * NH, T, T), "float", 4),
        memory_mask=mask(m, (T, S), "float", 5),
        memory_key_padding_mask=mask(m, (N, S), "float", 6)), shapes=[(T, N, D), (S, N, D)])
    check_layer(em, tm, lambda a, m, t, mem: a(t, mem, tgt_mask=causal(m, T),
                                               tgt_is_causal=True),
                shapes=[(T, D), (S, D)])


def test_decoder_layer_memory_is_causal_and_activation_modules():
    em, tm = pair("TransformerDecoderLayer", D, NH, FF)
    check_layer(em, tm, lambda a, m, t, mem: a(
        t, mem, memory_mask=causal(m, T), memory_is_causal=True, tgt_mask=causal(m, T),
        tgt_is_causal=True), shapes=[(T, N, D), (T, N, D)])
    assert ember.nn.TransformerEncoderLayer(D, NH, activation=ember.nn.GELU()) \
        .activation_relu_or_gelu == 2
    assert ember.nn.TransformerEncoderLayer(D, NH).activation_relu_or_gelu == 1
    assert ember.nn.TransformerEncoderLayer(D, NH, activation="gelu").activation_relu_or_gelu \
        == 2


def test_transformer_float32_and_src_is_causal():
    em, tm = pair("Transformer", D, NH, 1, 1, FF)
    em, tm = em.float(), tm.float()
    copy_from_torch(em, tm)
    check_op(lambda s, t: em(s, t, src_mask=causal(ember, S).float(), src_is_causal=True,
                             tgt_mask=causal(ember, T).float(),
                             src_key_padding_mask=mask(ember, (N, S), "bool", 1)),
             lambda s, t: tm(s, t, src_mask=causal(torch, S).float(), src_is_causal=True,
                             tgt_mask=causal(torch, T).float(),
                             src_key_padding_mask=mask(torch, (N, S), "bool", 1)),
             shapes=[(S, N, D), (T, N, D)], dtype=np.float32)


def _stack(name, layer_name, num_layers, norm, **kwargs):
    em_layer, tm_layer = pair(layer_name, D, NH, FF, **kwargs)
    em_norm = ember.nn.LayerNorm(D).double() if norm else None
    tm_norm = torch.nn.LayerNorm(D).double() if norm else None
    extra = {"enable_nested_tensor": False} if name == "TransformerEncoder" else {}
    return (getattr(ember.nn, name)(em_layer, num_layers, em_norm, **extra),
            getattr(torch.nn, name)(tm_layer, num_layers, tm_norm, **extra)), em_layer


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_stack_matches_torch(norm_first):
    (em, tm), layer = _stack("TransformerEncoder", "TransformerEncoderLayer", 2, True,
                             norm_first=norm_first)
    assert list(em.state_dict()) == list(tm.state_dict())
    assert "layers.1.self_attn.in_proj_weight" in em.state_dict()
    for call in (lambda m: {"mask": causal(m, S)},  # detected as causal
                 lambda m: {"mask": causal(m, S), "is_causal": True,
                            "src_key_padding_mask": mask(m, (N, S), "bool", 1)},
                 lambda m: {"mask": mask(m, (S, S), "bool", 2),
                            "src_key_padding_mask": mask(m, (N, S), "bool", 3)}):
        check_layer(em, tm, lambda a, m, x, call=call: a(x, **call(m)), shapes=[(S, N, D)])
    # deep copies: each layer its own parameters, none shared with the layer passed in
    ids = {id(p) for p in em.parameters()}
    assert len(ids) == len(list(em.parameters()))
    assert not ids & {id(p) for p in layer.parameters()}
    assert em.enable_nested_tensor is False and em.use_nested_tensor is False
    assert em.mask_check is True and em.num_layers == 2


def test_decoder_stack_matches_torch():
    (em, tm), _ = _stack("TransformerDecoder", "TransformerDecoderLayer", 2, True,
                         batch_first=True)
    assert list(em.state_dict()) == list(tm.state_dict())
    check_layer(em, tm, lambda a, m, t, mem: a(
        t, mem, tgt_mask=causal(m, T), tgt_key_padding_mask=mask(m, (N, T), "bool", 1),
        memory_key_padding_mask=mask(m, (N, S), "bool", 2)), shapes=[(N, T, D), (N, S, D)])
    (em, tm), _ = _stack("TransformerDecoder", "TransformerDecoderLayer", 1, False)
    check_layer(em, tm, lambda a, m, t, mem: a(t, mem), shapes=[(T, N, D), (S, N, D)])


@pytest.mark.parametrize("config", [{}, {"norm_first": True, "batch_first": True},
                                    {"activation": "gelu", "bias": False}], ids=str)
def test_transformer_end_to_end_with_all_masks(config):
    em, tm = pair("Transformer", D, NH, 2, 2, FF, **config)
    assert list(em.state_dict()) == list(tm.state_dict())
    bf = config.get("batch_first", False)
    check_layer(em, tm, lambda a, m, src, tgt: a(
        src, tgt, src_mask=mask(m, (S, S), "float", 1), tgt_mask=causal(m, T),
        memory_mask=mask(m, (T, S), "bool", 2), src_key_padding_mask=mask(m, (N, S), "bool", 3),
        tgt_key_padding_mask=mask(m, (N, T), "bool", 4),
        memory_key_padding_mask=mask(m, (N, S), "bool", 5), tgt_is_causal=True),
        shapes=[seq(bf, S), seq(bf, T)])


def test_transformer_unbatched_and_finite_differences():
    em, tm = pair("Transformer", D, NH, 1, 1, FF)
    check_layer(em, tm, lambda a, m, src, tgt: a(src, tgt, tgt_mask=causal(m, T)),
                shapes=[(S, D), (T, D)])
    check_grad(lambda src, tgt: em(src, tgt, tgt_mask=causal(ember, T)),
               shapes=[(S, 2, D), (T, 2, D)])


def test_generate_square_subsequent_mask_and_init():
    for sz, dtype in ((1, None), (4, ember.float64)):
        em = ember.nn.Transformer.generate_square_subsequent_mask(sz, dtype=dtype)
        tm = torch.nn.Transformer.generate_square_subsequent_mask(
            sz, dtype=None if dtype is None else torch.float64)
        assert np.array_equal(em.numpy(), tm.numpy())
        assert str(em.dtype) == str(tm.dtype).replace("torch.", "")
    model = ember.nn.Transformer(16, 2, 1, 1, 32)
    w = model.encoder.layers[0].linear1.weight.detach().numpy()  # xavier_uniform_ (32, 16)
    assert np.abs(w).max() <= math.sqrt(6 / 48) and w.std() > 0.8 * math.sqrt(2 / 48)
    assert (model.d_model, model.nhead, model.batch_first) == (16, 2, False)
    custom = ember.nn.Identity()
    assert ember.nn.Transformer(16, 2, 1, 1, 32, custom_encoder=custom).encoder is custom


def test_dropout_statistics_and_eval_identity():
    ember.manual_seed(0)
    layer = ember.nn.TransformerEncoderLayer(D, NH, 200, dropout=0.5, activation=lambda x: x)
    seen = []
    layer.dropout.register_forward_hook(lambda mod, inp, out: seen.append(out.numpy()))
    x = ember.randn(S, N, D)
    with ember.no_grad():
        a, b = layer(x), layer(x)
        assert not np.allclose(a.numpy(), b.numpy())
        assert (seen[0] == 0).mean() == pytest.approx(0.5, abs=0.03)
        layer.eval()
        ref = ember.nn.TransformerEncoderLayer(D, NH, 200, dropout=0.0, activation=lambda x: x)
        ref.load_state_dict(layer.state_dict())
        assert np.array_equal(layer(x).numpy(), layer(x).numpy())
        assert np.allclose(layer(x).numpy(), ref(x).numpy(), atol=1e-6)


def test_bad_arguments_name_the_argument_and_shapes():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        ember.nn.TransformerEncoderLayer(D, NH, activation="tanh")
    model = ember.nn.Transformer(D, NH, 1, 1, FF)
    with pytest.raises(RuntimeError, match=r"batch number of src and tgt must be equal: src "
                                           r"\(5, 3, 8\), tgt \(4, 2, 8\)"):
        model(ember.randn(S, N, D), ember.randn(T, 2, D))
    with pytest.raises(RuntimeError, match=r"feature number .* d_model \(8\): src \(5, 3, 8\), "
                                           r"tgt \(4, 3, 6\)"):
        model(ember.randn(S, N, D), ember.randn(T, N, 6))
    with pytest.raises(AssertionError, match="only bool and floating types of "
                                             "src_key_padding_mask"):
        model(ember.randn(S, N, D), ember.randn(T, N, D),
              src_key_padding_mask=ember.zeros(N, S, dtype=ember.int64))
    with pytest.raises(RuntimeError, match=r"2D attn_mask is \(4, 4\), but should be \(4, 5\)"):
        model(ember.randn(S, N, D), ember.randn(T, N, D), memory_mask=ember.zeros(T, T))
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        model(ember.randn(S, N, D), ember.randn(T, N, D), tgt_is_causal=True)


# ---- positional encodings (ember extras) -----------------------------------------------

def test_sinusoidal_table_against_the_formula():
    for d in (6, 7):
        pe = ember.nn.SinusoidalPositionalEncoding(d, max_len=50, dtype=ember.float64).pe.numpy()
        want = np.zeros((50, d))
        for pos in range(50):
            for i in range(d):
                angle = pos / 10000 ** ((i - i % 2) / d)
                want[pos, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
        assert_close(pe, want, 1e-12, 1e-12, "pe")
    layer = ember.nn.SinusoidalPositionalEncoding(D, max_len=20)
    assert layer.pe.dtype == ember.float32 and "pe" not in layer.state_dict()


@pytest.mark.parametrize("cls", ["SinusoidalPositionalEncoding", "LearnedPositionalEncoding"])
def test_positional_encodings_add_the_table_in_every_layout(cls):
    make = getattr(ember.nn, cls)
    args = (D, 20) if cls.startswith("Sin") else (20, D)
    for bf, shape in ((False, (S, N, D)), (True, (N, S, D)), (False, (S, D))):
        layer = make(*args, batch_first=bf).double()
        table = (layer.pe if cls.startswith("Sin") else layer.embedding.weight).detach().numpy()
        x = ember.randn(*shape, dtype=ember.float64)
        want = x.numpy() + (table[:S, None] if len(shape) == 3 and not bf else table[:S])
        assert_close(layer(x).detach().numpy(), want, 1e-12, 1e-12, cls)
    learned = ember.nn.LearnedPositionalEncoding(20, D).double()
    assert list(learned.state_dict()) == ["embedding.weight"]
    check_grad(lambda x: learned(x), shapes=[(S, 2, D)])
    learned(ember.randn(S, N, D, dtype=ember.float64)).sum().backward()
    g = learned.embedding.weight.grad.numpy()
    assert np.allclose(g[:S], N) and not g[S:].any()


@pytest.mark.parametrize("cls", ["SinusoidalPositionalEncoding", "LearnedPositionalEncoding"])
def test_positional_encodings_dropout_and_errors(cls):
    make = getattr(ember.nn, cls)
    args = (D, 20) if cls.startswith("Sin") else (20, D)
    layer = make(*args, dropout=0.5)
    x = ember.ones(20, 50, D)
    out = layer(x).detach().numpy()
    assert (out == 0).mean() == pytest.approx(0.5, abs=0.03)
    layer.eval()
    assert np.array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())
    with pytest.raises(ValueError, match=r"sequence length 21 of input \(21, 2, 8\) exceeds "
                                         r"max_len 20"):
        layer(ember.ones(21, 2, D))
    with pytest.raises(ValueError, match=r"expected input of shape \(S, N, 8\).*got \(5, 2, 7\)"):
        layer(ember.ones(5, 2, 7))
