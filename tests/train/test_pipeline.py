"""What evaluate/predict read: everything is in the checkpoint itself."""
import json

import numpy as np

import ember
from ember import models
from ember.cli import _model_kwargs
from ember.train import pipeline


def fake_run(tmp_path, with_results):
    """A checkpoint laid out as ``ember train`` writes it (Trainer.state_dict())."""
    kwargs = _model_kwargs("lenet5", 10, 1, (28, 28))
    model = models.get_model("lenet5", **kwargs)
    prep = {"mean": 0.25, "std": 0.5, "class_names": [f"c{i}" for i in range(10)],
            "image_size": [28, 28]}
    ember.save({"model": model.state_dict(), "epoch": 1,
                "config": {"model": "lenet5", "model_kwargs": kwargs, "preprocessing": prep}},
               tmp_path / "last.ckpt")
    if with_results:
        (tmp_path / "results.json").write_text(json.dumps({"mean": 9.0, "std": 9.0}))
    return model, prep


def test_an_interrupted_run_needs_no_results_json(tmp_path):
    model, prep = fake_run(tmp_path, with_results=False)
    loaded, _, info = pipeline.load_run(str(tmp_path / "last.ckpt"))
    assert (info["mean"], info["std"], info["class_names"]) == (0.25, 0.5, prep["class_names"])
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.save(tmp_path / "img.npy", np.zeros((28, 28), np.uint8))
    [(_, top)] = pipeline.predict_files(str(tmp_path / "last.ckpt"),
                                           [str(tmp_path / "img.npy")], k=2)
    assert len(top) == 2 and top[0][0].startswith("c")


def test_the_checkpoint_wins_over_results_json(tmp_path):
    fake_run(tmp_path, with_results=True)
    _, _, info = pipeline.load_run(str(tmp_path / "last.ckpt"))
    assert (info["mean"], info["std"]) == (0.25, 0.5)
