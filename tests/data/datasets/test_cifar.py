"""CIFAR: the restricted unpickler on generated batches (Python 2 and 3 pickles), malicious
pickles refused, the data set classes and the archive download on generated files."""
import hashlib
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from ember.data.datasets import (
    CIFAR10,
    CIFAR100,
    DatasetIntegrityError,
    DatasetNotFoundError,
    UnsafePickleError,
)
from ember.data.datasets.cifar import read_cifar_batch, safe_unpickle

rng = np.random.default_rng(0)


def _s(text):
    """A Python 2 ``str`` (SHORT_BINSTRING / BINSTRING opcodes)."""
    b = text.encode("latin1") if isinstance(text, str) else text
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def _ints(values):
    return b"".join(b"J" + struct.pack("<i", int(v)) for v in values)


def py2_pickle(d):
    """What Python 2's cPickle.dump(d, f, 2) writes for CIFAR's dicts of str, list, ndarray."""
    out = [b"\x80\x02}("]
    for key, value in d.items():
        out.append(_s(key))
        if isinstance(value, np.ndarray):
            out += [b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85", _s("b"),
                    b"\x87R(K\x01(", _ints(value.shape), b"tcnumpy\ndtype\n", _s("u1"),
                    b"K\x00K\x01\x87R(K\x03", _s("|"),
                    b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89", _s(value.tobytes()),
                    b"tb"]
        elif isinstance(value, list):
            out += [b"](", _ints(value), b"e"] if value and isinstance(value[0], int) else \
                [b"](", b"".join(_s(v) for v in value), b"e"]
        elif isinstance(value, int):
            out.append(_ints([value]))
        else:
            out.append(_s(value))
    out.append(b"u.")
    return b"".join(out)


def batch_dict(n, labels_key="labels", classes=10):
    return {"batch_label": "generated batch", labels_key: rng.integers(0, classes, n).tolist(),
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"img_{i}.png" for i in range(n)]}


ENCODERS = {"python2": py2_pickle,
            **{f"protocol{p}": (lambda d, p=p: pickle.dumps(d, protocol=p)) for p in (2, 3, 4, 5)}}


