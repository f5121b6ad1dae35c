"""The version rule: fields added at the end of a payload in a minor version stay compatible.

An older board's shorter INFO/STATUS parses with the new fields at their defaults; a newer
board's extra trailing bytes are ignored; the frames come from the golden vectors.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anklet_protocol import StreamDecoder, parse_message, spec, vectors
from anklet_protocol.decoder import MalformedPayload
from anklet_protocol.framing import encode_frame
from construct import Int8ul, Int16ul, StreamError, Struct
from hypothesis import given
from hypothesis import strategies as st

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "vectors.json"


def _vector(name: str) -> dict:
    return next(v for v in json.loads(VECTORS.read_text()) if v["name"] == name)


def _same(got, expected) -> bool:
    return got == (pytest.approx(expected) if isinstance(expected, float) else expected)


def _decode(vector: dict):
    decoder = StreamDecoder()
    (frame,) = decoder.feed(bytes.fromhex(vector["wire"]))
    return frame, parse_message(frame)


@pytest.mark.parametrize(
    ("name", "added"),
    [("info_from_board_1_0", "resend_window_ms"), ("status_from_board_1_0", "load_dropped")],
)
def test_new_host_reads_an_older_boards_shorter_payload_with_defaults(name, added):
    vector = _vector(name)
    frame, message = _decode(vector)
    assert frame.version == (1, 0)
    struct = spec.PAYLOADS[spec.MsgType(frame.msg_type)]
    assert len(frame.payload) == spec.as_of(struct, 0).sizeof() < struct.sizeof()
    assert message[added] == 0
    current = vectors.CASES[[c[0] for c in vectors.CASES].index(name.split("_from")[0])][4]
    assert current[added] != 0  # the vector's board would have sent something else
    for key in vector["fields"]:
        if key not in ("device_id", added):
            assert _same(message[key], current[key]), key


@pytest.mark.parametrize("name", ["info_from_newer_board", "status_from_newer_board"])
def test_host_ignores_a_newer_boards_extra_trailing_field(name):
    vector = _vector(name)
    frame, message = _decode(vector)
    assert frame.version == (1, spec.VERSION_MINOR + 1)
    assert frame.payload.endswith(vectors.NEWER_FIELD)
    for key, expected in vector["fields"].items():
        if isinstance(expected, dict):
            expected = bytes.fromhex(expected["hex"])
        assert _same(message[key], expected), key


@pytest.mark.parametrize("msg_type", [spec.MsgType.INFO, spec.MsgType.STATUS])
def test_older_host_reads_this_boards_payload_as_its_own_version(msg_type):
    # A 1.0 host knew these structs without the fields added in 1.1: this board's payload
    # must read, to that host, exactly as a 1.0 board's did.
    fields = vectors.CASES[[c[1] for c in vectors.CASES].index(msg_type)][4]
    payload = spec.PAYLOADS[msg_type].build(fields)
    old_struct = spec.as_of(spec.PAYLOADS[msg_type], 0)
    old = old_struct.parse(payload)
    assert old == old_struct.parse(vectors.peer_payload(msg_type, fields, 0))
    assert "resend_window_ms" not in old and "load_dropped" not in old


def test_every_message_and_reply_the_host_parses_ignores_extra_trailing_bytes():
    for name, msg_type, _flags, _seq, fields in vectors.CASES:
        if msg_type == spec.MsgType.SAMPLES:
            continue  # exact length by design: see test_samples_with_extra_bytes_are_malformed
        struct = spec.PAYLOADS[msg_type]
        payload = struct.build(fields)
        if msg_type in (spec.MsgType.COMMAND, spec.MsgType.REPLY):
            continue  # their tail is the args/payload bytes, parsed by the structs below
        assert struct.parse(payload + b"\x7f" * 5) == struct.parse(payload), name
    for opcode, struct in spec.REPLY_PAYLOADS.items():
        sample = vectors.CASES[0][4] if struct is spec.Info else None
        if struct is spec.Status:
            sample = vectors.CASES[2][4]
        if sample is None:
            sample = {sub.name: 1 for sub in struct.subcons}
        payload = struct.build(sample)
        assert struct.parse(payload + b"\x01\x02") == struct.parse(payload), opcode.name


def test_samples_with_extra_bytes_are_malformed():
    fields = vectors.CASES[3][4]
    payload = spec.Samples.build(fields) + b"\x00\x00"
    decoder = StreamDecoder()
    assert decoder.feed_frame(encode_frame(spec.MsgType.SAMPLES, payload, seq=0)) is None
    assert decoder.stats.malformed_payload == 1


def test_payload_ending_inside_an_added_field_is_malformed_with_the_fields_name():
    fields = vectors.CASES[2][4]
    payload = spec.Status.build(fields)[:-2]
    decoder = StreamDecoder()
    frame = decoder.feed_frame(encode_frame(spec.MsgType.STATUS, payload, seq=0))
    assert frame is not None
    with pytest.raises(MalformedPayload, match=r"STATUS payload: .*load_dropped"):
        parse_message(frame)


def test_building_without_an_added_field_writes_its_default():
    fields = dict(vectors.CASES[2][4])
    del fields["load_dropped"]
    assert spec.Status.parse(spec.Status.build(fields)).load_dropped == 0


def test_an_added_field_must_come_after_every_older_field():
    with pytest.raises(TypeError, match=r"follows a field added in 1\.1"):
        spec.check_trailing(Struct("a" / spec.Trailing(Int16ul, 0, since=1), "b" / Int8ul))
    with pytest.raises(TypeError, match=r"added in 1\.9"):
        spec.check_trailing(Struct("a" / Int8ul, "b" / spec.Trailing(Int8ul, 0, since=9)))


_U32 = st.integers(min_value=0, max_value=2**32 - 1)


@given(
    counters=st.lists(_U32, min_size=len(spec.Status.subcons), max_size=len(spec.Status.subcons)),
    cut=st.integers(min_value=0, max_value=spec.Status.sizeof()),
    tail=st.binary(max_size=40),
)
def test_status_of_any_version_parses_exactly_when_it_ends_on_a_field_boundary(counters, cut, tail):
    fields = {
        str(sub.name): value for sub, value in zip(spec.Status.subcons, counters, strict=True)
    }
    fields.update(battery_mv=counters[1] & 0xFFFF, battery_pct=counters[2] & 0xFF)
    fields.update(flags=counters[3] & 0xFF)
    full = spec.Status.build(fields)
    old_size = spec.as_of(spec.Status, 0).sizeof()
    # A newer board: anything appended is ignored.
    assert spec.Status.parse(full + tail) == spec.Status.parse(full)
    # An older board: its payload ends where 1.0 ended; any other cut is an error.
    payload = full[:cut]
    if cut in (old_size, len(full)):
        parsed = spec.Status.parse(payload)
        assert parsed.load_dropped == (fields["load_dropped"] if cut == len(full) else 0)
        assert parsed.free_heap == fields["free_heap"]
    else:
        with pytest.raises(StreamError, match="stream read less"):
            spec.Status.parse(payload)


def _start_reply(vector: dict):
    frame, reply = _decode(vector)
    assert reply.opcode == spec.Opcode.START and reply.status == spec.StatusCode.OK
    return frame, reply.payload, spec.REPLY_PAYLOADS[spec.Opcode.START].parse(reply.payload)


def test_new_host_reads_a_1_1_boards_empty_start_reply_as_an_unknown_first_index():
    vector = _vector("reply_start_from_board_1_1")
    frame, payload, parsed = _start_reply(vector)
    assert frame.version == (1, 1)
    assert payload == b""  # a 1.1 board answers START with nothing
    assert parsed.first_index == spec.FIRST_INDEX_UNKNOWN == vector["reply"]["first_index"]


def test_host_ignores_a_newer_boards_extra_start_reply_field():
    vector = _vector("reply_start_from_newer_board")
    frame, payload, parsed = _start_reply(vector)
    assert frame.version == (1, spec.VERSION_MINOR + 1)
    assert payload.endswith(vectors.NEWER_FIELD)
    assert parsed.first_index == vector["reply"]["first_index"] == 4321


def test_a_1_1_host_reads_this_boards_start_reply_as_the_empty_one_it_knew():
    # A 1.1 host knew START's reply as empty and ignored its payload: the 4 bytes this board
    # appends are a newer peer's trailing field to it.
    payload = spec.StartReply.build({"first_index": 2**29 + 5})
    old_struct = spec.as_of(spec.StartReply, 1)
    assert old_struct.parse(payload) == old_struct.parse(b"")
    assert "first_index" not in old_struct.parse(payload)
    assert vectors.peer_struct_payload(spec.StartReply, {"first_index": 9}, 1) == b""


def test_the_start_reply_vector_carries_the_first_index_in_the_firmwares_format():
    vector = _vector("reply_start")
    _frame, payload, parsed = _start_reply(vector)
    assert parsed.first_index == vector["reply"]["first_index"] == 2**29 + 5
    assert payload == (2**29 + 5).to_bytes(4, "little")
