"""Finding data set files, downloading them with checksums, and the errors users read.

Where ember looks, in order: the ``root`` argument, ``$EMBER_DATA``, ``~/.cache/ember`` (each
as ``<dir>``, ``<dir>/<Folder>`` and ``<dir>/<Folder>/raw``, so a torchvision ``root`` works),
then system copies such as Debian's ``/usr/share/datasets``, then (for the data sets that use
:func:`shared_data_dirs`) a shared, read-only data folder: ``$EMBER_SHARED_DATA`` when set, and
``shared/data`` beside a source checkout of ember when that folder exists. Downloads go to the
first of ``root``, ``$EMBER_DATA``, ``~/.cache/ember`` and are verified before they are kept.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zlib
from pathlib import Path

__all__ = ["DatasetNotFoundError", "DatasetIntegrityError", "data_roots", "file_digest",
           "locate", "download_url", "read_maybe_gzip", "shared_data_dirs"]

DOWNLOAD_TIMEOUT_S = 30


class DatasetNotFoundError(FileNotFoundError):
    """A data set is neither on disk nor downloadable; the message says where ember looked."""


class DatasetIntegrityError(ValueError):
    """A data set file is truncated, malformed or fails its checksum; the message names it."""


def data_roots(root=None) -> list[Path]:
    """The data folders, in look-up order: ``root``, ``$EMBER_DATA``, ``~/.cache/ember``."""
    roots = [Path(root).expanduser()] if root is not None else []
    if os.environ.get("EMBER_DATA"):
        roots.append(Path(os.environ["EMBER_DATA"]).expanduser())
    roots.append(Path.home() / ".cache" / "ember")
    return roots


def shared_data_dirs(folder) -> list[Path]:
    """``<shared>/<folder>`` for each shared data folder that exists: ``$EMBER_SHARED_DATA``,
    then ``shared/data`` beside the repository root when ember runs from a source checkout
    (a folder holding ``pyproject.toml`` and ``ember/``). An installed ember needs neither."""
    bases = []
    if os.environ.get("EMBER_SHARED_DATA"):
        bases.append(Path(os.environ["EMBER_SHARED_DATA"]).expanduser())
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").is_file():
        bases.append(checkout.parent / "shared" / "data")
    return [b / folder for b in dict.fromkeys(bases) if (b / folder).is_dir()]


def file_digest(path, algorithm="md5", data=None) -> str:
    """Hex digest of a file (or of ``data`` bytes when given)."""
    h = hashlib.new(algorithm)
    if data is not None:
        h.update(data)
        return h.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_maybe_gzip(path) -> bytes:
    """A file's bytes, gunzipped when it is gzip data (whatever its name says). Neither the
    file nor its decompressed content may exceed ``ember.io.MAX_LOAD_BYTES`` (a small gzip
    can inflate a thousandfold): the limit is checked before reading and while inflating."""
    from ember.io import limits
    path = Path(path)
    try:
        limits.check_file(path)
    except limits.LoadLimitError as e:
        raise DatasetIntegrityError(f"{path}: {e}") from None
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return _gunzip_bounded(data, limits.max_load_bytes())
    except limits.LoadLimitError as e:
        raise DatasetIntegrityError(f"{path}: {e}") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetIntegrityError(f"{path}: corrupt gzip data ({e}); delete the file and "
                                    "download or install it again") from None


def _gunzip_bounded(data, limit) -> bytes:
    """``gzip.decompress`` (all members) that stops past ``limit`` output bytes."""
    from ember.io import limits
    out, total = [], 0
    while data:
        d = zlib.decompressobj(wbits=31)
        chunk = d.decompress(data, limit - total + 1)
        while True:
            total += len(chunk)
            if total > limit:
                limits.check_size(total, "the decompressed gzip data", at_least=True)
            out.append(chunk)
            if d.eof or not d.unconsumed_tail:
                break
            chunk = d.decompress(d.unconsumed_tail, limit - total + 1)
        if not d.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        data = d.unused_data.lstrip(b"\0")
    return b"".join(out)


def _find_file(directory: Path, name: str):
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _search(directories, names):
    for directory in directories:
        paths = [_find_file(directory, name) for name in names]
        if all(paths):
            return paths
    return None


def _candidates(root, folder, system_dirs):
    dirs = []
    for base in data_roots(root):
        dirs += [base, base / folder, base / folder / "raw"]
    return dirs + [Path(d) for d in system_dirs]


def locate(title, folder, names, root=None, download=True, fetch=None, system_dirs=(),
           hint=""):
    """The paths of ``names`` (each may also be gzipped as ``name.gz``) in the first folder
    holding all of them; else, when ``download``, ``fetch(target_dir)`` puts them in
    ``target_dir``; else :class:`DatasetNotFoundError` saying where ember looked."""
    searched = _candidates(root, folder, system_dirs)
    found = _search(searched, names)
    if found:
        return found
    problem = "downloading is off (download=False)"
    if download and fetch is not None:
        target = data_roots(root)[0]
        try:
            fetch(target)
            found = _search([target, target / folder], names)
            if found:
                return found
            problem = f"the download into {target} did not produce them"
        except (OSError, DatasetIntegrityError) as e:
            problem = f"the download into {target} failed: {e}"
    looked = "\n".join(f"  {d}" for d in dict.fromkeys(searched))
    raise DatasetNotFoundError(
        f"{title} not found: ember looked for {', '.join(names)} (or .gz) in\n{looked}\n"
        f"and {problem}.\n{hint}"
        "Or put the files in one of those folders, or point EMBER_DATA or root= at them.")


def download_url(urls, destination, md5=None, sha256=None) -> Path:
    """Download the first working URL of ``urls`` to ``destination`` and check its MD5 (or its
    SHA-256 when ``sha256`` is given); a partial or corrupt download never takes the final
    name."""
    algorithm, expected = ("sha256", sha256) if sha256 is not None else ("md5", md5)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    errors = []
    for url in urls:
        try:
            h = hashlib.new(algorithm)
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                    open(part, "wb") as f:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    h.update(chunk)
                    f.write(chunk)
            if h.hexdigest() != expected:
                raise DatasetIntegrityError(f"{url}: {algorithm.upper()} {h.hexdigest()} is not "
                                            f"the official {expected}")
            os.replace(part, destination)
            return destination
        except (OSError, urllib.error.URLError, DatasetIntegrityError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
        finally:
            part.unlink(missing_ok=True)
    raise OSError("; ".join(errors))
