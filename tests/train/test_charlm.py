"""The charlm recipe (windows, evaluation, run folder) and `ember charlm` / `ember generate`
end to end on the Shakespeare excerpt shipped with ember (a few steps; no download)."""
import json
import os

import numpy as np
import pytest

import ember
from ember.cli import main
from ember.train import charlm

QUICK = ["--data", "shakespeare-excerpt", "--steps", "4", "--batch-size", "4", "--seq-len",
         "16", "--hidden", "16", "--eval-every", "2", "--eval-windows", "8", "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(["charlm", *QUICK, "--out-dir", str(out), "--name", "tiny"]) == 0
    return out / "tiny"


def test_charlm_writes_a_run_folder(run_dir, capsys):
    names = set(os.listdir(run_dir))
    assert {"last.ckpt", "config.json", "metrics.jsonl", "results.json"} <= names
    lines = [json.loads(s) for s in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines] == [2, 4]
    result = json.loads((run_dir / "results.json").read_text())
    assert result["val_loss"] == lines[-1]["val_loss"] and result["eval_characters"] == 8 * 16
    ckpt = ember.load(run_dir / "last.ckpt")
    assert ckpt["step"] == 4 and ckpt["extra"]["model_kwargs"]["hidden_size"] == 16
    assert len(ckpt["extra"]["chars"]) == 62  # the excerpt's vocabulary
    assert len(ckpt["extra"]["train_losses"]) == 4
    try:
        import matplotlib  # noqa: F401
        assert "loss.png" in names
    except ImportError:
        pass


def test_the_checkpoint_reproduces_the_validation_loss(run_dir):
    model, _, extra = charlm.load_charlm(run_dir / "last.ckpt")
    cfg = charlm.CharLMConfig(**extra["config"])
    _, val = charlm.load_data(cfg)
    loss = charlm.evaluate(model, val, charlm.eval_starts(len(val), cfg.eval_windows))
    assert loss == pytest.approx(extra["history"][-1]["val_loss"], rel=1e-6)


def test_same_seed_same_run(run_dir, tmp_path):
    assert main(["charlm", *QUICK, "--out-dir", str(tmp_path), "--name", "again"]) == 0
    first = ember.load(run_dir / "last.ckpt")["model"]
    again = ember.load(tmp_path / "again" / "last.ckpt")["model"]
    for key in first:
        assert np.array_equal(first[key].numpy(), again[key].numpy()), key


def test_generate_prints_seeded_samples(run_dir, capsys):
    argv = ["generate", str(run_dir / "last.ckpt"), "--prompt", "HAMLET:", "--length", "30",
            "--temperature", "0.8", "--top-k", "5", "--seed", "0"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.startswith("HAMLET:") and len(first) == len("HAMLET:") + 30 + 1
    assert main(argv) == 0 and capsys.readouterr().out == first
    assert main([*argv[:-1], "1", "--num-samples", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- sample") == 2 and out != first


def test_generate_errors_are_one_line(run_dir, tmp_path, capsys):
    ckpt = str(run_dir / "last.ckpt")
    assert main(["generate", ckpt, "--prompt", "HAMLET~"]) == 1
    assert "generate: the prompt has characters ['~'] that are not in the model's " \
           "vocabulary of 62" in capsys.readouterr().err
    assert main(["generate", ckpt, "--temperature", "0"]) == 2
    assert "--temperature must be > 0" in capsys.readouterr().err
    ember.save({"w": ember.zeros(2)}, tmp_path / "bare.pt")
    assert main(["generate", str(tmp_path / "bare.pt")]) == 1
    assert "was not written by `ember charlm`" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "missing.ckpt")]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("flags,message", [
    (["--steps", "0"], "--steps must be >= 1"),
    (["--dropout", "1.5"], "--dropout must be in [0, 1)"),
    (["--lr", "-1"], "--lr and --clip must be > 0"),
    (["--data", "mnist"], "unknown --data 'mnist'"),
    (["--embed", "-2"], "--embed must be >= 0")])
def test_nonsense_values_are_usage_errors(flags, message, capsys):
    assert main(["charlm", *flags]) == 2
    assert message in capsys.readouterr().err


def test_windows_are_one_seeded_stream():
    a = charlm.train_starts(1000, 5, 3, seed=7)
    assert a.shape == (5, 3) and a.dtype == np.int64 and 0 <= a.min() and a.max() < 1000
    assert np.array_equal(a, np.random.default_rng(7).integers(0, 1000, size=(5, 3)))
    e = charlm.eval_starts(1000, 4)
    assert e.tolist() == [0, 333, 666, 999]
    assert charlm.eval_starts(3, 10).tolist() == [0, 1, 2]


def test_help(capsys):
    for cmd in ("charlm", "generate"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
    assert "--top-k" in capsys.readouterr().out


def test_the_pytorch_twin_runs_the_same_recipe(run_dir, capsys):
    pytest.importorskip("torch")
    from benchmarks.charlm_torch import main as twin
    flags = [f for f in QUICK if f != "--no-progress"]
    result = twin(flags)
    ours = ember.load(run_dir / "last.ckpt")["extra"]["history"]
    assert [h["step"] for h in result["history"]] == [h["step"] for h in ours] == [2, 4]
    for theirs, mine in zip(result["history"], ours):
        assert mine["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-5)
        assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5)
    assert "torch twin: validation loss" in capsys.readouterr().out


GPT = ["--model", "gpt", "--heads", "2", "--layers", "2", "--schedule", "cosine", "--warmup",
       "1", "--min-lr", "1e-4", "--weight-decay", "0.1", "--beta2", "0.99", "--clip", "1.0"]


def test_a_gpt_trains_generates_and_matches_its_pytorch_twin(tmp_path, capsys):
    """nanoGPT's recipe on the GPT (AdamW groups, warm-up + cosine, clipping) through the same
    command, `ember generate` on its checkpoint, and the torch twin step for step."""
    pytest.importorskip("torch")
    from benchmarks.charlm_torch import main as twin
    assert main(["charlm", *QUICK, *GPT, "--out-dir", str(tmp_path), "--name", "gpt"]) == 0
    assert "GPT(2 layers x 2 heads x 16)" in capsys.readouterr().out
    model, _, extra = charlm.load_charlm(tmp_path / "gpt" / "last.ckpt")
    assert type(model).__name__ == "GPT" and extra["model_kwargs"]["n_embd"] == 16
    argv = ["generate", str(tmp_path / "gpt" / "last.ckpt"), "--prompt", "HAMLET:", "--length",
            "20", "--top-k", "5"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith("HAMLET:") and len(text.rstrip("\n")) >= 27
    result = twin([f for f in QUICK + GPT if f != "--no-progress"])
    for theirs, mine in zip(result["history"], extra["history"]):
        assert mine["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-5)
        assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5)


def test_the_learning_rate_schedule_is_nanogpts():
    cfg = charlm.CharLMConfig(steps=2000, lr=1e-3, schedule="cosine", warmup=100, min_lr=1e-4)

    def get_lr(it):  # nanoGPT's train.py, lr_decay_iters = max_iters
        if it < 100:
            return 1e-3 * (it + 1) / (100 + 1)
        ratio = (it - 100) / (2000 - 100)
        return 1e-4 + 0.5 * (1.0 + np.cos(np.pi * ratio)) * (1e-3 - 1e-4)

    for step in (1, 50, 100, 101, 1000, 2000):
        assert charlm.lr_at(cfg, step) == pytest.approx(get_lr(step - 1), rel=1e-12)
    assert charlm.lr_at(charlm.CharLMConfig(lr=3e-3), 7) == 3e-3
    with pytest.raises(ValueError, match="multiple of --heads"):
        charlm.CharLMConfig(model="gpt", hidden=30, heads=4).check()
    with pytest.raises(ValueError, match="--model must be lstm or gpt"):
        charlm.CharLMConfig(model="rnn").check()
