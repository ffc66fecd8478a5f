"""``ember export CKPT out.onnx`` (ember/onnx/command.py): a run's checkpoint as an ONNX file
that onnxruntime runs like ember, the run's preprocessing in its metadata; errors in one
line."""
import json

import numpy as np
import pytest
from _onnx_roundtrip import import_oracles, run_onnx

import ember
from ember.cli import main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A one-epoch LeNet-5 run on 64 Fashion-MNIST images (about a second)."""
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "--epochs", "1", "--limit", "64", "--batch-size", "32",
                 "--no-progress", "--name", "tiny", "--out-dir", str(out)]) == 0
    return out / "tiny"


def test_export_a_checkpoint(tiny_run, tmp_path, capsys):
    onnx, _ = import_oracles()
    path = tmp_path / "m.onnx"
    assert main(["export", str(tiny_run / "last.ckpt"), str(path), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "input 'input' (batch, 1, 28, 28)" in out and "max |difference|" in out
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    prep = json.loads(meta["ember.preprocessing"])
    assert meta["ember.model"] == "lenet5" and prep["image_size"] == [28, 28]
    model, _, _ = ember.train.pipeline.load_run(str(tiny_run / "last.ckpt"))
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    with ember.no_grad():
        want = model(ember.tensor(x)).numpy()
    np.testing.assert_allclose(run_onnx(proto, {"input": x})[0], want, rtol=1e-3, atol=1e-5)


def test_static_batch(tiny_run, tmp_path, capsys):
    import_oracles()
    assert main(["export", str(tiny_run / "best.ckpt"), str(tmp_path / "s.onnx"),
                 "--static-batch", "--opset", "18", "--verify"]) == 0
    assert "(1, 1, 28, 28)" in capsys.readouterr().out


def test_errors_in_one_line(tiny_run, tmp_path, capsys):
    import_oracles()
    assert main(["export", str(tmp_path / "missing.ckpt"), str(tmp_path / "m.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err
    ember.save({"w": ember.ones(2)}, str(tmp_path / "weights.ckpt"))
    assert main(["export", str(tmp_path / "weights.ckpt"), str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ember export: error: ") and "\n" not in err and "state_dict" in err
    assert main(["export", str(tiny_run / "last.ckpt"), str(tmp_path / "m.onnx"),
                 "--opset", "12"]) == 1
    assert "opset_version must be between 17 and 21" in capsys.readouterr().err


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", "--help"])
    assert e.value.code == 0 and "ONNX" in capsys.readouterr().out
