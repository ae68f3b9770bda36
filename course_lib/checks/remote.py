"""Calling the learner's code from a check, with only plain data crossing back.

A check (``course_lib/checks/<module>.py``) is the *judge*: it decides pass or fail. The
learner's code runs in a *worker*: in grading a separate, sandboxed process; in a notebook or
in pytest the same process, on a fresh copy of the module read from disk. The two talk through
a `Connection`, and only **plain data** crosses from the worker to the judge:

    None, bool, int, float, str, bytes, torch.Tensor (a plain tensor: no subclass, no graph),
    and list / tuple / dict of these

Any other object the learner's code returns (an ``nn.Module``, a tokenizer, a dataclass)
stays in the worker; the judge gets a `Handle` to it, whose attributes, methods, items and
length are fetched from the worker on demand. An exception raised in the worker arrives as a
`StudentError` (type names and message only). So an object whose ``__eq__`` always says yes,
a list subclass, a tensor subclass or a patched ``torch.allclose`` cannot change what the
judge sees: the judge compares values it decoded itself, with code the worker cannot reach.

`probe` functions (module-level functions of the public checks marked ``@probe``) run in the
worker on the real objects, for what needs them (gradients, isinstance, weight sharing); they
return plain data too, and contain no expected values.

The wire format (pipe transport) is a length-prefixed frame: a JSON document (tensors replaced
by references) followed by the tensors' raw bytes. Decoding builds nothing but JSON values and
tensors from ``torch.frombuffer``: no pickle, so a hostile worker cannot run code in the judge.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import contextvars
import importlib
import importlib.util
import io
import json
import linecache
import os
import select
import struct
import sys
import time
import traceback
import types
from typing import Any, Callable

MAX_FRAME_BYTES = 512 * 2**20     # the judge refuses a larger reply from a worker
MAX_DEPTH = 64                    # nesting of lists/dicts in one value
MAX_ITEMS = 2_000_000             # list/dict/tuple elements in one message


class ProtocolError(Exception):
    """The worker sent something that is not a well-formed reply (or nothing, or too much)."""


class WorkerGone(ProtocolError):
    """The worker process ended (crashed, exited, was killed) before replying."""


class CheckTimeout(Exception):
    """The check used up its time: the learner's code may loop forever or be far too slow."""


class StudentError(Exception):
    """An exception raised by the learner's code in the worker, as data.

    Attributes:
        type_name: the exception's class name, e.g. "ValueError".
        type_names: the names of its classes, most derived first (its MRO), e.g.
            ["ValueError", "Exception", "BaseException", "object"].
        message: ``str(exception)`` (capped in length).
        where: " (in attention.py, line 12: return x @ w)" for the deepest frame in the
            learner's module, or "".
    """

    def __init__(self, type_name: str, type_names: list[str], message: str, where: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.type_names = list(type_names)
        self.message = message
        self.where = where

    def is_a(self, exception_type: type[BaseException] | str) -> bool:
        """True if the learner's exception is (a subclass of) `exception_type`, by class name."""
        name = exception_type if isinstance(exception_type, str) else exception_type.__name__
        return name in self.type_names

    @property
    def not_implemented(self) -> bool:
        return self.is_a("NotImplementedError")


# ---------------------------------------------------------------------------------------------
# The codec: plain data <-> (JSON document, list of tensors)
# ---------------------------------------------------------------------------------------------

def _torch():
    import torch

    return torch


_DTYPES: dict[str, Any] = {}


def _dtype(name: str):
    if not _DTYPES:
        torch = _torch()
        for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64,
                      torch.complex128, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
                      torch.bool):
            _DTYPES[str(dtype).replace("torch.", "")] = dtype
    if name not in _DTYPES:
        raise ProtocolError(f"unknown tensor dtype {name!r}")
    return _DTYPES[name]


