"""End-to-end tests of the `ember` command line, in subprocesses as a user runs it."""
import errno
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


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ember.__file__)))


def run(*args, cwd, timeout=300):
    """``python -m ember ARGS`` in ``cwd``, importing this checkout's ember (not an installed
    one that the working directory would otherwise pick)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]))
    return subprocess.run([sys.executable, "-m", "ember", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)


def test_help_for_every_command(capsys):
    for cmd in ("train", "evaluate", "predict", "summary", "list", "seq2seq", "demo"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
    assert "usage: ember" in capsys.readouterr().out


def test_unknown_names_suggest_the_closest(capsys):
    assert main(["train", "--model", "lenet", "--no-progress"]) == 2
    assert "Did you mean 'lenet5'" in capsys.readouterr().err
    assert main(["list", "modles"]) == 2
    assert "Did you mean 'models'" in capsys.readouterr().err


def test_a_closed_pipe_stops_quietly():
    import subprocess
    import sys
    # `true` exits at once, long before Python has imported ember and writes the list
    out = subprocess.run(f"{sys.executable} -m ember.cli list models | true", shell=True,
                         capture_output=True, text=True, check=False)
    assert out.stderr == ""


def test_list(capsys):
    assert main(["list", "models"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["resnet20", "classification"] in rows and ["centernet", "detection"] in rows
    assert ["vae", "vae"] in rows and ["show_attend_tell", "captioning"] in rows
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
                             "--out-dir", str(tmp_path)], cwd=tmp_path, env=dict(
                                 os.environ, PYTHONPATH=ROOT),
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


# ---- errors: one line on stderr, exit 1 (error) or 2 (usage), never a traceback ----------

QUICK_ONE = ["--epochs", "1", "--limit", "64", "--batch-size", "32", "--no-progress"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A one-epoch run on 64 images (about a second, in process)."""
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", *QUICK_ONE, "--name", "tiny", "--out-dir", str(out)]) == 0
    return out / "tiny"


