"""Commands that talk to a board: log, info, tare, calibrate, set, sim, demo, decode.

anklet log --device sim --duration 60 --out sessions
anklet info --device serial:/dev/ttyUSB0
anklet calibrate --device Left --mass-kg 5
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from anklet_protocol import spec
from rich.console import Console
from rich.live import Live
from rich.table import Table

from anklet.capture import CaptureError, decode_capture
from anklet.cli import app
from anklet.cli.ble_errors import check_backend
from anklet.cli.pair_cmds import run_pair
from anklet.cli.running import run_command
from anklet.connect import DEFAULT_SIM_MOTION, DEMO_SECONDS, resolve
from anklet.device import CommandFailed, Device, DeviceError
from anklet.feedback import RepCoach, Target, target_from_history
from anklet.labels import EXERCISES, LabelError, Labels, make_labels
from anklet.logsession import DeviceOptions, LogOptions, LogSession
from anklet.recorder import SessionSummary
from anklet.training import TrainingOutcome
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


BleBackendOpt = Annotated[
    str | None,
    typer.Option(
        "--ble-backend",
        envvar="ANKLET_BLE_BACKEND",
        help="bumble:TRANSPORT to bypass the system's Bluetooth stack",
    ),
]


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def _board(
    device: str | None,
    motion: str = DEFAULT_SIM_MOTION,
    ble_backend: str | None = None,
    sim_flash: Path | None = None,
) -> DeviceOptions:
    """The common device options, checked once, before anything is opened."""
    try:
        resolve(device)
    except TransportError as exc:
        raise _fail(str(exc)) from None
    if problem := check_backend(ble_backend):
        raise _fail(problem)
    return DeviceOptions(device, motion, sim_flash, ble_backend)


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


def _run(coro: Awaitable[T], verbose: bool, board: DeviceOptions | None = None) -> T:
    ble = board is not None and _is_ble(board.device)
    backend = board.ble_backend if board is not None else None
    return run_command(coro, verbose, ble=ble, ble_backend=backend)  # type: ignore[arg-type]


async def _with_device(board: DeviceOptions, action: Callable[[Device], Awaitable[T]]) -> T:
    async with board.open() as device:
        await device.wait_ready()
        return await action(device)


# --- log, demo ---------------------------------------------------------------------------


def _live_table(session: LogSession, coach: RepCoach) -> Table:
    stats = session.live
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    battery = f"{stats.battery_pct} %" if stats.battery_pct is not None else "…"
    rows = [
        ("device", session.device_line),
        ("state", stats.state + (f" ({stats.last_error})" if stats.last_error else "")),
        ("elapsed", f"{stats.elapsed_s:6.1f} s"),
        ("rate", f"{stats.rate_hz:7.1f} Hz received"),
        ("samples", f"{stats.samples_written} written, {stats.held} held for a refill"),
        ("lost / refilled", f"{stats.lost} / {stats.refilled}"),
        ("reconnects", str(stats.reconnects)),
        ("battery", battery),
        ("sets / reps", f"{stats.sets} / {stats.reps}"),
        ("target", _target_line(coach.target)),
        ("reps", "\n".join(coach.lines[-3:]) or "…"),
        ("rest", _rest_line(coach)),
        ("jumps", str(stats.jumps)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _target_line(target: Target | None) -> str:
    if target is None:
        return "none (--target-rom, or a past session of the exercise in the history)"
    return f"{target.rom_deg:.0f}° range of motion ({target.source})"


def _rest_line(coach: RepCoach) -> str:
    rest = coach.rest_s()
    if rest is None:
        return "…"
    return f"{int(rest) // 60}:{int(rest) % 60:02d} since the last rep"


def _summary_dict(summary: SessionSummary) -> dict[str, Any]:
    training = summary.training
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


def _stop_on_interrupt(session: LogSession) -> Callable[[], None]:
    """Ctrl-C (or SIGTERM) while still connecting gives up at once; while recording it stops
    the recording cleanly, every file complete, and the summary is printed. Returns the undo."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, session.stop)
    loop.add_signal_handler(signal.SIGTERM, session.stop)

    def undo() -> None:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)

    return undo


