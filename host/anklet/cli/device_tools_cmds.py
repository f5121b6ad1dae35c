"""`anklet flash` and `anklet deploy`: MicroPython onto the board, then the Anklet firmware.

anklet flash --port /dev/ttyUSB0 --firmware ESP32_GENERIC-20250415-v1.25.0.bin
anklet deploy --device serial:/dev/ttyUSB0
anklet deploy --device sim
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

from anklet.cli import app
from anklet.deploy import FIRMWARE_DIR, DeployError, DeployResult, Target, deploy
from anklet.flashing import (
    CHIPS,
    DEFAULT_BAUD,
    FlashError,
    check_request,
    flash_micropython,
)
from anklet.partitions import RingLayout
from anklet.transport.ports import PortError

console = Console(stderr=True)

_STAGES = {
    "connect": "connecting to the bootloader",
    "erase": "erasing the flash (10-30 s)",
    "write": "writing MicroPython",
    "repl": "reaching the REPL",
    "compile": "compiling with mpy-cross",
    "upload": "copying to fw_new/",
    "commit": "swapping fw_new/ in (previous kept in fw_prev/)",
    "reset": "resetting",
    "verify": "waiting for the board's INFO",
}
_BYTE_STAGES = ("write", "upload")


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


class _ProgressView:
    """One line per stage; a byte bar for the long ones."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.stage = ""
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if stage != self.stage:
            self.close()
            self.stage = stage
            if stage in _BYTE_STAGES:
                self.bar = Progress(
                    TextColumn(_STAGES.get(stage, stage)),
                    BarColumn(),
                    DownloadColumn(),
                    console=console,
                    transient=False,
                )
                self.bar.start()
                self.task = self.bar.add_task(stage, total=total)
            else:
                console.print(f"{_STAGES.get(stage, stage)}…")
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
            self.task = None


@contextmanager
def _progress(quiet: bool) -> Iterator[_ProgressView]:
    view = _ProgressView(quiet)
    try:
        yield view
    finally:
        view.close()


# USB-serial bridges on ESP32 boards (vendor id): CP210x, CH340/CH9102, FTDI, Espressif's own USB.
_ESP_BRIDGES = {0x10C4: "CP210x", 0x1A86: "CH340/CH9102", 0x0403: "FTDI", 0x303A: "Espressif USB"}


@app.command("ports")
def ports_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """List serial ports, marking the USB bridges ESP32 boards use.

    Example:

      anklet ports
    """
    from serial.tools import list_ports

    found = sorted(list_ports.comports(), key=lambda p: p.device)
    rows = [
        {
            "port": p.device,
            "description": p.description if p.description != "n/a" else "",
            "usb_id": f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else "",
            "esp32_bridge": _ESP_BRIDGES.get(p.vid or -1, ""),
        }
        for p in found
    ]
    if json_out:
        print(json.dumps(rows))
        return
    if not rows:
        console.print("no serial ports: plug the board in by USB (a charge-only cable shows none)")
        raise typer.Exit(code=1)
    for row in rows:
        bridge = f"  ← {row['esp32_bridge']}: likely a board" if row["esp32_bridge"] else ""
        print(f"{row['port']}  {row['description']}  {row['usb_id']}{bridge}".rstrip())
    print("use one with: anklet log --device serial:PORT")