def status(argv):
    """main's exit status, also for argparse's own usage errors (SystemExit)."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def assert_one_line(capsys, command, *words):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith(f"ember {command}: error: "), err
    for word in words:
        assert word in err, (word, err)
    return err


def test_predict_refuses_unreadable_images_in_one_line(tiny_run, tmp_path, capsys):
    ckpt = str(tiny_run / "last.ckpt")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY truncated")
    np.save(tmp_path / "obj.npy", np.array(["a", "b"]))
    np.save(tmp_path / "small.npy", np.zeros((5, 5)))
    nan = np.zeros((28, 28))
    nan[3, 4] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    (tmp_path / "folder").mkdir()
    for name, word in [("notes.txt", "not a readable image"), ("bad.png", "not a readable"),
                       ("bad.npy", "readable .npy"), ("obj.npy", "not numbers"),
                       ("small.npy", "(28, 28)"), ("nan.npy", "NaN"),
                       ("folder", "is a directory"), ("missing.npy", "does not exist")]:
        assert main(["predict", ckpt, str(tmp_path / name)]) == 1, name
        assert_one_line(capsys, "predict", name, word)


def test_evaluate_refuses_corrupt_or_bare_checkpoints(tiny_run, tmp_path, capsys):
    (tmp_path / "junk.ckpt").write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["evaluate", str(tmp_path / "junk.ckpt")]) == 1
    assert_one_line(capsys, "evaluate", "junk.ckpt", "corrupt")
    model = ember.load(str(tiny_run / "last.ckpt"))["model"]
    ember.save(model, str(tmp_path / "weights.ckpt"))  # a bare state_dict: no 'config'
    for argv in (["evaluate", str(tmp_path / "weights.ckpt")],
                 ["predict", str(tmp_path / "weights.ckpt"), str(tmp_path / "x.npy")],
                 ["train", "--resume", str(tmp_path / "weights.ckpt"), "--no-progress"]):
        assert main(argv) == 1
        assert_one_line(capsys, argv[0], "weights.ckpt", "bare state_dict", "last.ckpt")
    assert main(["evaluate", str(tmp_path)]) == 1
    assert_one_line(capsys, "evaluate", "is a directory")


def test_config_files_corrupt_or_wrongly_typed(tmp_path, capsys):
    cases = [("broken.yaml", "model: [lenet5\nepochs: 3\n", 1, "not valid YAML"),
             ("broken.json", '{"epochs": ', 1, "not valid JSON"),
             ("list.yaml", "- lenet5\n- 3\n", 2, "mapping"),
             ("words.yaml", "epochs: ten\n", 2, "epochs"),
             ("bool.yaml", "lr: yes\n", 2, "lr"),
             ("zero.yaml", "epochs: 0\n", 2, "--epochs must be >= 1"),
             ("binary.yaml", b"\xff\xfe\x00\x01epochs", 1, "binary.yaml")]
    for name, text, code, word in cases:
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        assert main(["train", "--config", str(path), "--no-progress"]) == code, name
        assert_one_line(capsys, "train", word)
    assert main(["train", "--config", str(tmp_path), "--no-progress"]) == 1
    assert_one_line(capsys, "train", "is a directory")


def test_a_fifo_is_refused_not_opened(tiny_run, tmp_path):
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes: never
    for argv in (["predict", str(tiny_run / "last.ckpt"), str(fifo)],
                 ["evaluate", str(fifo)], ["train", "--config", str(fifo)]):
        out = run(*argv, cwd=tmp_path, timeout=120)
        assert out.returncode == 1, out.stderr
        assert out.stderr.strip().count("\n") == 0 and "not a regular file" in out.stderr


def test_permission_denied_is_one_line(tiny_run, tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "img.npy", np.zeros((28, 28)))

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    from ember.io import limits  # root reads mode-000 files, so simulate the refusal
    monkeypatch.setattr(limits, "read_npy_file", denied)
    assert main(["predict", str(tiny_run / "last.ckpt"), str(tmp_path / "img.npy")]) == 1
    assert_one_line(capsys, "predict", "permission denied", "img.npy")


def test_full_disk_during_a_save_keeps_the_previous_checkpoint(tiny_run, tmp_path,
                                                               monkeypatch, capsys):
    import shutil
    run_dir = tmp_path / "tiny"
    shutil.copytree(tiny_run, run_dir)
    before = (run_dir / "last.ckpt").read_bytes()
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def fileno(self):
            return self.f.fileno()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: FullDisk(real_fdopen(fd, *a, **k)))
    from ember.train import command
    monkeypatch.setattr(command, "_warn", lambda *a: None)  # the longer-schedule warning
    argv = ["train", "--resume", str(run_dir / "last.ckpt"), "--epochs", "2", "--no-progress"]
    assert main(argv) == 1
    assert_one_line(capsys, "train", "no space left", "--resume")
    assert (run_dir / "last.ckpt").read_bytes() == before  # the atomic save left it alone
    assert ember.load(str(run_dir / "last.ckpt"))["epoch"] == 1
    assert not [p for p in os.listdir(run_dir) if p.endswith(".tmp")]


def test_memory_error_and_ember_debug(tiny_run, monkeypatch, capsys):
    from ember.train import pipeline

    def oom(*args, **kwargs):
        raise MemoryError()
    monkeypatch.setattr(pipeline, "evaluate_checkpoint", oom)
    assert main(["evaluate", str(tiny_run / "last.ckpt")]) == 1
    assert_one_line(capsys, "evaluate", "out of memory", "--batch-size")
    monkeypatch.setattr(pipeline, "evaluate_checkpoint", lambda *a, **k: {}["accuracy"])
    assert main(["evaluate", str(tiny_run / "last.ckpt")]) == 1  # a bug: still one line
    assert_one_line(capsys, "evaluate", "unexpected KeyError", "EMBER_DEBUG=1")
    monkeypatch.setattr(pipeline, "evaluate_checkpoint", oom)
    monkeypatch.setenv("EMBER_DEBUG", "1")
    with pytest.raises(MemoryError):
        main(["evaluate", str(tiny_run / "last.ckpt")])
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "EMBER_DEBUG=1" in capsys.readouterr().out


def test_without_matplotlib_training_warns_first_and_skips_the_plots(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    assert main(["train", *QUICK_ONE, "--name", "np", "--out-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("ember train: warning: matplotlib is not installed")
    assert "pip install matplotlib" in captured.err
    assert (tmp_path / "np" / "last.ckpt").exists()
    assert not list((tmp_path / "np").glob("*.png"))
    assert ".png" not in captured.out  # the `wrote ...` line names only what it wrote
    (tmp_path / "img.png").write_bytes(b"")
    assert main(["predict", str(tmp_path / "np" / "last.ckpt"), str(tmp_path / "img.png")]) == 1
    assert_one_line(capsys, "predict", "pip install matplotlib")


@pytest.mark.parametrize("argv", [
    ["train", "--val-fraction", "1"], ["train", "--val-fraction", "-0.1"],
    ["train", "--epochs", "0"], ["train", "--batch-size", "0"], ["train", "--limit", "-5"],
    ["predict", "x.ckpt", "x.npy", "--top-k", "0"], ["summary", "lenet5", "--num-classes", "0"],
    ["demo", "--steps", "-1"], ["demo", "--hidden", "0"]])
def test_nonsense_values_are_usage_errors(argv, capsys):
    assert status(argv + (["--no-progress"] if argv[0] == "train" else [])) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1].startswith(f"ember {argv[0]}: error: ") and "Traceback" not in err


def test_predict_classifies_each_image_of_a_npy_stack(tiny_run, tmp_path, capsys):
    images = ember.data.get_dataset("fashion-mnist-subset", train=False).data[:3]
    np.save(tmp_path / "stack.npy", images)
    for i, img in enumerate(images):
        np.save(tmp_path / f"one{i}.npy", img)
    ckpt = str(tiny_run / "last.ckpt")
    assert main(["predict", ckpt, str(tmp_path / "stack.npy"), "--top-k", "1"]) == 0
    stacked = capsys.readouterr().out.splitlines()
    assert stacked[0::2] == [f"{tmp_path / 'stack.npy'}[{i}]" for i in range(3)]
    assert main(["predict", ckpt, *(str(tmp_path / f"one{i}.npy") for i in range(3)),
                 "--top-k", "1"]) == 0
    assert stacked[1::2] == capsys.readouterr().out.splitlines()[1::2]
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
    assert "weights.pt' is a bare state_dict" in capsys.readouterr().err


def test_train_a_gru_on_mnist1d_then_evaluate_and_predict(tmp_path):
    """1-D float signals through the same pipeline: fed as they are, the GRU's sequence
    length from the data, line plots of the misclassified signals."""
    out = run("train", "--data", "mnist1d", "--model", "gru1d", "--optimizer", "adam",
              "--lr", "0.01", "--batch-size", "100", "--epochs", "2", "--scheduler", "none",
              "--val-fraction", "0", "--limit", "400", "--name", "g", "--out-dir",
              str(tmp_path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "epoch 2/2" in out.stderr  # the progress bar
    run_dir = tmp_path / "g"
    for name in ("last.ckpt", "results.json", "curves.png", "confusion.png",
                 "misclassified.png"):
        assert (run_dir / name).exists(), name
    reported = re.search(r"test accuracy (\d\.\d+) \((\d+)/(\d+)\)", out.stdout)
    assert reported.group(3) == "80"  # --limit 400: 400 train, 80 test signals
    ev = run("evaluate", str(run_dir / "last.ckpt"), cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert re.search(r"test accuracy (\d\.\d+) \((\d+)/(\d+)\)", ev.stdout).groups() == \
        reported.groups()
    np.save(tmp_path / "sig.npy", ember.data.get_dataset("mnist1d", train=False).data[:2])
    pr = run("predict", str(run_dir / "last.ckpt"), str(tmp_path / "sig.npy"), cwd=tmp_path)
    assert pr.returncode == 0, pr.stderr
    assert pr.stdout.count("%") == 6 and "sig.npy[1]" in pr.stdout


def test_seq2seq_on_a_subset_then_evaluate(tmp_path):
    try:
        ember.data.datasets.Addition(train=False)
    except ember.data.datasets.DatasetNotFoundError:
        pytest.skip("addition.txt is not on this machine; Addition(download=True) gets it")
    out = run("seq2seq", "--epochs", "2", "--limit", "256", "--batch-size", "64",
              "--hidden-size", "16", "--reverse", "--peeky", "--name", "s", "--out-dir",
              str(tmp_path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "epoch 2/2" in out.stderr and "epoch 2: train loss" in out.stdout
    reported = re.search(r"test accuracy (\d\.\d+) \((\d+)/(\d+)\) exact match", out.stdout)
    assert reported.group(3) == "51"
    ev = run("evaluate", str(tmp_path / "s" / "last.ckpt"), cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert re.search(r"test accuracy (\d\.\d+) \((\d+)/(\d+)\) \(exact match\)",
                     ev.stdout).groups() == reported.groups()


def test_seq2seq_usage_errors(capsys):
    assert main(["seq2seq", "--data", "mnist", "--no-progress"]) == 2
    assert_one_line(capsys, "seq2seq", "--data must be one of addition, dates")
    assert main(["seq2seq", "--epochs", "0", "--no-progress"]) == 2
    assert_one_line(capsys, "seq2seq", "--epochs must be >= 1, got 0")
