"""The streaming decoder: any chunking, resynchronisation, and counted (never raised) bad data."""

from __future__ import annotations

import random

from anklet_protocol import StreamDecoder, framing, parse_message, spec
from anklet_protocol.decoder import concat_imu
from hypothesis import given, settings
from hypothesis import strategies as st


def _samples_payload(first: int, n_imu: int, n_load: int = 0) -> bytes:
    return spec.Samples.build(
        dict(
            first_index=first,
            t0_us=first * 5000,
            period_us=5000,
            imu_count=n_imu,
            load_count=n_load,
            imu=[dict(ax=k, ay=-k, az=k * 2, gx=3, gy=-3, gz=k % 7) for k in range(n_imu)],
            load=[dict(index=j, t_us=j * 12500, counts=j - 5) for j in range(n_load)],
        )
    )


def _stream(n_frames: int) -> tuple[bytes, list[bytes]]:
    raws = [
        framing.encode_frame(spec.MsgType.SAMPLES, _samples_payload(i * 10, 10, 2), seq=i)
        for i in range(n_frames)
    ]
    return b"".join(framing.cobs_wrap(r) for r in raws), raws


@given(cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=40))
def test_any_chunking_yields_the_same_frames(cuts):
    wire, _raws = _stream(12)
    points = sorted({c % (len(wire) + 1) for c in cuts})
    decoder = StreamDecoder()
    frames = []
    last = 0
    for point in [*points, len(wire)]:
        frames += decoder.feed(wire[last:point])
        last = point
    assert [f.seq for f in frames] == list(range(12))
    assert decoder.stats.bad_frames == 0
    assert decoder.stats.frames_missing == 0


def test_decoder_resyncs_after_garbage_and_keeps_good_frames():
    wire, _ = _stream(6)
    packets = wire.split(b"\x00")[:-1]
    garbage = bytes(random.Random(3).getrandbits(8) | 1 for _ in range(300))
    noisy = b"\x00".join([*packets[:3], garbage, *packets[3:]]) + b"\x00"
    decoder = StreamDecoder()
    frames = decoder.feed(noisy)
    assert [f.seq for f in frames] == list(range(6))
    assert decoder.stats.bad_frames == 1
    assert decoder.stats.bytes_discarded == len(garbage)


