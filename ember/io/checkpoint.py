"""Checkpoints without pickle: ``ember.save`` / ``ember.load`` and full training states.

File format (a ZIP archive, so ``numpy.load(path)`` and any unzip tool can inspect it):

- ``ember.json``: ``{"format": "ember-checkpoint", "version": 1, "sha256": ..., "members":
  [...]}``, the SHA-256 of every other member (name, length and bytes, in order);
- ``data.json``: the saved object as JSON, tensors and arrays replaced by references;
- ``tensors/<i>.npy``: one array each, in NumPy's ``.npy`` format, read back with
  ``allow_pickle=False``.

Nothing in a checkpoint can run code on load: there is no pickle, only JSON and raw arrays.
Saving is atomic (a temporary file in the same directory, flushed and fsync'ed, then
``os.replace``), so a crash mid-write leaves the previous file intact. Loading verifies the
checksum before building anything, and every failure names the file and what to do.

Storable values: Tensors (and Parameters), NumPy/CuPy arrays and scalars, ``None``, bools,
ints, floats (incl. inf/nan), strings, and lists, tuples, dicts (any such keys) and
``collections.Counter`` of those. That covers ``state_dict()`` of modules, optimizers and
schedulers, RNG states and user metadata.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import zipfile
from collections import Counter

import numpy as np

from ember import backend
from ember.io import limits, safetensors_files, torch_files
from ember.io.limits import CheckpointError
from ember.tensor import Tensor

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "CheckpointError"]

FORMAT = "ember-checkpoint"
VERSION = 1
HEADER, DATA = "ember.json", "data.json"
_PICKLE_HINT = ("ember never unpickles files (unpickling can run arbitrary code). "
                "ember.load reads PyTorch's files (torch.save, PyTorch >= 1.6) with a "
                "restricted reader, and ember.io.load_numpy_pickle reads a pickle of NumPy "
                "arrays (such as the weights of the book Deep Learning from Scratch)")


# --- encoding: Python objects <-> JSON + arrays ----------------------------------------------

class _Encoder:
    """Turns an object tree into JSON-able data, collecting arrays on the way."""

    def __init__(self):
        self.arrays = []

    def encode(self, obj, where="obj"):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"__float__": repr(obj)}
        if isinstance(obj, Tensor):
            ref = {"__tensor__": self._add(obj.array), "requires_grad": obj.requires_grad}
            if type(obj).__name__ == "Parameter":
                ref["parameter"] = True
            if obj.device.type != "cpu":
                ref["device"] = str(obj.device)
            return ref
        if isinstance(obj, np.generic):
            return {"__scalar__": self._add(np.asarray(obj))}
        if hasattr(obj, "__array_interface__") or hasattr(obj, "__cuda_array_interface__"):
            return {"__ndarray__": self._add(obj)}
        if isinstance(obj, (list, tuple)):
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
            return items if type(obj) is list else {"__tuple__": items}
        if isinstance(obj, dict):
            return self._encode_dict(obj, where)
        hint = (f"; save its state_dict() instead: ember.save({where}.state_dict(), path)"
                if hasattr(obj, "state_dict") else "")
        raise TypeError(f"ember.save cannot store {where} of type {type(obj).__name__}: "
                        "checkpoints hold tensors, arrays, numbers, strings, None, and lists, "
                        f"tuples and dicts of them (never pickled objects){hint}")

    def _encode_dict(self, obj, where):
        plain = type(obj) is not Counter and all(
            isinstance(k, str) and not k.startswith("__") for k in obj)
        if plain:
            return {k: self.encode(v, f"{where}[{k!r}]") for k, v in obj.items()}
        items = [[self.encode(k, f"{where} key"), self.encode(v, f"{where}[{k!r}]")]
                 for k, v in obj.items()]
        return {"__counter__" if isinstance(obj, Counter) else "__dict__": items}

    def _add(self, array):
        self.arrays.append(backend.to_numpy(array))
        return len(self.arrays) - 1


def _decode(obj, arrays, device):
    if isinstance(obj, list):
        return [_decode(v, arrays, device) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return _make_tensor(arrays[obj["__tensor__"]], obj, device)
    if "__ndarray__" in obj:
        return arrays[obj["__ndarray__"]]
    if "__scalar__" in obj:
        return arrays[obj["__scalar__"]][()]
    if "__float__" in obj:
        return float(obj["__float__"])
    if "__tuple__" in obj:
        return tuple(_decode(v, arrays, device) for v in obj["__tuple__"])
    if "__dict__" in obj or "__counter__" in obj:
        items = obj.get("__dict__", obj.get("__counter__"))
        pairs = [(_hashable(_decode(k, arrays, device)), _decode(v, arrays, device))
                 for k, v in items]
        return Counter(dict(pairs)) if "__counter__" in obj else dict(pairs)
    return {k: _decode(v, arrays, device) for k, v in obj.items()}


def _hashable(key):
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


def _place(array, map_location, saved="cpu"):
    """``array`` where ``map_location`` puts a tensor saved on ``saved``: None (back where
    it was saved), a device (``"cpu"``, ``"cuda:0"``, ``ember.device(...)``), a dict
    ``{saved: target}`` or ``fn(tensor_on_cpu, saved) -> tensor | None`` (None: default)."""
    target = map_location
    if isinstance(map_location, dict):
        target = map_location.get(str(saved))
    elif callable(map_location) and not isinstance(map_location, backend.Device):
        out = map_location(Tensor._make(array), str(saved))
        if out is not None:
            return out.array if isinstance(out, Tensor) else out
        target = None
    target = saved if target is None else target
    if backend.Device(target).type != "cpu" and not backend.cuda_available():
        raise CheckpointError(f"a tensor in this checkpoint was saved on {saved} and goes to "
                              f"{target}, which is not available here; pass "
                              "map_location='cpu' to ember.load")
    return backend.to_device(array, target)


def _make_tensor(array, ref, device):
    array = _place(array, device, ref.get("device", "cpu"))
    if ref.get("parameter"):
        from ember.nn.parameter import Parameter
        return Parameter(array, requires_grad=ref.get("requires_grad", True))
    return Tensor._make(array, requires_grad=bool(ref.get("requires_grad", False)))


# --- file layout ------------------------------------------------------------------------------

def _npy_bytes(array):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array, order="C"), allow_pickle=False)
    return buf.getvalue()


def _digest(members):
    """SHA-256 over (name, length, bytes) of each member, in order."""
    h = hashlib.sha256()
    for name, payload in members:
        h.update(name.encode() + b"\0" + len(payload).to_bytes(8, "little"))
        h.update(payload)
    return h.hexdigest()


def _archive_bytes(obj):
    enc = _Encoder()
    tree = enc.encode(obj)
    members = [(DATA, json.dumps(tree, allow_nan=False, separators=(",", ":")).encode())]
    members += [(f"tensors/{i}.npy", _npy_bytes(a)) for i, a in enumerate(enc.arrays)]
    header = {"format": FORMAT, "version": VERSION, "sha256": _digest(members),
              "members": [name for name, _ in members]}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(HEADER, json.dumps(header, indent=1))
        for name, payload in members:
            zf.writestr(name, payload)
    return buf.getvalue()


def save(obj, f) -> None:
    """Write ``obj`` (a state_dict or any nest of tensors, arrays, numbers, strings, lists,
    tuples and dicts) to ``f``, a path or a binary file object.

    A path ending in ``.safetensors`` gets a safetensors file instead (``obj`` must be a
    flat ``{str: Tensor}`` dict; see :mod:`ember.io.safetensors_files`).

    Paths are written atomically: a crash or kill mid-write leaves the old file (if any)
    intact; the temporary ``.<name>.*.tmp`` it leaves is removed by the next save or resume.

    Example::

        >>> ember.save({"model": model.state_dict(), "epoch": 3}, "run.ckpt")
        >>> ember.load("run.ckpt")["epoch"]
        3
    """
    if safetensors_files.is_safetensors_path(f):
        payload = safetensors_files.to_bytes(obj)
    else:
        payload = _archive_bytes(obj)
    if hasattr(f, "write"):
        f.write(payload)
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"ember.save: cannot write '{path}': the directory "
                                f"'{directory}' does not exist")
    remove_stale_temporaries(path)
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            if hasattr(os, "fchmod"):  # else mkstemp's 0600 would replace the file's mode
                os.fchmod(out.fileno(), mode)
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


STALE_TEMP_SECONDS = 60


def remove_stale_temporaries(path) -> list:
    """Delete ``.<name>.XXXXXXXX.tmp`` files that a killed :func:`save` of ``path`` left
    beside it (those untouched for ``STALE_TEMP_SECONDS``, so a save in progress in another
    process keeps its file); return the removed paths. Called by every save and resume."""
    import re
    import time
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(r"\." + re.escape(os.path.basename(path)) + r"\.[A-Za-z0-9_]{8}\.tmp")
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        full = os.path.join(directory, name)
        try:
            if pattern.fullmatch(name) and now - os.stat(full).st_mtime > STALE_TEMP_SECONDS:
                os.unlink(full)
                removed.append(full)
        except OSError:
            pass
    return removed


def _fsync_dir(directory):
    """Make the rename itself durable (POSIX; a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(f, map_location=None, *, weights_only=None, mmap=None):
    """Read what :func:`save` wrote, after checking the file's SHA-256 checksum.

    Args:
        f: a path or a binary file object.
        map_location: as PyTorch's: ``None`` (tensors go back to the device they were saved
            from), a device (``"cpu"``, ``"cuda:0"``, ``ember.device("cpu")``) for all of
            them, a dict ``{"cuda:0": "cpu"}`` from saved device to target, or a callable
            ``fn(tensor, location)`` given each tensor on the CPU and its saved device, which
            returns the tensor to use or None (then it goes back where it was saved).
        weights_only: accepted for PyTorch's calls; ember's files are always loaded as
            "weights only": they hold data (JSON and ``.npy`` arrays), never code, and no
            pickle is ever read, whatever the value.
        mmap: accepted for PyTorch's calls; the file is read into memory either way.

    Also reads plain ``.npz`` archives of arrays (``numpy.savez``; returned as a dict of
    tensors) and ``.npy`` arrays (returned as a tensor), never with pickle; those formats
    carry no checksum. Raises :class:`CheckpointError` naming the file and the fix for empty,
    truncated, altered, pickled or unknown files.

    Other frameworks' files, known by their content:

    - ``torch.save``'s files (the ZIP format of PyTorch >= 1.6, and the legacy stream
      format): the saved object (a state_dict, or dicts and lists of tensors and plain
      values) with ember Tensors, read without torch and without running the pickle inside
      (:mod:`ember.io.torch_files`); a file that asks to run anything else raises
      :class:`ember.io.UnsafeFileError` naming the global.
    - ``.safetensors``: ``{name: Tensor}`` (needs the ``safetensors`` package).

    ``ember.save(flat_dict, "x.safetensors")`` writes a safetensors file instead of an ember
    checkpoint.
    """
    name = getattr(f, "name", None) if hasattr(f, "read") else os.fspath(f)
    where = f"'{name}'" if name else "the checkpoint"
    try:
        raw = f.read(limits.max_load_bytes() + 1) if hasattr(f, "read") else _read(name)
        limits.check_size(len(raw), "the file")
        return _parse(raw, map_location)
    except (CheckpointError, limits.LoadLimitError) as e:
        raise type(e)(f"{where}: {e}") from None


def _read(path):
    limits.check_file(path)
    with open(path, "rb") as fh:
        return fh.read()


def _parse(raw, map_location):
    if len(raw) == 0:
        raise CheckpointError("the file is empty (0 bytes): the save was interrupted or the "
                              "file was truncated. Use an earlier checkpoint or save again")
    if torch_files.is_legacy(raw):
        return torch_files.read_legacy(raw, lambda a, saved: _place(a, map_location, saved))
    if raw[:1] == b"\x80" and raw[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise CheckpointError(f"this is a Python pickle file, which ember.load does not read. "
                              f"{_PICKLE_HINT}")
    if safetensors_files.is_safetensors(raw):
        return safetensors_files.read(raw, lambda a, saved: _place(a, map_location, saved))
    if raw.startswith(b"\x93NUMPY"):
        return Tensor._make(_place(_read_npy(raw, "the .npy file"), map_location))
    if not raw.startswith(b"PK"):
        raise CheckpointError(f"not an ember checkpoint: unrecognised content (starts with "
                              f"{raw[:8]!r}). Pass a file written by ember.save")
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        names = zf.namelist()
    except Exception as e:  # BadZipFile, but damaged fields can raise almost anything
        raise CheckpointError(f"the file is corrupt or truncated ({e}): it was not written "
                              "completely or has been damaged. Use an earlier checkpoint or "
                              "save again") from None
    limits.check_zip(zf)  # before any member is decompressed
    with zf:
        if any(n.endswith("data.pkl") for n in names):
            return torch_files.read(zf, names, lambda a, saved: _place(a, map_location, saved))
        if HEADER not in names:
            return _load_plain_npz(zf, names, map_location)
        return _load_checkpoint_members(zf, map_location)


def _member(zf, name):
    try:
        return zf.read(name)
    except KeyError:
        raise CheckpointError(f"member {name!r} is missing: the file is incomplete or was "
                              "altered. Use an earlier checkpoint or save again") from None
    except Exception as e:  # a bad CRC-32, or any damaged zip field
        raise CheckpointError(f"the file is corrupt ({e}): its bytes were altered or cut "
                              "short. Use an earlier checkpoint or save again") from None


def _load_checkpoint_members(zf, map_location):
    header_bytes = _member(zf, HEADER)
    try:
        header = json.loads(header_bytes)
        version, expected, member_names = header["version"], header["sha256"], header["members"]
        ok = header["format"] == FORMAT and isinstance(member_names, list) and len(
            set(member_names)) == len(member_names)  # each member read once: bounded
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise CheckpointError("the checkpoint header (ember.json) is damaged. Use an earlier "
                              "checkpoint or save again")
    if version > VERSION:
        raise CheckpointError(f"written by a newer ember (format version {version}, this one "
                              f"reads up to {VERSION}); upgrade ember to read it")
    members = [(n, _member(zf, n)) for n in member_names]
    if _digest(members) != expected:
        raise CheckpointError("the contents do not match the SHA-256 checksum stored in the "
                              "file: it is corrupt (altered or partly written). Use an earlier "
                              "checkpoint or save again")
    payloads = dict(members)
    arrays = [_read_npy(payloads[n], n) for n in member_names if n.startswith("tensors/")]
    try:
        tree = json.loads(payloads[DATA])
    except (KeyError, ValueError):
        raise CheckpointError("data.json is missing or unreadable") from None
    return _decode(tree, arrays, map_location)


def _read_npy(payload, what):
    try:
        return limits.read_npy_bytes(payload, what)
    except limits.LoadLimitError:
        raise
    except ValueError as e:
        if "allow_pickle" in str(e) or "Object arrays" in str(e):
            raise CheckpointError(f"{what} holds pickled Python objects (an object array). "
                                  f"{_PICKLE_HINT}") from None
        raise CheckpointError(f"{what} is not a readable .npy array ({e})") from None


def _load_plain_npz(zf, names, map_location):
    """A ``numpy.savez`` archive: ``{name: Tensor}`` (no checksum in this format)."""
    if not names or not all(n.endswith(".npy") for n in names):
        raise CheckpointError(f"a ZIP archive that is neither an ember checkpoint nor a NumPy "
                              f".npz (members: {names[:5]}). Pass a file written by ember.save")
    return {n[:-4]: Tensor._make(_place(_read_npy(_member(zf, n), n), map_location))
            for n in names}


# --- training checkpoints -------------------------------------------------------------------

def save_checkpoint(path, model=None, optimizer=None, scheduler=None, epoch=None, step=None,
                    extra=None) -> None:
    """Save everything needed to resume training exactly: the model's, optimizer's and
    scheduler's state_dicts, the epoch/step counters, ember's RNG state, and ``extra`` (any
    storable metadata: config, metrics, ...). Atomic, like :func:`save`.

    Example::

        >>> save_checkpoint("run.ckpt", model=model, optimizer=opt, scheduler=sched,
        ...                 epoch=epoch, extra={"best_acc": 0.91})
    """
    from ember import get_rng_state
    ckpt = {"format": "ember-training-checkpoint", "epoch": epoch, "step": step,
            "rng_state": get_rng_state(), "extra": extra}
    for key, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None:
            ckpt[key] = obj.state_dict()
    save(ckpt, path)


def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location=None,
                    restore_rng=True) -> dict:
    """Restore what :func:`save_checkpoint` saved into ``model`` (and ``optimizer``,
    ``scheduler``), and ember's RNG state; return the checkpoint dict (``epoch``, ``step``,
    ``extra``, ...).

    The file is fully read and verified and the optimizer's groups are checked before
    anything changes; a model of another architecture raises naming the mismatched keys.
    Build the scheduler before calling this (its constructor writes the optimizer's lr).
    """
    from ember import set_rng_state
    from ember.io import validate
    ckpt = load(path, map_location=map_location)
    if isinstance(ckpt, dict) and "global_step" in ckpt and "model" in ckpt:  # Trainer's
        ckpt = dict(ckpt, format="ember-training-checkpoint", step=ckpt["global_step"],
                    extra={"config": ckpt.get("config")})
    if not isinstance(ckpt, dict) or ckpt.get("format") != "ember-training-checkpoint":
        raise CheckpointError(f"'{os.fspath(path)}' holds data saved with ember.save, not a "
                              "training checkpoint from save_checkpoint; use ember.load")
    for key, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None and ckpt.get(key) is None:
            raise CheckpointError(f"'{os.fspath(path)}' has no {key} state (it was saved "
                                  f"without {key}=); pass {key}=None")
    validate.check_parts(os.fspath(path), model, ckpt["model"], optimizer,
                         ckpt.get("optimizer"), scheduler, ckpt.get("scheduler"),
                         ckpt.get("rng_state") if restore_rng else None)
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    if restore_rng:
        set_rng_state(ckpt["rng_state"])
    return ckpt
