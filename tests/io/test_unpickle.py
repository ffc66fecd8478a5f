"""The restricted pickle interpreter: plain data of every protocol round-trips, shared
references stay shared, any global outside the allow-list is refused before it runs, and
hostile or damaged streams give a clear CheckpointError, never a crash or a huge allocation."""
import os
import pickle
import struct

import pytest

from ember.io import CheckpointError, UnsafeFileError
from ember.io.unpickle import Pending, unpickle


def plain(proto):
    obj = {"ints": [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31, 2**70, -2**70],
           "floats": [0.0, -1.5, 1e300, float("inf")], "none": None, "bools": [True, False],
           "text": ["", "x", "é\u1234", "a" * 300], "tuples": [(), (1,), (1, 2), (1, 2, 3),
                                                               (1, 2, 3, 4)],
           "nested": {"a": {"b": [{"c": 1}]}}, 3: "int key", (1, 2): "tuple key"}
    if proto >= 3:
        obj["bytes"] = [b"", b"ab", b"x" * 300]
    if proto >= 4:
        obj["sets"] = [{1, 2}, frozenset({3})]
    obj["alias"] = obj["ints"]
    return obj


@pytest.mark.parametrize("proto", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_round_trips_in_every_protocol(proto):
    obj = plain(proto)
    out = unpickle(pickle.dumps(obj, protocol=proto), {}, what="t")
    assert out == obj
    assert out["alias"] is out["ints"]  # the memo keeps shared references shared


def test_allowed_stand_ins_are_called_and_nothing_else():
    calls = []

    def stand_in(*args):
        calls.append(args)
        return ("built", args)

    class Thing:
        def __reduce__(self):
            return (os.path.join, ("a", "b"))

    data = pickle.dumps([Thing(), Thing()], protocol=2)
    assert unpickle(data, {("posixpath", "join"): stand_in}, what="t") == [
        ("built", ("a", "b")), ("built", ("a", "b"))]
    assert calls == [("a", "b"), ("a", "b")]


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("proto", [0, 2, 4])
def test_a_code_running_global_is_refused_and_never_runs(tmp_path, proto):
    marker = tmp_path / "ran"
    data = pickle.dumps({"w": [1.0], "x": _Evil(marker)}, protocol=proto)
    with pytest.raises(UnsafeFileError, match=r"'x\.pkl' asks to run posix\.system; .*hint"):
        unpickle(data, {}, what="'x.pkl'", hint="hint")
    assert not marker.exists()
    assert issubclass(UnsafeFileError, CheckpointError)


@pytest.mark.parametrize("name", ["builtins eval", "builtins getattr", "os system",
                                  "subprocess Popen", "collections OrderedDict"])
def test_globals_not_in_the_table_are_refused_by_name(name):
    module, attr = name.split()
    data = b"\x80\x02c" + module.encode() + b"\n" + attr.encode() + b"\n)R."
    with pytest.raises(UnsafeFileError, match=f"asks to run {module}.{attr}"):
        unpickle(data, {}, what="f")


def test_only_allowed_callables_can_be_reduced():
    # REDUCE on a string (not a stand-in) and BUILD on a list are refused
    with pytest.raises(CheckpointError, match="REDUCE of a str"):
        unpickle(b"\x80\x02X\x01\x00\x00\x00a)R.", {}, what="f")
    with pytest.raises(CheckpointError, match="BUILD of a list"):
        unpickle(b"\x80\x02]}b.", {}, what="f")


def test_pending_objects_are_built_and_replace_their_memo_entries():
    class Box(Pending):
        def build(self, state):
            return ("box", state)

    box = Box()
    # REDUCE -> BINPUT 0 -> BUILD(7) -> a list holding BINGET 0: the built value
    data = (b"\x80\x02cm\nf\n)Rq\x00K\x07b0]h\x00a.")
    out = unpickle(data, {("m", "f"): lambda: box}, what="f")
    assert out == [("box", 7)]
    with pytest.raises(CheckpointError, match="never built"):
        unpickle(b"\x80\x02cm\nf\n)Rq\x00.", {("m", "f"): lambda: Box()}, what="f")


def test_persistent_ids_need_a_loader():
    data = b"\x80\x02X\x01\x00\x00\x00kQ."
    assert unpickle(data, {}, what="f", persistent_load=lambda pid: ("got", pid)) == ("got", "k")
    with pytest.raises(CheckpointError, match="persistent id"):
        unpickle(data, {}, what="f")


@pytest.mark.parametrize("cut", [1, 5, 20, 60])
def test_truncated_streams(cut):
    data = pickle.dumps({"a": [1, 2, "three" * 10]}, protocol=2)
    with pytest.raises(CheckpointError, match="'t.pkl' is not a readable pickle"):
        unpickle(data[:-cut], {}, what="'t.pkl'")


@pytest.mark.parametrize("data, message", [
    (b"", "ends early"),
    (b"\x80\x02X\xff\xff\xff\x7f.", "ends early"),            # a 2 GiB string in 10 bytes
    (b"\x80\x02\x8e" + struct.pack("<Q", 2**62) + b".", "ends early"),
    (b"\x80\x02h\x05.", "memo key 5"),
    (b"\x80\x020.", "stack underflow"),
    (b"\x80\x02K\x01K\x02.", "left on the stack"),
    (b"\x80\x02e.", "no MARK"),
    (b"\x80\x02\x82\x01.", "opcode"),                          # EXT1 (copyreg registry)
    (b"\x80\x02X\x02\x00\x00\x00\xff\xfe.", "UTF-8"),
    (b"\x80\x02}]K\x01s.", "hashable"),
])
def test_malformed_streams(data, message):
    with pytest.raises(CheckpointError, match=message):
        unpickle(data, {}, what="f")


def test_a_huge_memo_index_allocates_nothing():
    # C pickle grows its memo array to the index: 2**32 - 1 would ask for 64 GiB
    data = b"\x80\x02K\x07r\xff\xff\xff\xffj\xff\xff\xff\xff\x86."
    assert unpickle(data, {}, what="f") == (7, 7)


def test_deep_nesting_does_not_recurse():
    depth = 200_000
    data = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
    out = unpickle(data, {}, what="f")
    for _ in range(depth - 1):
        out = out[0]
    assert out == []
