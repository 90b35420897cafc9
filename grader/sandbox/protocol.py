"""Messages between the grader and a sandboxed student process: JSON plus raw numeric buffers.

Never pickle: unpickling is code execution, and the other end runs student code. A frame is
`>II` (header length, buffer count), the JSON header, then each buffer as `>Q` length + bytes.
Numpy arrays travel as buffers (numeric dtypes only); objects that cannot travel by value stay
where they are and travel as references, which the receiving end turns into proxies.
"""
from __future__ import annotations

import json
import math
import socket
import struct

import numpy as np

from ..sanitize import text

# What a frame may hold. The other end may be student code writing to its socket: any frame
# outside these bounds is refused before it is parsed, and parsing one within them costs the
# receiver a bounded fraction of a second and of memory.
MAX_FRAME = 64 * 2 ** 20            # bytes in all (the largest honest answer is a few MB)
MAX_HEADER = 8 * 2 ** 20            # bytes of JSON (cell outputs travel there)
MAX_BUFFERS = 4096                  # arrays in one message
MAX_DEPTH = 64                      # nesting of lists, tuples, dicts
MAX_NDIM = 32                       # numpy's own limit is 64
NUMERIC_KINDS = "biufc"


class ProtocolError(Exception):
    """The other end sent something that is not a valid frame."""


class Ref:
    """A reference to an object living on one side ('g' grader, 'w' worker)."""

    __slots__ = ("side", "id", "kind", "name")

    def __init__(self, side, id, kind="object", name=""):
        self.side, self.id, self.kind, self.name = side, id, kind, name


def encode(value, export, buffers):
    """JSON-able form of `value`; `export(obj)` turns an object into a Ref."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, np.generic):
        return value
    scalar = isinstance(value, np.generic)
    if scalar:
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in NUMERIC_KINDS:
            return {"__ref__": _ref(export(value))}
        buffers.append(np.ascontiguousarray(value).tobytes())
        return {"__nd__": len(buffers) - 1, "dtype": value.dtype.str, "shape": list(value.shape),
                "scalar": scalar}
    if isinstance(value, list):
        return [encode(v, export, buffers) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, export, buffers) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: encode(v, export, buffers) for k, v in value.items()}}
    if isinstance(value, Ref):
        return {"__ref__": _ref(value)}
    return {"__ref__": _ref(export(value))}


def _ref(ref):
    return [ref.side, ref.id, ref.kind, ref.name]


def decode(value, resolve, buffers, depth=0):
    """Inverse of `encode`; `resolve(Ref)` gives the local object or a proxy. Raises
    ProtocolError for anything `encode` cannot have produced."""
    if depth > MAX_DEPTH:
        raise ProtocolError(f"values nested deeper than {MAX_DEPTH}")
    if isinstance(value, list):
        return [decode(v, resolve, buffers, depth + 1) for v in value]
    if isinstance(value, str):
        return text(value)          # valid Unicode: a lone surrogate cannot be stored
    if not isinstance(value, dict):
        return value
    try:
        if "__nd__" in value:
            return _array(value, buffers)
        if "__tuple__" in value:
            return tuple(decode(v, resolve, buffers, depth + 1) for v in value["__tuple__"])
        if "__dict__" in value:
            return {text(str(k)): decode(v, resolve, buffers, depth + 1)
                    for k, v in value["__dict__"].items()}
        if "__ref__" in value:
            side, id, kind, name = value["__ref__"]
            return resolve(Ref(str(side), int(id), str(kind), str(name)))
    except ProtocolError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as error:
        raise ProtocolError(f"malformed value: {type(error).__name__}") from None
    raise ProtocolError("unknown value tag")


def _array(value, buffers):
    dtype = np.dtype(value["dtype"])
    if dtype.kind not in NUMERIC_KINDS or dtype.hasobject:
        raise ProtocolError(f"refused dtype {dtype}")
    shape = tuple(value["shape"])
    if len(shape) > MAX_NDIM or not all(type(n) is int and n >= 0 for n in shape):
        raise ProtocolError("an array shape must be at most 32 non-negative integers")
    index = value["__nd__"]
    if type(index) is not int or not 0 <= index < len(buffers):
        raise ProtocolError("an array refers to no buffer")
    data = buffers[index]
    if math.prod(shape) * dtype.itemsize != len(data):      # Python ints: no overflow
        raise ProtocolError("array buffer does not match its shape")
    array = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    return array[()] if value.get("scalar") is True and array.ndim == 0 else array


def send(sock: socket.socket, message: dict, export):
    buffers: list[bytes] = []
    header = json.dumps(encode(message, export, buffers)["__dict__"]).encode()
    parts = [struct.pack(">II", len(header), len(buffers)), header]
    for buffer in buffers:
        parts += [struct.pack(">Q", len(buffer)), buffer]
    sock.sendall(b"".join(parts))


def _read(sock, n, budget):
    if n > budget[0]:
        raise ProtocolError(f"frame larger than {MAX_FRAME >> 20} MiB")
    budget[0] -= n
    chunks, remaining = [], n
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the other end closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def receive(sock: socket.socket, resolve) -> dict:
    budget = [MAX_FRAME]
    header_length, count = struct.unpack(">II", _read(sock, 8, budget))
    if header_length > MAX_HEADER or count > MAX_BUFFERS:
        raise ProtocolError(f"a frame announcing {header_length} bytes of header and {count} "
                            f"arrays (at most {MAX_HEADER >> 20} MiB and {MAX_BUFFERS})")
    header = _read(sock, header_length, budget)
    buffers = []
    for _ in range(count):
        (length,) = struct.unpack(">Q", _read(sock, 8, budget))
        buffers.append(_read(sock, length, budget))
    try:
        message = json.loads(header)
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"bad header: {type(error).__name__}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be an object")
    return decode({"__dict__": message}, resolve, buffers)
