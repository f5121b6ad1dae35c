"""The transport interface every link (serial, BLE) implements: whole frames, both ways.

    async with SerialTransport("/dev/ttyUSB0") as link:
        await link.write_frame(raw_frame)
        raw_frame = await link.read_frame()   # bytes of one protocol frame, CRC not yet checked

A frame is `Header | payload | CRC-32` (anklet_protocol.framing). How the link carries it is
the transport's own business: serial COBS-encodes it between zero delimiters, BLE sends one
frame per notification (board to host) or write (host to board). Bytes a link received that
are not a frame (serial noise, broken COBS) go to `on_discard`, never silently away.
A lost link raises LinkLost from read_frame() or write_frame(); the session reconnects with
connect().
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from anklet_protocol.deframer import Discarded


class TransportError(Exception):
    """A link could not be opened or used; the message says what to do about it."""


class LinkLost(TransportError):
    """An open link went away (cable pulled, board reset, out of radio range)."""


class Transport(ABC):
    #: The largest frame the link carries (serial: the protocol's maximum; BLE: MTU − 3).
    max_frame: int = 0xFFFF
    #: Told of bytes the link received that are not a frame (Device counts them).
    on_discard: Callable[[Discarded], object] | None = None

    @property
    @abstractmethod
    def description(self) -> str:
        """Where this link goes, for messages: 'serial:/dev/ttyUSB0', 'ble:Anklet-1A2B'."""

    @property
    @abstractmethod
    def connected(self) -> bool: ...

    @abstractmethod
    async def connect(self) -> None:
        """Open the link; raises TransportError with an actionable message."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Close the link; safe to call twice."""

    @abstractmethod
    async def write_frame(self, frame: bytes) -> None:
        """Send one whole frame."""

    @abstractmethod
    async def read_frame(self) -> bytes:
        """Wait for the next whole frame from the board. Raises LinkLost."""

    async def __aenter__(self) -> Transport:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()
