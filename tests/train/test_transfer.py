"""Transfer learning helpers: load what fits, freeze (BN included), re-initialise."""
import os

import numpy as np
import pytest

import ember
from ember import nn
from ember.train.transfer import freeze, load_pretrained, read_weights, reinit


def small_net(classes=10):
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, classes))


def arrays(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def test_loads_what_fits_and_keeps_a_new_head(tmp_path):
    ember.manual_seed(0)
    source = small_net(classes=10)
    path = tmp_path / "w.ckpt"
    ember.save({"model": source.state_dict(), "config": {}}, path)  # a training checkpoint
    ember.manual_seed(1)
    target = small_net(classes=3)
    head = target[4].weight.detach().numpy().copy()
    report = load_pretrained(target, path)
    assert set(report.skipped) == {"4.weight", "4.bias"}
    assert "shape (3, 144), the file's (10, 144)" in report.skipped["4.weight"]
    for k, v in arrays(source).items():
        if not k.startswith("4."):
            np.testing.assert_array_equal(target.state_dict()[k].detach().numpy(), v)
    np.testing.assert_array_equal(target[4].weight.detach().numpy(), head)
    assert "loaded 7 tensors" in str(report)


def test_reads_a_torch_state_dict_without_torch_code(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                              torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 10))
    torch.save(net.state_dict(), tmp_path / "w.pt")
    model = small_net()
    report = load_pretrained(model, tmp_path / "w.pt")
    assert not report.skipped
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), net[0].weight.detach().numpy())


def test_the_books_pickle_goes_into_its_network():
    from ember.data.datasets._download import shared_data_dirs
    folders = shared_data_dirs("dlfs1")
    if not folders:
        if os.environ.get("CI"):
            raise FileNotFoundError("shared/data/dlfs1 (the book's weights) is missing")
        pytest.skip("shared/data/dlfs1 not beside this checkout")
    from ember.models import dlfs_deep_convnet
    path = folders[0] / "deep_convnet_params.pkl"
    model = dlfs_deep_convnet()
    load_pretrained(model, path)
    book = read_weights(path)
    np.testing.assert_allclose(model.conv1.weight.detach().numpy(), book["W1"], rtol=1e-6)


def test_nothing_fits_changes_nothing(tmp_path):
    model = small_net()
    before = arrays(model)
    ember.save({"other.weight": ember.zeros(3)}, tmp_path / "x.ckpt")
    with pytest.raises(ValueError, match="no tensor of '.*x.ckpt' fits the model"):
        load_pretrained(model, tmp_path / "x.ckpt")
    for k, v in arrays(model).items():
        np.testing.assert_array_equal(v, before[k])
    ember.save([1, 2], tmp_path / "list.ckpt")
    with pytest.raises(ValueError, match="holds no state_dict"):
        read_weights(tmp_path / "list.ckpt")


def test_freeze_stops_gradients_and_keeps_bn_statistics():
    ember.manual_seed(0)
    model = small_net()
    frozen = freeze(model, ["0", "1"])
    assert frozen == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert [p.requires_grad for p in model.parameters()] == [False] * 4 + [True] * 2
    stats = model[1].running_mean.detach().numpy().copy()
    before = arrays(model)
    optimizer = ember.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    loss = model(ember.randn(8, 1, 8, 8)).sum()
    loss.backward()
    optimizer.step()
    np.testing.assert_array_equal(model[1].running_mean.detach().numpy(), stats)  # BN in eval
    for k in ("0.weight", "1.weight", "1.running_var"):
        np.testing.assert_array_equal(model.state_dict()[k].detach().numpy(), before[k])
    assert not np.array_equal(model[4].weight.detach().numpy(), before["4.weight"])
    with pytest.raises(ValueError, match="no submodule 'features'; its top-level ones are 0, 1"):
        freeze(model, ["features"])


def test_reinit_draws_the_layers_afresh():
    model = small_net()
    before = model[4].weight.detach().numpy().copy()
    assert reinit(model, ["4"]) == 1
    assert not np.array_equal(model[4].weight.detach().numpy(), before)


def test_ember_train_pretrained_freeze_reinit(tmp_path, capsys):
    from ember.cli import main
    common = ["--limit", "200", "--epochs", "1", "--no-progress", "--out-dir", str(tmp_path)]
    assert main(["train", "--name", "source", *common]) == 0
    source = ember.load(tmp_path / "source" / "last.ckpt")["model"]
    assert main(["train", "--name", "moved", "--pretrained",
                 str(tmp_path / "source" / "last.ckpt"), "--freeze", "features",
                 "--reinit", "classifier.output", "--lr", "0.01", *common]) == 0
    out = capsys.readouterr().out
    assert "loaded 10 tensors" in out and "frozen: 6 parameter tensors in features" in out
    moved = ember.load(tmp_path / "moved" / "last.ckpt")
    for k, v in source.items():
        same = np.array_equal(moved["model"][k].numpy(), v.numpy())
        assert same == k.startswith("features."), k  # frozen kept; the rest trained
    assert moved["config"]["freeze"] == "features"
    # resume keeps the features frozen (the optimizer's groups match the saved ones)
    assert main(["train", "--resume", str(tmp_path / "moved" / "last.ckpt"), "--epochs", "2",
                 "--no-progress"]) == 0
    resumed = ember.load(tmp_path / "moved" / "last.ckpt")["model"]
    np.testing.assert_array_equal(resumed["features.c1.weight"].numpy(),
                                  source["features.c1.weight"].numpy())


def test_ember_train_transfer_errors(tmp_path, capsys):
    from ember.cli import main
    common = ["--limit", "100", "--epochs", "1", "--no-progress", "--out-dir", str(tmp_path)]
    assert main(["train", "--freeze", "backbone", *common]) != 0
    assert "no submodule 'backbone'; its top-level ones are features, classifier" in \
        capsys.readouterr().err
    assert main(["train", "--freeze", "features", "classifier", *common]) == 2
    assert "leaves nothing to train" in capsys.readouterr().err
    assert main(["train", "--pretrained", str(tmp_path / "missing.pt"), *common]) == 1
    assert "missing.pt" in capsys.readouterr().err

