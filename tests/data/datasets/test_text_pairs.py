"""Addition and Dates ("Deep Learning from Scratch 2"): the book's load_data as the oracle,
look-up (incl. the shared data folder), checksums, downloads and the error messages."""
import gzip
import hashlib
import urllib.error

import numpy as np
import pytest

from ember.data import DataLoader
from ember.data.datasets import (
    Addition,
    DatasetIntegrityError,
    DatasetNotFoundError,
    Dates,
    _download,
    get_dataset,
    text_pairs,
)


def book_load_data(path, seed=1984):
    """``dataset/sequence.py``'s load_data of the book, nearly verbatim (a fresh vocabulary;
    the global RNG's state is restored afterwards)."""
    questions, answers, char_to_id = [], [], {}
    with open(path) as f:
        lines = list(f)
    for line in lines:
        idx = line.find("_")
        questions.append(line[:idx])
        answers.append(line[idx:-1])
    for q, a in zip(questions, answers):
        for c in list(q) + list(a):
            if c not in char_to_id:
                char_to_id[c] = len(char_to_id)
    x = np.array([[char_to_id[c] for c in q] for q in questions])
    t = np.array([[char_to_id[c] for c in a] for a in answers])
    indices = np.arange(len(x))
    state = np.random.get_state()
    np.random.seed(seed)
    np.random.shuffle(indices)
    np.random.set_state(state)
    x, t = x[indices], t[indices]
    split_at = len(x) - len(x) // 10
    return (x[:split_at], t[:split_at]), (x[split_at:], t[split_at:]), char_to_id