async def _record(session: LogSession, display: str, coach: RepCoach) -> SessionSummary:
    """Run the session with a display: "table" (live, on a terminal), "lines" (each rep as it
    ends and a progress line every 10 s) or "none"."""
    session.subscribe(coach.on_event)
    task = asyncio.create_task(session.run())
    undo = _stop_on_interrupt(session)
    try:
        if display == "table":
            with Live(_live_table(session, coach), console=console, refresh_per_second=4) as live:
                while not task.done():
                    live.update(_live_table(session, coach))
                    await asyncio.wait({task}, timeout=0.25)
        elif display == "lines":
            last, shown = -10.0, 0
            while not task.done():
                stats = session.live
                for line in coach.lines[shown:]:
                    console.print(f"  {line}", highlight=False)
                shown = len(coach.lines)
                if stats.state != "connecting" and stats.elapsed_s - last >= 10:
                    last = stats.elapsed_s
                    console.print(
                        f"  {stats.elapsed_s:5.0f} s  {stats.state:10s} "
                        f"{stats.samples_written:7d} samples  {stats.rate_hz:6.1f} Hz  "
                        f"sets {stats.sets}, reps {stats.reps}"
                    )
                await asyncio.wait({task}, timeout=0.5)
            for line in coach.lines[shown:]:  # reps that ended as the session did
                console.print(f"  {line}", highlight=False)
        return await task
    finally:
        undo()
        if session.rate_note:
            console.print(f"[yellow]{session.rate_note}[/]")


def _labels(
    exercise: str | None,
    side: str | None,
    athlete: str | None,
    load_kg: str | None,
    note: str | None,
) -> Labels | None:
    if all(v is None for v in (exercise, side, athlete, load_kg, note)):
        return None
    try:
        return make_labels(exercise, side, athlete, load_kg, note)
    except LabelError as exc:
        raise _fail(str(exc)) from None


def _coach(labels: Labels | None, target_rom: float | None, beep: bool, out_dir: Path) -> RepCoach:
    """The live rep feedback: --target-rom, else the athlete's best recent session."""
    target = None
    if target_rom is not None:
        if not 0 < target_rom <= 180:
            raise _fail(f"--target-rom {target_rom:g}: give degrees above 0, at most 180")
        target = Target(target_rom, "--target-rom")
    else:
        try:
            target = target_from_history(labels, out_dir)
        except Exception as exc:  # the history is a convenience here: never block a session
            console.print(f"[yellow]no target from the training history: {exc}[/]")

    def bell(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    return RepCoach(target, beep=beep, bell=bell)


def _print_summary(summary: SessionSummary) -> None:
    training = summary.training
    out.print(f"session  {summary.folder}")
    out.print(f"device   {summary.device_name}")
    out.print(f"duration {summary.duration_s:.1f} s")
    out.print(
        f"samples  {summary.samples} of {summary.expected} expected "
        f"({summary.lost} lost, {summary.refilled} refilled, "
        f"{summary.reconnects} reconnects, {summary.boots} boot(s))"
    )
    out.print(f"complete {summary.completeness_pct:.3f} %")
    _print_training(training, details=True)


def _print_training(training: TrainingOutcome, details: bool) -> None:
    if training.skipped:
        console.print(f"[yellow]analysis skipped: {training.skipped}[/]", soft_wrap=True)
    counts = f"training {training.sets} set(s), {training.reps} rep(s)"
    if training.jumps or not details:
        counts += f", {training.jumps} jump(s)"
    if details:
        files = "sets.csv, reps.csv, jumps.csv" if training.jumps else "sets.csv, reps.csv"
        counts += f"  (details: {files})"
    out.print(counts, soft_wrap=True)
    for flag in training.flags if details else ():
        out.print(f"! {flag}", soft_wrap=True, highlight=False)


DevicesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--device",
        "-d",
        help="sim, sim:ble, serial:PATH, ble:NAME_OR_ADDRESS or a remembered name (default: "
        "the only remembered device, else sim); twice: the left and the right board together",
    ),
]


