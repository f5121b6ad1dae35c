"""The transport interface every link (serial, BLE) implements.

    async with SerialTransport("/dev/ttyUSB0") as link:
        await link.write_frame(raw_frame)
        chunk = await link.read()          # bytes; `link.framing` says how to decode them

A transport moves bytes. `framing == "cobs"`: read() returns stream chunks in any size, fed to
StreamDecoder.feed(). `framing == "raw"`: read() returns exactly one frame (a BLE
notification), fed to StreamDecoder.feed_frame(). A lost link raises LinkLost from read() or
write_frame(); the session reconnects with connect().
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal


class TransportError(Exception):
    """A link could not be opened or used; the message says what to do about it."""


class LinkLost(TransportError):
    """An open link went away (cable pulled, board reset, out of radio range)."""


class Transport(ABC):
    framing: Literal["cobs", "raw"] = "cobs"
    #: The largest frame the link carries (serial: the protocol's maximum; BLE: MTU − 3).
    max_frame: int = 0xFFFF

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
        """Send one raw frame (the transport adds its own framing, e.g. COBS)."""

    @abstractmethod
    async def read(self) -> bytes:
        """Wait for the next chunk (cobs) or frame (raw). Raises LinkLost."""

    async def __aenter__(self) -> Transport:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()
