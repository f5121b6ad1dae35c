"""The serial link's byte stream, cut into raw frames: COBS packets between zero delimiters.

    deframer = CobsDeframer(on_discard=lambda d: print(len(d.data), d.why))
    for raw in deframer.feed(chunk):              # chunks of any size, as the port gives them
        frame = decoder.feed_frame(raw)           # the CRC and the header are checked there

Bytes that cannot be a frame (broken COBS, noise, the tail of a frame joined late, a packet
cut off by a reconnect) are handed to `on_discard` with the reason: never dropped silently.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
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


class CobsDeframer:
    """Feed stream chunks, get raw frames (COBS removed, not yet checked)."""

    def __init__(self, on_discard: Callable[[Discarded], object]) -> None:
        self.on_discard = on_discard
        self._buffer = bytearray()
        self._synced = False

    def reset(self) -> None:
        """The link closed or reopened: a partial packet is discarded."""
        if self._buffer:
            why = "partial packet dropped: the link closed"
            self.on_discard(Discarded(bytes(self._buffer), why))
        self._buffer.clear()
        self._synced = False

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        buffer = self._buffer
        buffer += data
        end = buffer.rfind(0)
        if end < 0:
            if len(buffer) > MAX_PACKET:
                self.on_discard(Discarded(bytes(buffer), "no delimiter within the longest frame"))
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
                raw = self._first_packet(packet)
                if raw is not None:
                    out.append(raw)
                continue
            if not packet:
                continue
            if len(packet) > MAX_PACKET:
                self.on_discard(Discarded(packet, "packet longer than any frame"))
                continue
            try:
                out.append(cobs.decode(packet))
            except cobs.DecodeError:
                self.on_discard(Discarded(packet, "bad COBS encoding", bad_cobs=True))
        return out

    def _first_packet(self, packet: bytes) -> bytes | None:
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
            self.on_discard(Discarded(packet, "partial frame before the first delimiter"))
            return None
        return raw
