"""The seq2seq toy sets of "Deep Learning from Scratch 2" (Koki Saitoh, O'Reilly Japan, 2018,
MIT licence): ``addition.txt`` (``"16+75  "`` -> ``"_91  "``) and ``date.txt``
(``"september 27, 1994           "`` -> ``"_1994-09-27"``), 50,000 lines each.

They are loaded exactly as the book's ``dataset/sequence.py`` ``load_data`` does: each line is
split at its first ``'_'`` into question and answer (the answer keeps the ``'_'``, the
decoder's start symbol; the newline is dropped), the character vocabulary numbers characters
in order of first appearance (question then answer, line by line), the lines are shuffled by
``numpy.random.seed(1984); numpy.random.shuffle`` (reproduced with a private
``RandomState(1984)``, so NumPy's global state is untouched) and the last 10% are the test set.

Files are looked up as ``dlfs2/addition.txt`` (and ``date.txt``) in the folders of
:mod:`ember.data.datasets._download`, including the shared data folder; ``download=True``
fetches them from the book's GitHub repository and checks their SHA-256.
"""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.data.dataset import Dataset
from ember.data.datasets._download import (
    DatasetIntegrityError,
    download_url,
    file_digest,
    locate,
    read_maybe_gzip,
    shared_data_dirs,
)

__all__ = ["Addition", "Dates", "load_text_pairs"]

SOURCE = ("https://raw.githubusercontent.com/oreilly-japan/deep-learning-from-scratch-2/master/"
          "dataset/")
SEED = 1984


def load_text_pairs(path, sha256=None, seed=SEED):
    """The book's ``load_data`` on one file: ``((x_train, t_train), (x_test, t_test),
    (char_to_id, id_to_char))`` with int64 arrays; with ``sha256``, the file's content is
    checked first."""
    data = read_maybe_gzip(path)
    if sha256 is not None and file_digest(None, "sha256", data) != sha256:
        raise DatasetIntegrityError(
            f"{path}: SHA-256 of the content is {file_digest(None, 'sha256', data)}, not the "
            f"expected {sha256}; the file is corrupt or not the book's, delete it and get it "
            f"again (download=True)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetIntegrityError(f"{path}: not UTF-8 text ({e}); delete it and get it "
                                    f"again") from None
    lines = text.removesuffix("\n").split("\n")
    if not lines or any("_" not in line for line in lines):
        raise DatasetIntegrityError(f"{path}: every line must hold a question, '_' and an "
                                    f"answer; delete the file and get it again")
    questions = [line[:line.index("_")] for line in lines]
    answers = [line[line.index("_"):] for line in lines]
    if len({len(q) for q in questions}) != 1 or len({len(a) for a in answers}) != 1:
        raise DatasetIntegrityError(f"{path}: questions (or answers) of different lengths; "
                                    f"the file is corrupt, delete it and get it again")
    char_to_id = {}
    for q, a in zip(questions, answers):
        for c in q + a:
            char_to_id.setdefault(c, len(char_to_id))
    id_to_char = {i: c for c, i in char_to_id.items()}
    x = np.array([[char_to_id[c] for c in q] for q in questions], dtype=np.int64)
    t = np.array([[char_to_id[c] for c in a] for a in answers], dtype=np.int64)
    indices = np.arange(len(x))
    if seed is not None:
        np.random.RandomState(seed).shuffle(indices)
    x, t = x[indices], t[indices]
    split_at = len(x) - len(x) // 10
    return (x[:split_at], t[:split_at]), (x[split_at:], t[split_at:]), (char_to_id, id_to_char)


