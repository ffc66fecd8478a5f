"""The embedded Fashion-MNIST subset, the name registry, and the optional data sets."""
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.data import DataLoader, get_dataset, list_datasets
from ember.data import transforms as T
from ember.data.datasets import (
    MNIST1D,
    DatasetIntegrityError,
    Digits,
    FashionMNIST,
    FashionMNISTSubset,
    fashion_subset,
)

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("train,size,per_class", [(True, 10000, 1000), (False, 2000, 200)])
def test_embedded_subset_sizes_and_balance(train, size, per_class):
    ds = FashionMNISTSubset(train=train)
    assert ds.data.shape == (size, 28, 28) and ds.data.dtype == np.uint8
    assert ds.targets.dtype == np.int64 and np.bincount(ds.targets).tolist() == [per_class] * 10
    assert len(np.unique(ds.indices)) == size and np.all(np.diff(ds.indices) > 0)
    assert ds.data.std() > 50  # real images, not zeros
    assert ds.classes[0] == "T-shirt/top"
    x, y = ds[0]
    assert x.shape == (28, 28) and isinstance(y, int)


def test_embedded_subset_checksum_and_licence(tmp_path):
    assert fashion_subset.file_digest(fashion_subset.SUBSET_PATH, "sha256") == \
        fashion_subset.SUBSET_SHA256
    licence = (fashion_subset.SUBSET_PATH.parent / "FASHION_MNIST_LICENSE.txt").read_text()
    assert "Zalando SE" in licence and "MIT License" in licence
    corrupt = tmp_path / "subset.npz"
    data = bytearray(fashion_subset.SUBSET_PATH.read_bytes())
    data[1000] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(DatasetIntegrityError, match="subset.npz: SHA-256"):
        fashion_subset.load_subset_arrays(path=corrupt)
    with pytest.raises(FileNotFoundError, match="reinstall ember"):
        fashion_subset.load_subset_arrays(path=tmp_path / "missing.npz")


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="full Fashion-MNIST not installed here "
                    "(apt-get install dataset-fashion-mnist provides /usr/share/datasets)")
def test_embedded_subset_is_real_fashion_mnist():
    for train in (True, False):
        sub, full = FashionMNISTSubset(train=train), FashionMNIST(train=train, download=False)
        assert np.array_equal(full.data[sub.indices], sub.data)
        assert np.array_equal(full.targets[sub.indices], sub.targets)


def test_embedded_subset_through_the_loader():
    ds = FashionMNISTSubset(train=False, transform=T.Compose([T.ToTensor(),
                                                              T.Normalize(0.286, 0.353)]))
    loader = DataLoader(ds, batch_size=256, shuffle=True, drop_last=True)
    batches = list(loader)
    assert len(batches) == len(loader) == 7
    x, y = batches[0]
    assert x.shape == (256, 1, 28, 28) and x.dtype == ember.float32 and y.shape == (256,)
    assert abs(float(x.numpy().mean())) < 0.3


def test_registry_names_and_suggestions():
    names = list_datasets()
    assert {"fashion-mnist-subset", "fashion-mnist", "mnist", "cifar10", "cifar100", "digits",
            "mnist1d"} <= set(names)
    assert isinstance(get_dataset("fashion-mnist-subset", train=False), FashionMNISTSubset)
    assert len(get_dataset("Fashion_MNIST_Subset")) == 10000
    with pytest.raises(ValueError, match="Did you mean 'fashion-mnist-subset'"):
        get_dataset("fashion-mnist-subst")
    with pytest.raises(ValueError, match="'cifar10'"):
        get_dataset("cifar-01")
    with pytest.raises(ValueError, match="Available: "):
        get_dataset("imagenet")
    with pytest.raises(ValueError, match="takes no root"):
        get_dataset("digits", root="/tmp")


def test_get_dataset_passes_root_and_download(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBER_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(FashionMNIST, "system_dirs", ())
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "r")):
        get_dataset("fashion-mnist", root=tmp_path / "r", download=False)


def test_digits():
    pytest.importorskip("sklearn", reason="scikit-learn (optional) is not installed")
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) == 1437 and len(test) == 360
    assert train.data.shape == (1437, 8, 8) and train.data.dtype == np.uint8
    assert train.data.max() == 255 and set(np.unique(train.targets)) == set(range(10))
    x, _ = next(iter(DataLoader(test, batch_size=8, shuffle=False)))
    assert x.shape == (8, 8, 8)


def test_mnist1d():
    pytest.importorskip("mnist1d", reason="mnist1d (optional) is not installed")
    train, test = MNIST1D(train=True), MNIST1D(train=False)
    assert train.data.shape == (4000, 40) and test.data.shape == (1000, 40)
    assert train.data.dtype == np.float32 and train.targets.dtype == np.int64
    x, y = next(iter(DataLoader(train, batch_size=100, shuffle=True)))
    assert x.shape == (100, 40) and y.shape == (100,)


def test_optional_dependency_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        Digits()
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match="pip install mnist1d"):
        MNIST1D(seed=12345)


def test_subset_tool_is_deterministic(tmp_path):
    """tools/make_embedded_subset.py's writer gives the same bytes twice."""
    import importlib.util
    path = Path(__file__).resolve().parents[2] / "tools" / "make_embedded_subset.py"
    if not path.is_file():
        pytest.skip("tools/ is not part of an installed ember")
    spec = importlib.util.spec_from_file_location("make_embedded_subset", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    arrays = {"a": np.arange(10, dtype=np.uint8), "b": np.ones((2, 3))}
    tool.write_npz(tmp_path / "1.npz", arrays)
    shutil.copy(tmp_path / "1.npz", tmp_path / "copy.npz")
    tool.write_npz(tmp_path / "1.npz", arrays)
    assert (tmp_path / "1.npz").read_bytes() == (tmp_path / "copy.npz").read_bytes()
    with np.load(tmp_path / "1.npz", allow_pickle=False) as f:
        assert np.array_equal(f["a"], arrays["a"])
    idx = tool.stratified_indices(np.arange(100) % 10, 3, np.random.default_rng(0))
    assert np.bincount(np.arange(100)[idx] % 10).tolist() == [3] * 10
