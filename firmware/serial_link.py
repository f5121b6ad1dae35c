"""The serial link: COBS frames on the board's REPL UART (USB-serial bridge), commands read from it.

    link = SerialLink(sys.stdin.buffer, sys.stdout.buffer)   # 115200 baud, as MicroPython sets it
    link.ready()                          # False while a SAMPLES frame is still going out
    link.send_frame(link.writer, n)       # SAMPLES: False while the UART is still busy
    link.poll(on_frame)                   # bytes in (and queued bytes out); on_frame(link, t, f, n)

Bytes out: on an ESP32, stdout writes go straight into the UART's 128-byte TX FIFO and wait a
whole 10 ms FreeRTOS tick each time it is full (ports/esp32/uart.c, uart_stdout_tx_strn; the
REPL UART gets no driver TX buffer: machine_uart.c refuses one). A 240-byte frame written at
once would freeze the interpreter for two ticks. So SAMPLES frames go out in pieces no larger
than the room the FIFO has (estimated from the line rate), from send_frame() and each poll(),
and send_frame() says False ("busy, keep the block") while a frame is still going out: the
streamer keeps it in the ring, as it does on BLE back-pressure. Control frames (replies, status)
are rare and small: they wait for the frame in progress and go out whole.

Who listens: a UART cannot see whether a host has the port open, so the link counts as
connected while the host has spoken within `_HOST_QUIET_MS` (the host time-syncs every 5 s while
recording) and for that long after boot (a host that had the port open hears the boot).

While the link is binary the REPL's Ctrl-C is off (a 0x03 inside a frame must not interrupt the
program). A Ctrl-C byte that is not followed by a frame delimiter within 200 ms is a person or
mpremote asking for the REPL: `wants_repl` becomes True and the app reboots into the REPL. More
than a few bytes after it without a delimiter are a long frame, not a person (a 60 KB frame
full of 0x03 bytes reset the board). And it must start something: come after a quiet line (a
person at a terminal), a CR (mpremote, `anklet deploy`: "\r\x03"), another Ctrl-C or a frame's
end. A 0x03 in the middle of other bytes is noise: a host at another baud rate sends garbage,
and one such byte took the board to its REPL (a clean-clone CI run of the baud-mismatch test).
"""

import select

import anklet_wire as W
import framing
import micropython
import ticks
from micropython import const

_CTRL_C = 0x03
_REPL_QUIET_MS = 200
_REPL_MAX_AFTER = 16  # bytes a person or mpremote sends after Ctrl-C ("\r\x01"): a frame is more
_CR = 0x0D
_TX_FIFO = const(128)  # bytes in the ESP32 UART's TX FIFO (ESP32 TRM, UART: 128 x 8 bit)
_BITS_PER_BYTE = const(10)  # start + 8 data + stop
_HOST_QUIET_MS = const(15000)  # no frame from the host for this long: nobody is listening
_MARGIN_PCT = const(85)  # spec.SERIAL_STREAM_SHARE_PCT: of the line rate for SAMPLES


