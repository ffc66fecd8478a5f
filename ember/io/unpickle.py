"""A restricted pickle reader: data in, never code.

Python's ``pickle`` runs whatever a file names (``os.system``, ``builtins.eval``, any
importable callable): loading an untrusted pickle runs the author's code. This module is a
small opcode interpreter of its own (not ``pickle.Unpickler``) that understands the opcodes
data needs (numbers, strings, bytes, None/bools, lists, tuples, dicts, sets, the memo,
persistent ids) and resolves a global only through an allow-list the caller passes: a
``{(module, name): callable}`` dict of *safe stand-ins* (ember's own functions that build
arrays or dicts), never the named object itself. Any other global raises
:class:`UnsafeFileError` at the moment the file names it, before anything is called.

It also bounds what a hostile file can make it do: the memo is a dict (an index of 2**32
costs nothing), lengths are checked against the bytes really there, and it never recurses,
so deep nesting cannot overflow the stack. ``ember.io.torch_files`` (``torch.save``'s
``data.pkl``) and ``ember.io.numpy_pickle`` (pickled dicts of NumPy arrays) build on it.
"""
from __future__ import annotations

import struct
from collections import OrderedDict

from ember.io.limits import CheckpointError, LoadLimitError

__all__ = ["Pending", "UnsafeFileError", "unpickle"]


class UnsafeFileError(CheckpointError):
    """A file whose pickle asks to run code (a global outside the reader's allow-list)."""


class Pending:
    """A value a file builds in two steps (``REDUCE`` then ``BUILD``, as NumPy pickles arrays
    and dtypes): the stand-in returns a ``Pending`` whose ``build(state)`` gives the real
    object, which then replaces it on the stack and in the memo."""

    def build(self, state):  # pragma: no cover - overridden
        raise NotImplementedError


class _Reader:
    def __init__(self, data, allowed, persistent_load, what, hint, start=0):
        self.data, self.pos = data, start
        self.allowed, self.persistent_load = allowed, persistent_load
        self.what, self.hint = what, hint
        self.stack, self.marks, self.memo = [], [], {}
        self.pending_keys = {}  # id(Pending) -> memo keys holding it
        self.callables = {id(f) for f in allowed.values()}

    # --- reading bytes ---------------------------------------------------------------------

    def fail(self, msg):
        raise CheckpointError(f"{self.what} is not a readable pickle: {msg}")

    def read(self, n):
        if n < 0 or self.pos + n > len(self.data):
            self.fail(f"it ends early (needs {n} bytes at offset {self.pos}, "
                      f"{len(self.data) - self.pos} left): the file is truncated or damaged")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def line(self):
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            self.fail("a text opcode has no end of line: the file is truncated or damaged")
        out = self.data[self.pos:end]
        self.pos = end + 1
        return out

    # --- the stack -------------------------------------------------------------------------

    def pop(self):
        if not self.stack or (self.marks and len(self.stack) <= self.marks[-1]):
            self.fail(f"stack underflow at offset {self.pos}")
        return self.stack.pop()

    def pop_mark(self):
        if not self.marks:
            self.fail(f"no MARK before offset {self.pos}")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def top(self):
        if not self.stack:
            self.fail(f"empty stack at offset {self.pos}")
        return self.stack[-1]

    def put(self, key):
        value = self.top()
        self.memo[key] = value
        if isinstance(value, Pending):
            self.pending_keys.setdefault(id(value), []).append(key)

    def get(self, key):
        if key not in self.memo:
            self.fail(f"memo key {key} is used before it is set")
        return self.memo[key]

    # --- globals and calls -----------------------------------------------------------------

    def find(self, module, name):
        if not isinstance(module, str) or not isinstance(name, str):
            self.fail("a global's module and name must be strings")
        try:
            return self.allowed[(module, name)]
        except KeyError:
            shown = "builtins" if module == "__builtin__" else module  # protocol 2's name
            raise UnsafeFileError(
                f"{self.what} asks to run {shown}.{name}; ember reads only data from "
                f"pickles and refuses anything else, without running it. {self.hint}"
            ) from None

    def call(self, func, args):
        if id(func) not in self.callables or not isinstance(args, tuple):
            self.fail(f"REDUCE of a {type(func).__name__} (only the allowed constructors "
                      "can be called)")
        try:
            return func(*args)
        except (CheckpointError, LoadLimitError, MemoryError):
            raise
        except Exception as e:  # noqa: BLE001 - a stand-in refusing its arguments
            self.fail(f"{getattr(func, '__name__', 'a constructor')}: {e}")

    def build(self, state):
        obj = self.pop()
        if isinstance(obj, Pending):
            try:
                new = obj.build(state)
            except (CheckpointError, LoadLimitError, MemoryError):
                raise
            except Exception as e:  # noqa: BLE001 - a stand-in refusing its state
                self.fail(f"cannot build {type(obj).__name__}: {e}")
            for key in self.pending_keys.pop(id(obj), ()):
                self.memo[key] = new
            obj = new
        elif isinstance(obj, dict) and isinstance(state, dict) and all(
                isinstance(k, str) for k in state) and type(obj) is OrderedDict:
            obj.__dict__.update(state)  # a state_dict's _metadata: data only
        else:
            self.fail(f"BUILD of a {type(obj).__name__} is not allowed")
        self.stack.append(obj)

    # --- the loop --------------------------------------------------------------------------

    def run(self):
        ops = _OPS
        while True:
            code = self.read(1)
            handler = ops.get(code)
            if handler is None:
                self.fail(f"opcode {code!r} at offset {self.pos - 1} is not supported "
                          "(ember reads only data pickles)")
            if handler is _stop:
                value = self.pop()
                if self.stack or self.marks:
                    self.fail("values are left on the stack at STOP")
                if any(isinstance(v, Pending) for v in self.memo.values()):
                    self.fail("an object was created but never built")
                return value
            handler(self)