class _Encoder:
    """Turns a value into JSON + tensors. `store` (worker side) turns an object that is not
    plain data into a handle id; without it (judge side) such an object is an error."""

    def __init__(self, store: Callable[[Any], int] | None = None) -> None:
        self.store = store
        self.tensors: list = []
        self.items = 0

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError("value nested too deeply to send")
        self.items += 1
        if self.items > MAX_ITEMS:
            raise ValueError("value too large to send")
        kind = type(value)
        if value is None or kind is bool or kind is str:
            return value
        if kind is int:
            return value
        if kind is float:
            return {"$f": repr(value)} if value != value or value in (float("inf"), float("-inf")) else value
        if kind is Handle:
            if self.store is not None:
                raise TypeError("a judge's handle cannot be sent back")
            return {"$h": object.__getattribute__(value, "_id")}
        torch = _torch() if "torch" in sys.modules else None
        if torch is not None:
            if isinstance(value, torch.Tensor):
                return self._tensor(value)
            if kind is torch.dtype:
                return {"$dtype": str(value).replace("torch.", "")}
            if kind is torch.device:
                return {"$device": str(value)}
            if isinstance(value, torch.Generator):
                return {"$gen": self._tensor(value.get_state()), "device": str(value.device)}
        if kind is slice:
            return {"$slice": [self.encode(value.start, depth + 1), self.encode(value.stop, depth + 1),
                               self.encode(value.step, depth + 1)]}
        if value is Ellipsis:
            return {"$ellipsis": True}
        if kind is bytes:
            return {"$b": base64.b64encode(value).decode("ascii")}
        if kind is list:
            return [self.encode(v, depth + 1) for v in value]
        if kind is tuple:
            return {"$t": [self.encode(v, depth + 1) for v in value]}
        if kind is dict:
            return {"$d": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]}
        # Subclasses of plain types become the plain type (an int subclass whose __eq__ lies
        # arrives as the int it holds).
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return int.__index__(value) if kind is not bool else value
        if isinstance(value, float):
            return self.encode(float.__float__(value), depth)
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.encode(bytes(value), depth)
        if isinstance(value, (list, tuple)) and self.store is None:
            raise TypeError(f"cannot send a {kind.__name__}")
        if self.store is not None:
            if isinstance(value, (list, tuple)):
                items = [self.encode(v, depth + 1) for v in list.__iter__(value)] if isinstance(value, list) \
                    else [self.encode(v, depth + 1) for v in tuple.__iter__(value)]
                return items if isinstance(value, list) else {"$t": items}
            if isinstance(value, dict):
                return {"$d": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                               for k, v in dict.items(value)]}
            try:
                import numpy

                if isinstance(value, numpy.generic):  # numpy scalars: their Python value
                    return self.encode(value.item(), depth)
            except ImportError:  # pragma: no cover
                pass
            return {"$h": self.store(value), "type": _type_name(value)}
        raise TypeError(f"cannot send a {kind.__name__} to the worker: only plain data and handles")

    def _tensor(self, value) -> dict:
        torch = _torch()
        if value.layout != torch.strided or value.is_quantized or value.device.type == "meta":
            raise TypeError(f"cannot send a {value.layout} / quantized / meta tensor")
        plain = value.detach()
        if type(plain) is not torch.Tensor:
            plain = plain.as_subclass(torch.Tensor)
        entry = {"dtype": str(plain.dtype).replace("torch.", ""), "shape": list(plain.shape),
                 "device": str(value.device), "requires_grad": bool(value.requires_grad)}
        _dtype(entry["dtype"])  # unknown dtypes fail here, in the sender
        self.tensors.append(plain)
        return {"$T": len(self.tensors) - 1, **entry}


def _type_name(value: Any) -> str:
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    kind = type(value)
    module = getattr(kind, "__module__", "") or ""
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module in ("builtins", "") else f"{module}.{name}"


