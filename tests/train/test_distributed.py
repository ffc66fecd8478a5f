"""Training on several processes: the Trainer (DDP, shards, rank 0's callbacks, resume to
identical weights; tests/distributed/_worker_trainer.py) and ``mpirun -n 2 ember train``;
outside a process group everything is as before."""
import pytest
from _mpi import assert_section, mpirun

import ember
from ember.train import distributed as data_parallel


@pytest.mark.parametrize("name", ["resume", "rank0"])
def test_trainer_on_two_processes(name, tmp_path_factory):
    folder = tmp_path_factory.getbasetemp() / "trainer-ckpts"
    folder.mkdir(exist_ok=True)
    assert_section(2, ("_worker_trainer.py", str(folder)), name)


@pytest.mark.parametrize("n", [2, 3])
def test_evaluation_is_sharded_and_equals_one_process(n):
    assert_section(n, "_worker_evaluate.py", "sharded_evaluation")


def test_ember_train_and_resume_under_mpirun(tmp_path):
    out = mpirun(2, "-m", "ember", "train", "--model", "lenet5", "--epochs", "1", "--limit",
                 "300", "--batch-size", "32", "--no-progress", "--name", "dp", "--out-dir",
                 str(tmp_path), timeout=180)
    assert out.stdout.count("training lenet5") == 1  # rank 0 alone prints
    assert out.stdout.count("test accuracy") == 1
    run_dir = tmp_path / "dp"
    for name in ("last.ckpt", "config.json", "metrics.csv", "results.json"):
        assert (run_dir / name).exists(), name
    assert [p.name for p in tmp_path.iterdir()] == ["dp"]
    state = ember.load(str(run_dir / "last.ckpt"))
    assert state["epoch"] == 1
    # the test set was split over the ranks, and the figures are those of one process
    import json

    from ember.train import pipeline
    results = json.loads((run_dir / "results.json").read_text())
    one = pipeline.evaluate_checkpoint(str(run_dir / "last.ckpt"))
    assert results["total"] == one["total"] == 60 and results["correct"] == one["correct"]
    assert results["loss"] == pytest.approx(one["loss"], rel=1e-6)
    steps = -(-270 // 2 // 32)  # per-process batches: half the steps of one process
    assert len(state["lrs"]) == steps
    again = mpirun(2, "-m", "ember", "train", "--resume", str(run_dir / "last.ckpt"),
                   "--epochs", "2", "--no-progress", timeout=180)
    assert again.stdout.count("resumed from") == 1 and "after epoch 1" in again.stdout
    state = ember.load(str(run_dir / "last.ckpt"))
    assert state["epoch"] == 2 and len(state["lrs"]) == 2 * steps


def test_no_process_group_changes_nothing():
    assert not data_parallel.active() and data_parallel.is_main_process()
    model = ember.nn.Linear(2, 2)
    assert data_parallel.wrap(model) is model
    assert data_parallel.loader_order(range(3)) == {"shuffle": True}
    assert data_parallel.average(1.5, 2.0) == (1.5, 2.0)
    assert data_parallel.rank0_decides(True, "x") == (True, "x")
    assert data_parallel.rank0_text("a") == "a"
    assert data_parallel.setup() is True  # not under mpirun: no group
    data_parallel.set_epoch(object(), 3)  # a loader without a sampler: nothing to do
    from ember.data import DataLoader
    assert data_parallel.shard_loader(DataLoader(list(range(5)), batch_size=2)) is None
