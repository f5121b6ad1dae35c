"""The ESP32's UART0 and the USB-serial bridge, as the launcher sees bytes pass between the
interpreter's stdio and the pty.

    uart = UartModel(host_baud=lambda: 115200, stall=pause_interpreter)
    uart.board_wrote(len(chunk))             # may hold the interpreter for whole ticks
    for piece in uart.paced(uart.to_host(chunk)): write(piece)
    data = uart.to_board(data_from_host)

What it models, and the reference for each number:
- Line rate: the board's REPL UART runs at 115200 baud, 8N1, 10 bits a byte (MicroPython
  ports/esp32/uart.h, MICROPY_HW_UART_REPL_BAUD); bytes reach the host no faster.
- Baud agreement: a bridge set to another rate than the UART's samples the wrong bit times;
  every byte arrives as another value (or a framing error), both ways. Here each byte becomes
  a different, seeded-random value: nothing decodes, as on the bench.
- TX FIFO: MicroPython writes stdout straight into the UART's 128-byte TX FIFO (ESP32 TRM,
  UART chapter) and, whenever it is full, waits one FreeRTOS tick (ports/esp32/uart.c,
  uart_stdout_tx_strn: `ulTaskNotifyTake(pdFALSE, 1)`; 10 ms at ESP-IDF's default
  CONFIG_FREERTOS_HZ=100). A write larger than the room left holds the interpreter for
  ceil(rest / bytes-per-tick) ticks; the launcher pauses the process that long (SIGSTOP).
  The launcher sees a write only when it reads the pipe: bytes that were already waiting
  (several writes, merged) get the room the line drained since the previous read, at most one
  FIFO more, unless the launcher itself read late (kept from the CPU): then the whole drained
  time, as the firmware paces its writes to the FIFO's room; bytes read as they arrive are taken
  as one write.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator

TX_FIFO_BYTES = 128
TICK_S = 0.010
BITS_PER_BYTE = 10
_PACE_BYTES = 32  # bytes per paced write to the pty (2.8 ms at 115200)
_LATE_S = 2 * TICK_S  # a read this long after the line drained: the launcher was late


class UartModel:
    def __init__(
        self,
        host_baud: Callable[[], int],
        stall: Callable[[float], None],
        board_baud: int | None = None,
        seed: int = 1,
    ) -> None:
        if board_baud is None:  # (the launcher passes it: importing the spec takes 0.2 s)
            from anklet_protocol import spec

            board_baud = spec.SERIAL_BAUD
        self.board_baud = board_baud
        self._host_baud = host_baud
        self._stall = stall
        self._rng = random.Random(seed)
        self._fifo_empty_at = 0.0  # time.monotonic() when the TX FIFO will be empty
        self._last_write = 0.0
        self._line_free_at = 0.0
        self.garbled_bytes = 0
        self.stalls = 0
        self.stalled_s = 0.0

    @property
    def byte_s(self) -> float:
        return BITS_PER_BYTE / self.board_baud

    def matched(self) -> bool:
        return self._host_baud() == self.board_baud

    def board_wrote(self, nbytes: int, backlogged: bool = False) -> None:
        """The interpreter wrote `nbytes` to stdout: hold it the ticks the FIFO makes it wait.

        `backlogged`: the bytes were already waiting when the launcher came to read, so they
        may be several writes made while the line drained; they get the room it drained since
        the previous read (at most one FIFO). Fresh bytes are one write and get no credit.
        """
        now = time.monotonic()
        queued = max(0.0, self._fifo_empty_at - now) / self.byte_s
        room = TX_FIFO_BYTES - queued
        if backlogged:
            drained = max(0.0, now - max(self._last_write, self._fifo_empty_at)) / self.byte_s
            if now - max(self._last_write, self._line_free_at) > _LATE_S:
                # The launcher itself came late (kept from the CPU on a busy PC): what waited
                # was written over that time at the board's own pace (the firmware cuts its
                # writes to the FIFO's room), so the whole time is credited. The launcher's
                # lateness must not become a stall of the board: a board paused that way lost
                # its IMU FIFO, and two boards paused by one late host lost the same samples.
                room += drained
            else:
                room += min(drained, TX_FIFO_BYTES)
        self._last_write = now
        if nbytes > room:
            per_tick = min(TX_FIFO_BYTES, TICK_S / self.byte_s)
            ticks = math.ceil((nbytes - max(room, 0.0)) / per_tick)
            self.stalls += 1
            self.stalled_s += ticks * TICK_S
            self._stall(ticks * TICK_S)
        self._fifo_empty_at = max(now, self._fifo_empty_at) + nbytes * self.byte_s

    def paced(self, data: bytes) -> Iterator[bytes]:
        """`data` in pieces, each given out once its last bit has left the UART.

        The line sends back to back from when it was free, on its own clock: a piece given out
        late (this thread kept from the CPU on a busy PC) goes out together with what followed
        it on the line meanwhile. Pacing piece by piece from each wake-up instead lost the
        oversleep every time, and on a saturated PC the line fell to a third of its rate, below
        what a 200 Hz stream needs."""
        start = max(time.monotonic(), self._line_free_at)
        self._line_free_at = start + len(data) * self.byte_s
        sent = 0
        while sent < len(data):
            now = time.monotonic()
            left = min(len(data), int((now - start) / self.byte_s + 1e-9))
            if left - sent >= min(_PACE_BYTES, len(data) - sent):
                yield data[sent:left]
                sent = left
                continue
            time.sleep(start + min(len(data), sent + _PACE_BYTES) * self.byte_s - now)

    def to_host(self, data: bytes) -> bytes:
        return data if self.matched() else self._garble(data)

    def to_board(self, data: bytes) -> bytes:
        if not self.matched():
            return self._garble(data)
        time.sleep(len(data) * self.byte_s)  # the host's bytes take their line time too
        return data

    def _garble(self, data: bytes) -> bytes:
        self.garbled_bytes += len(data)
        return bytes(b ^ self._rng.randrange(1, 256) for b in data)
