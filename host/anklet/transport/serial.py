"""The serial transport: COBS frames over a USB serial port (or the simulated board's pty).

async with SerialTransport("/dev/ttyUSB0") as link:
    await link.write_frame(frame)
    chunk = await link.read()
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os

import serial
from anklet_protocol import framing, spec

from .base import LinkLost, Transport, TransportError

# The board's REPL UART rate (spec.SERIAL_BAUD, why it is not higher is there): the USB-serial
# bridge on a DevKitC (CP2102, CH340) must be set to it or both directions are garbage. USB-CDC
# boards (ESP32-S3/C3 native USB) ignore it; so did the simulated board's pty before it
# modelled the bridge.
DEFAULT_BAUD = spec.SERIAL_BAUD


class SerialTransport(Transport):
    framing = "cobs"

    def __init__(self, port: str, baudrate: int = DEFAULT_BAUD) -> None:
        self.port = port
        self.baudrate = baudrate
        self._serial: serial.Serial | None = None
        self._queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def description(self) -> str:
        return f"serial:{self.port}"

    @property
    def connected(self) -> bool:
        return self._serial is not None and self._serial.is_open

    async def connect(self) -> None:
        if self.connected:
            return
        if not os.path.exists(self.port):
            raise TransportError(
                f"no such port {self.port}: is the board plugged in? (list ports with "
                "`anklet ports`)"
            )
        try:
            ser = serial.Serial(self.port, self.baudrate, timeout=0, exclusive=True)
        except serial.SerialException as exc:
            text = str(exc)
            if (
                "exclusively lock" in text
                or "Resource temporarily unavailable" in text
                or (isinstance(exc.errno, int) and exc.errno in (errno.EBUSY, errno.EAGAIN))
            ):
                raise TransportError(
                    f"port {self.port} is busy: close the other program using it "
                    "(a serial monitor, another anklet, mpremote)"
                ) from None
            if isinstance(exc.errno, int) and exc.errno == errno.EACCES:
                raise TransportError(
                    f"no permission to open {self.port}: add yourself to the 'dialout' group"
                ) from None
            raise TransportError(f"cannot open {self.port}: {text}") from None
        self._serial = ser
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._loop.add_reader(ser.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        ser = self._serial
        if ser is None:
            return
        try:
            data = os.read(ser.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(LinkLost(f"{self.description}: {exc.strerror or exc}"))
            return
        if not data:
            self._fail(LinkLost(f"{self.description}: the port closed (board unplugged?)"))
            return
        self._queue.put_nowait(data)

    def _fail(self, exc: Exception) -> None:
        if self._serial is not None and self._loop is not None:
            self._loop.remove_reader(self._serial.fileno())
        self._queue.put_nowait(exc)

    async def disconnect(self) -> None:
        ser = self._serial
        self._serial = None
        if ser is None:
            return
        if self._loop is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(ser.fileno())
        ser.close()
        self._queue.put_nowait(LinkLost(f"{self.description}: closed"))

    async def write_frame(self, frame: bytes) -> None:
        ser = self._serial
        if ser is None:
            raise LinkLost(f"{self.description} is not open")
        try:
            # A leading delimiter ends any noise the board may have half-collected.
            ser.write(b"\x00" + framing.cobs_wrap(frame))
        except (serial.SerialException, OSError) as exc:
            raise LinkLost(f"{self.description}: write failed: {exc}") from None

    async def read(self) -> bytes:
        item = await self._queue.get()
        if isinstance(item, Exception):
            raise item
        return item