class _TextPairs(Dataset):
    """A question -> answer character data set of the book (see the module docstring)."""

    folder = "dlfs2"
    filename = ""
    sha256 = ""

    def __init__(self, train=True, root=None, download=False):
        self.root, self.train = root, train
        hint = (f"Get it with {type(self).__name__}(download=True), or from {SOURCE}"
                f"{self.filename} (MIT licence, (c) 2018 Koki Saitoh).\n")
        (self.path,) = locate(type(self).__name__, self.folder, [self.filename], root,
                              download, self._fetch, shared_data_dirs(self.folder), hint)
        train_set, test_set, (self.char_to_id, self.id_to_char) = load_text_pairs(
            self.path, self.sha256)
        self.data, self.targets = train_set if train else test_set

    def _fetch(self, target):
        download_url([SOURCE + self.filename], target / self.folder / self.filename,
                     sha256=self.sha256)

    @property
    def vocab_size(self):
        return len(self.char_to_id)

    def encode(self, text) -> np.ndarray:
        """The int64 ids of the characters of ``text``."""
        unknown = sorted(set(text) - set(self.char_to_id))
        if unknown:
            raise ValueError(f"{type(self).__name__}.encode: characters {unknown} are not in "
                             f"the vocabulary {''.join(self.char_to_id)!r}")
        return np.array([self.char_to_id[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        """The string of the ids (a sequence, array or Tensor of ints)."""
        ids = backend.to_numpy(getattr(ids, "array", ids)).reshape(-1)
        bad = [int(i) for i in ids if int(i) not in self.id_to_char]
        if bad:
            raise ValueError(f"{type(self).__name__}.decode: ids {bad} are outside the "
                             f"vocabulary of {self.vocab_size} characters")
        return "".join(self.id_to_char[int(i)] for i in ids)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return self.data[index], self.targets[index]

    def get_batch(self, indices):
        return self.data[indices], self.targets[indices]

    def __repr__(self):
        return (f"{type(self).__name__}({len(self)} pairs, questions {tuple(self.data.shape)}, "
                f"answers {tuple(self.targets.shape)}, vocab {self.vocab_size})")


class Addition(_TextPairs):
    """Additions of two numbers below 1,000: 45,000 training and 5,000 test pairs.

    Args:
        train: the training set (the first 90% after the book's shuffle), else the test set.
        root: a folder with ``addition.txt`` (also ``root/dlfs2``); None looks in
            ``$EMBER_DATA``, ``~/.cache/ember`` and the shared data folder.
        download: fetch the file from the book's repository when not found.

    ``.data`` is (N, 7) int64 questions (``"71+118 "``, padded with spaces), ``.targets``
    (N, 5) int64 answers (``"_189 "``: ``'_'`` then the sum, padded), ``.path`` the file
    read; the vocabulary
    (``.char_to_id``, ``.id_to_char``, ``.vocab_size`` 13) is the book's: ``'1': 0, '6': 1,
    '+': 2, '7': 3, '5': 4, ' ': 5, '_': 6, ...``. Items are ``(question_ids, answer_ids)``.

    Example:
        >>> train = Addition(train=True)              # or download=True the first time
        >>> x, t = train[0]                           # int64 arrays of shape (7,) and (5,)
        >>> train.decode(x), train.decode(t)          # the book's first training pair
        ('71+118 ', '_189 ')
        >>> loader = DataLoader(train, batch_size=128, shuffle=True)
        >>> xb, tb = next(iter(loader))               # int64 Tensors (128, 7) and (128, 5)
        >>> dec_in, dec_target = tb[:, :-1], tb[:, 1:]  # teacher forcing, as the book
    """

    filename = "addition.txt"
    sha256 = "34e0746f5014c11311c9452ee9050bf14e38eca44ec4aaf4d81eba2b38674009"


class Dates(_TextPairs):
    """Dates in many written formats -> ISO dates: 45,000 training and 5,000 test pairs.

    Args: as :class:`Addition` (the file is ``date.txt``).

    ``.data`` is (N, 29) int64 questions (``"september 27, 1994           "``, padded with
    spaces), ``.targets`` (N, 11) int64 answers (``"_1994-09-27"``); the vocabulary
    (``.char_to_id``, ``.id_to_char``, ``.vocab_size`` 59) numbers characters in order of
    first appearance. Items are ``(question_ids, answer_ids)``.

    Example:
        >>> train = Dates(train=True)
        >>> x, t = train[0]                           # int64 arrays of shape (29,) and (11,)
        >>> train.decode(x), train.decode(t)          # the book's first training pair
        ('2/7/72                       ', '_1972-02-07')
        >>> loader = DataLoader(train, batch_size=128, shuffle=True)
        >>> xb, tb = next(iter(loader))               # int64 Tensors (128, 29) and (128, 11)
    """

    filename = "date.txt"
    sha256 = "62e66a301ce8537868e725512d2a45663fc366526b7e42028cb703bda2b1c79a"