@pytest.mark.parametrize("encoder", ENCODERS)
def test_safe_unpickle_reads_cifar_style_pickles(encoder):
    d = batch_dict(4)
    raw = ENCODERS[encoder](d)
    out = safe_unpickle(raw)
    assert out["labels"] == d["labels"] and out["filenames"] == d["filenames"]
    assert out["data"].dtype == np.uint8 and np.array_equal(out["data"], d["data"])
    assert out["data"].flags.writeable
    if encoder == "python2":  # the hand-written pickle is what the real unpickler reads too
        assert np.array_equal(pickle.loads(raw, encoding="latin1")["data"], d["data"])
    ints = safe_unpickle(pickle.dumps({"x": np.arange(6, dtype=">i4").reshape(2, 3).T}, 2))
    assert np.array_equal(ints["x"], np.arange(6).reshape(2, 3).T)


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickles_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"data": Exploit(marker)}, protocol=2)
    with pytest.raises(UnsafePickleError, match=r"evil.bin: refused to load (posix|os)\.system"):
        safe_unpickle(payload, "evil.bin")
    assert not marker.exists()
    assert pickle.loads(payload) == {"data": 0} and marker.exists()  # it really was an exploit
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        safe_unpickle(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(UnsafePickleError, match="plain numeric dtype"):
        safe_unpickle(pickle.dumps(np.array([1, "a"], dtype=object), protocol=2))
    with pytest.raises(UnsafePickleError, match="_codecs"):
        safe_unpickle(b"c_codecs\nencode\n(X\x01\x00\x00\x00aX\x05\x00\x00\x00utf-8tR.")
    with pytest.raises(DatasetIntegrityError, match="not a valid data pickle"):
        safe_unpickle(b"\x80\x02}(X\x01\x00\x00\x00a")


def write_cifar(folder, files, meta_name, meta):
    folder.mkdir(parents=True, exist_ok=True)
    md5 = {}
    for name, d in list(files.items()) + [(meta_name, meta)]:
        raw = py2_pickle(d)
        (folder / name).write_bytes(raw)
        md5[name] = hashlib.md5(raw).hexdigest()
    return md5


def cifar10_class(folder):
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    train = {"data_batch_1": batch_dict(5), "data_batch_2": batch_dict(3)}
    test = {"test_batch": batch_dict(4)}
    md5 = write_cifar(folder, {**train, **test}, "batches.meta",
                      {"label_names": names, "num_cases_per_batch": 5})
    cls = type("TinyCIFAR10", (CIFAR10,), {
        "train_list": [(k, md5[k]) for k in train],
        "test_list": [("test_batch", md5["test_batch"])],
        "meta": ("batches.meta", "label_names", md5["batches.meta"])})
    return cls, train, test


def test_cifar10_on_generated_batches(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBER_DATA", raising=False)
    cls, train, _ = cifar10_class(tmp_path / "cifar-10-batches-py")
    ds = cls(root=tmp_path, train=True, download=False)
    assert ds.data.shape == (8, 32, 32, 3) and ds.data.dtype == np.uint8
    expected = np.concatenate([train[k]["data"] for k in train]).reshape(-1, 3, 32, 32)
    assert np.array_equal(ds.data, expected.transpose(0, 2, 3, 1))
    assert ds.targets.tolist() == train["data_batch_1"]["labels"] + train["data_batch_2"]["labels"]
    assert ds.classes[0] == "airplane" and ds.class_to_idx["truck"] == 9
    assert len(cls(root=tmp_path, train=False, download=False)) == 4
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DatasetIntegrityError, match="test_batch: MD5"):
        cls(root=tmp_path, train=False, download=False)


def test_cifar100_on_generated_batches(tmp_path):
    folder = tmp_path / "cifar-100-python"
    train = batch_dict(6, "fine_labels", 100)
    md5 = write_cifar(folder, {"train": train, "test": batch_dict(2, "fine_labels", 100)},
                      "meta", {"fine_label_names": [f"c{i}" for i in range(100)]})
    cls = type("TinyCIFAR100", (CIFAR100,), {
        "train_list": [("train", md5["train"])], "test_list": [("test", md5["test"])],
        "meta": ("meta", "fine_label_names", md5["meta"])})
    ds = cls(root=folder, download=False)  # root may also be the batches folder itself
    assert len(ds) == 6 and ds.targets.tolist() == train["fine_labels"] and len(ds.classes) == 100


def test_read_cifar_batch_checks_structure(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}, 2))
    with pytest.raises(DatasetIntegrityError, match="bad: not a CIFAR batch"):
        read_cifar_batch(path)


def _tar_gz(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_cifar_archive_download_and_extract(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBER_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cls, _, _ = cifar10_class(tmp_path / "src" / "cifar-10-batches-py")
    members = {f"cifar-10-batches-py/{p.name}": p.read_bytes()
               for p in (tmp_path / "src" / "cifar-10-batches-py").iterdir()}
    cls.tgz_md5 = _tar_gz(tmp_path / "archive.tar.gz", members)
    cls.url = (tmp_path / "archive.tar.gz").as_uri()
    ds = cls(root=tmp_path / "data", train=False)
    assert len(ds) == 4 and (tmp_path / "data" / "cifar-10-batches-py" / "test_batch").is_file()
    evil = type("EvilCIFAR10", (cls,), {})
    evil.tgz_md5 = _tar_gz(tmp_path / "evil.tar.gz", {"../escaped": b"x", **members})
    evil.url = (tmp_path / "evil.tar.gz").as_uri()
    with pytest.raises(DatasetNotFoundError, match="failed"):
        evil(root=tmp_path / "other", train=False)
    assert not (tmp_path / "escaped").exists()


def test_a_batch_file_over_the_load_limit_is_refused_before_reading(tmp_path, monkeypatch):
    import ember.io
    from ember.data.datasets import cifar
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"\x80\x02" + b"\0" * 5000)
    monkeypatch.setattr(ember.io, "MAX_LOAD_BYTES", 4096)
    with pytest.raises(cifar.DatasetIntegrityError, match=r"data_batch_1: the file needs 5002 "
                       r"bytes, which exceeds the load limit of 4096 bytes"):
        cifar._read_checked(path)
