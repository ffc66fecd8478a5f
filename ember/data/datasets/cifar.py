"""CIFAR-10 and CIFAR-100 from the official "python version" batches, read without trusting them.

Those batches are pickles, and unpickling runs whatever code a file names. ember reads them
with a restricted unpickler: only the types the real files contain (dicts, lists, strings,
bytes, numbers, and NumPy arrays of plain numeric dtypes rebuilt by ember itself from raw
bytes) are allowed; anything else is refused with an error naming the file and the object.
"""
from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np

from ember.data.dataset import ArrayDataset
from ember.data.datasets._download import DatasetIntegrityError, download_url, file_digest, locate

__all__ = ["CIFAR10", "CIFAR100", "UnsafePickleError", "safe_unpickle", "read_cifar_batch"]


class UnsafePickleError(DatasetIntegrityError):
    """A pickle asked for something a data file has no business containing."""


class _DType:
    """Stands in for ``numpy.dtype(code, align, copy)`` until its state (byte order) comes."""

    def __init__(self, code, align=False, copy=True):
        if isinstance(code, bytes):
            code = code.decode("latin1")
        if not isinstance(code, str) or len(code) > 3:
            raise UnsafePickleError(f"dtype {code!r} is not a plain numeric dtype")
        self.code, self.order = code, "|"

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in "<>|=":
            raise UnsafePickleError(f"unexpected dtype state {state!r}")
        self.order = state[1]

    def resolve(self) -> np.dtype:
        try:
            dtype = np.dtype((self.order if self.order in "<>" else "") + self.code)
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in "?biuf" or dtype.fields is not None:
            raise UnsafePickleError(f"dtype {self.code!r} is not a plain numeric dtype")
        return dtype


def _array_from_bytes(raw, dtype, shape, fortran=False) -> np.ndarray:
    if isinstance(raw, str):  # a Python 2 str, decoded with latin1 by the unpickler
        raw = raw.encode("latin1")
    if not isinstance(dtype, _DType) or not isinstance(raw, (bytes, bytearray, memoryview)):
        raise UnsafePickleError("array data must be raw bytes with a plain numeric dtype")
    dtype = dtype.resolve()
    shape = tuple(int(s) for s in shape)
    if len(raw) != int(np.prod(shape)) * dtype.itemsize:
        raise DatasetIntegrityError(f"array of shape {shape} {dtype} with {len(raw)} bytes")
    return np.frombuffer(raw, dtype).reshape(shape, order="F" if fortran else "C").copy()


class _PendingArray:
    """What ``numpy.core.multiarray._reconstruct`` stands for; becomes an array at BUILD."""

    array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5:
            raise UnsafePickleError(f"unexpected ndarray state of length {len(state)}")
        _, shape, dtype, fortran, raw = state
        self.array = _array_from_bytes(raw, dtype, shape, bool(fortran))


class _NDArrayClass:
    """Stands in for the ``numpy.ndarray`` class, only ever passed to ``_reconstruct``."""


_NDARRAY = _NDArrayClass()


def _reconstruct(cls, shape, code):
    if cls is not _NDARRAY:
        raise UnsafePickleError("_reconstruct of something other than numpy.ndarray")
    return _PendingArray()


def _frombuffer(buffer, dtype, shape, order):
    return _array_from_bytes(bytes(buffer), dtype, shape, order == "F")


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode``, which Python 3 uses to pickle bytes at protocol 2, for latin1."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DType,
    ("_codecs", "encode"): _latin1_encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refused to load {module}.{name}: data files hold only "
                                    "dicts, lists, strings, numbers and arrays") from None


