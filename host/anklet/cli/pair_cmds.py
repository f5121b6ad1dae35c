"""`anklet log-pair`: left and right boards in one session, on one clock.

anklet log-pair --left "sim?id=1" --right "sim?id=2" --duration 60
anklet log-pair --left Left --right Right --involved right --json
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from anklet_protocol import spec
from rich.console import Console

from anklet.cli import app
from anklet.cli.ble_errors import check_backend
from anklet.cli.running import run_command
from anklet.connect import DEFAULT_SIM_MOTION, resolve
from anklet.labels import Labels
from anklet.pair_session import SIDES, PairResult, PairSession, record_pair
from anklet.transport import TransportError

console = Console(stderr=True)
out = Console()


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def _check(option: str, dev: str) -> str:
    try:
        return resolve(dev)
    except TransportError as exc:
        raise _fail(f"{option}: {exc}") from None


def _stop_on_interrupt(pair: PairSession) -> None:
    """Ctrl-C (or SIGTERM) stops both recordings cleanly; every file stays complete."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, pair.request_stop)


async def _progress(pair: PairSession, quiet: bool) -> None:
    """One line per second while recording (stderr), unless quiet."""
    while not quiet:
        await asyncio.sleep(1.0)
        parts = []
        for side, rec in pair.recorders.items():
            live = rec.live
            parts.append(
                f"{side}: {live.state} {live.samples_written} rows {live.rate_hz:.0f} Hz "
                f"{live.lost} lost"
            )
        console.print(f"{pair.recorders['left'].live.elapsed_s:6.1f} s  " + "  |  ".join(parts))


async def _log_pair(
    devs: dict[str, str],
    out_dir: Path,
    duration: float | None,
    rate: int | None,
    involved: str | None,
    motions: dict[str, str],
    quiet: bool,
    ble_backend: str | None,
    raw: bool,
    labels: Labels | None = None,
) -> PairResult:
    watcher: asyncio.Task[None] | None = None

    def started(pair: PairSession) -> None:
        nonlocal watcher
        _stop_on_interrupt(pair)
        watcher = asyncio.create_task(_progress(pair, quiet or not sys.stderr.isatty()))

    try:
        return await record_pair(
            devs,
            out_dir,
            duration_s=duration,
            imu_rate_hz=rate,
            involved=involved,
            sim_motions=motions,
            ble_backend=ble_backend,
            keep_raw=raw,
            labels=labels,
            on_start=started,
        )
    finally:
        if watcher is not None:
            watcher.cancel()
        loop = asyncio.get_running_loop()
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)


def result_dict(result: PairResult) -> dict[str, Any]:
    """The --json document: the parent session.json's contents and the folder."""
    meta = json.loads((result.folder / "session.json").read_text())
    return {"session": str(result.folder), **meta}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def print_result(result: PairResult) -> None:
    out.print(f"session  {result.folder}")
    for side, r in result.sides.items():
        s = r.summary
        out.print(
            f"{side:<6}   {r.board} on {r.device}: {s.samples} of {s.expected} samples "
            f"({s.lost} lost), {result.analysis.get(side, {}).get('reps', 0)} rep(s)",
            soft_wrap=True,
            highlight=False,
        )
    if result.clock is not None:
        c = result.clock
        out.print(
            f"clocks   right - left = {c.right_minus_left_s * 1e3:.3f} ms "
            f"(± {c.uncertainty_s * 1e3:.3f} ms, at most {c.bound_s * 1e3:.3f} ms off)",
            highlight=False,
        )
    sym = result.analysis.get("symmetry")
    if not sym:
        out.print("symmetry -: a side has no analysable samples")
        return
    out.print(f"symmetry LSI = {sym['formula']}", highlight=False)
    out.print(f"  {'metric':<22}{'left':>9}{'right':>9}{'LSI %':>8}", highlight=False)
    for m in sym["metrics"]:
        out.print(
            f"  {m['name']:<22}{_fmt(m['left']):>9}{_fmt(m['right']):>9}{_fmt(m['lsi_pct']):>8}",
            highlight=False,
        )
    for flag in sym["flags"]:
        out.print(f"! {flag}", soft_wrap=True, highlight=False)