class SerialLink:
    name = "serial"

    def __init__(self, stream_in, stream_out, max_frame=W.SERIAL_MAX_FRAME, baud=W.SERIAL_BAUD):
        self.inp = stream_in
        self.out = stream_out
        self.max_frame = max_frame
        self.writer = framing.FrameWriter(max_frame)
        self.baud = baud
        self.line_bytes_per_s = baud // _BITS_PER_BYTE
        # µs per byte in 1/256 µs: keeps every product below 2**30 (small ints, no allocation).
        self._byte_us256 = 256000000 // self.line_bytes_per_s
        # The longest the FIFO model can be busy (FIFO + a frame in progress + a control frame);
        # a longer wait means the link sat idle until the tick counter wrapped.
        self._longest_us = (_TX_FIFO + 2 * max_frame) * self._byte_us256 // 256 + 1
        # What SAMPLES may use: the app refuses a rate that needs more (commands.start).
        self.bytes_per_s = self.line_bytes_per_s * _MARGIN_PCT // 100
        self.encrypted = True  # a cable is as trusted as the person holding the board
        self._poll = select.poll()
        self._poll.register(stream_in, select.POLLIN)
        self._byte = bytearray(1)
        self._on_frame = None
        self._reader = framing.FrameReader(max_frame, self._deliver)
        self.tx_retries = 0
        self._ctrl_c_at = -1
        self._after_ctrl_c = 0
        self._prev_byte = 0  # as if after a frame's end
        self._rx_at = ticks.now_us()  # when the last poll that read anything did
        self.wants_repl = False
        self._heard_at = ticks.now_us()
        self._fifo_empty_at = self._heard_at  # when the TX FIFO will have drained
        self._out_at = 0  # bytes of writer.wire already handed to the UART
        self._out_end = 0  # bytes of writer.wire to send; 0: no frame in progress
        micropython.kbd_intr(-1)
        # A reset can cut a frame short mid-write: a delimiter first, so that the host's decoder
        # drops that stub instead of gluing it to this boot's first frame (its BOOT event).
        stream_out.write(b"\x00")
        self._queued(self._heard_at, 1)

    def power_on(self):
        pass  # the UART is up since boot

    def start(self):
        pass

    @property
    def connected(self):
        return ticks.diff(ticks.now_us(), self._heard_at) < _HOST_QUIET_MS * 1000

    def _deliver(self, msg_type, frame, n):
        self._heard_at = ticks.now_us()
        if self._on_frame is not None:
            self._on_frame(self, msg_type, frame, n)

    def release(self):
        """Give the port back to the REPL."""
        self._flush()
        micropython.kbd_intr(_CTRL_C)

    # --- bytes out -----------------------------------------------------------------------------

    def _fifo_room(self, now):
        left_us = ticks.diff(self._fifo_empty_at, now)
        if left_us <= 0 or left_us > self._longest_us:  # drained (or idle since the tick wrapped)
            return _TX_FIFO
        queued = left_us * 256 // self._byte_us256 + 1
        return _TX_FIFO - queued if queued < _TX_FIFO else 0

    def _queued(self, now, nbytes):
        """`nbytes` went into the FIFO at `now`: it drains at the line rate."""
        left_us = ticks.diff(self._fifo_empty_at, now)
        start = self._fifo_empty_at if 0 < left_us <= self._longest_us else now
        self._fifo_empty_at = ticks.add(start, nbytes * self._byte_us256 // 256)

    def _trickle(self):
        """Hand the frame in progress to the UART, as much as its FIFO takes without waiting."""
        if not self._out_end:
            return
        now = ticks.now_us()
        room = self._fifo_room(now)
        left = self._out_end - self._out_at
        if room > left:
            room = left
        if room > 0:
            self.out.write(self.writer.wire, self._out_at, room)
            self._queued(now, room)
            self._out_at += room
        if self._out_at >= self._out_end:
            self._out_at = self._out_end = 0

    def _flush(self):
        """Finish the frame in progress, waiting for the UART as long as it takes."""
        if self._out_end:
            left = self._out_end - self._out_at
            self.out.write(self.writer.wire, self._out_at, left)
            self._queued(ticks.now_us(), left)
            self._out_at = self._out_end = 0

    def ready(self):
        """Could a SAMPLES frame go now: False while the previous one is still going out. The
        streamer asks before it reads a block from flash and seals it."""
        self._trickle()
        if self._out_end:
            self.tx_retries += 1
            return False
        return True

    def send_frame(self, writer, n):
        """Queue a SAMPLES frame; False (keep it for later) while the previous one goes out."""
        if not self.ready():
            return False
        self._out_end = writer.cobs(n)
        self._out_at = 0
        self._trickle()
        return True

    def send_control(self, writer, n):
        """A reply, status or log frame: goes out whole, after the frame in progress."""
        self._flush()
        m = writer.cobs(n)
        self.out.write(writer.wire, m)
        self._queued(ticks.now_us(), m)
        return True

    # --- bytes in ------------------------------------------------------------------------------

    def poll(self, on_frame, budget=256):
        """Read what has arrived (at most `budget` bytes); calls on_frame(link, type, frame, n)."""
        self._trickle()
        self._on_frame = on_frame
        reader = self._reader
        got = 0
        now = ticks.now_us()
        # The line was quiet before this poll's first byte (polls come every 10 ms).
        quiet = ticks.diff(now, self._rx_at) > _REPL_QUIET_MS * 1000
        while got < budget and self._poll.poll(0):
            if self.inp.readinto(self._byte, 1) != 1:
                break
            b = self._byte[0]
            got += 1
            prev, self._prev_byte = self._prev_byte, b
            if b == _CTRL_C and self._ctrl_c_at < 0:
                if (got == 1 and quiet) or prev == _CR or prev == _CTRL_C or prev == 0:
                    self._ctrl_c_at = now
                    self._after_ctrl_c = 0
            elif b == 0:
                self._ctrl_c_at = -1
            elif self._ctrl_c_at >= 0:
                self._after_ctrl_c += 1
                if self._after_ctrl_c > _REPL_MAX_AFTER:
                    self._ctrl_c_at = -1
            reader.feed_byte(b)
        if got:
            self._rx_at = now
        if self._ctrl_c_at >= 0 and ticks.diff(ticks.now_us(), self._ctrl_c_at) > \
                _REPL_QUIET_MS * 1000:
            self.wants_repl = True
            self._ctrl_c_at = -1
        return got

    @property
    def rx_errors(self):
        return self._reader.errors
