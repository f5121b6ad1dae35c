"""Commands that talk to a board: log, info, tare, calibrate, set, sim, demo, decode.

anklet log --device sim --duration 60 --out sessions
anklet info --device serial:/dev/ttyUSB0
anklet calibrate --device Left --mass-kg 5
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NamedTuple, TypeVar

import numpy as np
import typer
from anklet_protocol import layout, spec
from rich.console import Console
from rich.live import Live
from rich.table import Table

from anklet.capture import CaptureError, decode_capture
from anklet.cli import app
from anklet.cli.ble_errors import ble_failure, check_backend
from anklet.connect import (
    DEFAULT_SIM_MOTION,
    DEMO_SECONDS,
    default_sim_flash,
    open_device,
    resolve,
)
from anklet.device import CommandFailed, Device, DeviceError
from anklet.recorder import LiveStats, SessionRecorder, SessionSummary
from anklet.transport import TransportError

T = TypeVar("T")
console = Console(stderr=True)
out = Console()

DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        "-d",
        help="sim, sim:ble, serial:PATH, ble:NAME_OR_ADDRESS or a remembered name "
        "(default: the only remembered device, else sim)",
    ),
]
MotionOpt = Annotated[
    str,
    typer.Option(
        "--motion",
        help="simulated board only: a motion spec (leg-raise:..., still:..., jumps:...) or a "
        "recorded CSV; default: 3 sets of 10 leg raises",
        show_default=False,
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="show details of errors")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def _check_device(dev: str | None) -> None:
    """Refuse a DEV string that names no board before anything is opened."""
    try:
        resolve(dev)
    except TransportError as exc:
        raise _fail(str(exc)) from None


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise _fail(f"--out {out_dir}: is a file; give a folder for the sessions")


def _check_choice(option: str, value: int | None, choices: tuple[int, ...], unit: str) -> None:
    if value is not None and value not in choices:
        allowed = ", ".join(map(str, choices[:-1])) + f" or {choices[-1]}"
        raise _fail(f"{option} {value} {unit} is not supported: use {allowed}")


def _is_ble(dev: str | None) -> bool:
    try:
        return resolve(dev).startswith("ble:")
    except TransportError:
        return False


def _run(
    coro: Awaitable[T], verbose: bool, dev: str | None = None, ble_backend: str | None = None
) -> T:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        raise typer.Exit(code=130) from None
    except Exception as exc:
        if verbose:
            console.print_exception()
        message = ble_failure(exc, ble_backend) if _is_ble(dev) else None
        if message is None and isinstance(
            exc, DeviceError | TransportError | CaptureError | OSError
        ):
            message = str(exc)
        if message is None:
            raise
        raise _fail(message) from None


async def _with_device(dev: str | None, motion: str, action: Callable[[Device], Awaitable[T]]) -> T:
    async with open_device(dev, sim_motion=motion) as device:
        await device.wait_ready()
        return await action(device)


# --- log ---------------------------------------------------------------------------------


def _live_table(stats: LiveStats, device: str) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    battery = f"{stats.battery_pct} %" if stats.battery_pct is not None else "…"
    rows = [
        ("device", device),
        ("state", stats.state + (f" ({stats.last_error})" if stats.last_error else "")),
        ("elapsed", f"{stats.elapsed_s:6.1f} s"),
        ("rate", f"{stats.rate_hz:7.1f} Hz received"),
        ("samples", f"{stats.samples_written} written, {stats.held} held for a refill"),
        ("lost / refilled", f"{stats.lost} / {stats.refilled}"),
        ("reconnects", str(stats.reconnects)),
        ("battery", battery),
        ("sets / reps", f"{stats.sets} / {stats.reps}"),
        ("jumps", str(stats.jumps)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


class _LiveReps:
    """Feeds written rows to the online rep and jump detectors; keeps the counts for the display."""

    def __init__(self, stats: LiveStats) -> None:
        from anklet.analysis import OnlineJumpDetector, OnlineRepDetector

        self.detector = OnlineRepDetector(source="live")
        self.jumps = OnlineJumpDetector()
        self.stats = stats
        self.failed = ""

    def __call__(self, t_s: np.ndarray, imu: np.ndarray, force_n: np.ndarray) -> None:
        if self.failed:
            return
        try:
            reps = self.detector.feed(t_s, imu[:, layout.ACCEL], imu[:, layout.GYRO], force_n)
            self.stats.jumps += len(self.jumps.feed(t_s, imu[:, layout.ACCEL], imu[:, layout.GYRO]))
        except Exception as exc:  # live counts are a convenience: never stop the recording
            self.failed = str(exc)
            return
        for rep in reps:
            self.stats.reps += 1
            if rep.index == 1:  # the first rep of a set: a new set began
                self.stats.sets += 1


class _Training(NamedTuple):
    """What the analysis at the end of a session found, for its summary."""

    sets: int = 0
    reps: int = 0
    jumps: int = 0
    flags: tuple[str, ...] = ()


def _analyse_session(folder: Path) -> _Training:
    """Write sets.csv, reps.csv (and jumps.csv); returns the counts and flags."""
    from anklet.analysis import AnalysisInputError, analyze_csv, write_session_tables

    try:
        result = analyze_csv(folder / "samples.csv")
    except AnalysisInputError as exc:
        console.print(f"[yellow]analysis skipped: {exc}[/]")
        return _Training()
    write_session_tables(result, folder)
    return _Training(result.set_count, result.total_reps, result.total_jumps, tuple(result.flags))


async def _log(
    dev: str | None,
    duration: float | None,
    rate: int | None,
    out_dir: Path,
    raw: bool,
    motion: str,
    quiet: bool,
    ble_backend: str | None = None,
) -> tuple[SessionSummary, _Training]:
    async with open_device(dev, sim_motion=motion, ble_backend=ble_backend) as device:
        saved_rate_hz = (await device.wait_ready()).imu_rate_hz if rate else None
        recorder = SessionRecorder(device, out_dir, imu_rate_hz=rate, keep_raw=raw)
        recorder.on_rows = _LiveReps(recorder.live)
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(recorder.run(duration))
        _stop_on_interrupt(recorder, task)
        try:
            if quiet or not sys.stderr.isatty():
                summary = await task
            else:
                with Live(
                    _live_table(recorder.live, device.description),
                    console=console,
                    refresh_per_second=4,
                ) as live:
                    while not task.done():
                        live.update(_live_table(recorder.live, _device_line(recorder, device)))
                        await asyncio.wait({task}, timeout=0.25)
                summary = task.result()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
            if saved_rate_hz and saved_rate_hz != rate:
                # --rate is for this session, also one the board refused: it keeps the rate
                # `anklet set` saved.
                await _restore_rate(device, saved_rate_hz, rate)
    return summary, _analyse_session(summary.folder)


async def _restore_rate(device: Device, saved_rate_hz: int, rate: int | None) -> None:
    try:
        await device.set_rates(imu_rate_hz=saved_rate_hz)
    except (DeviceError, TransportError) as exc:
        console.print(f"[yellow]the board still runs at {rate} Hz: {exc}[/]")


def _summary_dict(summary: SessionSummary, training: _Training) -> dict[str, Any]:
    return {
        "session": str(summary.folder),
        "device": summary.device_name,
        "duration_s": round(summary.duration_s, 3),
        "samples": summary.samples,
        "expected": summary.expected,
        "lost": summary.lost,
        "refilled": summary.refilled,
        "reconnects": summary.reconnects,
        "boots": summary.boots,
        "completeness_pct": round(summary.completeness_pct, 4),
        "sets": training.sets,
        "reps": training.reps,
        "jumps": training.jumps,
        "flags": list(training.flags),
    }


def _stop_on_interrupt(recorder: SessionRecorder, task: asyncio.Task[Any]) -> None:
    """Ctrl-C (or SIGTERM) while still connecting gives up at once; while recording it stops
    the recording cleanly, every file complete, and the summary is printed."""

    def interrupt() -> None:
        if recorder.log is None:
            task.cancel()
        else:
            recorder.request_stop()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, interrupt)
    loop.add_signal_handler(signal.SIGTERM, interrupt)


def _device_line(recorder: SessionRecorder, device: Device) -> str:
    """The board's own name once it has answered, and the link it is on."""
    if recorder.log is None:
        return device.description
    return f"{recorder.log.info.name} on {device.description}"


