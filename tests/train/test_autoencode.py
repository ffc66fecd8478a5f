"""The reconstruction / VAE task of ``ember train`` (ember/train/autoencode.py): quick runs on
the embedded Fashion-MNIST subset with --limit, the run folder's files and pictures, resume,
``ember evaluate`` and ``ember anomalies``, and the error paths."""
import csv
import json

import numpy as np
import pytest

import ember
from ember import models
from ember.cli import main
from ember.train import autoencode

QUICK = ["--limit", "300", "--epochs", "1", "--batch-size", "64", "--optimizer", "adam",
         "--lr", "0.001", "--scheduler", "none", "--no-progress"]


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "--model", "vae", "--code-size", "2", *QUICK, "--name", "vae",
                 "--out-dir", str(out)]) == 0
    return out / "vae"


def test_vae_run_writes_metrics_and_pictures(vae_run, capsys):
    for name in ("last.ckpt", "best.ckpt", "config.json", "metrics.csv", "results.json",
                 "curves.png", "lr.png", "reconstructions.png", "codes.png", "lattice.png",
                 "interpolation.png", "samples.png"):
        assert (vae_run / name).is_file(), name
    result = json.loads((vae_run / "results.json").read_text())
    assert result["task"] == "vae" and result["total"] == 60
    assert np.isclose(result["neg_elbo"], result["recon"] + result["kl"])
    assert np.isclose(result["bits_per_dim"], result["neg_elbo"] / (784 * np.log(2)))
    assert np.isclose(result["loss"], result["neg_elbo"], rtol=1e-5)
    assert 0 < result["kl"] < result["recon"] < 784 * np.log(2)
    with open(vae_run / "metrics.csv") as f:
        row = next(csv.DictReader(f))
    assert {"train_loss", "val_loss", "train_recon", "train_kl", "val_recon", "val_kl",
            "val_neg_elbo", "val_bits_per_dim", "val_mse"} <= set(row)
    assert "val_accuracy" not in row and "train_accuracy" not in row
    state = ember.load(str(vae_run / "last.ckpt"))
    assert state["config"]["task"] == "vae" and state["config"]["model_kwargs"]["code_size"] == 2
    capsys.readouterr()
    assert main(["evaluate", str(vae_run / "last.ckpt")]) == 0
    line = capsys.readouterr().out
    assert "test -ELBO" in line and "bits/dim" in line and "KL" in line


def test_predict_refuses_an_autoencoder(vae_run, tmp_path, capsys):
    np.save(tmp_path / "img.npy", np.zeros((28, 28), np.float32))
    assert main(["predict", str(vae_run / "last.ckpt"), str(tmp_path / "img.npy")]) == 2
    assert "is an autoencoder (vae), not a classifier" in capsys.readouterr().err


