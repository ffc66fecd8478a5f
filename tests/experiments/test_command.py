"""``ember experiment``: the command, its settings and its errors."""
import os

import pytest

from ember import cli
from ember.experiments.command import parse_settings


def test_parse_settings():
    assert parse_settings(["epochs=3", "lr=0.5", "lenet_dataset=fashion-mnist",
                           "widths=(8, 'M')"]) == {
        "epochs": 3, "lr": 0.5, "lenet_dataset": "fashion-mnist", "widths": (8, "M")}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_settings(["epochs"])


def test_command_writes_files_and_prints(tmp_path, capsys):
    assert cli.main(["experiment", "gradient-ledger", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "gradient-ledger (default settings)" in out and "upstream" in out
    assert sorted(os.listdir(tmp_path)) == ["graph.png", "ledger.csv", "nodes.csv"]


def test_command_errors(tmp_path, capsys):
    assert cli.main(["experiment", "activations", "--out", str(tmp_path), "--set",
                     "deep=3"]) == 1
    err = capsys.readouterr().err
    assert "unknown setting(s) deep" in err and "depth" in err
    assert cli.main(["experiment", "activations", "--quick", "--full"]) == 1
    assert "exclude each other" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["experiment", "no-such-thing"])
    assert e.value.code == 2


def test_all_and_full(tmp_path, capsys, monkeypatch):
    from ember.experiments import EXPERIMENTS, command
    two = {k: EXPERIMENTS[k] for k in ("gradient-ledger", "receptive-field")}
    monkeypatch.setattr(command, "EXPERIMENTS", two)
    # --full where an experiment has no full preset runs its default one
    assert cli.main(["experiment", "all", "--full", "--out", str(tmp_path),
                     "--set", "seed=1"]) == 0
    out = capsys.readouterr().out
    assert "== gradient-ledger (default settings) ==" in out
    assert "== receptive-field (default settings) ==" in out
    assert sorted(os.listdir(tmp_path)) == ["gradient-ledger", "receptive-field"]
    assert (tmp_path / "receptive-field" / "fields.png").exists()
