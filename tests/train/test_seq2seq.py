"""The seq2seq task: its loss against PyTorch's, the exact-match metric, a short run on a
small subset of the addition set (run folder, per-epoch exact match, evaluate reproduces it)
and the checks of its configuration."""
import json

import numpy as np
import pytest
from _parity import check_op

import ember
from ember.data.datasets import Addition, DatasetNotFoundError
from ember.models.seq2seq import Seq2seq
from ember.train import pipeline
from ember.train.seq2seq import (
    Seq2seqConfig,
    Seq2seqTrainer,
    check_config,
    evaluate_seq2seq,
    exact_match,
    run_seq2seq,
    sequence_loss,
)


def test_sequence_loss_is_the_mean_cross_entropy_of_every_step():
    targets = np.random.default_rng(0).integers(0, 5, (3, 4))

    def torch_loss(scores):
        import torch
        return torch.nn.functional.cross_entropy(scores.permute(0, 2, 1),
                                                 torch.tensor(targets))
    check_op(lambda s: sequence_loss(s, ember.tensor(targets)), torch_loss, shapes=[(3, 4, 5)])


def test_token_accuracy_in_training():
    scores = ember.tensor(np.eye(3)[[[0, 1], [2, 2]]])  # arg-max (0, 1), (2, 2)
    assert Seq2seqTrainer._accuracy(scores, ember.tensor([[0, 1], [2, 0]])) == 0.75


def test_exact_match_counts_whole_answers():
    model = Seq2seq(5, 3, 4)
    questions = np.random.default_rng(1).integers(0, 5, (7, 3))
    guesses = model.generate(ember.tensor(questions), 4, 2).numpy()
    answers = np.concatenate([np.full((7, 1), 4), guesses], 1)
    answers[:3, 2] = (answers[:3, 2] + 1) % 5  # three answers off in their last character
    accuracy, ours = exact_match(model, questions, answers, 4, batch_size=2)
    np.testing.assert_array_equal(ours, guesses)
    assert accuracy == 4 / 7 and model.training


def addition_or_skip():
    try:
        Addition(train=False)
    except DatasetNotFoundError:
        pytest.skip("addition.txt is not on this machine (shared data folder, $EMBER_DATA or "
                    "~/.cache/ember); Addition(download=True) gets it")


@pytest.mark.parametrize("peeky, attention, transformer", [
    (False, "", False), (True, "", False), (False, "dot", False), (False, "additive", False),
    (False, "", True)])
def test_a_short_run_writes_its_folder_and_evaluate_reproduces_it(tmp_path, peeky, attention,
                                                                    transformer, capsys):
    addition_or_skip()
    cfg = Seq2seqConfig(epochs=2, batch_size=64, limit=256, hidden_size=16, reverse=True,
                        peeky=peeky, attention=attention, transformer=transformer,
                        progress=False,
                        out_dir=str(tmp_path), name="r")
    result = run_seq2seq(cfg)
    run_dir = tmp_path / "r"
    for name in ("last.ckpt", "config.json", "metrics.csv", "metrics.jsonl", "results.json",
                 "curves.png", "samples.txt"):
        assert (run_dir / name).exists(), name
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().split("\n")
               if line]
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[-1]["test_accuracy"] == result["accuracy"]
    assert result["total"] == 51 and 0 <= result["correct"] <= 51  # --limit 256: 256 / 51
    assert "epoch 2: train loss" in capsys.readouterr().out
    again = evaluate_seq2seq(pipeline.load_run_state(str(run_dir / "last.ckpt")))
    assert (again["accuracy"], again["correct"], again["total"]) == \
        (result["accuracy"], result["correct"], result["total"])
    lines = (run_dir / "samples.txt").read_text().splitlines()
    assert len(lines) == 20 and all(" = " in line and "model: " in line for line in lines)
    assert "+" in lines[0].split(" = ")[0]  # the question printed the right way round
    assert (run_dir / "attention.png").exists() == bool(attention)


@pytest.mark.parametrize("change, message", [
    ({"data": "mnist"}, "--data must be one of addition, dates"),
    ({"epochs": 0}, "--epochs must be >= 1, got 0"),
    ({"hidden_size": 0}, "--hidden-size must be >= 1"),
    ({"max_grad": 0.0}, "--lr and --max-grad must be > 0"),
    ({"limit": -1}, "--limit must be >= 0"),
    ({"attention": "general"}, "--attention must be dot or additive"),
    ({"attention": "dot", "peeky": True}, "pick one"),
    ({"transformer": True, "peeky": True}, "pick one"),
])
def test_bad_configurations_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        check_config(Seq2seqConfig(**change))
