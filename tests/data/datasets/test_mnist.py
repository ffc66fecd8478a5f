"""IDX parsing, MNIST-style loading, look-up order, downloads and the missing-data message."""
import gzip
import hashlib
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from ember.data import DataLoader
from ember.data.datasets import (
    MNIST,
    DatasetIntegrityError,
    DatasetNotFoundError,
    FashionMNIST,
    _download,
)
from ember.data.datasets.mnist import parse_idx, read_idx

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(array):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f8"): 0x0E}
    array = np.asarray(array)
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    header = bytes([0, 0, codes[big.dtype], array.ndim]) + struct.pack(f">{array.ndim}I",
                                                                       *array.shape)
    return header + big.tobytes()


def write(path, data, gz=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $EMBER_DATA, an empty home, no system copies: only what a test puts in place."""
    monkeypatch.delenv("EMBER_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(FashionMNIST, "system_dirs", (str(tmp_path / "no-system-copy"),))
    return tmp_path


IMAGES = np.random.default_rng(0).integers(0, 256, (6, 4, 3), dtype=np.uint8)
LABELS = np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_raw_and_gzip(tmp_path, gz):
    path = write(tmp_path / "images", idx_bytes(IMAGES), gz)
    assert np.array_equal(read_idx(path), IMAGES)
    ints = np.arange(-3, 9, dtype=np.int32).reshape(3, 4)
    out = read_idx(write(tmp_path / "ints", idx_bytes(ints), gz))
    assert out.dtype == np.int32 and np.array_equal(out, ints)
    floats = np.linspace(0, 1, 5)
    assert np.array_equal(parse_idx(idx_bytes(floats)), floats)


def test_corrupt_idx_files_name_the_file(tmp_path):
    truncated = write(tmp_path / "truncated-idx3-ubyte", idx_bytes(IMAGES)[:-5])
    with pytest.raises(DatasetIntegrityError, match="truncated-idx3-ubyte.*truncated or corrupt"):
        read_idx(truncated)
    bad_magic = write(tmp_path / "bad-magic", b"\x12\x34\x08\x01" + bytes(8))
    with pytest.raises(DatasetIntegrityError, match="bad-magic: not an IDX file"):
        read_idx(bad_magic)
    broken_gz = write(tmp_path / "broken.gz", gzip.compress(idx_bytes(IMAGES))[:30])
    with pytest.raises(DatasetIntegrityError, match="broken.gz: corrupt gzip"):
        read_idx(broken_gz)
    good = write(tmp_path / "good", idx_bytes(IMAGES))
    with pytest.raises(DatasetIntegrityError, match="good: MD5 .* not the official"):
        read_idx(good, md5="0" * 32)


def tiny_class(base=MNIST, images=IMAGES, labels=LABELS):
    """An MNIST subclass whose official checksums are those of small generated files."""
    md5 = {name: hashlib.md5(idx_bytes(a)).hexdigest()
           for name, a in [("train-images-idx3-ubyte", images), ("t10k-images-idx3-ubyte", images),
                           ("train-labels-idx1-ubyte", labels), ("t10k-labels-idx1-ubyte", labels)]}
    resources = [(name, hashlib.md5(gzip.compress(idx_bytes(a), mtime=0)).hexdigest(), md5[name])
                 for name, a in [("train-images-idx3-ubyte", images),
                                 ("train-labels-idx1-ubyte", labels),
                                 ("t10k-images-idx3-ubyte", images),
                                 ("t10k-labels-idx1-ubyte", labels)]]
    return type("Tiny" + base.__name__, (base,), {"resources": resources})


def put_files(folder, gz=True, images=IMAGES, labels=LABELS):
    for split in ("train", "t10k"):
        for kind, a in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{split}-{kind}-ubyte"
            write(folder / (name + ".gz" if gz else name),
                  gzip.compress(idx_bytes(a), mtime=0) if gz else idx_bytes(a))


@pytest.mark.parametrize("layout", ["", "MNIST", "MNIST/raw"])
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_class_on_generated_files(isolated, layout, gz):
    put_files(isolated / "root" / layout, gz)
    ds = tiny_class()(root=isolated / "root", train=False, download=False)
    assert len(ds) == 6 and ds.data.dtype == np.uint8 and ds.targets.dtype == np.int64
    assert np.array_equal(ds.data, IMAGES) and ds.targets.tolist() == LABELS.tolist()
    image, label = ds[2]
    assert image.shape == (4, 3) and label == 4 and isinstance(label, int)
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 4, 3) and y.tolist() == [3, 1, 4, 1]


def test_lookup_order_root_then_env_then_cache(isolated, monkeypatch):
    other = IMAGES[::-1].copy()
    put_files(isolated / "env", images=other)
    put_files(isolated / "home" / ".cache" / "ember" / "MNIST", images=other)
    monkeypatch.setenv("EMBER_DATA", str(isolated / "env"))
    cls = tiny_class(images=other)
    assert np.array_equal(cls(download=False).data, other)  # $EMBER_DATA
    monkeypatch.delenv("EMBER_DATA")
    assert np.array_equal(cls(download=False).data, other)  # ~/.cache/ember
    put_files(isolated / "root")
    with pytest.raises(DatasetIntegrityError, match="MD5"):  # root first: its files are used
        cls(root=isolated / "root", download=False)


def test_checksum_mismatch_is_refused(isolated):
    put_files(isolated / "root", images=IMAGES + 1)
    with pytest.raises(DatasetIntegrityError, match=r"train-images-idx3-ubyte.gz: MD5"):
        tiny_class()(root=isolated / "root", download=False)


def test_missing_dataset_message(isolated):
    with pytest.raises(DatasetNotFoundError) as info:
        FashionMNIST(root=isolated / "mine", download=False)
    message = str(info.value)
    assert "FashionMNIST not found" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(isolated / "mine") in message and ".cache/ember" in message
    assert "no-system-copy" in message and "download=False" in message


def test_missing_dataset_without_network(isolated, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Temporary failure in name resolution")
    monkeypatch.setattr(_download.urllib.request, "urlopen", offline)
    with pytest.raises(DatasetNotFoundError, match="(?s)download into .* failed.*name resolution"):
        FashionMNIST(root=isolated / "mine")
    assert not list((isolated / "mine").rglob("*.part"))


def test_download_verifies_checksums(isolated):
    server = isolated / "server"
    put_files(server)
    cls = tiny_class()
    cls.mirrors = ["file:///nonexistent/", server.as_uri() + "/"]  # the first mirror fails
    ds = cls(root=isolated / "root", train=True)
    assert np.array_equal(ds.data, IMAGES)
    assert (isolated / "root" / "MNIST" / "train-images-idx3-ubyte.gz").is_file()
    bad = tiny_class()
    bad.mirrors = [server.as_uri() + "/"]
    bad.resources = [(n, "0" * 32, m) for n, _, m in bad.resources]
    with pytest.raises(DatasetNotFoundError, match="not the official"):
        bad(root=isolated / "other")
    assert not list((isolated / "other").rglob("*.gz*"))


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="full Fashion-MNIST not installed here "
                    "(apt-get install dataset-fashion-mnist provides /usr/share/datasets)")
def test_full_fashion_mnist_from_debian():
    train, test = FashionMNIST(train=True, download=False), FashionMNIST(train=False,
                                                                         download=False)
    assert train.data.shape == (60000, 28, 28) and test.data.shape == (10000, 28, 28)
    assert train.data.dtype == np.uint8 and train.targets.dtype == np.int64
    assert np.bincount(train.targets).tolist() == [6000] * 10
    assert np.bincount(test.targets).tolist() == [1000] * 10
    assert train.classes[9] == "Ankle boot"


def test_a_gzip_bomb_is_stopped_at_the_load_limit(tmp_path, monkeypatch):
    import ember.io
    idx = struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 4 * 2 ** 20) + b"\0" * (4 * 2 ** 20)
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx) + gzip.compress(b""))  # two members, as gzip allows
    assert path.stat().st_size < 10 ** 5
    assert read_idx(path).shape == (4 * 2 ** 20,)
    monkeypatch.setattr(ember.io, "MAX_LOAD_BYTES", 2 ** 20)
    with pytest.raises(DatasetIntegrityError, match=r"bomb-idx1-ubyte.gz: the decompressed gzip "
                       r"data exceeds the load limit of 1 MiB; .*MAX_LOAD_BYTES"):
        read_idx(path)
    path.write_bytes(gzip.compress(idx)[:-20])  # truncated: still a clear error
    monkeypatch.setattr(ember.io, "MAX_LOAD_BYTES", 2 ** 30)
    with pytest.raises(DatasetIntegrityError, match="corrupt gzip data"):
        read_idx(path)
