"""ember.onnx.export on whole models: each exported graph passes onnx.checker and, run by
onnxruntime at the exported and at another batch size (dynamic axes), gives ember's
forward (float32, rtol 1e-3); and the export's options and errors."""
import io

import numpy as np
import pytest
from _onnx_roundtrip import floats, import_oracles, ops_of, randomize_batch_norms, roundtrip

import ember
import ember.onnx
from ember import models, nn
from ember.models import attention_seq2seq, seq2seq
from ember.models.gpt import GPT, GPTConfig

BATCH = {"x": {0: "batch"}, "output": {0: "batch"}}


@pytest.fixture(autouse=True)
def _oracles():
    import_oracles()


def test_lenet5():
    proto = roundtrip(models.lenet5(), (floats(2, 1, 32, 32),), (floats(5, 1, 32, 32, seed=1),),
                      dynamic=BATCH)
    assert "Conv" in ops_of(proto) and "Gemm" in ops_of(proto)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 32, 32]


def test_resnet20():
    model = randomize_batch_norms(models.resnet20())
    proto = roundtrip(model, (floats(2, 3, 32, 32),), (floats(3, 3, 32, 32, seed=1),),
                      dynamic=BATCH)
    assert ops_of(proto).count("BatchNormalization") == 19
    names = {i.name for i in proto.graph.initializer}
    assert {"conv1.weight", "bn1.running_mean", "fc.weight"} <= names  # state_dict keys


def test_vgg():
    model = randomize_batch_norms(models.vgg_small_bn())
    roundtrip(model, (floats(2, 1, 28, 28),), (floats(4, 1, 28, 28, seed=1),), dynamic=BATCH)


def test_googlenet_in_eval():
    model = randomize_batch_norms(models.googlenet(num_classes=10, init_weights=False))
    proto = roundtrip(model, (floats(2, 3, 64, 64),), (floats(3, 3, 64, 64, seed=1),),
                      dynamic=BATCH)
    assert "Concat" in ops_of(proto) and "MaxPool" in ops_of(proto)


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        out, _ = self.lstm(self.embed(x))
        return self.fc(out[:, -1])


def test_two_layer_lstm_classifier():
    rng = np.random.default_rng(0)
    tokens = [(ember.tensor(rng.integers(0, 20, (b, 7))),) for b in (2, 5)]
    proto = roundtrip(LSTMClassifier(), *tokens, dynamic=BATCH)
    assert ops_of(proto).count("LSTM") == 2 and "Gather" in ops_of(proto)


class CausalEncoder(nn.Module):
    def __init__(self, length=6):
        super().__init__()
        layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.mask = nn.Transformer.generate_square_subsequent_mask(length)

    def forward(self, x):
        return self.encoder(x, mask=self.mask, is_causal=True)


def test_causal_transformer_encoder():
    proto = roundtrip(CausalEncoder(), (floats(2, 6, 32),), (floats(5, 6, 32, seed=1),),
                      dynamic=BATCH)
    assert {"Softmax", "LayerNormalization", "MatMul"} <= set(ops_of(proto))


@pytest.mark.parametrize("name, shapes", [
    ("resnet18", [(2, 3, 32, 32), (3, 3, 32, 32)]),
    ("vit_tiny", [(2, 1, 28, 28), (3, 1, 28, 28)]),
    ("gru1d", [(2, 1, 40), (5, 1, 40)]),
])
def test_other_registry_models(name, shapes):
    kwargs = {"in_channels": shapes[0][1]}
    model = randomize_batch_norms(models.get_model(name, num_classes=10, **kwargs))
    roundtrip(model, *[(floats(*s, seed=i),) for i, s in enumerate(shapes)], dynamic=BATCH)


def test_gpt_with_dynamic_batch_and_length():
    """Positions (ember.arange(t)) become Range and the causal mask Trilu on the run-time
    length."""
    model = GPT(GPTConfig(block_size=16, vocab_size=11, n_layer=2, n_head=2, n_embd=16,
                          dropout=0.0))
    rng = np.random.default_rng(0)
    batches = [(ember.tensor(rng.integers(0, 11, shape)),) for shape in
               [(2, 6), (3, 9), (1, 16), (4, 2)]]
    proto = roundtrip(model, *batches, dynamic={"idx": {0: "b", 1: "t"}})
    assert {"Range", "Trilu"} <= set(ops_of(proto))


def test_two_dynamic_axes_of_one_size_stay_apart():
    model = GPT(GPTConfig(block_size=16, vocab_size=11, n_layer=1, n_head=2, n_embd=16,
                          dropout=0.0))
    rng = np.random.default_rng(0)
    batches = [(ember.tensor(rng.integers(0, 11, shape)),) for shape in [(3, 3), (2, 5), (5, 2)]]
    roundtrip(model, *batches, dynamic={"idx": {0: "b", 1: "t"}})
    with pytest.raises(ValueError, match="two dynamic axes of size 3 without names"):
        ember.onnx.export(model, batches[0], None, dynamic_axes={"idx": [0, 1]})


def test_gpt_without_cache():
    model = GPT(GPTConfig(block_size=16, vocab_size=11, n_layer=2, n_head=2, n_embd=16,
                          dropout=0.0))
    rng = np.random.default_rng(0)
    batches = [(ember.tensor(rng.integers(0, 11, (b, 8))),) for b in (3, 5)]
    roundtrip(model, *batches, dynamic={"idx": {0: "b"}, "output": {0: "b"}})


