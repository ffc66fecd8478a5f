"""ember.io.load_numpy_pickle: pickles of NumPy arrays (the book Deep Learning from
Scratch's weights) read without running pickle code, in every protocol and NumPy's own
layouts; object arrays, foreign globals and damaged files refused with the file's name."""
import io
import os
import pickle

import numpy as np
import pytest

from ember.data.datasets._download import shared_data_dirs
from ember.io import CheckpointError, LoadLimitError, UnsafeFileError, load_numpy_pickle

BOOK_FILES = {"sample_weight.pkl": 6, "params.pkl": 6, "deep_convnet_params.pkl": 16}


def book_folder():
    dirs = shared_data_dirs("dlfs1")
    if not dirs:
        if os.environ.get("CI"):
            raise FileNotFoundError("shared/data/dlfs1 (the book's weights) is missing")
        pytest.skip("shared/data/dlfs1 (the book's weights) is not here")
    return dirs[0]


@pytest.mark.parametrize("name", sorted(BOOK_FILES))
def test_the_books_files_read_as_pickle_reads_them(name):
    path = book_folder() / name
    ours = load_numpy_pickle(path)
    with open(path, "rb") as fh:  # trusted here: the reference
        theirs = pickle.load(fh)
    assert list(ours) == list(theirs) and len(ours) == BOOK_FILES[name]
    for k in theirs:
        assert ours[k].dtype == theirs[k].dtype and ours[k].flags.writeable
        np.testing.assert_array_equal(ours[k], theirs[k])


def sample():
    return {"c": np.arange(12.0).reshape(3, 4), "f": np.asfortranarray(np.ones((2, 3))),
            "t": np.arange(6, dtype=np.int16).reshape(2, 3).T, "be": np.arange(3, dtype=">i4"),
            "empty": np.zeros((2, 0), np.float32), "z": np.array(1 + 2j), "b": np.array([True]),
            "scalar": np.float32(0.5), "int": np.int64(3), "list": [np.ones(2), "text", 1.5],
            "u8": np.arange(5, dtype=np.uint8)}


@pytest.mark.parametrize("proto", [2, 3, 4, 5])
def test_numpy_pickles_of_every_protocol(proto):
    obj = sample()
    out = load_numpy_pickle(io.BytesIO(pickle.dumps(obj, protocol=proto)))
    assert list(out) == list(obj)
    for k, v in obj.items():
        if k == "list":
            np.testing.assert_array_equal(out[k][0], v[0])
            assert out[k][1:] == v[1:]
            continue
        np.testing.assert_array_equal(out[k], v)
        assert np.asarray(out[k]).dtype == np.asarray(v).dtype.newbyteorder("="), k
    assert out["f"].flags.f_contiguous and out["be"].dtype.isnative


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_a_code_running_global_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"W1": np.ones(2), "x": _Evil(marker)}))
    with pytest.raises(UnsafeFileError, match=r"'.*evil\.pkl': the pickle asks to run "
                                              r"posix\.system; "):
        load_numpy_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize("obj, message", [
    (np.array([{"a": 1}], dtype=object), "dtype\\('O'\\) is not a numeric dtype"),
    (np.array(["a"]), "not a numeric dtype"),
    (np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]), "not a numeric dtype|plain numeric"),
    (np.datetime64("2020-01-01"), "not a numeric dtype"),
])
def test_non_numeric_arrays_are_refused(obj, message):
    with pytest.raises(CheckpointError, match=message):
        load_numpy_pickle(io.BytesIO(pickle.dumps(obj)))


def test_data_that_disagrees_with_the_shape_is_refused():
    raw = pickle.dumps(np.arange(4, dtype=np.float32), protocol=3)
    data = np.arange(4, dtype=np.float32).tobytes()
    bad = raw.replace(b"C\x10" + data, b"C\x0c" + data[:12])  # 12 bytes for 4 floats
    with pytest.raises(CheckpointError, match="needs 16 bytes, the file holds 12"):
        load_numpy_pickle(io.BytesIO(bad))


@pytest.mark.parametrize("cut", [1, 40, 400])
def test_truncated_files_name_the_file(tmp_path, cut):
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps({"W1": np.ones((10, 10))})[:-cut])
    with pytest.raises(CheckpointError, match=r"'.*t\.pkl': .*(truncated|ends early)"):
        load_numpy_pickle(path)


@pytest.mark.parametrize("payload, message", [
    (b"", "empty"), (b"PK\x03\x04 zip", "not a pickle"),
    (bytes(np.random.default_rng(0).integers(0, 256, 999, dtype=np.uint8)), "")])
def test_empty_and_random_files_name_the_file(tmp_path, payload, message):
    path = tmp_path / "r.pkl"
    path.write_bytes(payload)
    with pytest.raises(CheckpointError, match=rf"'.*r\.pkl': .*{message}"):
        load_numpy_pickle(path)


def test_the_load_limit(tmp_path, monkeypatch):
    import ember
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps({"W": np.ones(1000)}))
    monkeypatch.setattr(ember.io, "MAX_LOAD_BYTES", 4000)
    with pytest.raises(LoadLimitError, match=r"'.*w\.pkl': the file needs"):
        load_numpy_pickle(path)
    monkeypatch.setattr(ember.io, "MAX_LOAD_BYTES", 10**6)
    assert load_numpy_pickle(path)["W"].shape == (1000,)