@app.command("log")
def log_cmd(
    device: DevicesOpt = None,
    duration: Annotated[
        float | None,
        typer.Option(help="seconds to record, from the stream's start; default: until Ctrl-C"),
    ] = None,
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
    ble_backend: BleBackendOpt = None,
    exercise: Annotated[
        str | None,
        typer.Option(help=f"what is trained: {', '.join(EXERCISES)}, or your own words"),
    ] = None,
    side: Annotated[str | None, typer.Option(help="left, right or both")] = None,
    athlete: Annotated[str | None, typer.Option(help="who trains")] = None,
    load_kg: Annotated[str | None, typer.Option("--load-kg", help="the strap weight, kg")] = None,
    note: Annotated[str | None, typer.Option(help="free text kept with the session")] = None,
    target_rom: Annotated[
        float | None,
        typer.Option(
            "--target-rom",
            help="degrees each rep should reach (default: the athlete's best recent session)",
        ),
    ] = None,
    beep: Annotated[
        bool, typer.Option("--beep", help="ring the terminal bell when a rep falls short")
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Stream and log a session until Ctrl-C or --duration; every file stays complete.
    Each rep is shown as it ends, against the target range of motion.

    Examples:

      anklet log --device sim --duration 60

      anklet log --device Left --exercise "seated knee extension" --side left --load-kg 2 --beep

      anklet log --device Left --device Right --exercise "straight-leg raise"   (both legs)

      anklet log --device serial:/dev/ttyUSB0 --rate 1000 --out ~/training --raw
    """
    _check_choice("--rate", rate, spec.IMU_RATES_HZ, "Hz")
    if duration is not None and not 0 < duration <= 86400:
        raise _fail(
            f"--duration {duration:g}: give seconds above 0 (at most 86400), or none "
            "to record until Ctrl-C"
        )
    labels = _labels(exercise, side, athlete, load_kg, note)
    devices = device or []
    if len(devices) > 2:
        raise _fail(f"--device given {len(devices)} times: one board, or two (left, then right)")
    if len(devices) == 2:
        if side is not None:
            raise _fail("--side: with two boards the first --device is left, the second right")
        _check_out_dir(out_dir)
        run_pair(
            {"left": devices[0], "right": devices[1]}, {"left": motion, "right": motion},
            duration=duration, rate=rate, involved=None, out_dir=out_dir, raw=raw,
            quiet=quiet, json_out=json_out, ble_backend=ble_backend, verbose=verbose,
            labels=labels, options=("--device", "--device"),
        )  # fmt: skip
        return
    board = _board(devices[0] if devices else None, motion, ble_backend)
    _check_out_dir(out_dir)
    coach = _coach(labels, target_rom, beep, out_dir)
    options = LogOptions(
        board, duration_s=duration, rate_hz=rate, out_dir=out_dir, keep_raw=raw, labels=labels
    )
    display = "none" if quiet or json_out else "table" if sys.stderr.isatty() else "lines"
    summary = _run(_record(LogSession(options), display, coach), verbose, board)
    if json_out:
        print(json.dumps(_summary_dict(summary)))
        return
    _print_summary(summary)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out")] = Path("sessions"),
    duration: Annotated[
        float, typer.Option(help="seconds of the workout to record")
    ] = DEMO_SECONDS,
) -> None:
    """Log a synthetic 3-set leg-raise workout on the simulated board and summarise it:
    `anklet log` with the simulated board's default workout.

    Example:

      anklet demo
    """
    _check_out_dir(out_dir)
    options = LogOptions.demo(out_dir, duration)
    console.print(
        f"[bold]Anklet demo[/]: simulated board, 3 sets of 10 leg raises, {duration:.0f} s"
    )
    summary = _run(_record(LogSession(options), "lines", RepCoach()), False, options.board)
    _print_summary(summary)
    out.print(f"next     anklet report {summary.folder}", soft_wrap=True, highlight=False)


# --- board commands ----------------------------------------------------------------------


@app.command()
def info(
    device: DeviceOpt = None,
    json_out: JsonOpt = False,
    motion: MotionOpt = DEFAULT_SIM_MOTION,
    ble_backend: BleBackendOpt = None,
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

    board = _board(device, motion, ble_backend)
    data = _run(_with_device(board, action), verbose, board)
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
    ble_backend: BleBackendOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Zero the load cell with nothing hanging on the strap (then `anklet calibrate`).

    On the simulated board the strap is empty while it tares.

    Example:

      anklet tare --device serial:/dev/ttyUSB0
    """
    board = _board(device, SIM_EMPTY_STRAP, ble_backend)
    offset = _run(_with_device(board, lambda d: d.tare(samples)), verbose, board)
    out.print(f"tared: offset {offset} counts. Next: hang a known mass, then anklet calibrate")


@app.command()
def calibrate(
    mass_kg: Annotated[
        float, typer.Option("--mass-kg", help="the known mass on the strap, 0.001-200 kg")
    ],
    device: DeviceOpt = None,
    ble_backend: BleBackendOpt = None,
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
    board = _board(device, sim_strap_with(mass_kg), ble_backend)

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

    scale = _run(_with_device(board, action), verbose, board)
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
    ble_backend: BleBackendOpt = None,
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
    board = _board(device, DEFAULT_SIM_MOTION, ble_backend)

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

    _run(_with_device(board, action), verbose, board)
    out.print("saved on the board")


@app.command()
def sim(
    motion: MotionOpt = DEFAULT_SIM_MOTION,
    flash: Annotated[Path | None, typer.Option(help="the board's flash directory")] = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="without the ESP32 model: the serial port and the firmware's code run as fast "
            "as the PC can",
        ),
    ] = False,
) -> None:
    """Start a simulated board and keep it running; prints the serial port to connect to.

    By default it behaves as an ESP32 DevKitC (serial at 115200 baud, the firmware's code at a
    160 MHz ESP32's pace); --fast does not.

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
    if result.training is not None:  # the analysis a live session ends with, same path
        _print_training(result.training, details=False)
    if result.note:
        print(f"note: {result.note}", file=sys.stderr)
