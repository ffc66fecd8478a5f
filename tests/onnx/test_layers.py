"""The ONNX of each layer family (ember/onnx/layers.py): every layer run by onnxruntime
against ember at the exported and at another batch size; the errors of what cannot be
exported."""
import numpy as np
import pytest
from _onnx_roundtrip import Lambda, floats, import_oracles, ops_of, randomize_batch_norms, roundtrip

import ember
import ember.onnx
from ember import nn
from ember.nn import functional as F

DYN = {"input": {0: "b"}}


@pytest.fixture(autouse=True)
def _oracles():
    import_oracles()


def _randomized(module, seed=3):
    """Affine parameters away from their initial 1 / 0."""
    rng = np.random.default_rng(seed)
    with ember.no_grad():
        for p in module.parameters():
            p.copy_(ember.tensor(rng.normal(1, 0.3, p.shape).astype(np.float32)))
    return module


def _check(layer, shape, other_batch=5, **kwargs):
    other = (other_batch,) + tuple(shape[1:])
    return roundtrip(randomize_batch_norms(layer), (floats(*shape),),
                     (floats(*other, seed=1),), dynamic=DYN, input_names=["input"],
                     **kwargs)


LAYERS = [
    ("linear_2d", lambda: nn.Linear(4, 3), (2, 4), "Gemm"),
    ("linear_3d", lambda: nn.Linear(4, 3), (2, 5, 4), "MatMul"),
    ("linear_no_bias", lambda: nn.Linear(4, 3, bias=False), (2, 4), "Gemm"),
    ("conv1d", lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1), (2, 2, 9), "Conv"),
    ("conv2d_groups_dilation", lambda: nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2),
     (2, 4, 7, 7), "Conv"),
    ("conv2d_same", lambda: nn.Conv2d(2, 3, 4, padding="same", bias=False), (2, 2, 6, 6),
     "Conv"),
    ("conv3d", lambda: nn.Conv3d(2, 2, 2), (2, 2, 4, 4, 4), "Conv"),
    ("conv_transpose2d", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1,
                                                    output_padding=1), (2, 3, 4, 4),
     "ConvTranspose"),
    ("max_pool2d_ceil", lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), (2, 2, 8, 8),
     "MaxPool"),
    ("max_pool1d_dilation", lambda: nn.MaxPool1d(2, dilation=2), (2, 2, 9), "MaxPool"),
    ("avg_pool2d", lambda: nn.AvgPool2d(2), (2, 2, 6, 6), "AveragePool"),
    ("avg_pool2d_no_pad_count", lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True,
                                                     count_include_pad=False), (2, 2, 8, 8),
     "AveragePool"),
    ("adaptive_avg_pool_global", lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 5, 5),
     "GlobalAveragePool"),
    ("adaptive_avg_pool_overlapping", lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 5, 7),
     "MatMul"),
    ("adaptive_max_pool_global", lambda: nn.AdaptiveMaxPool2d(1), (2, 3, 5, 5), "MaxPool"),
    ("adaptive_max_pool_overlapping", lambda: nn.AdaptiveMaxPool1d(1), (2, 3, 5), "MaxPool"),
    ("batch_norm1d", lambda: nn.BatchNorm1d(3), (2, 3, 4), "BatchNormalization"),
    ("batch_norm2d_no_affine", lambda: nn.BatchNorm2d(3, affine=False), (2, 3, 4, 4),
     "BatchNormalization"),
    ("layer_norm", lambda: nn.LayerNorm(4), (2, 3, 4), "LayerNormalization"),
    ("layer_norm_2d_no_bias", lambda: nn.LayerNorm((3, 4), bias=False), (2, 3, 4),
     "LayerNormalization"),
    ("local_response_norm", lambda: nn.LocalResponseNorm(3), (2, 5, 4, 4), "LRN"),
    ("group_norm", lambda: _randomized(nn.GroupNorm(2, 4)), (2, 4, 3, 3), "ReduceMean"),
    ("group_norm_1d_no_affine", lambda: nn.GroupNorm(3, 6, affine=False), (2, 6, 5),
     "ReduceMean"),
    ("instance_norm", lambda: nn.InstanceNorm2d(3), (2, 3, 4, 4), "ReduceMean"),
    ("rms_norm", lambda: nn.RMSNorm(4), (2, 3, 4), "Sqrt"),
    ("upsample_nearest", lambda: nn.Upsample(scale_factor=2), (2, 2, 3, 3), "Gather"),
    ("upsample_bilinear", lambda: nn.Upsample(size=(5, 7), mode="bilinear"), (2, 2, 3, 4),
     "Gather"),
    ("upsample_bilinear_corners", lambda: nn.Upsample(scale_factor=1.5, mode="bilinear",
                                                      align_corners=True), (2, 2, 4, 4),
     "Gather"),
    ("upsample_bicubic", lambda: nn.Upsample(scale_factor=2, mode="bicubic"), (2, 1, 3, 3),
     "Gather"),
    ("interpolate_linear_1d", lambda: Lambda(lambda m, x: F.interpolate(x, size=7,
                                                                         mode="linear")),
     (2, 3, 4), "Gather"),
    ("circular_padding", lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"),
     (2, 2, 4, 5), "Conv"),
    ("pixel_shuffle", lambda: nn.PixelShuffle(2), (2, 8, 3, 3), "Transpose"),
    ("bilinear", lambda: Lambda(lambda m, x: m.b(x, x * 2), b=nn.Bilinear(4, 4, 3)), (2, 4),
     "Einsum"),
    ("cosine_similarity_normalize", lambda: Lambda(
        lambda m, x: F.cosine_similarity(x, x.flip(0)) + F.normalize(x, dim=1).sum(1)
        + F.pairwise_distance(x, x * 2)), (3, 4), "ReduceL2"),
    ("dropout_in_eval", lambda: nn.Sequential(nn.Dropout(0.5), nn.Dropout2d(0.3),
                                              nn.Flatten(), nn.Linear(12, 4)), (2, 3, 2, 2),
     "Gemm"),
    ("flatten_unflatten", lambda: nn.Sequential(nn.Flatten(), nn.Unflatten(1, (2, 6))),
     (2, 3, 4), "Reshape"),
]


