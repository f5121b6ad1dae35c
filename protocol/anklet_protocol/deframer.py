"""The serial link's byte stream, cut into raw frames: COBS packets between zero delimiters.

    deframer = CobsDeframer()
    for item in deframer.feed(chunk):             # chunks of any size, as the port gives them
        if isinstance(item, Discarded):           # noise, broken COBS: bytes and the reason
            decoder.discard(item)
        else:
            frame = decoder.feed_frame(item)      # the CRC and the header are checked there

Bytes that cannot be a frame (broken COBS, noise, the tail of a frame joined late, a packet
cut off by a reconnect) come out as `Discarded`, in stream order: never dropped silently. What a
reconnect cut (a frame's head as the link closed, its tail as it opened again) is a damaged
frame (`cut_frame`); the tail of a frame met when first joining a stream is not.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cobs import cobs

from . import spec, structfmt

_HEADER = struct.Struct(structfmt.format_of(spec.Header))
_LENGTH_AT = len(spec.Header.subcons) - 1  # the header's last field: the payload length
_OVERHEAD = spec.FRAME_OVERHEAD
# A COBS packet longer than the largest possible frame cannot be one: drop it without decoding.
MAX_PACKET = 0xFFFF + _OVERHEAD + (0xFFFF + _OVERHEAD) // 254 + 2


@dataclass(frozen=True, slots=True)
class Discarded:
    """Bytes a link received that are not a frame, as they came, and why."""

    data: bytes
    why: str
    bad_cobs: bool = False  # the packet was delimited but its COBS encoding is broken
    # Part of a frame the link cut (its head when the link closed, its tail when it opened
    # again): a damaged frame, counted as one, as decoding the capture of it counts it.
    cut_frame: bool = False


class CobsDeframer:
    """Feed stream chunks, get raw frames (COBS removed, not yet checked) and what was not one."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._synced = False
        self._joined_before = False  # synced on an earlier connection: this one is a rejoin

    def reset(self) -> Discarded | None:
        """The link closed or reopened: a partial packet, if any, is discarded."""
        partial = self._buffer
        self._buffer = bytearray()
        self._joined_before = self._joined_before or self._synced
        self._synced = False
        if partial:
            return Discarded(
                bytes(partial), "partial packet dropped: the link closed", cut_frame=True
            )
        return None

    def feed(self, data: bytes) -> list[bytes | Discarded]:
        out: list[bytes | Discarded] = []
        buffer = self._buffer
        buffer += data
        end = buffer.rfind(0)
        if end < 0:
            if len(buffer) > MAX_PACKET:
                out.append(Discarded(bytes(buffer), "no delimiter within the longest frame"))
                buffer.clear()
                self._synced = True
            return out
        packets = bytes(buffer[:end]).split(b"\x00")
        del buffer[: end + 1]
        for packet in packets:
            if not self._synced:
                # Bytes before the first delimiter may be the tail of a frame we joined late:
                # keep them if they make a whole frame, otherwise they are not an error.
                self._synced = True
                first = self._first_packet(packet)
                if first is not None:
                    out.append(first)
                continue
            if not packet:
                continue
            if len(packet) > MAX_PACKET:
                out.append(Discarded(packet, "packet longer than any frame"))
                continue
            try:
                out.append(cobs.decode(packet))
            except cobs.DecodeError:
                out.append(Discarded(packet, "bad COBS encoding", bad_cobs=True))
        return out

    def _first_packet(self, packet: bytes) -> bytes | Discarded | None:
        """A packet that is a whole frame (magic, matching length) is passed on as usual."""
        if not packet:
            return None
        try:
            raw = cobs.decode(packet)
        except cobs.DecodeError:
            raw = b""
        whole = (
            len(raw) >= _OVERHEAD
            and raw[:2] == spec.MAGIC
            and len(raw) == _HEADER.unpack_from(raw)[_LENGTH_AT] + _OVERHEAD
        )
        if not whole:
            if self._joined_before:  # the tail of a frame sent while the link was down
                return Discarded(
                    packet, "the rest of a frame the link cut (joined again mid-frame)",
                    cut_frame=True,
                )  # fmt: skip
            # Joined a stream already going (the port opened mid-frame): not an error.
            return Discarded(packet, "partial frame before the first delimiter")
        return raw
