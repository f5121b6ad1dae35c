"""A fake link for tests of the layers above the transport: no MicroPython, no pty, no radio.

    link = FakeTransport()                       # deliver() takes serial bytes (COBS) ...
    link = FakeTransport("raw")                  # ... or one whole frame each (BLE)
    board = ScriptedBoard(link, info=INFO)       # answers COMMAND frames as the firmware does
    board.replay(capture_bytes, chunk=61)        # recorded or golden bytes, in any chunking
    async with Device(link) as device: ...

Like bleak's fake BlueZ: the fake stands in for the layer below the one under test. The
transport itself is tested with a real pty or radio (tests/ble, hil/).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Literal

from anklet.transport import LinkLost, Transport
from anklet_protocol import StreamDecoder, framing, parse_message, spec
from anklet_protocol.deframer import CobsDeframer, Discarded

#: What a scripted board answers to one command: (status, reply payload), or None for silence.
Answer = tuple[int, bytes] | None
Handler = Callable[[Any], Answer]


class FakeTransport(Transport):
    """Bytes in through `deliver`, frames out into `written`; `drop()` loses the link.
    With framing "cobs" the delivered bytes are a serial stream, cut into frames the way
    SerialTransport does it (anklet_protocol.deframer); with "raw" each delivery is a frame."""

    def __init__(self, framing: Literal["cobs", "raw"] = "cobs", max_frame: int = 512) -> None:
        self.framing = framing
        self.max_frame = max_frame
        self.written: list[bytes] = []  # raw frames the host sent, in order
        self.on_write: Callable[[bytes], None] = lambda frame: None
        self.connects = 0
        self.connect_errors: list[Exception] = []  # raised by the next connects, in turn
        self._refused_until_s = 0.0  # connects fail until then (time.monotonic)
        self._open = False
        self._inbox: asyncio.Queue[bytes | LinkLost] = asyncio.Queue()
        self._deframer = CobsDeframer()
        self._pending: deque[bytes | Discarded] = deque()

    @property
    def description(self) -> str:
        return f"fake:{self.framing}"

    @property
    def connected(self) -> bool:
        return self._open

    async def connect(self) -> None:
        self.connects += 1
        if self.connect_errors:
            raise self.connect_errors.pop(0)
        if time.monotonic() < self._refused_until_s:
            raise LinkLost(f"{self.description}: no answer (the board is out of reach)")
        self._open = True
        self._inbox = asyncio.Queue()  # a new connection starts with nothing in flight
        self._discarded(self._deframer.reset())
        self._pending.clear()

    async def disconnect(self) -> None:
        self._open = False

    async def write_frame(self, frame: bytes) -> None:
        if not self._open:
            raise LinkLost(f"{self.description}: not connected")
        self.written.append(bytes(frame))
        self.on_write(bytes(frame))

    async def read_frame(self) -> bytes:
        # Cut into frames as they are read, as SerialTransport does: a discard is reported in
        # stream order, between the frames around it.
        while True:
            while not self._pending:
                if not self._open:
                    raise LinkLost(f"{self.description}: not connected")
                item = await self._inbox.get()
                if isinstance(item, LinkLost):
                    self._open = False
                    self._discarded(self._deframer.reset())  # a frame cut off by the loss
                    raise item
                self._pending.extend(
                    self._deframer.feed(item) if self.framing == "cobs" else [item]
                )
            next_item = self._pending.popleft()
            if not isinstance(next_item, Discarded):
                return next_item
            self._discarded(next_item)

    def deliver(self, data: bytes) -> None:
        """Bytes from the board: a stream chunk (cobs) or one whole frame (raw)."""
        self._inbox.put_nowait(bytes(data))

    def _discarded(self, discarded: Discarded | None) -> None:
        if discarded is not None and self.on_discard is not None:
            self.on_discard(discarded)

    def deliver_frame(self, raw_frame: bytes) -> None:
        """One raw frame, framed as this link carries it."""
        self.deliver(framing.cobs_wrap(raw_frame) if self.framing == "cobs" else raw_frame)

    def refuse_connects_until(self, monotonic_s: float) -> None:
        """Every connect fails until then, as a board out of range does."""
        self._refused_until_s = monotonic_s

    def drop(self, why: str = "cable pulled") -> None:
        """The link goes away after what was delivered so far."""
        self._inbox.put_nowait(LinkLost(f"{self.description}: {why}"))


class ScriptedBoard:
    """Answers the host's COMMAND frames the way the firmware does, from `handlers`.

    By default GET_INFO answers `info`, GET_STATUS answers `status`, and every other known
    opcode answers OK with an empty payload. `commands` records what the host asked, in order.
    """

    def __init__(
        self,
        link: FakeTransport,
        info: dict[str, Any],
        status: dict[str, Any] | None = None,
        info_payload: bytes | None = None,
    ) -> None:
        self.link = link
        self.info_payload = info_payload if info_payload is not None else spec.Info.build(info)
        self.status = status
        self.commands: list[Any] = []
        self.handlers: dict[int, Handler] = {}
        self.seq = 0
        link.on_write = self._on_write

    def _on_write(self, raw: bytes) -> None:
        frame = StreamDecoder().feed_frame(raw)
        assert frame is not None and frame.msg_type == spec.MsgType.COMMAND, raw.hex()
        command = parse_message(frame)
        self.commands.append(command)
        answer = self._answer(command)
        if answer is not None:
            self.reply(command.request_id, command.opcode, *answer)

    def _answer(self, command: Any) -> Answer:
        handler = self.handlers.get(command.opcode)
        if handler is not None:
            return handler(command)
        if command.opcode == spec.Opcode.GET_INFO:
            return spec.StatusCode.OK, self.info_payload
        if command.opcode == spec.Opcode.GET_STATUS and self.status is not None:
            return spec.StatusCode.OK, spec.Status.build(self.status)
        if command.opcode in spec.Opcode.__members__.values():
            return spec.StatusCode.OK, b""
        return spec.StatusCode.UNKNOWN_OPCODE, b""

    def reply(self, request_id: int, opcode: int, status: int, payload: bytes = b"") -> None:
        body = spec.Reply.build(
            dict(request_id=request_id, opcode=opcode, status=status, payload=payload)
        )
        self.send(spec.MsgType.REPLY, body)

    def send(self, msg_type: int, payload: bytes, flags: int = 0) -> None:
        """A frame from the board with the next sequence number."""
        self.link.deliver_frame(framing.encode_frame(msg_type, payload, self.seq, flags))
        self.seq = (self.seq + 1) & 0xFFFF

    def replay(self, data: bytes, chunk: int = 64) -> None:
        """A recorded serial byte stream (COBS), delivered in chunks of `chunk` bytes."""
        assert self.link.framing == "cobs"
        for at in range(0, len(data), chunk):
            self.link.deliver(data[at : at + chunk])

    def replay_frames(self, frames: Iterable[bytes]) -> None:
        for raw in frames:
            self.link.deliver_frame(raw)
