"""Bringing a board to its REPL prompt over its serial port, whatever it was doing.

    how = reach_repl("/dev/ttyUSB0")    # "exit-to-repl" (the app was streaming) or "ctrl-c"
    with BoardSession("/dev/ttyUSB0") as board: ...    # then mpremote's raw REPL (board_fs.py)

A running Anklet app gets the protocol's EXIT_TO_REPL and reboots into the REPL; anything else
gets Ctrl-C (and Ctrl-B, out of a raw REPL a crashed session left behind), repeated until the
prompt appears. mpremote cannot do this part: it knows Ctrl-C, not Anklet frames, and a board
with native USB drops off the bus while it reboots.
"""

from __future__ import annotations

import time

import serial
from anklet_protocol import framing, spec
from anklet_protocol.decoder import StreamDecoder
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from ..transport import ports
from ..transport.ports import PortError
from .errors import NoRepl

REPL_BAUD = 115_200  # the ESP32's UART REPL; USB CDC and ptys ignore it
REPOKE_S = 3.0  # Ctrl-C again this often while no prompt appears
REOPEN_EVERY_S = 0.2  # a native-USB board's port, back on the bus

# Ctrl-C stops a program at the REPL, and is the app's own REPL request (serial_link.py);
# Ctrl-B leaves a raw REPL a crashed session left behind; both then print the ">>> " prompt.
_POKE = b"\r\x03\x02"
_PROMPTS = (b">>> ", b"raw REPL; CTRL-B to exit")
# In the raw REPL: clear the line, then machine.reset() and Ctrl-D to run it.
RAW_RESET = b"\x03import machine\nmachine.reset()\n\x04"


def open_port(port: str, timeout_s: float = 0.1) -> serial.Serial:
    """Open a serial port exclusively; raises PortError with what to do."""
    return ports.open_port(port, REPL_BAUD, timeout_s=timeout_s)


def reopen_port(port: str, until: float) -> serial.Serial:
    """The port once it is back (time.monotonic() deadline `until`); the last PortError if not."""
    retrying = Retrying(
        retry=retry_if_exception_type(PortError),
        wait=wait_fixed(REOPEN_EVERY_S),
        stop=stop_after_delay(max(0.0, until - time.monotonic())),
        reraise=True,
    )
    return retrying(open_port, port)


class Line:
    """A board's serial port that is opened again when the board drops off the USB bus."""

    def __init__(self, port: str, ser: serial.Serial) -> None:
        self.port = port
        self.ser = ser

    def read(self, until: float) -> bytes:
        """What arrived (b"" while the port was gone); PortError if it is not back by `until`."""
        try:
            return self.ser.read(4096)
        except (serial.SerialException, OSError):
            self.ser.close()  # a board with native USB drops off the bus while it resets
            self.ser = reopen_port(self.port, until)
            return b""

    def write(self, data: bytes) -> None:
        self.ser.write(data)

    def close(self) -> None:
        self.ser.close()


def exit_to_repl_frame(request_id: int = 0x5250) -> bytes:
    """The COMMAND EXIT_TO_REPL, COBS-framed for the serial port."""
    command = framing.build_command(request_id, spec.Opcode.EXIT_TO_REPL)
    return framing.cobs_wrap(framing.encode_frame(spec.MsgType.COMMAND, command, seq=0))


class _NoPromptYet(Exception):
    pass


def reach_repl(port: str, timeout_s: float = 20.0, listen_s: float = 2.5) -> str:
    """Bring the board to its REPL prompt; returns how: "exit-to-repl" or "ctrl-c".

    If Anklet frames arrive within `listen_s` the app is running: it gets EXIT_TO_REPL and
    reboots into the REPL. Otherwise the board is at its REPL, or silent: Ctrl-C. Either way the
    REPL prompt must appear within `timeout_s`; Ctrl-C is repeated every REPOKE_S meanwhile.
    """
    line = Line(port, open_port(port))
    try:
        line.ser.reset_input_buffer()
        running = _app_running(line, listen_s)
        line.write(exit_to_repl_frame() if running else _POKE)
        end = time.monotonic() + timeout_s
        seen = bytearray()

        def prompt_within(seconds: float) -> None:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                seen[:] = (seen + line.read(end))[-512:]
                if any(prompt in seen for prompt in _PROMPTS):
                    return
            raise _NoPromptYet

        retrying = Retrying(
            retry=retry_if_exception_type(_NoPromptYet), stop=stop_after_delay(timeout_s)
        )
        for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    line.write(_POKE)
                prompt_within(min(REPOKE_S, end - time.monotonic()))
        return "exit-to-repl" if running else "ctrl-c"
    except RetryError:
        raise NoRepl(
            f"the board on {port} did not come to its REPL within {timeout_s:.0f} s: open a "
            "terminal on the port (`mpremote connect PORT repl`), press Ctrl-C, wait a second "
            "and press Ctrl-C again; or press EN (RESET) and try again"
        ) from None
    except PortError:
        raise NoRepl(
            f"the board on {port} went away while resetting and did not come back"
        ) from None
    finally:
        line.close()


def _app_running(line: Line, listen_s: float) -> bool:
    """Anklet frames arrive within `listen_s`: the app is streaming."""
    decoder = StreamDecoder()
    end = time.monotonic() + listen_s
    while time.monotonic() < end:
        if decoder.feed(line.read(end)):
            return True
    return False
