"""`anklet analyze` and `anklet report`: sets, reps and metrics of a recording or session.

anklet analyze session/samples.csv            # a table of sets and reps
anklet analyze session/samples.csv --json     # the same as one JSON document
anklet report session/                        # writes session/report.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from anklet.analysis import AnalysisInputError, SessionAnalysis, analyze_csv, write_session_tables
from anklet.cli import app


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def _samples_path(path: Path) -> Path:
    if path.is_dir():
        path = path / "samples.csv"
    if not path.is_file():
        raise _fail(f"{path}: no such file")
    return path


@app.command()
def analyze(
    samples: Annotated[Path, typer.Argument(help="samples.csv (or a session folder)")],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
    planned_sets: Annotated[
        int | None, typer.Option("--planned-sets", help="flag sessions with more sets")
    ] = None,
    tables: Annotated[
        bool,
        typer.Option("--tables", help="also write sets.csv, reps.csv (and jumps.csv) beside it"),
    ] = False,
) -> None:
    """Find sets, reps and jumps in an IMU recording and print their metrics.

    Examples:

      anklet analyze sessions/2026-05-01/samples.csv

      anklet analyze recording.csv --json | jq '.sets[].reps | length'
    """
    path = _samples_path(samples)
    try:
        result = analyze_csv(path, planned_sets=planned_sets)
    except AnalysisInputError as exc:
        raise _fail(str(exc)) from None
    if tables:
        write_session_tables(result, path.parent)
    if json_out:
        print(json.dumps(result.to_dict(), indent=2))
        return
    _print_result(result)


@app.command()
def report(
    session_dir: Annotated[Path, typer.Argument(help="session folder (or a samples CSV)")],
    out: Annotated[
        Path | None, typer.Option("--out", help="PNG to write (default SESSION_DIR/report.png)")
    ] = None,
    planned_sets: Annotated[
        int | None, typer.Option("--planned-sets", help="flag sessions with more sets")
    ] = None,
) -> None:
    """Write report.png: the signal with sets and jumps marked, per-rep (or per-jump) bars, and
    the summary.

    Example:

      anklet report sessions/2026-05-01
    """
    from anklet.analysis.report import write_report  # matplotlib: only when asked

    path = _samples_path(session_dir)
    target = out or path.parent / "report.png"
    try:
        result = write_report(path, target, planned_sets=planned_sets)
    except AnalysisInputError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{target}: cannot write ({exc.strerror or exc})") from None
    jumps = f", {result.total_jumps} jumps" if result.total_jumps else ""
    print(f"{target}: {result.set_count} sets, {result.total_reps} reps{jumps}")


_REP_COLUMNS = (
    "rep", "start s", "end s", "up s", "hold s", "down s", "ROM deg", "peak deg/s", "sway deg",
)  # fmt: skip
_JUMP_COLUMNS = ("jump", "take-off s", "flight ms", "height cm", "contact ms", "RSI", "landing g")


def _print_result(result: SessionAnalysis) -> None:
    console = Console()
    jumps = f", {result.total_jumps} jumps" if result.total_jumps else ""
    console.print(
        f"{result.source}: {result.duration_s:.0f} s at {result.rate_hz:.0f} Hz, "
        f"{result.set_count} sets, {result.total_reps} reps{jumps}",
        soft_wrap=True,
        highlight=False,
    )
    for s in result.sets:
        _print_table(
            console,
            f"Set {s.index}: {s.rep_count} reps, {s.start_s:.1f}–{s.end_s:.1f} s, "
            f"{s.cadence_rpm:.1f}/min, TUT {s.time_under_tension_s:.0f} s, "
            f"speed loss {s.velocity_loss_pct:.0f} %",
            _REP_COLUMNS,
            [
                (
                    str(r.index),
                    f"{r.start_s:.2f}",
                    f"{r.end_s:.2f}",
                    f"{r.concentric_s:.2f}",
                    f"{r.hold_s:.2f}",
                    f"{r.eccentric_s:.2f}",
                    f"{r.rom_deg:.1f}",
                    f"{r.peak_velocity_dps:.0f}",
                    f"{r.sway_deg:.1f}",
                )
                for r in s.reps
            ],
        )
    for js in result.jump_series:
        contact = f", contact {js.mean_contact_s * 1000:.0f} ms" if js.mean_contact_s else ""
        off_box = js.drop_landing_s
        drop = f" (drop jump: off the box at {off_box:.2f} s)" if off_box is not None else ""
        _print_table(
            console,
            f"Jump series {js.index}{drop}: {js.jump_count} jumps, "
            f"{js.start_s:.1f}–{js.end_s:.1f} s, height {js.mean_height_cm:.0f} cm{contact}, "
            f"height loss {round(js.height_loss_pct)} %",
            _JUMP_COLUMNS,
            [
                (
                    str(j.index),
                    f"{j.takeoff_s:.2f}",
                    f"{j.flight_s * 1000:.0f}",
                    f"{j.height_cm:.1f}",
                    f"{j.contact_s * 1000:.0f}" if j.contact_s is not None else "–",
                    f"{j.rsi:.2f}" if j.rsi is not None else "–",
                    f"≥{j.landing_peak_g:.1f}" if j.landing_clipped else f"{j.landing_peak_g:.1f}",
                )
                for j in js.jumps
            ],
        )
    for flag in result.flags:
        console.print(f"[bold red]![/] {flag}", soft_wrap=True)


def _print_table(
    console: Console, title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]
) -> None:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
