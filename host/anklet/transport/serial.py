"""The serial transport: frames over a USB serial port (or the simulated board's pty), COBS
framed on the wire; this module adds and removes the COBS, so callers see whole frames.

    async with SerialTransport("/dev/ttyUSB0") as link:
        await link.write_frame(frame)
        frame = await link.read_frame()

A thread reads the port and hands the bytes to the event loop: that works on every asyncio
loop, including Windows' default (Proactor), which has no `add_reader`. Another thread writes,
one whole frame after another: a port slow to take bytes (a USB-serial bridge's full buffer)
holds the writer thread, never the event loop that reads the stream meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import threading
from collections import deque
from concurrent.futures import Future
from queue import SimpleQueue

import serial
from anklet_protocol import framing, spec
from anklet_protocol.deframer import CobsDeframer, Discarded

from . import ports
from .base import LinkLost, Transport

# The board's REPL UART rate (spec.SERIAL_BAUD, why it is not higher is there): the USB-serial
# bridge on a DevKitC (CP2102, CH340) must be set to it or both directions are garbage. USB-CDC
# boards (ESP32-S3/C3 native USB) ignore it; so did the simulated board's pty before it
# modelled the bridge.
DEFAULT_BAUD = spec.SERIAL_BAUD
_JOIN_S = 2.0  # how long closing waits for the reader thread to see its read cancelled
# A read also returns after this long without bytes, so that the reader looks whether its
# connection was closed: disconnect() wakes it with cancel_read(), but that wake-up was seen
# lost on a saturated run (the reader waited on in select(), holding the closed port's lock,
# and every reconnect found the port busy until the board's next byte).
_READ_TURN_S = 0.25
_WRITABLE_POLL_S = 0.1  # a writer waiting for room in a full port looks for a close this often

_Item = bytes | LinkLost
_Write = tuple[bytes, Future[None]] | None  # None: the connection is closing


class SerialTransport(Transport):
    def __init__(self, port: str, baudrate: int = DEFAULT_BAUD) -> None:
        self.port = port
        self.baudrate = baudrate
        self._serial: serial.Serial | None = None
        self._thread: threading.Thread | None = None
        self._last_reader: threading.Thread | None = None  # the closed connection's
        self._writer: threading.Thread | None = None
        self._writes: SimpleQueue[_Write] = SimpleQueue()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._pending: deque[bytes | Discarded] = deque()  # deframed, in stream order
        self._deframer = CobsDeframer()

    @property
    def description(self) -> str:
        return f"serial:{self.port}"

    @property
    def connected(self) -> bool:
        return self._serial is not None and self._serial.is_open

    async def connect(self) -> None:
        if self.connected:
            return
        last = self._last_reader
        if last is not None and last.is_alive():
            # A disconnect cut short closed the port while its reader was still in select(),
            # which holds the port's lock until the thread runs again: opening now found the
            # port busy (a clean-clone CI run). It ends within a turn of its read.
            await asyncio.to_thread(last.join, _JOIN_S)
        # Reads wait for data until disconnect() cancels them, or _READ_TURN_S.
        ser = ports.open_port(self.port, self.baudrate, timeout_s=_READ_TURN_S)
        self._discarded(self._deframer.reset())
        self._pending.clear()
        self._queue = asyncio.Queue()
        self._serial = ser
        self._thread = threading.Thread(
            target=self._read_port,
            args=(ser, asyncio.get_running_loop(), self._queue),
            name=f"anklet-serial-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._writes = SimpleQueue()
        self._writer = threading.Thread(
            target=self._write_port,
            args=(ser, self._writes),
            name=f"anklet-serial-write-{self.port}",
            daemon=True,
        )
        self._writer.start()

    def _read_port(
        self, ser: serial.Serial, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[_Item]
    ) -> None:
        """The reader thread: blocking reads, each chunk handed to the loop as it comes.
        It owns nothing but its own connection's port and queue."""
        item: _Item
        while True:
            failure: BaseException | None = None
            data = b""
            try:
                data = ser.read(1)  # waits for the next byte (cancel_read, a turn at most)
                waiting = ser.in_waiting if data else 0
                if waiting:
                    data += ser.read(waiting)  # and takes what came with it: one hand-over
            except (serial.SerialException, OSError, TypeError, ValueError) as exc:
                failure = exc  # TypeError/ValueError: pyserial's own, on a port closed under it
            if self._serial is not ser:
                # disconnect() began: it closed the port under this read, cancelled it or the
                # one before (which took the one wake-up), or the wake-up was lost and the turn
                # ran out. Nothing was lost.
                return
            if failure is not None:
                item = ports.lost_error(self.port, failure)
            elif not data:
                continue  # a turn without bytes
            else:
                item = data
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:
                return  # the event loop is closed: nobody is reading any more
            if isinstance(item, LinkLost):
                return

    def _write_port(self, ser: serial.Serial, writes: SimpleQueue[_Write]) -> None:
        """The writer thread: each frame whole, in the order write_frame was called. A frame
        whose sender gave up (a command's timeout) before it started is not sent at all, so
        the board never sees half of one."""
        failure: LinkLost | None = None
        while (item := writes.get()) is not None:
            data, done = item
            if not done.set_running_or_notify_cancel():
                continue
            if failure is None:
                try:
                    self._write_all(ser, data)
                except (serial.SerialException, OSError, TypeError, ValueError) as exc:
                    closed = self._serial is not ser
                    failure = (
                        LinkLost(f"{self.description}: closed")
                        if closed
                        else ports.lost_error(self.port, exc)
                    )
            if failure is None:
                done.set_result(None)
            else:
                done.set_exception(failure)

    def _write_all(self, ser: serial.Serial, data: bytes) -> None:
        fd: int | None = getattr(ser, "fd", None)
        if fd is None:
            ser.write(data)  # Windows: WriteFile returns once the port has taken the bytes
            return
        # POSIX: pyserial's write() waits for the port to be writable again after the bytes
        # are written, even when all were; a pty on a busy machine kept a 21-byte frame's
        # write there for 7.5 s. Here only a full port waits, and only for room.
        view = memoryview(data)
        while view:
            with contextlib.suppress(BlockingIOError):  # full: wait for room below
                view = view[os.write(fd, view) :]
            if view:
                if self._serial is not ser:
                    raise OSError("closed while writing")
                select.select([], [fd], [], _WRITABLE_POLL_S)

    def _discarded(self, discarded: Discarded | None) -> None:
        if discarded is not None and self.on_discard is not None:
            self.on_discard(discarded)

    async def disconnect(self) -> None:
        ser, thread, writer = self._serial, self._thread, self._writer
        self._serial = self._thread = self._writer = None
        if ser is None:
            return
        self._last_reader = thread
        self._writes.put(None)  # after the frames already given: they go out first
        with contextlib.suppress(serial.SerialException, OSError, AttributeError):
            ser.cancel_read()
        with contextlib.suppress(serial.SerialException, OSError, AttributeError):
            ser.cancel_write()  # Windows: a write the port holds
        try:
            for t in (thread, writer):
                if t is not None:
                    await asyncio.to_thread(t.join, _JOIN_S)
        finally:
            # Closed even when the wait is cancelled (a reconnect cut short by the session's
            # deadline): an open port stays locked, and every later connect found it busy.
            # A thread still in a read or write sees the close and ends quietly.
            with contextlib.suppress(serial.SerialException, OSError):
                ser.close()
            self._queue.put_nowait(LinkLost(f"{self.description}: closed"))

    async def write_frame(self, frame: bytes) -> None:
        if self._serial is None:
            raise LinkLost(f"{self.description} is not open")
        done: Future[None] = Future()
        # A leading delimiter ends any noise the board may have half-collected.
        self._writes.put((b"\x00" + framing.cobs_wrap(frame), done))
        await asyncio.wrap_future(done)  # cancelled before it started: not sent

    async def read_frame(self) -> bytes:
        while True:
            while not self._pending:
                item = await self._queue.get()
                if isinstance(item, LinkLost):
                    self._discarded(self._deframer.reset())  # a frame cut off by the loss
                    raise item
                self._pending.extend(self._deframer.feed(item))
            next_item = self._pending.popleft()
            if not isinstance(next_item, Discarded):
                return next_item
            self._discarded(next_item)  # reported between the frames around it
