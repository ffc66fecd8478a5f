"""Bounded reads: small hostile files (zip bombs, .npy headers and images that claim huge
sizes) are refused with a clear error before anything big is allocated."""
import io
import struct
import zipfile
import zlib

import numpy as np
import pytest

import ember
from ember.io import LoadLimitError, limits
from ember.train import pipeline

TiB = 2 ** 40


def npy_claiming(shape, dtype="<f4", data=b""):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def test_the_limit_defaults_to_4_gib_and_the_environment_sets_it(monkeypatch):
    monkeypatch.delenv("EMBER_MAX_LOAD_BYTES", raising=False)
    assert limits.default_limit() == 4 * 2 ** 30
    monkeypatch.setenv("EMBER_MAX_LOAD_BYTES", "16e9")
    assert limits.default_limit() == 16 * 10 ** 9
    monkeypatch.setenv("EMBER_MAX_LOAD_BYTES", "lots")
    with pytest.raises(ValueError, match="EMBER_MAX_LOAD_BYTES must be a number"):
        limits.default_limit()
    monkeypatch.setattr(ember.io, "MAX_LOAD_BYTES", 123)
    assert limits.max_load_bytes() == 123


def test_npy_header_claiming_4_tib(tmp_path):
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_claiming((TiB,)))
    assert path.stat().st_size < 200
    with pytest.raises(LoadLimitError, match=r"huge.npy.*shape \(1099511627776,\).*needs "
                       r"4096 GiB.*exceeds the load limit of 4 GiB.*MAX_LOAD_BYTES"):
        ember.load(path)
    with pytest.raises(LoadLimitError, match="huge.npy"):
        pipeline.read_image(str(path))


def test_npy_header_claiming_more_than_the_file_holds(tmp_path):
    path = tmp_path / "short.npy"
    path.write_bytes(npy_claiming((1000,), data=b"\0" * 40))
    with pytest.raises(LoadLimitError, match=r"4000 bytes.*holds only 40 bytes.*truncated"):
        ember.load(path)
    with pytest.raises(LoadLimitError, match="truncated"):
        pipeline.read_image(str(path))


def test_npz_member_header_claiming_4_tib(tmp_path):
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", npy_claiming((TiB, 1)))
    with pytest.raises(LoadLimitError, match=r"huge.npz.*w.npy.*shape"):
        ember.load(path)


def test_zip_bomb_is_refused_before_decompressing(tmp_path, monkeypatch):
    monkeypatch.setattr(ember.io, "MAX_LOAD_BYTES", 2 ** 20)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("w.npy", npy_claiming((4 * 2 ** 20,), "|u1", b"\0" * (4 * 2 ** 20)))
    assert path.stat().st_size < 10 ** 5
    with pytest.raises(LoadLimitError, match=r"bomb.npz.*'w.npy' \(declared uncompressed"):
        ember.load(path)
    # each member under the limit, together over it
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in "ab":
            zf.writestr(f"{name}.npy", npy_claiming((600_000,), "|u1", b"\0" * 600_000))
    with pytest.raises(LoadLimitError, match="members together"):
        ember.load(path)


def test_a_checkpoint_bigger_than_the_limit(tmp_path, monkeypatch):
    ember.save({"w": ember.zeros(1000)}, tmp_path / "c.ckpt")
    monkeypatch.setattr(ember.io, "MAX_LOAD_BYTES", 1000)
    with pytest.raises(LoadLimitError, match=r"c.ckpt.*the file.*load limit of 1000 bytes"):
        ember.load(tmp_path / "c.ckpt")
    with open(tmp_path / "c.ckpt", "rb") as fh, pytest.raises(LoadLimitError):
        ember.load(fh)
    monkeypatch.setattr(ember.io, "MAX_LOAD_BYTES", 10 ** 6)  # raised: it loads
    assert ember.load(tmp_path / "c.ckpt")["w"].shape == (1000,)


def png_claiming(width, height):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_predict_refuses_huge_images_before_decoding(tmp_path, monkeypatch):
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_claiming(100_000, 100_000))
    with pytest.raises(LoadLimitError, match="huge.png.*too large"):
        pipeline.read_image(str(huge))
    big = tmp_path / "big.png"
    big.write_bytes(png_claiming(1000, 1000))
    monkeypatch.setattr(ember.io, "MAX_LOAD_BYTES", 2 ** 20)
    with pytest.raises(LoadLimitError, match=r"big.png' \(1000 x 1000 image, 1 bands"):
        pipeline.read_image(str(big))


def test_ordinary_files_still_load(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(ember.load(tmp_path / "x.npy").numpy(),
                                  np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(pipeline.read_image(str(tmp_path / "x.npy")),
                                  np.arange(6.0).reshape(2, 3))


def test_a_header_listing_one_member_many_times_is_refused(tmp_path):
    """Each member is read once: repeating a name in ember.json cannot multiply the memory
    a small file takes (the checksum is recomputed, so only this check can notice)."""
    import json

    from ember.io import CheckpointError
    from ember.io import checkpoint as ckpt_module
    path = tmp_path / "c.ckpt"
    ember.save({"w": ember.zeros(100)}, path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    header = json.loads(members.pop("ember.json"))
    header["members"] += ["tensors/0.npy"] * 1000
    header["sha256"] = ckpt_module._digest([(n, members[n]) for n in header["members"]])
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ember.json", json.dumps(header))
        for name, payload in members.items():
            zf.writestr(name, payload)
    with pytest.raises(CheckpointError, match="c.ckpt.*header.*damaged"):
        ember.load(path)


def test_load_refuses_a_fifo_or_directory_instead_of_blocking(tmp_path):
    import os
    fifo = tmp_path / "pipe.ckpt"
    os.mkfifo(fifo)
    with pytest.raises(ember.io.CheckpointError, match=r"pipe.ckpt.*not a regular file"):
        ember.load(fifo)
    with pytest.raises(ember.io.CheckpointError, match="is a directory"):
        ember.load(tmp_path)
