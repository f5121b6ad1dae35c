"""The deploy itself: what goes where on the board, in which order, and the check that it runs.

    result = deploy(Target.serial("/dev/ttyUSB0"), progress=lambda stage, done, total: ...)
    print(result.revision)          # what GET_INFO's fw_git now says, e.g. "1a2b3c4d"

Steps: reach the REPL (repl.py), read the board's .mpy version and architecture, compile for it
(build.py), copy into fw_new/ (board_fs.py), put back what `anklet flash` saved (keep.py), write
the loader (main.py, boot.py, bootguard.mpy) and, only if there is none, a default config.json,
swap (bootguard.commit()), reset, and wait for the board's INFO to carry the new revision
(startup.py). A version that fails to start three times is replaced by the previous one on the
board itself (firmware/bootguard.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import keep
from .board_fs import BoardSession
from .build import (
    FIRMWARE_DIR,
    LOADER,
    BoardInfo,
    Bundle,
    compile_firmware,
    default_config,
    git_revision,
)
from .errors import CompileError, DeployError, NotStarted
from .repl import RAW_RESET, open_port, reach_repl
from .startup import wait_for_info

# Slots and files on the board (firmware/bootguard.py defines them for the board's side).
ACTIVE, STAGED, PREVIOUS = "fw", "fw_new", "fw_prev"
TRIAL = "boot_trial"
CONFIG = "config.json"  # settings and calibration: written only if missing, never replaced
SPARE_BYTES = 8192  # free flash to leave beside the firmware (config writes, boot_trial)

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Target:
    """Where to deploy: a serial port, and how to reset the board if not from its REPL."""

    port: str
    description: str
    power_cycle: Callable[[], None] | None = None  # the simulated board: press EN

    @classmethod
    def serial(cls, port: str) -> Target:
        return cls(port=port, description=f"serial:{port}")


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
    the REPL prompt after asking for it (see repl.reach_repl).

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
        _upload(board, bundle, report)
        report("commit", 0, 1)
        # Settings, calibration and bonds `anklet flash` saved before erasing this board.
        restored = keep.restore_to_board(board, keep.board_id(board), backups)
        config_written = not board.exists(CONFIG)
        if config_written:
            board.write_file(CONFIG, json.dumps(default_config(firmware_dir)).encode())
        _install_loader(board, bundle)
        report("commit", 1, 1)
        report("reset", 0, 1)
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
    # Listen from before the reset: the new version's first INFO goes out as it starts.
    ser = open_port(target.port)
    try:
        if target.power_cycle is not None:
            target.power_cycle()
        else:
            ser.write(RAW_RESET)
        report("reset", 1, 1)
        if verify_s <= 0:
            return result
        report("verify", 0, 1)
        boot, ser = wait_for_info(target.port, verify_s, ser)
    finally:
        ser.close()
    result.info = boot.info
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


def _upload(board: BoardSession, bundle: Bundle, report: Progress) -> None:
    """The slot's modules into an empty fw_new/, if the flash has room for them."""
    on_trial = board.exists(TRIAL)
    board.remove(STAGED)  # what an interrupted deploy left
    if not on_trial:
        board.remove(PREVIOUS)  # commit() would drop it anyway; the space is needed now
    free = board.free_bytes()
    if free < bundle.size_bytes + SPARE_BYTES:
        raise DeployError(
            f"the board's flash has {free // 1024} KB free, the firmware needs "
            f"{bundle.size_bytes // 1024} KB: remove files you added (mpremote fs ls)"
        )
    board.mkdir(STAGED)
    total = sum(map(len, bundle.slot.values()))
    sent = 0
    report("upload", 0, total)
    for name, data in bundle.slot.items():
        parent = "/".join([STAGED, *name.split("/")[:-1]])
        if parent != STAGED and not board.exists(parent):
            board.mkdir(parent)

        def uploaded(n: int, base: int = sent) -> None:
            report("upload", base + n, total)

        board.write_file(f"{STAGED}/{name}", data, uploaded)
        sent += len(data)


def _install_loader(board: BoardSession, bundle: Bundle) -> None:
    """The root's loader, then the swap fw_new/ -> fw/ by the new loader's commit()."""
    board.remove(f"{LOADER}.py")  # a source file would shadow the compiled loader
    board.write_file(f"{LOADER}.mpy", bundle.root[f"{LOADER}.mpy"])
    # The new loader does the swap (the old one may be cached, or absent).
    board.exec(
        f"import sys\nsys.modules.pop({LOADER!r}, None)\nsys.path.insert(0, '')\n"
        f"import {LOADER}\nsys.path.pop(0)\n{LOADER}.commit()"
    )
    for name in ("boot.py", "main.py"):
        board.write_file(name, bundle.root[name])
