"""Watching a board start on its serial port: the INFO its app sends, or the error it printed.

    boot, ser = wait_for_info("/dev/ttyUSB0", 15.0, ser)   # ser: opened before the reset
    boot.info["fw_git"] if boot.info else boot.error       # "1a2b3c4d", or "MemoryError: ..."

`Device.wait_ready` waits for a running app; this waits for a board that has just been reset
and may never get there. It listens before it asks: GET_INFO goes out only once Anklet frames
have arrived, because bytes sent to a board at its REPL are typed into it (a Ctrl-D in a frame
would soft-reset it, one more start of a version on trial). It reads what `Device` discards: the
text before the first frame, where a failing version prints its traceback.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import serial
from anklet_protocol import framing, spec
from anklet_protocol.decoder import StreamDecoder
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay

from ..transport.ports import PortError
from .errors import NotStarted
from .repl import Line, reopen_port

ASK_EVERY_S = 1.0  # GET_INFO again this often, once the app talks
_REQUEST_ID = 0x4749
_ERROR_LINE = re.compile(rb"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt)\b[^\r\n]*)", re.M)


@dataclass
class BootReport:
    """What the board said on its port while starting: INFO, or why it did not get there."""

    info: dict[str, Any] | None = None
    error: str = ""  # the last exception line the board printed ("MemoryError: ...")
    at_repl: bool = False  # it printed a traceback and stopped at the REPL


class _Listening(Exception):
    """Nothing decisive within one ask: listen (and ask) again."""


def wait_for_info(
    port: str, timeout_s: float = 15.0, ser: serial.Serial | None = None
) -> tuple[BootReport, serial.Serial]:
    """Watch the board start: its INFO, or the error it printed; and the port, left open.

    The app sends INFO as it starts; GET_INFO is asked every ASK_EVERY_S once Anklet frames have
    arrived. A traceback that ends at the REPL prompt ends the wait early (a failure on trial
    resets instead: the wait goes on, for the retry or the previous version). A port that is
    gone (native USB while the board resets) is opened again until `timeout_s` is spent.
    """
    end = time.monotonic() + timeout_s
    try:
        line = Line(port, ser if ser is not None and ser.is_open else reopen_port(port, end))
    except PortError:
        raise NotStarted(f"the board on {port} went away after its reset") from None
    watch = _Watch(line)
    retrying = Retrying(retry=retry_if_exception_type(_Listening), stop=stop_after_delay(timeout_s))
    try:
        for attempt in retrying:
            with attempt:
                watch.ask_and_listen(min(ASK_EVERY_S, end - time.monotonic()), end)
    except RetryError:
        pass  # no INFO within timeout_s: the report says what was seen
    except PortError:
        raise NotStarted(f"the board on {port} went away after its reset") from None
    return watch.report, line.ser


class _Watch:
    def __init__(self, line: Line) -> None:
        self.line = line
        self.decoder = StreamDecoder()
        self.report = BootReport()
        self.text = b""
        self.heard = False  # Anklet frames arrived: the app runs, asking is safe

    def ask_and_listen(self, seconds: float, end: float) -> None:
        """Return once the report is decisive; _Listening after `seconds` without."""
        if self.heard:
            command = framing.build_command(_REQUEST_ID, spec.Opcode.GET_INFO)
            frame = framing.encode_frame(spec.MsgType.COMMAND, command, seq=0)
            self.line.write(framing.cobs_wrap(frame))
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if self._decisive(self.line.read(end)):
                return
        raise _Listening

    def _decisive(self, chunk: bytes) -> bool:
        for frame in self.decoder.feed(chunk):
            self.heard = True
            self.report.info = _info_of(frame.msg_type, frame.payload, _REQUEST_ID)
            if self.report.info is not None:
                return True
        if not self.heard and chunk:
            self.text = (self.text + chunk)[-4096:]
            errors = _ERROR_LINE.findall(self.text)
            if errors:
                self.report.error = errors[-1].decode(errors="replace").strip()
                if self.text.rstrip().endswith(b">>>"):
                    self.report.at_repl = True
                    return True
        return False


def _info_of(msg_type: int, payload: bytes, request_id: int) -> dict[str, Any] | None:
    try:
        if msg_type == spec.MsgType.INFO:
            parsed = spec.Info.parse(payload)
        elif msg_type == spec.MsgType.REPLY:
            reply = spec.Reply.parse(payload)
            if reply.request_id != request_id or reply.status != spec.StatusCode.OK:
                return None
            parsed = spec.Info.parse(reply.payload)
        else:
            return None
    except Exception:  # construct raises many types; a malformed INFO is no INFO
        return None
    return {k: v for k, v in parsed.items() if not k.startswith("_")}