class _Decoder:
    """JSON + tensors -> value. `resolve` (worker side) maps a handle id to its object;
    `handle` (judge side) makes a Handle."""

    def __init__(self, tensors: list, resolve=None, handle=None, device_map=None) -> None:
        self.tensors = tensors
        self.resolve = resolve
        self.handle = handle
        self.device_map = device_map

    def decode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ProtocolError("value nested too deeply")
        if value is None or type(value) in (bool, int, float, str):
            return value
        if type(value) is list:
            return [self.decode(v, depth + 1) for v in value]
        if type(value) is not dict or len(value) == 0:
            raise ProtocolError(f"unexpected {type(value).__name__} in a message")
        if "$f" in value:
            text = value["$f"]
            if text not in ("nan", "inf", "-inf"):
                raise ProtocolError("bad float")
            return float(text)
        if "$b" in value:
            return base64.b64decode(value["$b"].encode("ascii"), validate=True)
        if "$t" in value:
            return tuple(self.decode(v, depth + 1) for v in _list(value["$t"]))
        if "$d" in value:
            out = {}
            for pair in _list(value["$d"]):
                if type(pair) is not list or len(pair) != 2:
                    raise ProtocolError("bad dict entry")
                key = self.decode(pair[0], depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise ProtocolError("unhashable dict key") from None
                out[key] = self.decode(pair[1], depth + 1)
            return out
        if "$T" in value:
            index = value["$T"]
            if type(index) is not int or not 0 <= index < len(self.tensors):
                raise ProtocolError("bad tensor reference")
            tensor = self.tensors[index]
            if self.device_map is not None:
                tensor = self.device_map(tensor, str(value.get("device", "cpu")))
            if value.get("requires_grad") is True and tensor.is_floating_point():
                tensor.requires_grad_(True)
            return tensor
        if "$dtype" in value:
            return _dtype(str(value["$dtype"]))
        if "$device" in value:
            try:
                return _torch().device(str(value["$device"]))
            except RuntimeError:
                raise ProtocolError("bad device") from None
        if "$gen" in value:
            torch = _torch()
            state = self.decode(value["$gen"], depth + 1)
            if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8:
                raise ProtocolError("bad generator state")
            device = str(value.get("device", "cpu"))
            try:
                generator = torch.Generator(device=device)
            except RuntimeError:
                generator = torch.Generator()
            generator.set_state(state.detach().cpu())
            return generator
        if "$slice" in value:
            parts = [self.decode(v, depth + 1) for v in _list(value["$slice"])]
            if len(parts) != 3 or not all(p is None or type(p) is int for p in parts):
                raise ProtocolError("bad slice")
            return slice(*parts)
        if "$ellipsis" in value:
            return Ellipsis
        if "$h" in value:
            ident = value["$h"]
            if type(ident) is not int:
                raise ProtocolError("bad handle")
            if self.resolve is not None:
                return self.resolve(ident)
            if self.handle is not None:
                return self.handle(ident, str(value.get("type", "object"))[:200])
            raise ProtocolError("a handle where none may be")
        raise ProtocolError(f"unknown tag in {sorted(value)[:3]}")


def _list(value) -> list:
    if type(value) is not list:
        raise ProtocolError("expected a list")
    return value


def pack(document: Any, tensors: list) -> bytes:
    """A frame: 8-byte length, 4-byte JSON length, JSON, tensor headers' bytes."""
    blobs = []
    headers = []
    for tensor in tensors:
        # A copy in row-major order: .contiguous() may keep an odd stride on a size-1 dimension,
        # which .view(torch.uint8) then refuses (e.g. torch.randn(1, 5)[:, -1]).
        data = tensor.to("cpu").clone(memory_format=_torch().contiguous_format)
        if data.numel() == 0:
            raw = b""
        else:
            raw = data.reshape(-1).view(_torch().uint8).numpy().tobytes()
        headers.append(len(raw))
        blobs.append(raw)
    # ensure_ascii=False + surrogatepass: a str with lone (or paired) surrogates arrives unchanged
    # (JSON's \\ud83d\\ude00 escapes would fuse a high and a low surrogate into one character).
    text = json.dumps({"doc": document, "blobs": headers}, allow_nan=False, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8", "surrogatepass")
    body = struct.pack(">I", len(text)) + text + b"".join(blobs)
    return struct.pack(">Q", len(body)) + body


def unpack(body: bytes, specs_from_doc: bool = True) -> tuple[Any, list]:
    """Inverse of `pack` (without the 8-byte length). Tensors are rebuilt from raw bytes."""
    torch = _torch()
    if len(body) < 4:
        raise ProtocolError("short frame")
    (text_len,) = struct.unpack(">I", body[:4])
    if text_len > len(body) - 4:
        raise ProtocolError("bad frame length")
    try:
        outer = json.loads(body[4:4 + text_len].decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ProtocolError(f"bad JSON in frame: {err}") from None
    if type(outer) is not dict or "doc" not in outer or type(outer.get("blobs")) is not list:
        raise ProtocolError("bad frame")
    document = outer["doc"]
    specs = _tensor_specs(document)
    sizes = outer["blobs"]
    if len(specs) != len(sizes) or any(type(s) is not int or s < 0 for s in sizes):
        raise ProtocolError("tensor count mismatch")
    tensors = []
    offset = 4 + text_len
    for spec, size in zip(specs, sizes):
        raw = body[offset:offset + size]
        if len(raw) != size:
            raise ProtocolError("truncated tensor data")
        offset += size
        dtype = _dtype(spec["dtype"])
        shape = spec["shape"]
        if type(shape) is not list or any(type(d) is not int or d < 0 for d in shape):
            raise ProtocolError("bad tensor shape")
        numel = 1
        for d in shape:
            numel *= d
        itemsize = torch.empty((), dtype=dtype).element_size()
        if numel * itemsize != size:
            raise ProtocolError("tensor size does not match its shape")
        if numel == 0:
            tensor = torch.empty(shape, dtype=dtype)
        else:
            tensor = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape).clone()
        tensors.append(tensor)
    return document, tensors


def _tensor_specs(document: Any) -> list[dict]:
    """The tensor entries of a document, in index order."""
    found: dict[int, dict] = {}

    def walk(value, depth=0):
        if depth > MAX_DEPTH + 2:
            raise ProtocolError("value nested too deeply")
        if type(value) is list:
            for v in value:
                walk(v, depth + 1)
        elif type(value) is dict:
            if "$T" in value and type(value["$T"]) is int:
                found[value["$T"]] = value
                return
            for v in value.values():
                walk(v, depth + 1)

    walk(document)
    if sorted(found) != list(range(len(found))):
        raise ProtocolError("tensor references out of order")
    return [found[i] for i in range(len(found))]


# ---------------------------------------------------------------------------------------------
# Exceptions as data
# ---------------------------------------------------------------------------------------------

MESSAGE_LIMIT = 2000


def _exception_data(err: BaseException, module_files: set[str]) -> dict:
    try:
        message = str(err)
    except BaseException:  # noqa: BLE001 - a __str__ that raises is the learner's problem
        message = "<the exception's message could not be read>"
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "..."
    where = ""
    try:
        for frame in reversed(traceback.extract_tb(err.__traceback__)):
            if frame.filename in module_files:
                line = (frame.line or "").strip()[:200]
                where = f" (in {os.path.basename(frame.filename)}, line {frame.lineno}: {line})"
                break
    except BaseException:  # noqa: BLE001
        where = ""
    names = []
    for klass in type(err).__mro__:
        names.append(str(getattr(klass, "__name__", "?"))[:100])
    return {"type": names[0], "types": names[:20], "message": message, "where": where}


def _student_error(data: Any) -> StudentError:
    if type(data) is not dict:
        raise ProtocolError("bad exception")
    names = data.get("types")
    if type(names) is not list or not all(type(n) is str for n in names):
        names = [str(data.get("type", "Exception"))]
    return StudentError(str(data.get("type", "Exception"))[:100], [n[:100] for n in names[:20]],
                        str(data.get("message", ""))[:MESSAGE_LIMIT + 3], str(data.get("where", ""))[:400])


# ---------------------------------------------------------------------------------------------
# Judge side: handles, probes and the current connection
# ---------------------------------------------------------------------------------------------

_CURRENT: contextvars.ContextVar["Connection | None"] = contextvars.ContextVar("course_connection", default=None)


def current_connection() -> "Connection":
    connection = _CURRENT.get()
    if connection is None:
        raise RuntimeError("no check is running: probes and handles work inside a check")
    return connection


@contextlib.contextmanager
def using(connection: "Connection"):
    token = _CURRENT.set(connection)
    try:
        yield connection
    finally:
        _CURRENT.reset(token)


class Handle:
    """The judge's view of an object that lives in the worker (a module, an nn.Module, ...).

    Attribute access, calls, ``h[key]``, ``len(h)`` and ``list(h)`` are answered by the worker;
    plain data comes back as values, other objects as new handles. ``h.type_name`` (no round
    trip) is the object's class, e.g. "course_lib.attention.MultiHeadAttention".
    """

    __slots__ = ("_id", "_type", "_connection")

    def __init__(self, ident: int, type_name: str, connection: "Connection") -> None:
        object.__setattr__(self, "_id", ident)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_connection", connection)

    @property
    def type_name(self) -> str:
        return object.__getattribute__(self, "_type")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._connection.request({"op": "getattr", "obj": self, "name": name})

    def __setattr__(self, name: str, value: Any) -> None:
        self._connection.request({"op": "setattr", "obj": self, "name": name, "value": value})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._connection.request({"op": "call", "obj": self, "args": list(args), "kwargs": kwargs})

    def __getitem__(self, key: Any) -> Any:
        return self._connection.request({"op": "getitem", "obj": self, "key": key})

    def __len__(self) -> int:
        value = self._connection.request({"op": "len", "obj": self})
        if type(value) is not int:
            raise ProtocolError("len() did not return an int")
        return value

    def __iter__(self):
        value = self._connection.request({"op": "list", "obj": self})
        if type(value) is not list:
            raise ProtocolError("list() did not return a list")
        return iter(value)

    def __repr__(self) -> str:
        return f"<{self.type_name} in the worker>"

    def __bool__(self) -> bool:
        return True


class ProbeFunction:
    """A function of the public checks that runs in the worker (see `probe`)."""

    def __init__(self, function: Callable) -> None:
        self.function = function
        self.module = function.__module__
        self.qualname = function.__qualname__
        self.__doc__ = function.__doc__
        self.__name__ = function.__name__
        self.__wrapped__ = function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return current_connection().request({"op": "probe", "module": self.module, "name": self.qualname,
                                             "args": list(args), "kwargs": kwargs})


def probe(function: Callable) -> ProbeFunction:
    """Mark a public-checks function as a probe: called from a check, it runs in the worker,
    with handles replaced by the real objects, and returns plain data.

    A probe exercises the learner's code (a backward pass, a few optimiser steps, an isinstance
    test) and reports what happened; it never contains an expected value or a reference
    implementation, since the worker is where the learner's code runs.
    """
    return ProbeFunction(function)


class Connection:
    """The judge's end of a conversation with one worker (abstract: see the transports).

    `deadline` (a time.monotonic() value, or None) bounds every wait for the worker.
    """

    deadline: float | None = None

    def __init__(self) -> None:
        self.callbacks: dict[int, Callable] = {}
        self.device_map = None

    # -- to be provided by a transport --------------------------------------------------------
    def _send(self, document: Any, tensors: list) -> None:
        raise NotImplementedError

    def _receive(self) -> tuple[Any, list]:
        raise NotImplementedError

    # -- the protocol --------------------------------------------------------------------------
    def _encode(self, value: Any) -> tuple[Any, list]:
        encoder = _Encoder()
        return encoder.encode(value), encoder.tensors

    def _decode(self, document: Any, tensors: list) -> Any:
        return _Decoder(tensors, handle=lambda i, t: Handle(i, t, self), device_map=self.device_map).decode(document)

    def request(self, message: dict) -> Any:
        """Send one request; serve callbacks until its reply comes; return the value or raise."""
        self._send(*self._encode(message))
        while True:
            reply = self._decode(*self._receive())
            if type(reply) is not dict:
                raise ProtocolError("reply is not an object")
            if "callback" in reply:
                self._send(*self._encode(self._callback_reply(reply)))
                continue
            if "ok" in reply:
                return reply["ok"]
            if "raised" in reply:
                raise _student_error(reply["raised"])
            raise ProtocolError("reply has neither a value nor an exception")

    def _callback_reply(self, message: dict) -> dict:
        """Run a held-fixed function (an oracle, judge side) for the worker; return the reply."""
        function = self.callbacks.get(message.get("callback")) if type(message.get("callback")) is int else None
        args, kwargs = message.get("args", ()), message.get("kwargs", {})
        if function is None or type(args) is not tuple or type(kwargs) is not dict:
            raise ProtocolError("bad callback")
        args = list(args)
        try:
            result = function(*args, **kwargs)
            # Containers the function changed in place go back, so that in-place contracts
            # (a counts dict filled by the callee) hold across the process boundary.
            return {"ok": result, "args_after": args}
        except StudentError as err:
            return {"raised": {"type": err.type_name, "types": err.type_names, "message": err.message}}
        except Exception as err:  # noqa: BLE001 - the oracle refused the input, as the original would
            return {"raised": {"type": type(err).__name__, "types": [c.__name__ for c in type(err).__mro__],
                               "message": str(err)}}

    # -- conveniences ---------------------------------------------------------------------------
    def module(self, name: str) -> Handle:
        """A handle to the learner's ``course_lib.<name>`` (raises StudentError if it failed to import)."""
        return self.request({"op": "module", "name": name})

    def patch(self, target: Handle, name: str, function: Callable) -> None:
        """Replace `target.name` in the worker by a stub that calls `function` here (hold_fixed)."""
        ident = len(self.callbacks) + 1
        self.callbacks[ident] = function
        self.request({"op": "patch", "obj": target, "name": name, "callback": ident})

    def unpatch(self, target: Handle, name: str) -> None:
        self.request({"op": "unpatch", "obj": target, "name": name})

    def release(self) -> None:
        """Let the worker forget the objects of the last check (modules stay)."""
        self.request({"op": "release"})

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# Worker side
# ---------------------------------------------------------------------------------------------

def install_module(name: str, source: str, filename: str) -> types.ModuleType:
    """Execute `source` as the module ``course_lib.<name>`` (registered in sys.modules), with
    `filename` in its tracebacks. Raises whatever the learner's module raises at import."""
    import course_lib

    fullname = f"course_lib.{name}"
    module = types.ModuleType(fullname)
    module.__file__ = filename
    module.__package__ = "course_lib"
    module.__spec__ = importlib.util.spec_from_file_location(fullname, filename)
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    previous = sys.modules.get(fullname)
    sys.modules[fullname] = module
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - this IS the learner's code, in the worker
    except BaseException:
        if previous is not None:
            sys.modules[fullname] = previous
        else:
            sys.modules.pop(fullname, None)
        raise
    setattr(course_lib, name, module)
    return module


def _is_reply(document: Any) -> bool:
    """True for an encoded {"ok": ...} / {"raised": ...} (a callback's answer), not a request."""
    if type(document) is not dict or type(document.get("$d")) is not list:
        return False
    keys = {pair[0] for pair in document["$d"] if type(pair) is list and len(pair) == 2 and type(pair[0]) is str}
    return "op" not in keys and bool(keys & {"ok", "raised"})


class Worker:
    """The worker's end: holds the learner's objects and answers requests.

    `modules` maps exercise module names ("attention") to module objects, or to the exception
    their import raised (reported to every check that asks for the module).
    """

    def __init__(self, modules: dict[str, Any], module_files: set[str] | None = None) -> None:
        self.modules = dict(modules)
        self.module_files = set(module_files or ())
        for module in self.modules.values():
            if isinstance(module, types.ModuleType) and getattr(module, "__file__", None):
                self.module_files.add(module.__file__)
        self.objects: dict[int, Any] = {}
        self.next_id = 1
        self.patched: dict[tuple[int, str], tuple[bool, Any]] = {}
        # (document, tensors) -> (reply document, tensors): how a held-fixed stub reaches the judge
        self.callback_transport: Callable[[Any, list], tuple[Any, list]] | None = None

    # objects <-> ids
    def store(self, value: Any) -> int:
        for ident, existing in self.objects.items():
            if existing is value:
                return ident
        ident = self.next_id
        self.next_id += 1
        self.objects[ident] = value
        return ident

    def resolve(self, ident: int) -> Any:
        if ident not in self.objects:
            raise ProtocolError(f"unknown handle {ident}")
        return self.objects[ident]

    def encode(self, value: Any) -> tuple[Any, list]:
        encoder = _Encoder(store=self.store)
        return encoder.encode(value), encoder.tensors

    def decode(self, document: Any, tensors: list) -> Any:
        # Tensors the judge built on a device (a --device cuda check) reach the learner's code there.
        return _Decoder(tensors, resolve=self.resolve, device_map=_same_device).decode(document)

    def reply_error(self, err: BaseException) -> tuple[Any, list]:
        return self.encode({"raised": _exception_data(err, self.module_files)})

    def handle(self, document: Any, tensors: list) -> tuple[Any, list]:
        """Answer one request. Never raises for the learner's faults: they become replies."""
        try:
            message = self.decode(document, tensors)
            if type(message) is not dict or not isinstance(message.get("op"), str) \
                    or not hasattr(self, "op_" + message["op"]):
                raise ProtocolError("not a request")
            value = getattr(self, "op_" + message["op"])(message)
            return self.encode({"ok": value})
        except KeyboardInterrupt:
            if self.callback_transport is None or getattr(self, "local", False):
                raise  # in a notebook, the learner's interrupt stops the check
            return self.reply_error(KeyboardInterrupt())
        except BaseException as err:  # noqa: BLE001 - SystemExit and friends from learner code are data
            try:
                return self.reply_error(err)
            except BaseException:  # noqa: BLE001 - an exception whose type name cannot even be read
                return self.encode({"raised": {"type": "Exception", "types": ["Exception"],
                                               "message": "an exception that could not be described"}})

    def op_module(self, message: dict) -> Any:
        name = message.get("name")
        if name not in self.modules:
            raise ModuleNotFoundError(f"course_lib.{name} is not part of this check")
        module = self.modules[name]
        if isinstance(module, BaseException):
            raise module
        return module

    def op_getattr(self, message: dict) -> Any:
        return getattr(message["obj"], message["name"])

    def op_setattr(self, message: dict) -> None:
        setattr(message["obj"], message["name"], message["value"])

    def op_call(self, message: dict) -> Any:
        return message["obj"](*message.get("args", []), **message.get("kwargs", {}))

    def op_getitem(self, message: dict) -> Any:
        return message["obj"][message["key"]]

    def op_len(self, message: dict) -> int:
        return len(message["obj"])

    def op_list(self, message: dict) -> list:
        return list(message["obj"])

    def op_probe(self, message: dict) -> Any:
        module_name, qualname = message["module"], message["name"]
        if not (isinstance(module_name, str) and module_name.startswith("course_lib.checks.")):
            raise ProtocolError(f"probes live in course_lib.checks, not {module_name!r}")
        target: Any = importlib.import_module(module_name)
        for part in str(qualname).split("."):
            target = getattr(target, part)
        if not isinstance(target, ProbeFunction):
            raise ProtocolError(f"{module_name}.{qualname} is not a probe")
        return target.function(*message.get("args", []), **message.get("kwargs", {}))

    def op_patch(self, message: dict) -> None:
        target, name, ident = message["obj"], message["name"], message["callback"]
        key = (id(target), name)
        if key not in self.patched:
            self.patched[key] = (name in getattr(target, "__dict__", {}), getattr(target, name, None))
        worker = self

        def held_fixed(*args, **kwargs):
            return worker.call_back(ident, args, kwargs)

        held_fixed.__name__ = name
        setattr(target, name, held_fixed)

    def op_unpatch(self, message: dict) -> None:
        target, name = message["obj"], message["name"]
        had, original = self.patched.pop((id(target), name), (True, None))
        if had:
            setattr(target, name, original)
        else:
            with contextlib.suppress(AttributeError):
                delattr(target, name)

    def op_release(self, message: dict) -> None:
        self.objects = {k: v for k, v in self.objects.items() if isinstance(v, types.ModuleType)}

    def op_ping(self, message: dict) -> str:
        return "pong"

    def call_back(self, ident: int, args: tuple, kwargs: dict) -> Any:
        """A held-fixed function was called by the learner's code: the judge runs it."""
        if self.callback_transport is None:
            raise RuntimeError("no judge to call back")
        reply = self.decode(*self.callback_transport(*self.encode(
            {"callback": ident, "args": tuple(args), "kwargs": dict(kwargs)})))
        if type(reply) is not dict:
            raise ProtocolError("bad callback reply")
        if "raised" in reply:
            data = reply["raised"]
            kind = getattr(builtins, str(data.get("type", "")), None)
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                kind = RuntimeError
            raise kind(str(data.get("message", "")))
        for original, after in zip(args, reply.get("args_after", [])):
            if type(original) is dict and type(after) is dict and original != after:
                original.clear()
                original.update(after)
            elif type(original) is list and type(after) is list and original != after:
                original[:] = after
        return reply.get("ok")


# ---------------------------------------------------------------------------------------------
# Local transport: the worker is this process (notebooks, pytest). Same codec, same rules.
# ---------------------------------------------------------------------------------------------

def _roundtrip(document: Any, tensors: list) -> tuple[Any, list]:
    return unpack(pack(document, tensors)[8:])


class LocalConnection(Connection):
    """Judge and worker in one process. Every message still goes through the byte codec, so a
    check behaves exactly as in grading (copies, no graph, handles), only faster to start."""

    def __init__(self, worker: Worker, device_map=None) -> None:
        super().__init__()
        self.worker = worker
        worker.local = True
        self.device_map = device_map if device_map is not None else _same_device
        self._inbox: list[tuple[Any, list]] = []
        worker.callback_transport = self._worker_calls_back

    def _send(self, document: Any, tensors: list) -> None:
        reply = self.worker.handle(*_roundtrip(document, tensors))
        self._inbox.append(_roundtrip(*reply))

    def _receive(self) -> tuple[Any, list]:
        return self._inbox.pop()

    def _worker_calls_back(self, document: Any, tensors: list) -> tuple[Any, list]:
        message = self._decode(*_roundtrip(document, tensors))
        if type(message) is not dict:
            raise ProtocolError("bad callback")
        return _roundtrip(*self._encode(self._callback_reply(message)))


def _same_device(tensor, device: str):
    if device == "cpu":
        return tensor
    try:
        return tensor.to(device)
    except Exception:  # noqa: BLE001 - a device the judge lacks: keep it on the CPU
        return tensor


def load_fresh(name: str, search_path: list[str] | None = None) -> types.ModuleType:
    """Read ``course_lib/<name>.py`` from disk *now* and install it as ``course_lib.<name>``.

    This is what a notebook's check runs: the code on disk, not a stale import; a syntax error is
    reported as one, with the right line.
    """
    import course_lib

    fullname = f"course_lib.{name}"
    for folder in list(getattr(course_lib, "__path__", [])):
        path = os.path.join(folder, f"{name}.py")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                source = handle.read()
            previous = sys.modules.get(fullname)
            module = install_module(name, source, path)
            if getattr(previous, "__course_reference__", False):
                # The notebook switched this module to the reference (course_lib.earlier): checking
                # your own version must not undo that switch for the rest of the notebook.
                sys.modules[fullname] = previous
                setattr(course_lib, name, previous)
            return module
    raise ModuleNotFoundError(f"course_lib/{name}.py was not found")


# ---------------------------------------------------------------------------------------------
# Pipe transport: the worker is another process (grading). Frames on two pipes.
# ---------------------------------------------------------------------------------------------

def read_frame(fd: int, deadline: float | None, limit: int = MAX_FRAME_BYTES) -> bytes:
    """Read one frame body from `fd`, waiting at most until `deadline` (time.monotonic())."""
    header = _read_exact(fd, 8, deadline)
    (length,) = struct.unpack(">Q", header)
    if length > limit:
        raise ProtocolError(f"the worker sent {length} bytes, more than the {limit} allowed")
    return _read_exact(fd, length, deadline)


def _read_exact(fd: int, count: int, deadline: float | None) -> bytes:
    chunks = []
    remaining = count
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise CheckTimeout()
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                raise CheckTimeout()
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise WorkerGone("the worker's process ended before replying")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BrokenPipeError:
            raise WorkerGone("the worker's process ended") from None
        view = view[written:]


class PipeConnection(Connection):
    """The judge's end of a worker process: requests on `to_worker`, replies on `from_worker`."""

    def __init__(self, to_worker: int, from_worker: int) -> None:
        super().__init__()
        self.to_worker = to_worker
        self.from_worker = from_worker

    def _send(self, document: Any, tensors: list) -> None:
        write_all(self.to_worker, pack(document, tensors))

    def _receive(self) -> tuple[Any, list]:
        return unpack(read_frame(self.from_worker, self.deadline))


def serve(worker: Worker, in_fd: int, out_fd: int) -> None:
    """The worker's loop: answer requests until the judge closes the pipe or says goodbye."""

    def receive() -> tuple[Any, list]:
        return unpack(read_frame(in_fd, None))

    def send(document: Any, tensors: list) -> None:
        write_all(out_fd, pack(document, tensors))

    def callback_transport(document: Any, tensors: list) -> tuple[Any, list]:
        send(document, tensors)
        while True:  # nested requests may come before the callback's reply
            doc, ts = receive()
            if _is_reply(doc):
                return doc, ts
            send(*worker.handle(doc, ts))

    worker.callback_transport = callback_transport
    while True:
        try:
            document, tensors = receive()
        except WorkerGone:
            return
        send(*worker.handle(document, tensors))


def redirect_output_to(fd: int | None) -> None:
    """Send this process's stdout/stderr (the learner's prints) to `fd`, or to /dev/null."""
    target = fd if fd is not None else os.open(os.devnull, os.O_WRONLY)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(target, 1)
    os.dup2(target, 2)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), write_through=True, errors="replace")
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), write_through=True, errors="replace")
