"""The frames between grader and harness: whatever bytes arrive, nothing is allocated blindly."""
from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.autograde.protocol import MAX_HEADER, ProtocolError, decode, encode, read_frame


def raw(header: dict, payload: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + payload


def test_round_trip_keeps_dtypes_shapes_and_zero_dimensional_arrays():
    arrays = {"W": np.arange(6.0).reshape(2, 3), "d": np.array(7), "mask": np.array([True, False]),
              "empty": np.zeros((0, 4))}
    frames = list(decode(encode({"type": "answer", "case": "visible"}, arrays), budget=1 << 20))
    assert len(frames) == 1
    header, got = frames[0]
    assert header["type"] == "answer" and header["case"] == "visible"
    for name, want in arrays.items():
        assert got[name].shape == want.shape and got[name].dtype == want.dtype
        assert np.array_equal(got[name], want)


def test_read_frame_reads_the_same_frames_from_a_stream():
    data = encode({"n": 1}, {"x": np.ones(3)}) + encode({"n": 2})
    stream = io.BytesIO(data)
    assert read_frame(stream, budget=100)[0]["n"] == 1
    assert read_frame(stream, budget=100)[0]["n"] == 2
    assert read_frame(stream, budget=100) is None


def test_objects_never_cross():
    # An object array would need pickling; it is sent as float64 or not at all.
    frame = encode({}, {"x": np.array([1, 2], dtype=object)})
    (_, got), = decode(frame, budget=100)
    assert got["x"].dtype == np.float64
    with pytest.raises(ProtocolError, match="bad dtype"):
        list(decode(raw({"arrays": {"x": ["|O", [2]]}, "payload": 16}, b"\0" * 16), budget=100))


@pytest.mark.parametrize("header, payload, why", [
    # A terabyte declared in a frame of a few bytes: refused before any allocation.
    ({"arrays": {"x": ["<f8", [1 << 20, 1 << 17]]}, "payload": 8}, b"\0" * 8, "more bytes than the frame"),
    ({"arrays": {"x": ["<f8", [2]]}, "payload": 8}, b"\0" * 8, "more bytes than the frame"),
    ({"arrays": {"x": ["<f8", [1]]}, "payload": 16}, b"\0" * 16, "does not match"),
    ({"arrays": {"x": ["<f8", [-1]]}, "payload": 0}, b"", "bad dtype or shape"),
    ({"arrays": {"x": ["<f8", [1] * 9]}, "payload": 8}, b"\0" * 8, "bad dtype or shape"),
    ({"arrays": {"x": ["<f8", [1.5]]}, "payload": 8}, b"\0" * 8, "bad dtype or shape"),
    ({"arrays": {"x": "<f8"}, "payload": 8}, b"\0" * 8, "bad dtype or shape"),
    ({"arrays": [], "payload": 0}, b"", "lacks its array layout"),
    ({"arrays": {}, "payload": -5}, b"", "lacks its array layout"),
    ({"arrays": {}, "payload": True}, b"", "lacks its array layout"),
])
def test_malformed_frames_are_refused(header, payload, why):
    with pytest.raises(ProtocolError, match=why):
        list(decode(raw(header, payload), budget=1 << 30))


def test_budget_bounds_what_all_frames_declare_together():
    frame = encode({}, {"x": np.zeros(100)})  # 800 bytes each
    assert len(list(decode(frame * 3, budget=2400))) == 3
    with pytest.raises(ProtocolError, match="budget"):
        list(decode(frame * 4, budget=2400))


def test_torn_and_oversized_headers_are_refused():
    whole = encode({"type": "ready"})
    with pytest.raises(ProtocolError):
        list(decode(whole[:-1], budget=0))
    with pytest.raises(ProtocolError, match="too large"):
        list(decode(struct.pack(">I", MAX_HEADER + 1) + b"{}" * 10, budget=0))
    with pytest.raises(ProtocolError, match="ended inside"):
        read_frame(io.BytesIO(whole[:3]), budget=0)


def test_deeply_nested_header_is_refused_not_a_crash():
    deep = b"[" * 30000 + b"]" * 30000  # fits under MAX_HEADER: the JSON parser itself must cope
    data = struct.pack(">I", len(deep)) + deep
    with pytest.raises(ProtocolError, match="not JSON"):
        list(decode(data, budget=0))


def test_frames_before_a_bad_one_are_still_read():
    good = encode({"n": 1}, {"x": np.ones(2)})
    frames = decode(good + b"\xff\xff\xff\xff garbage", budget=1 << 20)
    assert next(frames)[0]["n"] == 1
    with pytest.raises(ProtocolError):
        next(frames)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_anything_but_protocol_error(data):
    try:
        for _, arrays in decode(data, budget=1 << 16):
            assert sum(a.nbytes for a in arrays.values()) <= 1 << 16
    except ProtocolError:
        pass
