"""ember.experiments: the registry and run_experiment."""
import pytest

from ember.experiments import EXPERIMENTS, presets, run_experiment


def test_the_eight_experiments():
    assert list(EXPERIMENTS) == ["optimizers", "init", "batchnorm", "overfitting", "lr-decay",
                                 "activations", "receptive-field", "gradient-ledger"]
    for name in EXPERIMENTS:
        p = presets(name)
        assert {"quick", "default"} <= set(p) and set(p["quick"]) == set(p["default"])
    assert set(presets("batchnorm")["full"]) == set(presets("batchnorm")["default"])


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown experiment 'optimiser'.*optimizers"):
        run_experiment("optimiser", tmp_path)
    with pytest.raises(ValueError, match="experiment 'init': unknown setting"):
        run_experiment("init", tmp_path, layer=3)


def test_result_record(tmp_path):
    r = run_experiment("gradient-ledger", tmp_path / "a" / "b", quick=True, target=0)
    assert r.name == "gradient-ledger" and r.settings["target"] == 0
    assert r.settings["preset"] == "quick" and (tmp_path / "a" / "b" / "graph.png").exists()


def test_gallery_figures_exist_and_are_small():
    import re
    from pathlib import Path
    docs = Path(__file__).resolve().parents[1] / "docs"
    text = (docs / "experiments.md").read_text()
    figures = re.findall(r"\]\((figures/experiments/[^)]+\.png)\)", text)
    assert len(figures) >= 12
    for rel in figures:
        path = docs / rel
        assert path.is_file(), rel
        assert path.stat().st_size < 100_000, rel
    for name in EXPERIMENTS:
        assert f"`ember experiment {name}" in text