@pytest.mark.parametrize("make", [
    lambda: seq2seq.Seq2seq(13, 8, 16), lambda: seq2seq.PeekySeq2seq(13, 8, 16),
    lambda: attention_seq2seq.AttentionSeq2seq(13, 8, 16),
    lambda: attention_seq2seq.TransformerSeq2seq(13, d_model=16, nhead=2, num_layers=1)],
    ids=["seq2seq", "peeky", "attention", "transformer"])
def test_seq2seq_models_teacher_forced(make):
    rng = np.random.default_rng(0)
    batches = [(ember.tensor(rng.integers(0, 13, (b, 7))),
                ember.tensor(rng.integers(0, 13, (b, 5)))) for b in (2, 3)]
    roundtrip(make(), *batches, dynamic={"xs": [0], "decoder_xs": [0], "output": [0]})


# --- options --------------------------------------------------------------------------------

def test_names_file_and_options(tmp_path, capsys):
    onnx, _ = import_oracles()
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    x = floats(2, 4)
    path = tmp_path / "m.onnx"
    proto = ember.onnx.export(model, x, path, input_names=["features"], output_names=["y"],
                              verbose=True)
    assert "Gemm" in capsys.readouterr().out
    loaded = onnx.load(str(path))
    assert [i.name for i in loaded.graph.input] == ["features"]
    assert [o.name for o in loaded.graph.output] == ["y"]
    assert proto.opset_import[0].version == 17
    assert {i.name for i in loaded.graph.initializer} == {"0.weight", "0.bias"}
    no_params = ember.onnx.export(model, (x,), None, export_params=False)
    assert not no_params.graph.initializer
    assert [i.name for i in no_params.graph.input] == ["x", "0.weight", "0.bias"]
    kept = ember.onnx.export(model, (x,), io.BytesIO(), keep_initializers_as_inputs=True,
                             opset_version=18)
    assert len(kept.graph.input) == 3 and len(kept.graph.initializer) == 2
    assert kept.opset_import[0].version == 18


def test_several_inputs_and_outputs_and_keyword_arguments():
    class Two(nn.Module):
        def forward(self, a, b, scale=1.0):
            return a * scale + b, (a - b, None)
    proto = roundtrip(Two(), (floats(2, 3), floats(2, 3, seed=1), {"scale": 2.0}))
    assert [i.name for i in proto.graph.input] == ["a", "b"]
    assert [o.name for o in proto.graph.output] == ["output_0", "output_1"]


def test_an_output_that_is_an_input_or_a_constant():
    class Passthrough(nn.Module):
        def forward(self, x):
            return x, ember.ones(2)
    roundtrip(Passthrough(), (floats(2, 3),))


def test_export_in_eval_mode_restores_training_modes():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    model.train()
    model[1].eval()
    ember.onnx.export(model, floats(3, 4), None)
    assert model.training and model[0].training and not model[1].training


def test_errors():
    model = nn.Linear(3, 2)
    x = floats(2, 3)
    with pytest.raises(ValueError, match="opset_version must be between 17 and 21"):
        ember.onnx.export(model, x, None, opset_version=13)
    with pytest.raises(ValueError, match="only eval-mode export"):
        ember.onnx.export(model, x, None, training="train")
    with pytest.raises(ValueError, match="at least one Tensor"):
        ember.onnx.export(model, (3,), None)
    with pytest.raises(ValueError, match="dynamic_axes names \\['z'\\]"):
        ember.onnx.export(model, x, None, dynamic_axes={"z": [0]})
    with pytest.raises(ValueError, match="2 output_names for 1 outputs"):
        ember.onnx.export(model, x, None, output_names=["a", "b"])
    with pytest.raises(ValueError, match="2 input_names for 1 tensor inputs"):
        ember.onnx.export(model, x, None, input_names=["a", "b"])


def test_an_op_without_conversion_names_the_op_and_the_layer():
    class Rolls(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x).roll(1, 1)
    with pytest.raises(ember.onnx.ExportError, match="the op Roll \\(input shapes: \\(2, 3\\)"):
        ember.onnx.export(Rolls(), floats(2, 3), None)
    with pytest.raises(ember.onnx.ExportError, match="LSTM.*proj_size"):
        ember.onnx.export(nn.LSTM(3, 4, proj_size=2), floats(5, 2, 3), None)


class PaddedEncoder(nn.Module):
    """A key padding mask computed from the token inputs (a traced comparison)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, tokens):
        pad = tokens == 0
        x = self.embed(tokens)
        out = self.attn(x, x, x, key_padding_mask=pad, need_weights=False)[0]
        keep = ((tokens > 0) & (tokens != 3)) | (tokens >= 9)
        return out * keep.unsqueeze(-1).float()


def test_masks_computed_from_the_inputs_are_traced():
    tokens = [(ember.tensor([[1, 2, 3, 0], [4, 0, 0, 9]]),),
              (ember.tensor([[5, 6, 0, 0], [1, 1, 1, 1], [2, 3, 0, 0]]),)]
    proto = roundtrip(PaddedEncoder(), *tokens, dynamic={"tokens": [0], "output": [0]})
    assert {"Equal", "Greater", "Not", "And", "Or", "GreaterOrEqual"} <= set(ops_of(proto))


def test_an_input_used_only_outside_the_traced_ops_warns():
    class Untraced(nn.Module):
        def forward(self, x):
            return ember.tensor(x.numpy() * 2)
    with pytest.warns(UserWarning, match="does not use the input\\(s\\) \\['x'\\]"):
        ember.onnx.export(Untraced(), floats(2, 3), None)
    class Floors(nn.Module):
        def forward(self, x):
            return x // 2
    with pytest.raises(ember.onnx.ExportError, match="the op floor_divide"):
        ember.onnx.export(Floors(), floats(2, 3), None)
