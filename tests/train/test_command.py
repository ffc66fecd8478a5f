"""``ember train``'s configuration and command (ember/train/command.py), moved out of cli.py:
the names stay importable from ember.cli, and the autoencoder flags."""
import pytest

from ember import cli
from ember.train import command


def test_names_are_re_exported_by_the_cli():
    for name in ("TrainConfig", "UsageError", "_train_config", "_model_kwargs", "_datasets",
                 "_make_optimizer", "_make_scheduler", "_choose", "cmd_train", "cfg_run_dir",
                 "OPTIMIZERS", "SCHEDULERS"):
        assert getattr(cli, name) is getattr(command, name), name


def test_autoencoder_kwargs():
    cfg = command.TrainConfig(model="vae", code_size=2)
    assert command._autoencoder_kwargs(cfg, 10, 1, (28, 28)) == {
        "num_classes": 10, "in_channels": 1, "input_size": 28, "code_size": 2}
    cfg = command.TrainConfig(model="denoising_autoencoder", noise=0.2)
    assert command._autoencoder_kwargs(cfg, 10, 1, (28, 28))["noise"] == 0.2
    with pytest.raises(command.UsageError, match="--noise: model 'vae' has no noise argument"):
        command._autoencoder_kwargs(command.TrainConfig(model="vae", noise=0.1), 10, 1, (8, 8))


def test_train_parser_has_the_autoencoder_flags():
    args = cli.build_parser().parse_args(["train", "--code-size", "2", "--noise", "0.3"])
    assert args.code_size == 2 and args.noise == 0.3 and args.func is command.cmd_train
    cfg, _ = command._train_config(args)
    assert cfg.code_size == 2 and cfg.noise == 0.3
    with pytest.raises(command.UsageError, match="--code-size and --noise must be >= 0"):
        command._validate(command.TrainConfig(code_size=-1))


def test_resume_that_trains_nothing_is_refused(tmp_path, capsys):
    from ember.cli import main
    common = ["--limit", "100", "--no-progress", "--out-dir", str(tmp_path), "--name", "r"]
    assert main(["train", "--epochs", "1", *common]) == 0
    ckpt = str(tmp_path / "r" / "last.ckpt")
    assert main(["train", "--resume", ckpt, "--no-progress"]) == 2
    assert "has already trained 1 of its 1 epochs: pass --epochs N with N > 1" in \
        capsys.readouterr().err
    assert main(["train", "--resume", ckpt, "--epochs", "2", "--no-progress"]) == 0
    assert "cosine schedule of" in capsys.readouterr().err  # not stretched: said so