def _finish(obj):
    """Swap the arrays pending at BUILD for the arrays, through dicts, lists and tuples."""
    if isinstance(obj, _PendingArray):
        if obj.array is None:
            raise UnsafePickleError("an ndarray without its data")
        return obj.array
    if isinstance(obj, dict):
        return {k: _finish(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_finish(v) for v in obj)
    if isinstance(obj, (_DType, _NDArrayClass)):
        raise UnsafePickleError(f"a bare {type(obj).__name__}")
    return obj


def safe_unpickle(data: bytes, name="<bytes>"):
    """Unpickle ``data`` allowing only plain containers, scalars and numeric arrays."""
    try:
        return _finish(_RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load())
    except DatasetIntegrityError as e:
        raise type(e)(f"{name}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as e:
        raise DatasetIntegrityError(f"{name}: not a valid data pickle ({type(e).__name__}: "
                                    f"{e}); delete it and get it again") from None


def _read_checked(path, md5=None):
    """Safely unpickle a file (no bigger than ``ember.io.MAX_LOAD_BYTES``), after checking
    its MD5 when given."""
    from ember.io import limits
    try:
        limits.check_file(path)
    except limits.LoadLimitError as e:
        raise DatasetIntegrityError(f"{path}: {e}") from None
    with open(path, "rb") as f:
        raw = f.read()
    if md5 is not None and file_digest(None, "md5", raw) != md5:
        raise DatasetIntegrityError(f"{path}: MD5 {file_digest(None, 'md5', raw)} is not the "
                                    f"official {md5}; delete it and get it again")
    return safe_unpickle(raw, str(path))


def read_cifar_batch(path, labels_key="labels", md5=None):
    """One CIFAR batch file -> (images (N, 32, 32, 3) uint8, labels (N,) int64)."""
    entry = _read_checked(path, md5)
    data = entry.get("data") if isinstance(entry, dict) else None
    labels = entry.get(labels_key) if isinstance(entry, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32 or labels is None or len(labels) != len(data):
        raise DatasetIntegrityError(f"{path}: not a CIFAR batch (expected 'data' (N, 3072) "
                                    f"uint8 and {labels_key!r} with N labels)")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


class CIFAR10(ArrayDataset):
    """CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes.

    Args:
        root: folder holding ``cifar-10-batches-py`` (or that folder itself); None looks in
            ``$EMBER_DATA`` and ``~/.cache/ember``.
        train: the training set (else the test set).
        transform, target_transform: applied to each image / label (or to a batch at once).
        download: fetch and unpack the official archive when not found.

    ``.data`` is (N, 32, 32, 3) uint8 (channels last, as torchvision); use ``ToTensor``.
    """

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [("data_batch_1", "c99cafc152244af753f735de768cd75f"),
                  ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
                  ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
                  ("data_batch_4", "634d18415352ddfa80567beed471001a"),
                  ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb")]
    test_list = [("test_batch", "40351d587109b95175f43aff81a1287e")]
    meta = ("batches.meta", "label_names", "5ff9c542aee3614f3951f8cda6e48888")
    labels_key = "labels"
    install_hint = ("Download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and "
                    "unpack it in one of those folders when a network is available.\n")

    def __init__(self, root=None, train=True, transform=None, target_transform=None,
                 download=True):
        self.root, self.train = root, train
        batches = self.train_list if train else self.test_list
        meta_file, meta_key, meta_md5 = self.meta
        paths = locate(type(self).__name__, self.base_folder,
                       [name for name, _ in batches] + [meta_file], root, download,
                       self._fetch, (), self.install_hint)
        parts = [read_cifar_batch(path, self.labels_key, md5)
                 for path, (_, md5) in zip(paths, batches)]
        meta = _read_checked(paths[-1], meta_md5)
        if not isinstance(meta, dict) or meta_key not in meta:
            raise DatasetIntegrityError(f"{paths[-1]}: no {meta_key!r} in the meta file")
        self.classes = list(meta[meta_key])
        super().__init__(np.concatenate([p[0] for p in parts]),
                         np.concatenate([p[1] for p in parts]), transform, target_transform)

    def _fetch(self, target):
        archive = download_url([self.url], target / self.filename, self.tgz_md5)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                _safe_extract(tar, target)
        except tarfile.TarError as e:
            raise DatasetIntegrityError(f"{archive}: cannot unpack ({e})") from None


def _safe_extract(tar, target):
    """Extract only plain files and folders that stay inside ``target``."""
    if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
        tar.extractall(target, filter="data")
        return
    root = str(target.resolve())
    for member in tar.getmembers():
        path = (target / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not str(path).startswith(root):
            raise DatasetIntegrityError(f"{tar.name}: refusing to extract {member.name!r}")
    tar.extractall(target)


class CIFAR100(CIFAR10):
    """CIFAR-100: like :class:`CIFAR10` with 100 fine classes (``fine_labels``)."""

    base_folder = "cifar-100-python"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list = [("train", "16019d7e3df5f24257cddd939b257f8d")]
    test_list = [("test", "f0ef6b0ae62326f3e7ffdfab6717acfc")]
    meta = ("meta", "fine_label_names", "7973b15100ade9c7d40fb424638fde48")
    labels_key = "fine_labels"
    install_hint = ("Download https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and "
                    "unpack it in one of those folders when a network is available.\n")
