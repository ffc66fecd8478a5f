"""``ember.models.from_checkpoint``: the model of an ``ember train`` checkpoint (a classifier,
an autoencoder) comes back rebuilt, with the run's weights, in eval mode, giving the outputs
of ``ember evaluate``'s own rebuild; files that are not such checkpoints are named."""
import numpy as np
import pytest

import ember
from ember import models
from ember.cli import main
from ember.train import pipeline

QUICK = ["--limit", "200", "--epochs", "1", "--batch-size", "64", "--optimizer", "adam",
         "--lr", "0.001", "--scheduler", "none", "--no-progress"]


@pytest.mark.parametrize("model, kind", [("lenet5", models.LeNet5),
                                         ("conv_autoencoder", models.ConvAutoencoder)])
def test_round_trip(tmp_path, model, kind):
    assert main(["train", "--model", model, *QUICK, "--name", "run",
                 "--out-dir", str(tmp_path)]) == 0
    ckpt = str(tmp_path / "run" / "last.ckpt")
    m = models.from_checkpoint(ckpt)
    assert isinstance(m, kind) and not m.training
    ref, _, _ = pipeline.load_run(ckpt)
    state = ember.load(ckpt)["model"]
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k].numpy(), err_msg=k)
    x = ember.tensor(np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32))
    with ember.no_grad():
        out, want = m(x), ref(x)
    out = out[0] if isinstance(out, tuple) else out
    want = want[0] if isinstance(want, tuple) else want
    np.testing.assert_array_equal(out.numpy(), want.numpy())


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="from_checkpoint: no checkpoint file at"):
        models.from_checkpoint(str(tmp_path / "missing.ckpt"))
    bare = tmp_path / "weights.pt"
    ember.save(models.lenet5().state_dict(), str(bare))
    with pytest.raises(ValueError, match="is a bare state_dict .* not a checkpoint written by "
                                         "`ember train`"):
        models.from_checkpoint(str(bare))
    odd = tmp_path / "odd.ckpt"
    ember.save({"model": {}, "config": {"model": "no_such_net"}}, str(odd))
    with pytest.raises(ValueError, match="config names no registered model"):
        models.from_checkpoint(str(odd))
    seq = tmp_path / "seq.ckpt"
    ember.save({"model": {}, "config": {"model": "peeky", "task": "seq2seq"}}, str(seq))
    with pytest.raises(ValueError, match="is an `ember seq2seq` checkpoint"):
        models.from_checkpoint(str(seq))
    wrong = tmp_path / "wrong.ckpt"
    ember.save({"model": models.lenet5().state_dict(),
                "config": {"model": "alexnet", "model_kwargs": {}}}, str(wrong))
    with pytest.raises(ValueError, match=r"from_checkpoint: the weights in .* do not fit "
                                         r"alexnet"):
        models.from_checkpoint(str(wrong))