def test_vae_run_resumes(vae_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "vae"
    shutil.copytree(vae_run, run)
    assert main(["train", "--resume", str(run / "last.ckpt"), "--epochs", "2",
                 "--no-progress", "--out-dir", str(tmp_path), "--name", "vae"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert ember.load(str(run / "last.ckpt"))["epoch"] == 2
    with open(run / "metrics.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2"]


def test_denoising_run_and_anomalies(tmp_path, capsys):
    assert main(["train", "--model", "denoising_autoencoder", "--noise", "0.3", *QUICK,
                 "--limit", "100", "--name", "dae", "--out-dir", str(tmp_path)]) == 0
    run = tmp_path / "dae"
    assert (run / "denoising.png").is_file() and not (run / "samples.png").exists()
    result = json.loads((run / "results.json").read_text())
    assert result["task"] == "reconstruction" and 0.02 < result["input_mse"] < 0.09
    out = capsys.readouterr().out
    assert "MSE per pixel" in out and "noisy input" in out
    assert main(["anomalies", str(run / "last.ckpt"), "--top", "4"]) == 0
    out = capsys.readouterr().out
    assert "20 test images ranked" in out and "  1. test image" in out
    with open(run / "anomalies.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20 and [int(r["rank"]) for r in rows] == list(range(1, 21))
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert (run / "anomalies.png").is_file()
    # the scores are the model's anomaly_score of the clean test images
    model = models.get_model("denoising_autoencoder", **ember.load(
        str(run / "last.ckpt"))["config"]["model_kwargs"])
    model.load_state_dict(ember.load(str(run / "last.ckpt"))["model"])
    from ember.data import datasets
    from ember.train.pipeline import images_of, limit
    x, _ = limit(*images_of(datasets.get_dataset("fashion-mnist-subset", train=False)), 20)
    top = int(rows[0]["index"])
    with ember.no_grad():
        want = model.eval().anomaly_score(ember.tensor(x[top:top + 1] / np.float32(255)))
    assert np.isclose(float(rows[0]["score"]), want.item(), rtol=1e-4)


def test_conditional_vae_run(tmp_path):
    assert main(["train", "--model", "cvae", *QUICK, "--limit", "100", "--val-fraction", "0",
                 "--name", "cvae", "--out-dir", str(tmp_path)]) == 0
    run = tmp_path / "cvae"
    assert (run / "samples.png").is_file() and not (run / "best.ckpt").exists()
    assert main(["anomalies", str(run / "last.ckpt"), "--out-dir", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "anomalies.csv").is_file()


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["train", "--model", "conv_autoencoder", "--code-size", "4", *QUICK,
                 "--out-dir", str(tmp_path)]) == 2
    assert "--code-size: model 'conv_autoencoder' has no code_size argument" in \
        capsys.readouterr().err
    assert main(["train", "--model", "vae", "--augment", *QUICK, "--out-dir",
                 str(tmp_path)]) == 1
    assert "--augment is for classifiers" in capsys.readouterr().err
    assert main(["train", "--model", "vae", "--noise", "-1", *QUICK]) == 2
    assert "--code-size and --noise must be >= 0" in capsys.readouterr().err
    fake = tmp_path / "cls.ckpt"
    ember.save({"model": {}, "config": {"model": "lenet5"}}, str(fake))
    assert main(["anomalies", str(fake)]) == 1
    assert "is a classification run; anomaly scores need an autoencoder" in \
        capsys.readouterr().err
    assert main(["anomalies", str(fake), "--top", "0"]) == 1
    assert "--top must be >= 1" in capsys.readouterr().err


def test_image_pairs_and_make_data():
    x = np.random.default_rng(0).uniform(0, 1, (10, 1, 4, 4)).astype(np.float32)
    y = np.arange(10) % 3
    plain = autoencode.ImagePairs(x, y)
    inp, clean = plain.get_batch(np.array([3, 1]))
    assert np.array_equal(inp, x[[3, 1]]) and np.array_equal(clean, x[[3, 1]])
    a, lab, _ = autoencode.ImagePairs(x, y, labels=True)[4]
    assert int(lab.item()) == 1 and np.array_equal(a.numpy(), x[4])

    class Cfg:
        val_fraction, batch_size = 0.2, 4
    ember.manual_seed(0)
    data = autoencode.make_data(x, y, x[:5], y[:5], Cfg, noise=0.5)
    assert len(data.train.dataset) == 8 and len(data.val.dataset) == 2
    assert not np.array_equal(data.test_input, data.test_clean)
    ember.manual_seed(1)
    again = autoencode.make_data(x, y, x[:5], y[:5], Cfg, noise=0.5)
    assert np.array_equal(data.test_input, again.test_input)  # the test noise is fixed
    batch = next(iter(data.train))
    assert len(batch) == 2 and not np.array_equal(batch[0].numpy(), batch[1].numpy())


def test_evaluate_loader_metrics():
    from ember.data import DataLoader, TensorDataset
    ember.manual_seed(0)
    m = models.mlp_autoencoder(input_size=4, code_size=2, hidden_sizes=(3,))
    x = np.random.default_rng(1).uniform(0, 1, (6, 1, 4, 4)).astype(np.float32)
    noisy = np.clip(x + 0.1, 0, 1)
    r = autoencode.evaluate_loader(m, m.loss_function(), DataLoader(
        TensorDataset(noisy, x), batch_size=4))
    with ember.no_grad():
        want = ((m(ember.tensor(noisy)).numpy() - x) ** 2).mean()
    assert np.isclose(r["mse"], want) and np.isclose(r["loss"], want)
    assert np.isclose(r["input_mse"], ((noisy - x) ** 2).mean())
    assert "kl" not in r and "neg_elbo" not in r
    assert autoencode.describe(r).startswith("test loss")
