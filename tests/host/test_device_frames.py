"""Device reads whole frames from any transport: what a serial link discarded is counted in the
decoder's stats and kept in the raw capture, and a capture made over either link decodes to
the frames the session saw."""

from __future__ import annotations

import asyncio

import pytest
from anklet.device import Device
from anklet_protocol import StreamDecoder, framing, spec
from fake_transport import FakeTransport

NOISE = b"\x01\x02\x05garbage"  # broken COBS: a code byte pointing past the packet's end


def _log(seq: int) -> bytes:
    payload = spec.Log.build(dict(level=20, text=f"line {seq}"))
    return framing.encode_frame(spec.MsgType.LOG, payload, seq=seq)


def _session(link: FakeTransport, deliveries: list[bytes], expect: int):
    """Deliver to a Device, collect `expect` messages and what its raw sink was given."""

    async def go():
        device = Device(link)
        capture = bytearray()
        device.raw_sink = capture.extend
        seen: list[str] = []
        done = asyncio.Event()

        def on_message(msg_type, message):
            seen.append(message.text)
            if len(seen) == expect:
                done.set()

        device.on_message = on_message
        await device.open()
        try:
            for data in deliveries:
                link.deliver(data)
            await done.wait()
        finally:
            await device.close()
        return seen, device.decoder.stats, bytes(capture)

    return asyncio.run(go())


def test_noise_on_a_serial_link_is_counted_and_kept_in_the_capture():
    wire = framing.cobs_wrap(_log(0)) + NOISE + b"\x00" + framing.cobs_wrap(_log(1))
    seen, stats, capture = _session(FakeTransport("cobs"), [wire[:5], wire[5:]], expect=2)
    assert seen == ["line 0", "line 1"]
    assert (stats.bad_cobs, stats.bytes_discarded, stats.frames_ok) == (1, len(NOISE), 2)
    replayed = StreamDecoder()
    assert [f.seq for f in replayed.feed(capture)] == [0, 1]
    assert (replayed.stats.bad_cobs, replayed.stats.bytes_discarded) == (1, len(NOISE))


@pytest.mark.parametrize("link_kind", ["cobs", "raw"])
def test_a_capture_over_either_link_decodes_to_the_frames_seen(link_kind):
    frames = [_log(i) for i in range(5)]
    deliveries = [b"".join(framing.cobs_wrap(f) for f in frames)] if link_kind == "cobs" else frames
    seen, stats, capture = _session(FakeTransport(link_kind), deliveries, expect=5)
    assert seen == [f"line {i}" for i in range(5)]
    assert stats.bad_frames == 0
    assert capture == b"".join(framing.cobs_wrap(f) for f in frames)


def test_frames_a_reconnect_cut_count_live_as_decoding_the_capture_counts_them():
    # The link drops with half of frame 1 read; it comes back in the middle of frame 3. Live,
    # those two pieces were counted as bytes alone, no damaged frame; the capture keeps them
    # delimited, and decoding it counted two broken frames (once beside two busy loops:
    # `test_capture_decodes_to_the_live_samples`, 1 against 0). Both now count two.
    head = framing.cobs_wrap(_log(1))[:9]
    tail = framing.cobs_wrap(_log(3))[7:]

    async def go():
        link = FakeTransport("cobs")
        device = Device(link)
        capture = bytearray()
        device.raw_sink = capture.extend
        seen: list[str] = []
        device.on_message = lambda msg_type, message: seen.append(message.text)

        async def until(count: int) -> None:
            while len(seen) < count:
                await asyncio.sleep(0.01)

        await device.open()
        try:
            link.deliver(framing.cobs_wrap(_log(0)) + head)
            await until(1)
            link.drop()
            await device.link_lost.wait()
            await device.reconnect()
            link.deliver(tail + framing.cobs_wrap(_log(4)))
            await until(2)
        finally:
            await device.close()
        return seen, device.decoder.stats, bytes(capture)

    seen, live, capture = asyncio.run(go())
    assert seen == ["line 0", "line 4"]
    assert live.bad_frames == 2 and live.truncated == 2
    assert live.bytes_discarded == len(head) + len(tail) - 1  # the tail's own delimiter is not data
    replayed = StreamDecoder()
    assert [f.seq for f in replayed.feed(capture)] == [0, 4]
    assert replayed.stats.bad_frames == live.bad_frames


def test_the_tail_of_a_frame_met_when_first_joining_is_not_a_damaged_frame():
    tail = framing.cobs_wrap(_log(3))[7:]
    seen, stats, _ = _session(FakeTransport("cobs"), [tail + framing.cobs_wrap(_log(4))], expect=1)
    assert seen == ["line 4"]
    assert stats.bad_frames == 0 and stats.bytes_discarded == len(tail) - 1