def test_joining_mid_frame_drops_only_the_partial_frame_without_an_error():
    wire, _ = _stream(4)
    first_len = wire.index(b"\x00") + 1
    decoder = StreamDecoder()
    frames = decoder.feed(wire[first_len // 2 :])
    assert [f.seq for f in frames] == [1, 2, 3]
    assert decoder.stats.bad_frames == 0
    assert decoder.stats.bytes_discarded == first_len - first_len // 2 - 1


def test_crc_failure_is_counted_and_the_frame_dropped():
    raw = bytearray(
        framing.encode_frame(spec.MsgType.LOG, spec.Log.build(dict(level=20, text="hi")), seq=0)
    )
    raw[12] ^= 0x40
    decoder = StreamDecoder()
    assert decoder.feed(framing.cobs_wrap(bytes(raw))) == []
    assert decoder.stats.crc_errors == 1


def test_truncated_frame_is_counted():
    raw = framing.encode_frame(spec.MsgType.SAMPLES, _samples_payload(0, 5), seq=0)
    decoder = StreamDecoder()
    assert decoder.feed_frame(raw[:-7]) is None
    assert decoder.stats.truncated == 1
    assert decoder.feed_frame(raw[:5]) is None
    assert decoder.stats.truncated == 2


def test_unknown_message_type_is_counted_and_skipped():
    decoder = StreamDecoder()
    frames = decoder.feed(framing.cobs_wrap(framing.encode_frame(99, b"future", seq=0)))
    assert frames == []
    assert decoder.stats.unknown_type == 1
    assert decoder.stats.bad_frames == 0


def test_other_major_version_is_counted_with_both_versions_known():
    decoder = StreamDecoder()
    raw = framing.encode_frame(spec.MsgType.LOG, b"\x14\x00", seq=0, version=(2, 3))
    assert decoder.feed_frame(raw) is None
    assert decoder.stats.incompatible_version == 1
    assert decoder.foreign_version == (2, 3)
    assert "2.3" in decoder.recent_errors[-1]


def test_newer_minor_version_is_accepted():
    raw = framing.encode_frame(spec.MsgType.LOG, b"\x14\x00", seq=0, version=(1, 9))
    frame = StreamDecoder().feed_frame(raw)
    assert frame is not None
    assert frame.version == (1, 9)


def test_sequence_gap_counts_missing_frames():
    wire, _ = _stream(10)
    packets = wire.split(b"\x00")[:-1]
    kept = [p for i, p in enumerate(packets) if i not in (3, 4, 7)]
    decoder = StreamDecoder()
    decoder.feed(b"\x00".join(kept) + b"\x00")
    assert decoder.stats.frames_missing == 3


def test_samples_payload_with_inconsistent_counts_is_malformed():
    payload = bytearray(_samples_payload(0, 4))
    payload[10] = 5  # claims 5 IMU samples, carries 4
    raw = framing.encode_frame(spec.MsgType.SAMPLES, bytes(payload), seq=0)
    decoder = StreamDecoder()
    assert decoder.feed_frame(raw) is None
    assert decoder.stats.malformed_payload == 1


def test_bulk_imu_concatenation_matches_per_block_values():
    _, raws = _stream(5)
    decoder = StreamDecoder()
    blocks = [parse_message(decoder.feed_frame(r)) for r in raws]
    joined = concat_imu(blocks)
    assert joined.shape == (50, 6)
    assert (joined[10:20] == blocks[1].imu).all()


_messages = st.sampled_from(
    [
        (spec.MsgType.LOG, spec.Log.build(dict(level=30, text="låg batteri"))),
        (spec.MsgType.EVENT, spec.Event.build(dict(kind=2, t_us=5, value=300))),
        (spec.MsgType.SAMPLES, _samples_payload(7, 3, 1)),
    ]
)


@given(
    msgs=st.lists(st.tuples(_messages, st.integers(0, 3)), min_size=1, max_size=20),
    seq0=st.integers(0, 0xFFFF),
)
def test_round_trip_for_message_sequences(msgs, seq0):
    wire = b"".join(
        framing.cobs_wrap(framing.encode_frame(t, p, seq=seq0 + i, flags=fl))
        for i, ((t, p), fl) in enumerate(msgs)
    )
    frames = StreamDecoder().feed(wire)
    assert [(f.msg_type, f.payload, f.flags) for f in frames] == [
        (int(t), p, fl) for (t, p), fl in msgs
    ]


@settings(max_examples=300)
@given(data=st.data())
def test_arbitrary_corruption_never_raises_and_never_yields_a_bad_frame(data):
    wire, raws = _stream(8)
    corrupted = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 30))):
        op = data.draw(st.sampled_from(["flip", "drop", "insert"]))
        at = data.draw(st.integers(0, len(corrupted) - 1))
        if op == "flip":
            corrupted[at] ^= data.draw(st.integers(1, 255))
        elif op == "drop":
            del corrupted[at]
        else:
            corrupted.insert(at, data.draw(st.integers(0, 255)))
    chunk = data.draw(st.integers(1, 700))
    decoder = StreamDecoder()
    frames = []
    for i in range(0, len(corrupted), chunk):
        frames += decoder.feed(bytes(corrupted[i : i + chunk]))
    good = {r[10:-4] for r in raws}
    for frame in frames:
        assert frame.payload in good  # a frame is only ever yielded if its CRC checked


@given(payload=st.binary(max_size=600))
def test_random_bytes_as_a_ble_notification_never_raise(payload):
    decoder = StreamDecoder()
    decoder.feed_frame(payload)
    assert decoder.stats.frames_ok + decoder.stats.bad_frames + decoder.stats.unknown_type <= 1