def _stop(r):  # pragma: no cover - handled in the loop
    pass


def _setitems(r, d, items):
    if not isinstance(d, dict) or len(items) % 2:
        r.fail("SETITEMS on a non-dict or with an odd number of items")
    for k, v in zip(items[::2], items[1::2]):
        try:
            d[k] = v
        except TypeError:
            r.fail(f"a dict key of type {type(k).__name__} is not hashable")


def _append(r, items):
    target = r.top()
    if not isinstance(target, list):
        r.fail(f"APPEND to a {type(target).__name__}")
    target.extend(items)


def _add(r, items):
    target = r.top()
    if not isinstance(target, set):
        r.fail(f"ADDITEMS to a {type(target).__name__}")
    try:
        target.update(items)
    except TypeError:
        r.fail("a set item is not hashable")


def _frozenset(r):
    try:
        r.stack.append(frozenset(r.pop_mark()))
    except TypeError:
        r.fail("a frozenset item is not hashable")


def _tuple_n(n):
    def op(r):
        items = [r.pop() for _ in range(n)][::-1]
        r.stack.append(tuple(items))
    return op


def _text(raw, r):
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        r.fail("a string is not valid UTF-8")


def _int_line(r):
    raw = r.line()
    if raw == b"00":
        return False
    if raw == b"01":
        return True
    try:
        return int(raw.rstrip(b"L"))
    except ValueError:
        r.fail(f"bad integer {raw[:20]!r}")


def _float_line(r):
    raw = r.line()
    try:
        return float(raw)
    except ValueError:
        r.fail(f"bad float {raw[:20]!r}")


def _unicode_line(r):
    try:
        return r.line().decode("raw-unicode-escape")
    except UnicodeDecodeError:
        r.fail("a text string is not valid")


def _reduce(r):
    args = r.pop()
    func = r.pop()
    r.stack.append(r.call(func, args))


def _setitem(r):
    v = r.pop()
    k = r.pop()
    _setitems(r, r.top(), [k, v])


def _persid(r, pid):
    if r.persistent_load is None:
        r.fail("it refers to external data (a persistent id), which this reader does not take")
    r.stack.append(r.persistent_load(pid))


def _stack_global(r):
    name = r.pop()
    module = r.pop()
    r.stack.append(r.find(module, name))


def _global(r):
    module = _text(r.line(), r)
    name = _text(r.line(), r)
    r.stack.append(r.find(module, name))


def _memoize(r):
    r.put(len(r.memo))


def _pop_mark(r):
    r.pop_mark()