@app.command("flash")
def flash_cmd(
    port: Annotated[str, typer.Option("--port", "-p", help="the board's serial port")],
    firmware: Annotated[
        Path, typer.Option("--firmware", "-f", help="MicroPython .bin from micropython.org")
    ],
    chip: Annotated[
        str | None,
        typer.Option(help=f"expected chip: {', '.join(CHIPS)} (default: whatever answers)"),
    ] = None,
    baud: Annotated[int, typer.Option(help="baud rate for writing")] = DEFAULT_BAUD,
    erase: Annotated[bool, typer.Option(help="erase the whole flash first")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Erase the board and write MicroPython with esptool, at the right address for the chip.

    The image's chip (from its header) is checked against --chip and against the chip that
    answers before anything is erased. Its partition table is written with a 512 KiB
    `ankring` partition taken from the end of the filesystem, where the board keeps samples
    to re-send after a dropped link. Get images from https://micropython.org/download/
    (ESP32_GENERIC for the ESP32 DevKitC). See docs/FLASHING.md.

    Examples:

      anklet flash --port /dev/ttyUSB0 --firmware ESP32_GENERIC-20250415-v1.25.0.bin

      anklet flash -p /dev/ttyACM0 -f ESP32_GENERIC_S3-20250415-v1.25.0.bin --chip esp32s3
    """
    try:
        check_request(firmware, chip)  # a wrong file or chip is refused before the board is touched
    except FlashError as exc:
        raise _fail(str(exc)) from None
    kept = None
    if erase:
        # Settings, calibration and bond keys die with the erase: save them first (keep.py).
        from anklet.keep import save_from_board

        kept = save_from_board(port, repl_timeout_s=8.0)
        if not json_out:
            console.print(kept.describe())
    with _progress(json_out) as view:
        try:
            result = flash_micropython(port, firmware, chip=chip, baud=baud, progress=view,
                                       erase=erase)  # fmt: skip
        except (PortError, FlashError) as exc:
            view.close()
            raise _fail(str(exc)) from None
    if json_out:
        print(
            json.dumps(
                {
                    "port": result.port,
                    "chip": result.chip,
                    "image": str(result.image.path),
                    "image_chip": result.image.chip,
                    "offset": result.offset,
                    "size_bytes": result.image.size_bytes,
                    "erased": result.erased,
                    "ring_offset": result.layout.ring.offset,
                    "ring_size_bytes": result.layout.ring.size,
                    "ring_added": result.layout.added,
                    "fs_size_bytes": result.layout.fs_bytes,
                    "kept": kept.files if kept else [],
                    "kept_in": str(kept.folder) if kept and kept.folder else None,
                    "not_kept_because": kept.why_not if kept else "",
                }
            )
        )
        return
    console.print(
        f"[green]done[/]: {result.image.path.name} written to the {result.chip} at "
        f"0x{result.offset:X}. Next: anklet deploy --device serial:{port}"
    )
    console.print(_ring_note(result.layout))


def _ring_note(layout: RingLayout) -> str:
    ring = layout.ring
    where = f"{ring.size // 1024} KiB at 0x{ring.offset:X}"
    if not layout.added:
        return f"partition {ring.label} kept from the image ({where})"
    lost_kib = (layout.fs_before_bytes - layout.fs_bytes) // 1024
    return (
        f"partition {ring.label} made ({where}), where the board keeps samples to re-send "
        f"after a dropped link; the filesystem is {lost_kib} KiB smaller "
        f"({layout.fs_bytes // 1024} KiB)"
    )


@app.command("deploy")
def deploy_cmd(
    device: Annotated[
        str | None,
        typer.Option(
            "--device", "-d", help="serial:PATH, sim, or a remembered name (default: as `log`)"
        ),
    ] = None,
    flash: Annotated[
        Path | None, typer.Option(help="simulated board only: its flash directory")
    ] = None,
    firmware_dir: Annotated[
        Path, typer.Option("--firmware-dir", help="the firmware folder to deploy")
    ] = FIRMWARE_DIR,
    verify_s: Annotated[
        float,
        typer.Option("--verify-s", help="wait this long for the new version's INFO (0: don't)"),
    ] = 15.0,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Compile firmware/ for the board and install it beside the running version.

    The board is brought to its REPL (EXIT_TO_REPL, or Ctrl-C), the modules are compiled with
    mpy-cross for its .mpy version and architecture and copied with mpremote into fw_new/, which
    then replaces fw/ (the old version stays in fw_prev/). version.py gets the git revision,
    config.json is written only if the board has none. A new version that fails to start three
    times gives way to the previous one. See docs/FLASHING.md.

    Examples:

      anklet deploy --device serial:/dev/ttyUSB0

      anklet deploy --device sim --flash /tmp/board1
    """
    from anklet import schemes
    from anklet.connect import resolve
    from anklet.transport import TransportError

    try:
        target = resolve(device)
    except TransportError as exc:
        raise _fail(str(exc)) from None
    if not 0 <= verify_s <= 120:
        raise _fail(f"--verify-s {verify_s:g}: give 0 (don't wait) to 120 seconds")
    scheme = schemes.find(target)
    if isinstance(scheme, schemes.ServingScheme):  # a board of its own (the simulator)
        if flash is not None and flash.exists() and not flash.is_dir():
            raise _fail(f"--flash {flash}: is a file; give a folder for the board's flash")
        if flash is not None and _unwritable(flash):
            raise _fail(f"--flash {flash}: the folder is not writable; the board's flash must be")
    with _progress(json_out) as view:
        try:
            if isinstance(scheme, schemes.ServingScheme):
                options = schemes.OpenOptions(sim_flash=flash)
                with scheme.deploy_target(options) as board:
                    result = deploy(board, firmware_dir, progress=view, verify_s=verify_s)
            elif target.startswith("serial:"):
                port = target.removeprefix("serial:")
                result = deploy(Target.serial(port), firmware_dir, progress=view,
                                verify_s=verify_s)  # fmt: skip
            else:
                raise DeployError(
                    f"deploy needs a serial connection, not {target}: plug the board in by "
                    "USB and use --device serial:PATH (anklet ports lists them)"
                )
        except (PortError, DeployError, TransportError) as exc:
            view.close()
            raise _fail(str(exc)) from None
    if json_out:
        print(json.dumps(_result_dict(result)))
        return
    kept = "written with defaults" if result.config_written else "kept"
    if result.restored:
        kept = "restored"
    console.print(
        f"[green]done[/]: revision {result.revision} on {result.target} "
        f"({result.files} files, {result.size_bytes / 1024:.0f} KB, {result.board.describe()}); "
        f"config.json {kept}; previous version in fw_prev/"
    )
    if result.restored:
        console.print(f"put back what `anklet flash` saved: {', '.join(result.restored)}")


def _unwritable(folder: Path) -> bool:
    """The folder, or the nearest existing parent it would be made in, refuses writes."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return not os.access(probe, os.W_OK | os.X_OK)


def _result_dict(result: DeployResult) -> dict[str, Any]:
    out = asdict(result)
    if result.info is not None:
        out["info"] = {k: v.hex() if isinstance(v, bytes) else v for k, v in result.info.items()}
    out["board"] = {
        "mpy": result.board.mpy,
        "bytecode": result.board.bytecode,
        "arch": result.board.arch,
        "platform": result.board.platform,
        "micropython": ".".join(map(str, result.board.version)),
    }
    return out
