"""End-to-end tests of the `ember` command line, in subprocesses as a user runs it."""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ember
from ember.cli import main

QUICK = ["--model", "lenet5", "--epochs", "3", "--limit", "500", "--batch-size", "32",
         "--no-progress", "--seed", "3"]


# the subprocesses run the ember under test (this checkout), not whichever one is installed
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [os.path.dirname(os.path.dirname(os.path.abspath(ember.__file__)))]
    + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "ember", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=ENV)


def test_help_for_every_command(capsys):
    for cmd in ("train", "evaluate", "predict", "summary", "list", "demo"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
    assert "usage: ember" in capsys.readouterr().out


def test_unknown_names_suggest_the_closest(capsys):
    assert main(["train", "--model", "lenet", "--no-progress"]) == 2
    assert "Did you mean 'lenet5'" in capsys.readouterr().err
    assert main(["list", "modles"]) == 2
    assert "Did you mean 'models'" in capsys.readouterr().err


def test_list(capsys):
    assert main(["list", "models"]) == 0
    assert "resnet20" in capsys.readouterr().out.split()
    assert main(["list", "datasets"]) == 0
    assert "fashion-mnist-subset" in capsys.readouterr().out


def test_train_writes_run_folder_and_evaluate_reproduces(tmp_path):
    out = run("train", *QUICK, "--name", "t", "--out-dir", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run_dir = tmp_path / "t"
    for name in ("last.ckpt", "best.ckpt", "config.json", "metrics.csv", "metrics.jsonl",
                 "results.json", "curves.png", "lr.png", "confusion.png", "misclassified.png"):
        assert (run_dir / name).exists(), name
    reported = re.search(r"test accuracy (\d\.\d+) \((\d+)/(\d+)\)", out.stdout)
    ev = run("evaluate", str(run_dir / "last.ckpt"), cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    again = re.search(r"test accuracy (\d\.\d+) \((\d+)/(\d+)\)", ev.stdout)
    assert reported.groups() == again.groups()
    # predict on an image saved as .npy (one test image from the same data)
    img = ember.data.get_dataset("fashion-mnist-subset", train=False).data[0]
    np.save(tmp_path / "img.npy", img)
    import matplotlib.image
    matplotlib.image.imsave(tmp_path / "img.png", img, cmap="gray", vmin=0, vmax=255)
    pr = run("predict", str(run_dir / "last.ckpt"), str(tmp_path / "img.npy"),
             str(tmp_path / "img.png"), cwd=tmp_path)
    assert pr.returncode == 0, pr.stderr
    assert pr.stdout.count("%") == 6
    npy_top, png_top = pr.stdout.split("img.png")
    assert npy_top.split("\n")[1].split()[1] == png_top.split("\n")[1].split()[1]


def test_killed_run_resumes_to_identical_weights(tmp_path):
    full = run("train", *QUICK, "--name", "full", "--out-dir", str(tmp_path), cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    proc = subprocess.Popen([sys.executable, "-m", "ember", "train", *QUICK, "--name", "cut",
                             "--out-dir", str(tmp_path)], cwd=tmp_path, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "cut" / "last.ckpt"
    deadline = time.time() + 240
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists()
    state = ember.load(str(ckpt))
    assert state["epoch"] < 3, "the run finished before it could be interrupted"
    # the killed run's last.ckpt is usable on its own: no results.json is needed
    assert not (tmp_path / "cut" / "results.json").exists()
    ev = run("evaluate", str(ckpt), cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert "test accuracy" in ev.stdout
    res = run("train", "--resume", str(ckpt), "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    a = ember.load(str(tmp_path / "full" / "last.ckpt"))["model"]
    b = ember.load(str(ckpt))["model"]
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy(), err_msg=k)
    assert os.path.exists(tmp_path / "cut" / "curves.png")


def test_config_file_then_flags_override(tmp_path):
    from ember.cli import _train_config, build_parser
    (tmp_path / "c.yaml").write_text("model: vgg_small_bn\nepochs: 7\nlr: 0.2\n")
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "c.yaml"),
                                      "--epochs", "3"])
    cfg, resume = _train_config(args)
    assert (cfg.model, cfg.epochs, cfg.lr, resume) == ("vgg_small_bn", 3, 0.2, None)
    (tmp_path / "bad.json").write_text('{"epoch": 3}')
    assert main(["train", "--config", str(tmp_path / "bad.json")]) == 2


def test_evaluate_names_a_file_that_is_not_an_ember_train_checkpoint(tmp_path, capsys):
    from ember import nn
    ember.save(nn.Linear(2, 3).state_dict(), tmp_path / "weights.pt")
    assert main(["evaluate", str(tmp_path / "weights.pt")]) == 1
    err = capsys.readouterr().err
    assert "weights.pt' is a bare state_dict" in err and "not a checkpoint written by `ember " \
        "train`" in err
    ember.io.save_checkpoint(tmp_path / "s.ckpt", model=nn.Linear(2, 3))
    assert main(["predict", str(tmp_path / "s.ckpt"), "x.png"]) == 1
    assert "from ember.io.save_checkpoint, not a checkpoint written by `ember train`" in (
        capsys.readouterr().err)
    assert main(["train", "--resume", str(tmp_path / "weights.pt")]) == 1
    assert "weights.pt' is not a checkpoint written by `ember train`" in capsys.readouterr().err
