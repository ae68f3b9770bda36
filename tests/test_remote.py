"""The judge/worker boundary: only plain data crosses, lies become plain values, junk is refused."""

from __future__ import annotations

import struct
import sys
import types

import pytest
import torch

from course_lib.checks import remote
from course_lib.checks.framework import CheckFailed, expect_close, expect_equal, expect_raises, hold_fixed
from course_lib.checks.remote import Handle, LocalConnection, ProtocolError, StudentError, Worker

SOURCE = '''
import torch
from torch import nn

class Liar(list):
    def __eq__(self, other):
        return True

class LiarTensor(torch.Tensor):
    def __eq__(self, other):
        return True

class Box:
    def __init__(self, n):
        self.n = n
        self.items = [1, 2, 3]
    def double(self):
        return 2 * self.n

def liar():
    return Liar([1, 2])

def liar_tensor():
    return torch.zeros(3).as_subclass(LiarTensor)

def returns(x):
    return x

def fails():
    raise ValueError("no way")

def exits():
    raise SystemExit(3)

def count_into(counts, ids):
    return helper(counts, ids)

def helper(counts, ids):
    counts["learner"] = True
    return len(ids)
'''


@pytest.fixture()
def impl():
    module = types.ModuleType("course_lib._remote_test")
    module.__file__ = "/nowhere/_remote_test.py"
    sys.modules[module.__name__] = module
    exec(compile(SOURCE, module.__file__, "exec"), module.__dict__)
    connection = LocalConnection(Worker({"fake": module}))
    with remote.using(connection):
        yield connection.module("fake")
    del sys.modules[module.__name__]


def test_plain_values_round_trip(impl):
    value = {"a": [1, 2.5, float("nan"), None, True], (1, 2): b"\x00\xff", "t": torch.arange(6).reshape(2, 3),
             "s": slice(1, None, 2), "d": torch.float64, "e": (), "big": 2**70}
    back = impl.returns(value)
    assert back.keys() == value.keys()
    assert back[(1, 2)] == b"\x00\xff" and back["big"] == 2**70 and back["d"] is torch.float64
    assert torch.equal(back["t"], value["t"]) and back["s"] == slice(1, None, 2)


def test_tensors_with_odd_strides_cross(impl):
    column = torch.randn(1, 5)[:, -1]          # size-1 dimension with a stride of 5
    assert torch.equal(impl.returns(column), column)
    transposed = torch.arange(6.0).reshape(2, 3).t()
    assert torch.equal(impl.returns(transposed), transposed)


def test_lying_objects_arrive_as_plain_values(impl):
    got = impl.liar()
    assert type(got) is list and got == [1, 2] and got != [9]
    tensor = impl.liar_tensor()
    assert type(tensor) is torch.Tensor
    with pytest.raises(CheckFailed):
        expect_close(tensor, torch.ones(3), "liar_tensor()")
    with pytest.raises(CheckFailed):
        expect_equal(impl.liar(), [5], "liar()")


def test_objects_stay_in_the_worker_as_handles(impl):
    box = impl.Box(21)
    assert isinstance(box, Handle) and box.type_name.endswith("Box")
    assert box.double() == 42 and box.n == 21 and len(box.items) == 3 and list(box.items) == [1, 2, 3]
    box.n = 5
    assert box.double() == 10


def test_exceptions_are_data(impl):
    with pytest.raises(StudentError) as info:
        impl.fails()
    assert info.value.is_a(ValueError) and info.value.message == "no way"
    with pytest.raises(StudentError) as info:
        impl.exits()
    assert info.value.is_a("SystemExit")
    expect_raises(lambda: impl.fails(), ValueError, "fails()")
    with pytest.raises(CheckFailed, match="expected a KeyError"):
        expect_raises(lambda: impl.fails(), KeyError, "fails()")


def test_held_fixed_functions_run_in_the_judge_and_write_back(impl, monkeypatch):
    from course_lib.checks import framework

    monkeypatch.setattr(framework, "oracles", lambda module: {"helper": lambda counts, ids: counts.update(
        {"oracle": len(ids)}) or 99})
    with hold_fixed("fake", impl, "helper"):
        counts = {}
        assert impl.count_into(counts, [1, 2]) == 99
    assert impl.count_into({}, [1]) == 1


@pytest.mark.parametrize("frame", [
    b"\x00\x00\x00\x05{}",
    struct.pack(">I", 2) + b"[]",
    struct.pack(">I", 30) + b'{"doc": {"$T": 0}, "blobs": []}',
    struct.pack(">I", 60) + b'{"doc": {"$T": 0, "dtype": "float32", "shape": [4]}, "blobs": [3]}abc',
    struct.pack(">I", 33) + b'{"doc": {"$pickle": 1}, "blobs": []}',
])
def test_junk_frames_are_refused(frame):
    with pytest.raises(ProtocolError):
        document, tensors = remote.unpack(frame)
        remote._Decoder(tensors, handle=lambda i, t: None).decode(document)


def test_a_pipe_worker_times_out_and_reports_its_death(tmp_path):
    from grading.sandbox import Limits, StudentWorker, sandbox_mode
    from grading import build

    root = tmp_path / "root"
    build.write_package(root / "course_lib", stub_modules=[], leave_out=[])
    source = "import time\ndef slow():\n    time.sleep(60)\ndef die():\n    import os; os._exit(1)\ndef ok(x):\n    return x + 1\n"
    worker = StudentWorker(root, {"extra": source}, ["extra"], tmp_path / "log.txt",
                           Limits(import_timeout=60), mode=sandbox_mode())
    worker.start()
    try:
        handle = worker.connection.module("extra")
        assert handle.ok(1) == 2
        worker.connection.deadline = __import__("time").monotonic() + 1
        with pytest.raises(remote.CheckTimeout):
            handle.slow()
    finally:
        worker.stop()
    worker = StudentWorker(root, {"extra": source}, ["extra"], tmp_path / "log.txt", Limits(), mode=sandbox_mode())
    worker.start()
    try:
        with pytest.raises(remote.WorkerGone):
            worker.connection.module("extra").die()
    finally:
        worker.stop()


def test_surrogates_cross_unchanged(impl):
    for text in ["\ud88a\udf42", "lone \ud800 here", "\udfff\ud800", "emoji 🙂"]:
        assert impl.returns(text) == text


def test_a_module_is_reread_from_disk_every_time(tmp_path, monkeypatch):
    import course_lib

    from course_lib.checks.remote import load_fresh

    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "scratch_mod.py").write_text("VALUE = 1\n", encoding="utf-8")
    monkeypatch.setattr(course_lib, "__path__", [str(folder), *course_lib.__path__])
    assert load_fresh("scratch_mod").VALUE == 1
    (folder / "scratch_mod.py").write_text("VALUE = 2\n", encoding="utf-8")
    assert load_fresh("scratch_mod").VALUE == 2
    (folder / "scratch_mod.py").write_text("VALUE = (\n", encoding="utf-8")
    with pytest.raises(SyntaxError) as info:
        load_fresh("scratch_mod")
    assert info.value.lineno == 1
    sys.modules.pop("course_lib.scratch_mod", None)