@app.command("log-pair")
def log_pair_cmd(
    left: Annotated[str, typer.Option("--left", help="the left board: a DEV string or name")],
    right: Annotated[str, typer.Option("--right", help="the right board: a DEV string or name")],
    duration: Annotated[
        float | None,
        typer.Option(help="seconds to record, from the stream's start; default: until Ctrl-C"),
    ] = None,
    rate: Annotated[int | None, typer.Option(help="IMU rate: 100, 200, 400 or 1000 Hz")] = None,
    involved: Annotated[
        str | None,
        typer.Option(
            help="the involved (injured) side, left or right: LSI = involved / uninvolved; "
            "default: smaller / larger"
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="where session folders go")] = Path(
        "sessions"
    ),
    left_motion: Annotated[
        str, typer.Option(help="simulated left board only: a motion spec or recorded CSV")
    ] = DEFAULT_SIM_MOTION,
    right_motion: Annotated[
        str, typer.Option(help="simulated right board only: a motion spec or recorded CSV")
    ] = DEFAULT_SIM_MOTION,
    raw: Annotated[bool, typer.Option("--raw", help="also keep each side's capture.bin")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress lines")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    ble_backend: Annotated[
        str | None,
        typer.Option(
            "--ble-backend",
            envvar="ANKLET_BLE_BACKEND",
            help="bumble:TRANSPORT to bypass the system's Bluetooth stack",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="show details of errors")
    ] = False,
) -> None:
    """Record a left and a right board together: one session, one clock, limb symmetry.

    Each board's clock is fitted to the host's; session.json holds the offset between the
    two clocks with its uncertainty, each side's metrics and the limb symmetry index.

    Examples:

      anklet log-pair --left "sim?id=1" --right "sim?id=2" --duration 60

      anklet log-pair --left ble:Anklet-1A2B --right ble:Anklet-3C4D --involved right
    """
    run_pair(
        {"left": left, "right": right},
        {"left": left_motion, "right": right_motion},
        duration=duration, rate=rate, involved=involved, out_dir=out_dir, raw=raw,
        quiet=quiet, json_out=json_out, ble_backend=ble_backend, verbose=verbose,
    )  # fmt: skip


def run_pair(
    devs: dict[str, str],
    motions: dict[str, str],
    *,
    duration: float | None,
    rate: int | None,
    involved: str | None,
    out_dir: Path,
    raw: bool,
    quiet: bool,
    json_out: bool,
    ble_backend: str | None,
    verbose: bool,
    labels: Labels | None = None,
    options: tuple[str, str] = ("--left", "--right"),
) -> None:
    """`anklet log-pair`, and `anklet log` given two --device: check, record, print."""
    left, right = devs["left"], devs["right"]
    if rate is not None and rate not in spec.IMU_RATES_HZ:
        raise _fail(
            f"--rate {rate} Hz is not supported: use {', '.join(map(str, spec.IMU_RATES_HZ))}"
        )
    if duration is not None and not 0 < duration <= 86400:
        raise _fail(f"--duration {duration:g}: give seconds above 0 (at most 86400)")
    if involved is not None and involved not in SIDES:
        raise _fail(f"--involved {involved}: use left or right")
    if out_dir.exists() and not out_dir.is_dir():
        raise _fail(f"--out {out_dir}: is a file; give a folder for the sessions")
    if _check(options[0], left) == _check(options[1], right):
        raise _fail(f"{options[0]} and {options[1]} name the same board ({resolve(left)})")
    if problem := check_backend(ble_backend):
        raise _fail(problem)
    ble = False
    with contextlib.suppress(TransportError):
        ble = any(resolve(d).startswith("ble:") for d in devs.values())
    pair = _log_pair(
        devs, out_dir, duration, rate, involved, motions, quiet or json_out, ble_backend, raw,
        labels,
    )  # fmt: skip
    result = run_command(pair, verbose, ble=ble, ble_backend=ble_backend)
    if json_out:
        print(json.dumps(result_dict(result)))
        return
    print_result(result)