_OPS = {
    b".": _stop,
    b"\x80": lambda r: r.read(1),                        # PROTO
    b"\x95": lambda r: r.read(8),                        # FRAME (a size hint only)
    b"(": lambda r: r.marks.append(len(r.stack)),        # MARK
    b"0": lambda r: r.pop(),                             # POP
    b"1": _pop_mark,                                     # POP_MARK
    b"2": lambda r: r.stack.append(r.top()),             # DUP
    b"N": lambda r: r.stack.append(None),
    b"\x88": lambda r: r.stack.append(True),
    b"\x89": lambda r: r.stack.append(False),
    b"J": lambda r: r.stack.append(r.unpack("<i")),      # BININT
    b"K": lambda r: r.stack.append(r.read(1)[0]),        # BININT1
    b"M": lambda r: r.stack.append(r.unpack("<H")),      # BININT2
    b"\x8a": lambda r: r.stack.append(                   # LONG1
        int.from_bytes(r.read(r.read(1)[0]), "little", signed=True)),
    b"\x8b": lambda r: r.stack.append(                   # LONG4
        int.from_bytes(r.read(r.unpack("<i")), "little", signed=True)),
    b"I": lambda r: r.stack.append(_int_line(r)),        # INT (text)
    b"L": lambda r: r.stack.append(_int_line(r)),        # LONG (text)
    b"G": lambda r: r.stack.append(r.unpack(">d")),      # BINFLOAT
    b"F": lambda r: r.stack.append(_float_line(r)),      # FLOAT (text)
    b"V": lambda r: r.stack.append(_unicode_line(r)),    # UNICODE (text)
    b"X": lambda r: r.stack.append(_text(r.read(r.unpack("<I")), r)),      # BINUNICODE
    b"\x8c": lambda r: r.stack.append(_text(r.read(r.read(1)[0]), r)),     # SHORT_BINUNICODE
    b"\x8d": lambda r: r.stack.append(_text(r.read(r.unpack("<Q")), r)),   # BINUNICODE8
    b"B": lambda r: r.stack.append(bytes(r.read(r.unpack("<I")))),        # BINBYTES
    b"C": lambda r: r.stack.append(bytes(r.read(r.read(1)[0]))),          # SHORT_BINBYTES
    b"\x8e": lambda r: r.stack.append(bytes(r.read(r.unpack("<Q")))),     # BINBYTES8
    b"\x96": lambda r: r.stack.append(bytearray(r.read(r.unpack("<Q")))),  # BYTEARRAY8
    b"}": lambda r: r.stack.append({}),
    b"]": lambda r: r.stack.append([]),
    b")": lambda r: r.stack.append(()),
    b"\x8f": lambda r: r.stack.append(set()),            # EMPTY_SET
    b"d": lambda r: r.stack.append(_dict_from(r, r.pop_mark())),
    b"l": lambda r: r.stack.append(list(r.pop_mark())),
    b"t": lambda r: r.stack.append(tuple(r.pop_mark())),
    b"\x85": _tuple_n(1), b"\x86": _tuple_n(2), b"\x87": _tuple_n(3),
    b"a": lambda r: _append(r, [r.pop()]),               # APPEND
    b"e": lambda r: _append(r, r.pop_mark()),            # APPENDS
    b"s": _setitem,
    b"u": lambda r: _setitems(r, _under_mark(r), r.pop_mark()),
    b"\x90": lambda r: _add(r, r.pop_mark()),            # ADDITEMS
    b"\x91": _frozenset,                                 # FROZENSET
    b"p": lambda r: r.put(_int_line(r)),                 # PUT (text)
    b"q": lambda r: r.put(r.read(1)[0]),                 # BINPUT
    b"r": lambda r: r.put(r.unpack("<I")),               # LONG_BINPUT
    b"\x94": _memoize,                                   # MEMOIZE
    b"g": lambda r: r.stack.append(r.get(_int_line(r))),  # GET (text)
    b"h": lambda r: r.stack.append(r.get(r.read(1)[0])),  # BINGET
    b"j": lambda r: r.stack.append(r.get(r.unpack("<I"))),  # LONG_BINGET
    b"c": _global,                                       # GLOBAL
    b"\x93": _stack_global,                              # STACK_GLOBAL
    b"R": _reduce,                                       # REDUCE
    b"b": lambda r: r.build(r.pop()),                    # BUILD
    b"Q": lambda r: _persid(r, r.pop()),                 # BINPERSID
}


def _under_mark(r):
    """The object just below the innermost MARK (SETITEMS' target)."""
    if not r.marks or r.marks[-1] == 0:
        r.fail("SETITEMS without a dict below its MARK")
    return r.stack[r.marks[-1] - 1]


def _dict_from(r, items):
    d = {}
    _setitems(r, d, items)
    return d


def unpickle(data, allowed, *, what, hint="", persistent_load=None, start=0,
             return_end=False):
    """The object the pickle ``data`` (bytes) describes, built without running any code
    but the stand-ins in ``allowed`` (``{(module, name): callable}``).

    ``persistent_load(pid)`` resolves persistent ids (``torch.save``'s storages); ``what``
    names the file in errors and ``hint`` is added to :class:`UnsafeFileError`'s message.
    Raises :class:`UnsafeFileError` for a global outside ``allowed``, ``CheckpointError``
    for anything malformed, truncated or unsupported.

    ``start`` is the offset where the pickle begins; with ``return_end`` the result is
    ``(object, offset just past its STOP)``, for streams of several pickles.
    """
    reader = _Reader(data if isinstance(data, bytes) else bytes(data), allowed,
                     persistent_load, what, hint, start)
    value = reader.run()
    return (value, reader.pos) if return_end else value