@pytest.mark.parametrize("make, shape, op", [(m, s, o) for _, m, s, o in LAYERS],
                         ids=[i for i, _, _, _ in LAYERS])
def test_layer(make, shape, op):
    assert op in ops_of(_check(make(), shape))


ACTIVATIONS = ["ReLU", "ReLU6", "Sigmoid", "Tanh", "GELU", "SiLU", "ELU", "SELU", "CELU",
               "LeakyReLU", "PReLU", "Softplus", "Mish", "Hardswish", "Hardsigmoid",
               "Hardtanh", "LogSigmoid", "Softsign", "Tanhshrink", "Softmax", "LogSoftmax"]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation(name):
    layer = getattr(nn, name)(dim=1) if "Softmax" in name else getattr(nn, name)()
    _check(layer, (2, 3, 4))


@pytest.mark.parametrize("layer", [nn.GELU(approximate="tanh"), nn.Softplus(beta=2.0),
                                   nn.CELU(alpha=0.5), nn.PReLU(3), nn.ELU(alpha=0.7)],
                         ids=["gelu_tanh", "softplus_beta", "celu_alpha", "prelu_channels",
                              "elu_alpha"])
def test_activation_options(layer):
    _check(layer, (2, 3, 4))


def test_gelu_is_one_node_from_opset_20():
    proto = _check(nn.GELU(), (2, 3), opset_version=20)
    assert ops_of(proto) == ["Gelu"]


def test_embedding():
    rng = np.random.default_rng(0)
    batches = [(ember.tensor(rng.integers(0, 10, (b, 3))),) for b in (2, 4)]
    proto = roundtrip(nn.Embedding(10, 4, padding_idx=0), *batches, dynamic=DYN)
    assert ops_of(proto) == ["Gather"]


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["one_way", "bidirectional"])
def test_recurrent_layers(mode, bidirectional):
    layer = getattr(nn, mode)(3, 5, num_layers=2, bidirectional=bidirectional)
    model = Lambda(lambda m, x: m.rnn(x)[0], rnn=layer)
    proto = roundtrip(model, (floats(6, 2, 3),), (floats(6, 4, 3, seed=1),),
                      dynamic={"input_0": {1: "b"}})
    assert ops_of(proto).count(mode) == 2 * (2 if bidirectional else 1)


