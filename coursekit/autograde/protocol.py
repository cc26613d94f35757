"""The grader and its sandboxed child talk in frames; this module reads and writes them.

A frame is a 4-byte big-endian header length, a JSON header (an object), and
a payload whose length the header declares: the raw bytes of the arrays the
header lists, in order, as ``{"name": [dtype, shape], ...}``.  Nothing is
pickled or compressed, so the size of what a frame becomes in memory is
known, and checked against a budget, before anything is allocated.

Every reader treats its input as hostile: a short, oversized or malformed
frame raises :class:`ProtocolError` and nothing after it is trusted.
Standard library and numpy only: the child imports this too.
"""
from __future__ import annotations

import functools
import json
import struct
from typing import Any, BinaryIO
from collections.abc import Callable, Iterator

import numpy as np

MAX_HEADER = 64 << 10
MAX_NDIM = 8
# What may cross: plain little-endian numbers and booleans, nothing with objects inside.
DTYPES = frozenset({"<f8", "<f4", "<i8", "<i4", "<u8", "<u4", "|u1", "|i1", "|b1"})

Arrays = dict[str, np.ndarray]


class ProtocolError(ValueError):
    """A frame that does not follow the protocol (or breaks a size budget)."""


def encode(header: dict[str, Any], arrays: Arrays | None = None) -> bytes:
    """One frame: ``header`` plus, if given, the arrays it carries."""
    layout, chunks = {}, []
    for name, value in (arrays or {}).items():
        arr = np.asarray(value)  # not ascontiguousarray: it turns 0-d arrays into 1-d ones
        if arr.dtype.str not in DTYPES:
            arr = arr.astype(np.float64)
        arr = np.require(arr, requirements="C")
        layout[name] = [arr.dtype.str, list(arr.shape)]
        chunks.append(arr.tobytes())
    payload = b"".join(chunks)
    head = json.dumps({**header, "arrays": layout, "payload": len(payload)}).encode()
    if len(head) > MAX_HEADER:
        raise ProtocolError(f"header of {len(head)} bytes is over {MAX_HEADER}")
    return struct.pack(">I", len(head)) + head + payload


def decode(data: bytes | bytearray, budget: int) -> Iterator[tuple[dict[str, Any], Arrays]]:
    """The frames in ``data`` (a complete buffer); a torn last frame raises ProtocolError.

    ``budget`` bounds the bytes of arrays all frames together may declare."""
    for header, build in frames(data, budget):
        yield header, build()


def frames(data: bytes | bytearray, budget: int) -> Iterator[tuple[dict[str, Any], Callable[[], Arrays]]]:
    """As :func:`decode`, but each frame's arrays are built only when its ``build()`` is called.

    Every frame is checked (header, layout against payload, budget) before it is yielded; the
    header's ``arrays`` is then its true layout, so a reader can size what the frame would become
    and refuse it without allocating anything (a copy of a refused frame costs as much as the
    frame, up to the whole channel)."""
    view, pos = memoryview(data), 0
    while pos < len(data):
        header, plan, start, pos, budget = _frame(view, pos, budget)
        yield header, functools.partial(_build, view, plan, start)


def read_frame(stream: BinaryIO, budget: int) -> tuple[dict[str, Any], Arrays] | None:
    """The next frame from a blocking stream, or None at a clean end of stream."""
    first = stream.read(4)
    if not first:
        return None
    if len(first) < 4:
        raise ProtocolError("stream ended inside a frame")
    (size,) = struct.unpack(">I", first)
    if size > MAX_HEADER:
        raise ProtocolError(f"header of {size} bytes is over {MAX_HEADER}")
    head = _exactly(stream, size)
    header = _header(head)
    payload = header["payload"]
    if payload > budget:
        raise ProtocolError(f"payload of {payload} bytes is over the budget of {budget}")
    body = _exactly(stream, payload)
    plan, _ = _plan(header, 0, len(body))
    return header, _build(memoryview(body), plan, 0)


def _exactly(stream: BinaryIO, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(min(n - got, 1 << 20))
        if not chunk:
            raise ProtocolError("stream ended inside a frame")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _frame(view: memoryview, pos: int, budget: int) -> tuple[dict[str, Any], list[_Planned], int, int, int]:
    if pos + 4 > len(view):
        raise ProtocolError("data ended inside a frame")
    (size,) = struct.unpack(">I", view[pos:pos + 4])
    if size > MAX_HEADER or pos + 4 + size > len(view):
        raise ProtocolError("a frame header is too large or torn")
    header = _header(bytes(view[pos + 4:pos + 4 + size]))
    start = pos + 4 + size
    end = start + header["payload"]
    if end > len(view):
        raise ProtocolError("data ended inside a frame's payload")
    if header["payload"] > budget:
        raise ProtocolError("frames declare more than the budget of arrays")
    plan, used = _plan(header, start, end)
    return header, plan, start, end, budget - used


def _header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"a frame header is not JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), dict) \
            or type(header.get("payload")) is not int or header["payload"] < 0:
        raise ProtocolError("a frame header lacks its array layout")
    return header


_Planned = tuple[str, np.dtype, tuple[int, ...], int]  # name, dtype, shape, bytes


def _plan(header: dict[str, Any], start: int, end: int) -> tuple[list[_Planned], int]:
    """Check every declared array against the payload ``[start, end)`` before building any of them."""
    plan, total = [], 0
    for name, spec in header["arrays"].items():
        if not (isinstance(spec, list) and len(spec) == 2 and spec[0] in DTYPES and isinstance(spec[1], list)
                and len(spec[1]) <= MAX_NDIM and all(type(d) is int and 0 <= d < 1 << 40 for d in spec[1])):
            raise ProtocolError(f"array {str(name)[:40]!r}: bad dtype or shape")
        dtype = np.dtype(spec[0])
        count = 1
        for d in spec[1]:
            count *= d
        nbytes = count * dtype.itemsize
        total += nbytes
        if total > end - start:
            raise ProtocolError(f"array {str(name)[:40]!r}: declares more bytes than the frame carries")
        plan.append((name, dtype, tuple(spec[1]), nbytes))
    if total != end - start:
        raise ProtocolError("a frame's payload does not match its arrays")
    return plan, total


def _build(view: memoryview, plan: list[_Planned], start: int) -> Arrays:
    # Copies: an array must not pin (or, for a bytearray, alias) the whole buffer it came from.
    arrays, pos = {}, start
    for name, dtype, shape, nbytes in plan:
        arrays[name] = np.frombuffer(view[pos:pos + nbytes], dtype=dtype).reshape(shape).copy()
        pos += nbytes
    return arrays
