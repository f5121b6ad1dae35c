"""The serial link: COBS frames on the USB serial port, commands read from it.

    link = SerialLink(sys.stdin.buffer, sys.stdout.buffer)
    link.send_frame(link.writer, n)       # frames out
    link.poll(on_frame)                   # bytes in; calls on_frame(msg_type, frame, n)

While the link is binary the REPL's Ctrl-C is off (a 0x03 inside a frame must not interrupt the
program). A Ctrl-C byte that is not followed by a frame delimiter within 200 ms is a person or
mpremote asking for the REPL: `wants_repl` becomes True and the app reboots into the REPL. More
than a few bytes after it without a delimiter are a long frame, not a person (a 60 KB frame
full of 0x03 bytes reset the board).
"""

import select

import anklet_wire as W
import framing
import micropython
import ticks

_CTRL_C = 0x03
_REPL_QUIET_MS = 200
_REPL_MAX_AFTER = 16  # bytes a person or mpremote sends after Ctrl-C ("\r\x01"): a frame is more


class SerialLink:
    name = "serial"

    def __init__(self, stream_in, stream_out, max_frame=W.SERIAL_MAX_FRAME):
        self.inp = stream_in
        self.out = stream_out
        self.max_frame = max_frame
        self.writer = framing.FrameWriter(max_frame)
        self.connected = True  # a UART cannot tell; frames go out regardless
        self.encrypted = True  # a cable is as trusted as the person holding the board
        self._poll = select.poll()
        self._poll.register(stream_in, select.POLLIN)
        self._byte = bytearray(1)
        self._on_frame = None
        self._reader = framing.FrameReader(max_frame, self._deliver)
        self.tx_retries = 0
        self._ctrl_c_at = -1
        self._after_ctrl_c = 0
        self.wants_repl = False
        micropython.kbd_intr(-1)

    def start(self):
        pass

    def _deliver(self, msg_type, frame, n):
        if self._on_frame is not None:
            self._on_frame(self, msg_type, frame, n)

    def release(self):
        """Give the port back to the REPL."""
        micropython.kbd_intr(_CTRL_C)

    def send_frame(self, writer, n):
        m = writer.cobs(n)
        self.out.write(writer.wire, m)
        return True

    send_control = send_frame

    def poll(self, on_frame, budget=256):
        """Read what has arrived (at most `budget` bytes); calls on_frame(link, type, frame, n)."""
        self._on_frame = on_frame
        reader = self._reader
        got = 0
        while got < budget and self._poll.poll(0):
            if self.inp.readinto(self._byte, 1) != 1:
                break
            b = self._byte[0]
            got += 1
            if b == _CTRL_C and self._ctrl_c_at < 0:
                self._ctrl_c_at = ticks.now_us()
                self._after_ctrl_c = 0
            elif b == 0:
                self._ctrl_c_at = -1
            elif self._ctrl_c_at >= 0:
                self._after_ctrl_c += 1
                if self._after_ctrl_c > _REPL_MAX_AFTER:
                    self._ctrl_c_at = -1
            reader.feed_byte(b)
        if self._ctrl_c_at >= 0 and ticks.diff(ticks.now_us(), self._ctrl_c_at) > \
                _REPL_QUIET_MS * 1000:
            self.wants_repl = True
            self._ctrl_c_at = -1
        return got

    @property
    def rx_errors(self):
        return self._reader.errors