def real(cls, train=True):
    try:
        return cls(train=train)
    except DatasetNotFoundError:
        pytest.skip(f"{cls.filename} is not on this machine (shared data folder, "
                    f"$EMBER_DATA or ~/.cache/ember); {cls.__name__}(download=True) gets it")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $EMBER_DATA, an empty home, no shared data folder."""
    monkeypatch.delenv("EMBER_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(text_pairs, "shared_data_dirs", lambda folder: [])
    return tmp_path


def write_pairs(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


SMALL = [f"{a}+{b:<3}_{a + b:<4}" for a, b in zip(range(10, 30), range(50, 70))]


@pytest.mark.parametrize("cls, shapes, vocab", [(Addition, (7, 5), 13), (Dates, (29, 11), 59)])
def test_equals_the_books_load_data(cls, shapes, vocab):
    train, test = real(cls, True), real(cls, False)
    state = np.random.get_state()[1].copy()
    (x, t), (x_test, t_test), char_to_id = book_load_data(train.path)
    assert np.array_equal(np.random.get_state()[1], state)
    assert len(train) == 45000 and len(test) == 5000
    assert train.data.shape == (45000, shapes[0]) and train.targets.shape == (45000, shapes[1])
    assert train.data.dtype == np.int64 and train.targets.dtype == np.int64
    assert train.char_to_id == char_to_id and list(train.char_to_id) == list(char_to_id)
    assert train.vocab_size == vocab == len(char_to_id)
    assert train.id_to_char == {i: c for c, i in char_to_id.items()}
    assert np.array_equal(train.data, x) and np.array_equal(train.targets, t)
    assert np.array_equal(test.data, x_test) and np.array_equal(test.targets, t_test)
    q, a = train[0]
    assert np.array_equal(q, x[0]) and np.array_equal(a, t[0])
    for i in range(0, 45000, 997):
        question, answer = train.decode(train.data[i]), train.decode(train.targets[i])
        assert answer[0] == "_" and "_" not in question
        assert np.array_equal(train.encode(question), train.data[i])
        assert np.array_equal(train.encode(answer), train.targets[i])


def test_the_books_first_training_pairs():
    add, dates = real(Addition), real(Dates)
    assert (add.decode(add.data[0]), add.decode(add.targets[0])) == ("71+118 ", "_189 ")
    # as printed in the book (ch07/show_addition_dataset.py): x_train[0], t_train[0]
    assert add.data[0].tolist() == [3, 0, 2, 0, 0, 11, 5]
    assert add.targets[0].tolist() == [6, 0, 11, 7, 5]
    assert list(add.char_to_id)[:7] == ["1", "6", "+", "7", "5", " ", "_"]
    assert dates.decode(dates.targets[0]) == "_1972-02-07"
    assert dates.decode(dates.data[0]).rstrip() == "2/7/72"


def test_loading_leaves_numpys_global_rng_alone():
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    real(Addition)
    assert np.random.rand() == expected


def test_private_random_state_is_the_books_shuffle():
    indices = np.arange(50000)
    np.random.RandomState(1984).shuffle(indices)
    state = np.random.get_state()
    np.random.seed(1984)
    book = np.arange(50000)
    np.random.shuffle(book)
    np.random.set_state(state)
    assert np.array_equal(indices, book)


def test_small_file_parsing_split_and_vocabulary(isolated):
    path = write_pairs(isolated / "r" / "addition.txt", SMALL)
    (x, t), (x_test, t_test), (char_to_id, id_to_char) = text_pairs.load_text_pairs(path)
    (bx, bt), (bx_test, bt_test), book_vocab = book_load_data(path)
    assert char_to_id == book_vocab and list(char_to_id)[:6] == ["1", "0", "+", "5", " ", "_"]
    assert x.shape == (18, 6) and t.shape == (18, 5) and x_test.shape == (2, 6)
    for ours, book in [(x, bx), (t, bt), (x_test, bx_test), (t_test, bt_test)]:
        assert ours.dtype == np.int64 and np.array_equal(ours, book)
    (x, t), _, _ = text_pairs.load_text_pairs(path, seed=None)  # no shuffle: file order
    assert "".join(id_to_char[int(i)] for i in np.concatenate([x[0], t[0]])) == SMALL[0]
    gz = isolated / "gz" / "addition.txt.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(path.read_bytes()))
    (gx, _), _, _ = text_pairs.load_text_pairs(gz, seed=None)
    assert np.array_equal(gx, x)


def test_split_at_the_first_underscore_and_keep_it(isolated):
    path = write_pairs(isolated / "pairs.txt", ["ab_c_d", "ba_d_c", "aa_cc_"])
    (x, t), _, (char_to_id, id_to_char) = text_pairs.load_text_pairs(path, seed=None)
    assert list(char_to_id) == ["a", "b", "_", "c", "d"]
    assert ["".join(id_to_char[int(i)] for i in row) for row in t] == ["_c_d", "_d_c", "_cc_"]
    assert ["".join(id_to_char[int(i)] for i in row) for row in x] == ["ab", "ba", "aa"]


def test_found_in_root_and_in_the_shared_folder(isolated, monkeypatch):
    write_pairs(isolated / "r" / "dlfs2" / "addition.txt", SMALL)
    monkeypatch.setattr(Addition, "sha256", None)
    ds = Addition(train=False, root=isolated / "r")
    assert len(ds) == 2 and ds.path == isolated / "r" / "dlfs2" / "addition.txt"
    assert ds.decode(ds.encode("12+51 ")) == "12+51 "
    assert repr(ds) == "Addition(2 pairs, questions (2, 6), answers (2, 5), vocab 13)"
    shared = isolated / "shared"
    write_pairs(shared / "dlfs2" / "addition.txt", SMALL)
    monkeypatch.setenv("EMBER_SHARED_DATA", str(shared))
    monkeypatch.setattr(text_pairs, "shared_data_dirs", _download.shared_data_dirs)
    assert Addition().path == shared / "dlfs2" / "addition.txt"
    assert shared / "dlfs2" in _download.shared_data_dirs("dlfs2")
    assert shared / "nope" not in _download.shared_data_dirs("nope")


def test_missing_file_says_where_ember_looked_and_how_to_get_it(isolated):
    with pytest.raises(DatasetNotFoundError) as info:
        Dates(root=isolated / "mine")
    message = str(info.value)
    assert "Dates not found" in message and "date.txt" in message
    assert str(isolated / "mine") in message and ".cache/ember" in message
    assert "download=False" in message and "Dates(download=True)" in message
    assert text_pairs.SOURCE + "date.txt" in message


def test_corrupt_file_names_it_and_what_to_do(isolated):
    path = write_pairs(isolated / "r" / "addition.txt", SMALL)
    with pytest.raises(DatasetIntegrityError, match=r"(?s)addition.txt: SHA-256 .* not the "
                       r"expected 34e0746f.*delete it and get it again \(download=True\)"):
        Addition(root=isolated / "r")
    write_pairs(path, SMALL + ["no underscore"])
    with pytest.raises(DatasetIntegrityError, match="addition.txt: every line must hold"):
        text_pairs.load_text_pairs(path)
    write_pairs(path, SMALL + ["1+1_2"])
    with pytest.raises(DatasetIntegrityError, match="different lengths"):
        text_pairs.load_text_pairs(path)
    path.write_bytes(b"\xff\xfe_1\n")
    with pytest.raises(DatasetIntegrityError, match="not UTF-8"):
        text_pairs.load_text_pairs(path)


def test_download_checks_the_sha256(isolated, monkeypatch):
    server = write_pairs(isolated / "server" / "addition.txt", SMALL)
    digest = hashlib.sha256(server.read_bytes()).hexdigest()
    monkeypatch.setattr(text_pairs, "SOURCE", server.parent.as_uri() + "/")
    monkeypatch.setattr(Addition, "sha256", digest)
    ds = Addition(root=isolated / "root", download=True)
    assert len(ds) == 18 and (isolated / "root" / "dlfs2" / "addition.txt").is_file()
    monkeypatch.setattr(Addition, "sha256", "0" * 64)
    with pytest.raises(DatasetNotFoundError, match="(?s)download into .* failed.*SHA256 "
                       f"{digest} is not the official 0000"):
        Addition(root=isolated / "other", download=True)
    assert not list((isolated / "other").rglob("*.txt*"))

    def offline(url, timeout):
        raise urllib.error.URLError("Temporary failure in name resolution")
    monkeypatch.setattr(_download.urllib.request, "urlopen", offline)
    with pytest.raises(DatasetNotFoundError, match="(?s)failed.*name resolution"):
        Dates(root=isolated / "third", download=True)


def test_encode_decode_errors(isolated, monkeypatch):
    write_pairs(isolated / "addition.txt", SMALL)
    monkeypatch.setattr(Addition, "sha256", None)
    ds = Addition(root=isolated)
    assert ds.decode(ds.encode("19+69 ")) == "19+69 "
    assert ds.decode(list(ds.encode("_88"))) == "_88"
    with pytest.raises(ValueError, match=r"Addition.encode: characters \['x', 'y'\] are not in "
                       "the vocabulary"):
        ds.encode("1+xy")
    with pytest.raises(ValueError, match=r"Addition.decode: ids \[99\] are outside the "
                       "vocabulary of 13 characters"):
        ds.decode([1, 99])


def test_batches_through_the_loader():
    train = real(Addition)
    xb, tb = next(iter(DataLoader(train, batch_size=128, shuffle=True)))
    assert tuple(xb.shape) == (128, 7) and tuple(tb.shape) == (128, 5)
    assert str(xb.dtype) == "int64" and np.all(tb.numpy()[:, 0] == train.char_to_id["_"])
    assert isinstance(get_dataset("addition", train=False), Addition)
    assert len(get_dataset("Dates", train=False)) == 5000