def test_lstm_states_in_and_out_and_a_dynamic_length():
    class WithStates(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 4, batch_first=True)

        def forward(self, x, h, c):
            out, (h, c) = self.lstm(x, (h, c))
            return out, h, c
    batches = [(floats(2, 5, 3), floats(1, 2, 4, seed=1), floats(1, 2, 4, seed=2)),
               (floats(3, 7, 3, seed=3), floats(1, 3, 4, seed=4), floats(1, 3, 4, seed=5))]
    roundtrip(WithStates(), *batches, dynamic={"x": {0: "b", 1: "t"}, "h": {1: "b"},
                                               "c": {1: "b"}})


def test_gru_cell_and_zero_initial_state_made_at_the_batch_size():
    class Cell(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.GRUCell(3, 4)

        def forward(self, x):
            h = ember.zeros(x.shape[0], 4)
            for t in range(x.shape[1]):
                h = self.cell(x[:, t], h)
            return h
    roundtrip(Cell(), (floats(2, 3, 3),), (floats(5, 3, 3, seed=1),), dynamic={"x": [0]})


def test_multihead_attention_with_masks():
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    causal = nn.Transformer.generate_square_subsequent_mask(4)
    allowed = ember.tensor(np.tril(np.ones((4, 4), bool)))

    def fn(m, x):
        a = m.mha(x, x, x, attn_mask=causal, need_weights=False)[0]
        b = F.scaled_dot_product_attention(x, x, x, attn_mask=allowed)
        c = F.scaled_dot_product_attention(x, x, x, is_causal=True, scale=0.3)
        return a + b + c
    roundtrip(Lambda(fn, mha=mha), (floats(2, 4, 8),), (floats(3, 4, 8, seed=1),),
              dynamic={"input_0": [0]})


def test_a_query_that_may_attend_to_nothing_gives_zeros():
    mask = ember.tensor(np.array([[True, True, False], [False, False, False]]))
    model = Lambda(lambda m, q, k: F.scaled_dot_product_attention(q, k, k, attn_mask=mask))
    roundtrip(model, (floats(2, 2, 4), floats(2, 3, 4, seed=1)))


@pytest.mark.parametrize("opset", [18, 21])
def test_later_opsets(opset):
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.GELU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(3),
                          nn.Linear(3, 2), nn.LogSoftmax(1))
    proto = _check(model, (2, 2, 5, 5), opset_version=opset)
    assert proto.opset_import[0].version == opset
    reduce = Lambda(lambda m, x: x.mean(1) + x.sum(-1) + x.amax(1) + x.var(1))
    _check(reduce, (2, 4, 4), opset_version=opset)


def test_transformer_decoder_layer():
    layer = nn.TransformerDecoderLayer(8, 2, 16, batch_first=True, norm_first=True,
                                       activation="gelu")
    model = Lambda(lambda m, x, mem: m.layer(x, mem), layer=layer)
    roundtrip(model, (floats(2, 3, 8), floats(2, 5, 8, seed=1)),
              (floats(4, 3, 8, seed=2), floats(4, 5, 8, seed=3)),
              dynamic={"input_0": [0], "input_1": [0]})


@pytest.mark.parametrize("make, shape, match", [
    (lambda: nn.LocalResponseNorm(2), (2, 4, 3), "even size"),
    (lambda: nn.Unfold(2), (2, 2, 4, 4), "the op Unfold"),
    (lambda: nn.EmbeddingBag(5, 3), None, "the op ScatterAdd"),
    (lambda: Lambda(lambda m, x: F.max_pool2d(x, 2, return_indices=True)[0]), (2, 2, 4, 4),
     "return_indices=True"),
    (lambda: nn.AdaptiveMaxPool2d(2), (2, 2, 5, 5), "adaptive max pooling"),
    (lambda: Lambda(lambda m, x: F.scaled_dot_product_attention(x, x, x, dropout_p=0.5)),
     (2, 3, 4), "dropout_p > 0"),
    (lambda: nn.LSTM(3, 4, proj_size=2), (5, 2, 3), "proj_size"),
])
def test_what_cannot_be_exported_is_named(make, shape, match):
    x = floats(*shape) if shape else ember.tensor([[1, 2], [3, 4]])
    with pytest.raises(ember.onnx.ExportError, match=match):
        ember.onnx.export(make(), x, None)


def test_packed_sequences_are_refused():
    lstm = nn.LSTM(3, 4)

    def fn(m, x):
        packed = nn.utils.rnn.pack_padded_sequence(x, [3, 2])
        return m.lstm(packed)[1][0]
    with pytest.raises(ember.onnx.ExportError, match="PackedSequence"):
        ember.onnx.export(Lambda(fn, lstm=lstm), floats(3, 2, 3), None)