def _print_summary(summary: SessionSummary, training: _Training) -> None:
    sets, reps, jumps, flags = training
    out.print(f"session  {summary.folder}")
    out.print(f"device   {summary.device_name}")
    out.print(f"duration {summary.duration_s:.1f} s")
    out.print(
        f"samples  {summary.samples} of {summary.expected} expected "
        f"({summary.lost} lost, {summary.refilled} refilled, "
        f"{summary.reconnects} reconnects, {summary.boots} boot(s))"
    )
    out.print(f"complete {summary.completeness_pct:.3f} %")
    if jumps:
        out.print(
            f"training {sets} set(s), {reps} rep(s), {jumps} jump(s)  "
            "(details: sets.csv, reps.csv, jumps.csv)",
            soft_wrap=True,
        )
    else:
        out.print(
            f"training {sets} set(s), {reps} rep(s)  (details: sets.csv, reps.csv)",
            soft_wrap=True,
        )
    for flag in flags:
        out.print(f"! {flag}", soft_wrap=True, highlight=False)


@app.command("log")
def log_cmd(
    device: DeviceOpt = None,
    duration: Annotated[float | None, typer.Option(help="seconds; default: until Ctrl-C")] = None,
    rate: Annotated[int | None, typer.Option(help="IMU rate: 100, 200, 400 or 1000 Hz")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="where session folders go")] = Path(
        "sessions"
    ),
    raw: Annotated[bool, typer.Option("--raw", help="also keep capture.bin")] = False,
    motion: MotionOpt = DEFAULT_SIM_MOTION,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no live display")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="print the summary as JSON (implies --quiet)")
    ] = False,
    ble_backend: Annotated[
        str | None,
        typer.Option(
            "--ble-backend",
            envvar="ANKLET_BLE_BACKEND",
            help="bumble:TRANSPORT to bypass the system's Bluetooth stack",
        ),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Stream and log a session until Ctrl-C or --duration; every file stays complete.

    Examples:

      anklet log --device sim --duration 60

      anklet log --device serial:/dev/ttyUSB0 --rate 1000 --out ~/training --raw
    """
    _check_choice("--rate", rate, spec.IMU_RATES_HZ, "Hz")
    if duration is not None and not 0 < duration <= 86400:
        raise _fail(
            f"--duration {duration:g}: give seconds above 0 (at most 86400), or none "
            "to record until Ctrl-C"
        )
    _check_device(device)
    _check_out_dir(out_dir)
    if problem := check_backend(ble_backend):
        raise _fail(problem)
    summary, training = _run(
        _log(device, duration, rate, out_dir, raw, motion, quiet or json_out, ble_backend),
        verbose,
        device,
        ble_backend,
    )
    if json_out:
        print(json.dumps(_summary_dict(summary, training)))
        return
    _print_summary(summary, training)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out")] = Path("sessions"),
    duration: Annotated[
        float, typer.Option(help="seconds of the workout to record")
    ] = DEMO_SECONDS,
) -> None:
    """Log a synthetic 3-set leg-raise workout on the simulated board and summarise it.

    Example:

      anklet demo
    """
    flash = default_sim_flash().parent / "demo-flash"
    console.print(
        f"[bold]Anklet demo[/]: simulated board, 3 sets of 10 leg raises, {duration:.0f} s"
    )

    async def go() -> tuple[SessionSummary, _Training]:
        async with open_device("sim", sim_motion=DEFAULT_SIM_MOTION, sim_flash=flash) as dev:
            recorder = SessionRecorder(dev, out_dir, imu_rate_hz=200)
            recorder.on_rows = _LiveReps(recorder.live)
            task = asyncio.create_task(recorder.run(duration))
            _stop_on_interrupt(recorder, task)
            last = -10.0
            while not task.done():
                live = recorder.live
                if live.elapsed_s - last >= 10:
                    last = live.elapsed_s
                    console.print(
                        f"  {live.elapsed_s:5.0f} s  {live.state:10s} "
                        f"{live.samples_written:7d} samples  {live.rate_hz:6.1f} Hz  "
                        f"reps so far {live.reps}"
                    )
                await asyncio.wait({task}, timeout=0.5)
            summary = task.result()
        return summary, _analyse_session(summary.folder)

    summary, training = _run(go(), verbose=False)
    _print_summary(summary, training)
    out.print(f"next     anklet report {summary.folder}", soft_wrap=True, highlight=False)


# --- board commands ----------------------------------------------------------------------


@app.command()
def info(
    device: DeviceOpt = None,
    json_out: JsonOpt = False,
    motion: MotionOpt = DEFAULT_SIM_MOTION,
    verbose: VerboseOpt = False,
) -> None:
    """Show the board's identity, firmware, sensor set-up and health.

    Example:

      anklet info --device serial:/dev/ttyUSB0
    """

    async def action(dev: Device) -> dict[str, Any]:
        board = await dev.get_info()
        status = await dev.get_status()
        return {"transport": dev.description, **board.as_dict(), "status": status.as_dict()}

    data = _run(_with_device(device, motion, action), verbose, device)
    if json_out:
        out.print_json(json.dumps(data))
        return
    table = Table(show_header=False)
    for key, value in data.items():
        if key == "status":
            for skey, svalue in value.items():
                table.add_row(skey, str(svalue))
        else:
            table.add_row(key, str(value))
    out.print(table)


#: What the simulated user does before each load-cell step, as the README asks a real one to:
#: the strap empty for `tare`, the known mass hanging from it for `calibrate`.
SIM_EMPTY_STRAP = "still:mass=0"


def sim_strap_with(mass_kg: float) -> str:
    return f"still:mass={mass_kg:g}"


@app.command()
def tare(
    device: DeviceOpt = None,
    samples: Annotated[
        int, typer.Option(min=1, max=80, help="load-cell readings to average (1-80)")
    ] = 20,
    verbose: VerboseOpt = False,
) -> None:
    """Zero the load cell with nothing hanging on the strap (then `anklet calibrate`).

    On the simulated board the strap is empty while it tares.

    Example:

      anklet tare --device serial:/dev/ttyUSB0
    """
    _check_device(device)
    offset = _run(_with_device(device, SIM_EMPTY_STRAP, lambda d: d.tare(samples)), verbose, device)
    out.print(f"tared: offset {offset} counts. Next: hang a known mass, then anklet calibrate")


@app.command()
def calibrate(
    mass_kg: Annotated[
        float, typer.Option("--mass-kg", help="the known mass on the strap, 0.001-200 kg")
    ],
    device: DeviceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Calibrate the load cell with a known mass hanging from the strap (after `anklet tare`
    with the strap empty).

    On the simulated board the mass hangs from the strap while it calibrates.

    Example:

      anklet calibrate --device serial:/dev/ttyUSB0 --mass-kg 5
    """
    if not 0.001 <= mass_kg <= 200:
        raise _fail(f"--mass-kg {mass_kg:g}: must be between 0.001 and 200 kg")
    _check_device(device)

    async def action(dev: Device) -> float:
        try:
            return await dev.calibrate(mass_kg)
        except CommandFailed as exc:
            if exc.status != spec.StatusCode.INVALID_STATE:
                raise
            raise DeviceError(
                "calibrate: the board sees no load on the strap since its tare: tare with the "
                f"strap empty, hang the {mass_kg:g} kg mass, then run calibrate"
            ) from None

    scale = _run(_with_device(device, sim_strap_with(mass_kg), action), verbose, device)
    out.print(f"calibrated: {scale:.2f} counts per newton")


@app.command("set")
def set_cmd(
    device: DeviceOpt = None,
    name: Annotated[str | None, typer.Option(help="the board's name (up to 20 bytes)")] = None,
    rate: Annotated[int | None, typer.Option(help="IMU rate: 100, 200, 400 or 1000 Hz")] = None,
    load_rate: Annotated[int | None, typer.Option(help="load-cell rate: 10 or 80 Hz")] = None,
    accel_g: Annotated[int | None, typer.Option(help="accelerometer range: 2, 4, 8, 16 g")] = None,
    gyro_dps: Annotated[
        int | None, typer.Option(help="gyro range: 250, 500, 1000 or 2000 deg/s")
    ] = None,
    defaults: Annotated[
        bool,
        typer.Option(
            "--defaults",
            help="first put name, rates and ranges back to the firmware's defaults "
            "(the load cell's calibration is kept)",
        ),
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Change the board's name, rates or ranges (saved on the board), or reset them.

    Examples:

      anklet set --device sim --name "Left ankle"

      anklet set --device serial:/dev/ttyUSB0 --rate 1000 --gyro-dps 2000

      anklet set --device sim --defaults
    """
    if name is None and not defaults and not any((rate, load_rate, accel_g, gyro_dps)):
        raise _fail(
            "nothing to set: give --name, --rate, --load-rate, --accel-g, --gyro-dps or --defaults"
        )
    if name is not None and len(name.encode()) > spec.NAME_MAX:
        raise _fail(f"--name {name!r} is longer than {spec.NAME_MAX} bytes (UTF-8)")
    if name is not None and not name.strip():
        raise _fail("--name is empty: give the board a name people can read")
    _check_choice("--rate", rate, spec.IMU_RATES_HZ, "Hz")
    _check_choice("--load-rate", load_rate, spec.LOAD_RATES_HZ, "Hz")
    _check_choice("--accel-g", accel_g, spec.ACCEL_RANGES_G, "g")
    _check_choice("--gyro-dps", gyro_dps, spec.GYRO_RANGES_DPS, "deg/s")
    _check_device(device)

    async def action(dev: Device) -> None:
        if defaults:
            try:
                await dev.reset_config()
            except CommandFailed as exc:
                if exc.status != spec.StatusCode.UNKNOWN_OPCODE:
                    raise
                raise DeviceError(
                    "this board's firmware cannot reset its settings: update it with "
                    "`anklet deploy`, or set each one"
                ) from None
        if name is not None:
            await dev.set_name(name)
        if any((rate, load_rate, accel_g, gyro_dps)):
            await dev.set_rates(rate or 0, load_rate or 0, accel_g or 0, gyro_dps or 0)

    _run(_with_device(device, DEFAULT_SIM_MOTION, action), verbose, device)
    out.print("saved on the board")


@app.command()
def sim(
    motion: MotionOpt = DEFAULT_SIM_MOTION,
    flash: Annotated[Path | None, typer.Option(help="the board's flash directory")] = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="without the ESP32 model: the serial port moves bytes as fast as the PC can",
        ),
    ] = False,
) -> None:
    """Start a simulated board and keep it running; prints the serial port to connect to.

    By default it behaves as an ESP32 DevKitC (serial at 115200 baud); --fast does not.

    Examples:

      anklet sim

      anklet sim --motion recording.csv

      anklet sim --fast
    """
    from anklet import schemes

    if flash is not None and flash.exists() and not flash.is_dir():
        raise _fail(f"--flash {flash}: is a file; give a folder for the board's flash")
    simulator = schemes.find("sim")
    if not isinstance(simulator, schemes.ServingScheme):
        raise _fail("the simulated board is not installed (package anklet_sim)")
    options = schemes.OpenOptions(sim_motion=motion, sim_flash=flash, sim_fast=fast)
    try:
        with contextlib.suppress(KeyboardInterrupt), simulator.serve(options) as lines:
            for line in lines:
                out.print(line)
            out.print("Ctrl-C to power it off")
            while True:
                time.sleep(1)
    except TransportError as exc:  # a bad --motion, a recording that is not there
        raise _fail(str(exc)) from None


@app.command()
def decode(
    capture: Annotated[
        Path, typer.Argument(help="capture.bin from `anklet log --raw` (or its session folder)")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="where the session folder goes")] = Path(
        "decoded"
    ),
    verbose: VerboseOpt = False,
) -> None:
    """Re-decode a raw capture into a session folder, as a live session writes it.

    Example:

      anklet decode sessions/Anklet-C0FE-20261127-101500/capture.bin --out decoded
    """
    if capture.is_dir():
        capture = capture / "capture.bin"
    if out_dir.exists() and not out_dir.is_dir():
        raise _fail(f"--out {out_dir}: is a file; give a folder")
    try:
        result = decode_capture(capture, out_dir)
    except (CaptureError, OSError) as exc:
        raise _fail(str(exc)) from None
    stats = result.stats
    out.print(f"session  {result.folder}")
    out.print(
        f"frames   {stats.frames_ok} good, {stats.bad_frames} corrupt, "
        f"{stats.frames_missing} missing (sequence gaps), {stats.unknown_type} unknown"
    )
    out.print(
        f"samples  {result.samples} written, {result.accounting.lost} lost, "
        f"completeness {result.accounting.completeness_pct:.3f} %"
    )
    if result.exact:
        out.print("timing   the live session's (capture.jsonl): same rows, same clock model")
    training = _analyse_session(result.folder)  # the tables a live session has
    out.print(
        f"training {training.sets} set(s), {training.reps} rep(s), {training.jumps} jump(s)",
        soft_wrap=True,
    )
    if result.note:
        print(f"note: {result.note}", file=sys.stderr)
