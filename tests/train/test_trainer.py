import csv
import json
import os

import numpy as np
import pytest

import ember
from ember import nn
from ember.data import DataLoader, TensorDataset
from ember.train import (CSVLogger, EarlyStopping, JSONLLogger, ModelCheckpoint,
                         NonFiniteLossError, Trainer)


def blobs(n=240, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[2, 0], [-2, 0], [0, 2.5]], np.float32)
    y = rng.integers(0, 3, n)
    x = (centers[y] + rng.standard_normal((n, 2)).astype(np.float32) * 0.6).astype(np.float32)
    return x, y.astype(np.int64)


def make(seed=0, lr=0.1, dropout=0.1):
    ember.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 3))
    opt = ember.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = ember.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    x, y = blobs()
    train = DataLoader(TensorDataset(x[:200], y[:200]), batch_size=16, shuffle=True)
    val = DataLoader(TensorDataset(x[200:], y[200:]), batch_size=64)
    return model, opt, sched, train, val


def test_fit_learns_and_logs(tmp_path):
    model, opt, sched, train, val = make()
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, sched, progress=False, callbacks=[
        ModelCheckpoint(str(tmp_path)), CSVLogger(str(tmp_path / "m.csv")),
        JSONLLogger(str(tmp_path / "m.jsonl"))])
    history = trainer.fit(train, val, epochs=4)
    assert len(history) == 4
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.9
    assert [h["lr"] for h in history] == pytest.approx([0.1, 0.1, 0.05, 0.05])  # lr used
    assert (tmp_path / "last.ckpt").exists() and (tmp_path / "best.ckpt").exists()
    rows = list(csv.DictReader((tmp_path / "m.csv").read_text().splitlines()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert lines[-1]["epoch"] == 4
    assert len(trainer.lrs) == 4 * len(train)


def test_progress_bar_does_not_change_the_run(capsys):
    """The bar wraps the loader's one iterator: every epoch draws the same shuffle seed with
    and without it (tqdm.auto used to make a second iterator, hence another draw)."""
    states = []
    for progress in (False, True):
        model, opt, sched, train, val = make()
        Trainer(model, nn.CrossEntropyLoss(), opt, sched, progress=progress).fit(train, val, 2)
        states.append(model.state_dict())
    assert "epoch 2/2" in capsys.readouterr().err
    for k in states[0]:
        np.testing.assert_array_equal(states[0][k].numpy(), states[1][k].numpy(), err_msg=k)


def test_resume_is_bit_for_bit(tmp_path):
    # uninterrupted: 4 epochs
    model, opt, sched, train, val = make()
    Trainer(model, nn.CrossEntropyLoss(), opt, sched, progress=False).fit(train, val, 4)
    # interrupted after 2 epochs, then a fresh model (other seed) resumes from the checkpoint
    model2, opt2, sched2, train2, val2 = make()
    t2 = Trainer(model2, nn.CrossEntropyLoss(), opt2, sched2, progress=False,
                 callbacks=[ModelCheckpoint(str(tmp_path))])
    t2.fit(train2, val2, 2)
    model3, opt3, sched3, train3, val3 = make(seed=123)
    t3 = Trainer(model3, nn.CrossEntropyLoss(), opt3, sched3, progress=False)
    t3.resume(str(tmp_path / "last.ckpt"))
    assert t3.epoch == 2
    t3.fit(train3, val3, 4)
    for (k, a), b in zip(model.state_dict().items(), model3.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


def test_nan_loss_stops_with_step(tmp_path):
    model, opt, _sched, train, val = make(lr=1e12)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, progress=False)
    with pytest.raises(NonFiniteLossError, match=r"epoch \d+, step \d+"):
        trainer.fit(train, val, epochs=3)


def test_early_stopping():
    model, opt, _sched, train, val = make(lr=0.0)
    stop = EarlyStopping(monitor="val_loss", patience=2)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, progress=False, callbacks=[stop])
    trainer.fit(train, val, epochs=10)
    assert trainer.epoch == 3 and "early stopping" in trainer.stop_reason


def test_evaluate_reports_confusion_and_examples():
    model, opt, _sched, train, val = make()
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, progress=False)
    trainer.fit(train, None, 2)
    result = trainer.evaluate(val, num_classes=3, keep_examples=5)
    assert result["confusion"].sum() == result["total"] == 40
    assert result["correct"] == int(np.trace(result["confusion"]))
    assert len(result["misclassified"]) <= 5
    assert os.path.basename(__file__)


def test_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboardX")
    from ember.train import TensorBoardLogger
    model, opt, _, train, val = make()
    Trainer(model, nn.CrossEntropyLoss(), opt, progress=False,
            callbacks=[TensorBoardLogger(str(tmp_path))]).fit(train, val, epochs=1)
    events = [f for f in os.listdir(tmp_path) if f.startswith("events.out.tfevents")]
    assert events and os.path.getsize(tmp_path / events[0]) > 0


def test_run_files_are_the_run_folders_callbacks(tmp_path):
    from ember.train.callbacks import run_files
    checkpoint, csv_log, jsonl_log = run_files(str(tmp_path), monitor="val_miou")
    assert isinstance(checkpoint, ModelCheckpoint) and checkpoint.monitor == "val_miou"
    assert checkpoint.mode == "max" and checkpoint.directory == str(tmp_path)
    assert isinstance(csv_log, CSVLogger) and isinstance(jsonl_log, JSONLLogger)
    assert run_files(str(tmp_path), "val_loss", "min")[0].mode == "min"
