"""The board's file system, through mpremote's transport (the raw REPL over the serial port).

    with BoardSession("/dev/ttyUSB0") as board:       # the board already at its REPL (repl.py)
        board.write_file("config.json", data)         # whole or not at all
        board.remove("fw_new")                        # a folder and everything in it

mpremote's `SerialTransport` does the work: `fs_stat`, `fs_listdir`, `fs_mkdir`, `fs_rmfile`,
`fs_rmdir`, `fs_writefile`, `fs_readfile`, `fs_hashfile`, `eval`. What it lacks is written
here, each a line of MicroPython sent with `exec`, not an injected helper module:
- removing a folder with its contents: the walk runs here, as mpremote's own `fs rm -r` does
  (commands.do_filesystem_recursive_rm), over the transport's verbs;
- replacing a file through a temporary name (`os.rename`): the transport has no rename, and a
  deploy cut off mid-file must leave the old file, not half of the new one;
- free space (`os.statvfs`), and which .mpy files the board loads (`sys.implementation._mpy`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import serial
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

from ..transport.ports import PortError
from .build import BoardInfo
from .errors import DeployError, IncompatibleBoard, NoRepl
from .repl import REPL_BAUD, open_port

RAW_REPL_TRIES = 3  # entering the raw REPL: a board just out of a reset may miss the first
ENTER_WAIT_S = 1  # each read while entering: the tries' own deadline is checked between reads
# Each read once in the raw REPL. mpremote reads a command's first answer (raw-paste's "R\x01",
# "OK") in one read: had it come late, mpremote took the board for one without raw-paste and
# waited for a prompt that never came ("could not enter raw repl", on a busy CI run). mpremote's
# own wait between two bytes (read_until) is 10 s; its CLI reads with no timeout at all.
ANSWER_WAIT_S = 10
_DIR = 0x4000  # st_mode: a directory


class BoardSession:
    """A raw-REPL session on the board, through mpremote's serial transport.

    with BoardSession(port) as board:
        board.exec("print(1)")
    """

    def __init__(self, port: str, timeout_s: float = 10.0) -> None:
        self.port = port
        open_port(port).close()  # the clear errors for a missing or busy port
        try:
            # A read timeout: on a pty mpremote otherwise waits forever for a silent board.
            self.transport = SerialTransport(port, baudrate=REPL_BAUD, timeout=ENTER_WAIT_S)
        except TransportError as exc:
            raise PortError(f"cannot open {port}: {exc}") from None
        retrying = Retrying(
            retry=retry_if_exception_type(TransportError), stop=stop_after_attempt(RAW_REPL_TRIES)
        )
        try:
            retrying(
                self.transport.enter_raw_repl,
                soft_reset=False,
                timeout_overall=max(1, round(timeout_s / RAW_REPL_TRIES)),
            )
        except RetryError:
            self.transport.close()
            raise NoRepl(
                f"the board on {port} did not enter the raw REPL: press EN (RESET), "
                "then Ctrl-C in a terminal, and try again"
            ) from None
        if isinstance(self.transport.serial, serial.SerialBase):  # (not mpremote's mount proxy)
            self.transport.serial.timeout = ANSWER_WAIT_S

    def __enter__(self) -> BoardSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError, serial.SerialException):
            self.transport.close()

    # --- running code --------------------------------------------------------------------------

    def exec(self, code: str) -> str:
        with self._errors():
            return self.transport.exec(code).decode(errors="replace")

    def eval(self, expression: str) -> Any:
        with self._errors():
            return self.transport.eval(expression)

    @contextlib.contextmanager
    def _errors(self, doing: str = "") -> Iterator[None]:
        """mpremote's errors as one line: what the board said, or that the link was lost."""
        where = f"{doing}: " if doing else ""
        try:
            yield
        except TransportExecError as exc:
            lines = exc.error_output.strip().splitlines()
            raise DeployError(f"{where}the board said: {lines[-1] if lines else exc}") from None
        except TransportError as exc:
            raise DeployError(f"{where}lost the board's REPL on {self.port}: {exc}") from None
        except OSError as exc:  # mpremote's fs_* turn the board's OSError into the host's
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise DeployError(f"{doing or 'the board'} failed: {why}") from None

    def board_info(self) -> BoardInfo:
        try:
            self.exec("import sys")
            mpy, platform, version = self.eval(
                "(sys.implementation._mpy, sys.platform, tuple(sys.implementation.version[:3]))"
            )
        except DeployError as exc:
            raise IncompatibleBoard(
                f"the board does not say which .mpy files it loads ({exc}): flash MicroPython "
                "1.19 or newer (`anklet flash`)"
            ) from None
        return BoardInfo(mpy=mpy, platform=platform, version=tuple(version))

    def free_bytes(self) -> int:
        self.exec("import os")
        return int(self.eval("(lambda s: s[0] * s[3])(os.statvfs('.'))"))

    # --- the file system -----------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        with self._errors(f"looking for {path} on the board"):
            return self.transport.fs_exists(path)

    def mkdir(self, path: str) -> None:
        with self._errors(f"making {path} on the board"):
            self.transport.fs_mkdir(path)

    def remove(self, path: str) -> None:
        """Remove a file, or a folder with everything in it; nothing there is fine."""
        with self._errors(f"removing {path} on the board"):
            try:
                mode = self.transport.fs_stat(path).st_mode
            except OSError:
                return
            self._remove(path, mode)

    def _remove(self, path: str, mode: int) -> None:
        if not mode & _DIR:
            self.transport.fs_rmfile(path)
            return
        for entry in self.transport.fs_listdir(path):
            self._remove(f"{path}/{entry.name}", entry.st_mode)
        self.transport.fs_rmdir(path)

    def write_file(
        self, path: str, data: bytes, progress: Callable[[int], None] | None = None
    ) -> None:
        """Write a file whole, through a temporary name: a cut leaves the old one. The board's
        SHA-256 of what arrived must match before it replaces anything."""
        tmp = path + ".tmp"

        def sent(done: int, total: int) -> None:
            if progress is not None:
                progress(done)

        with self._errors(f"writing {path} on the board"):
            self.transport.fs_writefile(tmp, data, chunk_size=1024, progress_callback=sent)
            arrived = self.transport.fs_hashfile(tmp, "sha256")
        if arrived != hashlib.sha256(data).digest():
            raise DeployError(f"{path} arrived damaged on the board: deploy again")
        if self.exists(path):
            with self._errors(f"replacing {path} on the board"):
                self.transport.fs_rmfile(path)  # FAT's rename does not replace a file
        self.exec(f"import os\nos.rename({tmp!r}, {path!r})")

    def read_file(self, path: str) -> bytes:
        with self._errors(f"reading {path} from the board"):
            return bytes(self.transport.fs_readfile(path))
