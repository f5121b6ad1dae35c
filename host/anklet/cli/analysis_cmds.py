"""`anklet analyze` and `anklet report`: sets, reps and metrics of a recording or session.

anklet analyze session/samples.csv            # a table of sets and reps
anklet analyze session/samples.csv --json     # the same as one JSON document
anklet report session/                        # writes session/report.png
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from anklet.analysis import (
    AnalysisInputError,
    ImuRecording,
    SessionAnalysis,
    read_imu_csv,
    write_session_tables,
)
from anklet.analysis import analyze as analyze_recording
from anklet.analysis.labels import height_change, speed_change
from anklet.analysis.loading import ACCEL_UNITS, GYRO_UNITS
from anklet.analysis.session_labels import SessionLabels, read_session_labels
from anklet.analysis.targets import FormTargets, targets_for
from anklet.cli import app

AccelUnitOpt = Annotated[
    str,
    typer.Option(
        "--accel-unit", help="the file's acceleration unit: m/s2 or g (MetaMotion exports g)"
    ),
]
GyroUnitOpt = Annotated[
    str, typer.Option("--gyro-unit", help="the file's rotation-rate unit: deg/s or rad/s")
]
ExerciseOpt = Annotated[
    str | None,
    typer.Option(
        "--exercise",
        help="the exercise, for its tempo target (default: the session's label, else a "
        "rehabilitation raise held 5 s at the top)",
    ),
]
_TABLE_FILES = ("sets.csv", "reps.csv", "jumps.csv")


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def _samples_path(path: Path) -> Path:
    if path.is_dir():
        path = path / "samples.csv"
    if not path.is_file():
        raise _fail(f"{path}: no such file")
    return path


def _read(path: Path, accel_unit: str, gyro_unit: str) -> ImuRecording:
    """The recording, its units checked; what reading changed is one `note:` line each."""
    if accel_unit not in ACCEL_UNITS:
        raise _fail(f"--accel-unit {accel_unit}: use {' or '.join(ACCEL_UNITS)}")
    if gyro_unit not in GYRO_UNITS:
        raise _fail(f"--gyro-unit {gyro_unit}: use {' or '.join(GYRO_UNITS)}")
    try:
        rec = read_imu_csv(path, accel_unit=accel_unit, gyro_unit=gyro_unit)
    except AnalysisInputError as exc:
        raise _fail(str(exc)) from None
    for note in rec.notes:
        print(f"note: {path}: {note}", file=sys.stderr)
    return rec


def _labels(path: Path, exercise: str | None) -> tuple[SessionLabels, FormTargets]:
    """The session's labels (session.json, when there) and the targets they imply; an
    unreadable label is one `note:` line, never a failure."""
    labels = read_session_labels(path.parent)
    for problem in labels.problems:
        print(f"note: {problem}", file=sys.stderr)
    if exercise is not None:
        labels = replace(labels, exercise=exercise)
    return labels, targets_for(labels.exercise)


def _previous_of(folder: Path) -> Path | None:
    """The last session of the same exercise in the history, named on stderr; None if none
    (or the history cannot be read: the report goes on without the comparison)."""
    from anklet.history.previous import previous_session

    try:
        found = previous_session(folder)
    except Exception as exc:  # the comparison is an extra: never block a report
        print(f"note: no previous session from the training history: {exc}", file=sys.stderr)
        return None
    if found is not None:
        print(f"note: compared with {found} (the previous session of this exercise)",
              file=sys.stderr)  # fmt: skip
    return found


def _is_session(path: Path) -> bool:
    return path.name == "samples.csv" and (path.parent / "session.json").is_file()


def _write_tables(result: SessionAnalysis, path: Path, asked: bool) -> None:
    """Write the tables when asked, or into a session that has none (one ended by a kill);
    say which files were written and which replaced."""
    folder = path.parent
    if not asked and not (_is_session(path) and not (folder / "sets.csv").exists()):
        return
    existed = {name for name in _TABLE_FILES if (folder / name).exists()}
    try:
        write_session_tables(result, folder)
    except OSError as exc:
        raise _fail(f"{folder}: cannot write the tables ({exc.strerror or exc})") from None
    written = [name for name in _TABLE_FILES if (folder / name).exists()]
    replaced = [name for name in written if name in existed]
    new = [name for name in written if name not in existed]
    parts = ([f"wrote {', '.join(new)}"] if new else []) + (
        [f"replaced {', '.join(replaced)}"] if replaced else []
    )
    print(f"note: {folder}: {'; '.join(parts)}", file=sys.stderr)


@app.command()
def analyze(
    samples: Annotated[Path, typer.Argument(help="samples.csv (or a session folder)")],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
    planned_sets: Annotated[
        int | None, typer.Option("--planned-sets", help="flag sessions with more sets")
    ] = None,
    tables: Annotated[
        bool,
        typer.Option(
            "--tables",
            help="write sets.csv, reps.csv (and jumps.csv) beside it, replacing any there "
            "(a session folder without them gets them anyway)",
        ),
    ] = False,
    accel_unit: AccelUnitOpt = "m/s2",
    gyro_unit: GyroUnitOpt = "deg/s",
    exercise: ExerciseOpt = None,
) -> None:
    """Find sets, reps and jumps in an IMU recording and print their metrics and form flags.

    Examples:

      anklet analyze sessions/Anklet-FFEE-20261127-101500

      anklet analyze recording.csv --json | jq '.sets[].reps | length'

      anklet analyze metamotion.csv --accel-unit g
    """
    path = _samples_path(samples)
    if planned_sets is not None and planned_sets < 1:
        raise _fail(f"--planned-sets {planned_sets}: give 1 or more")
    rec = _read(path, accel_unit, gyro_unit)
    _, targets = _labels(path, exercise)
    try:
        result = analyze_recording(
            rec, source=str(path), planned_sets=planned_sets, targets=targets
        )
    except AnalysisInputError as exc:
        raise _fail(str(exc)) from None
    _write_tables(result, path, tables)
    if json_out:
        data = {**result.to_dict(), "input": {"skipped_rows": rec.skipped_rows,
                                              "notes": list(rec.notes)}}  # fmt: skip
        print(json.dumps(data, indent=2))
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
    accel_unit: AccelUnitOpt = "m/s2",
    gyro_unit: GyroUnitOpt = "deg/s",
    exercise: ExerciseOpt = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            help="an earlier session folder to compare with (default: the last session of "
            "the same exercise, athlete and side in the training history)",
        ),
    ] = None,
) -> None:
    """Write report.png: who trained what and when (from session.json's labels), the whole
    signal with sets and jumps marked, the strap force, per-rep range, time against the
    tempo target, sway and speed (or per-jump bars), the tables and the flags in words.

    Examples:

      anklet report sessions/Anklet-FFEE-20261127-101500

      anklet report sessions/Anklet-FFEE-20261201-114940
      --previous sessions/Anklet-FFEE-20261124-180102
    """
    from anklet.analysis.report import PastSession, write_report  # matplotlib: only when asked

    path = _samples_path(session_dir)
    target = out or path.parent / "report.png"
    if target.suffix.lower() != ".png":
        raise _fail(f"--out {target}: give a .png file name")
    if planned_sets is not None and planned_sets < 1:
        raise _fail(f"--planned-sets {planned_sets}: give 1 or more")
    rec = _read(path, accel_unit, gyro_unit)
    labels, targets = _labels(path, exercise)
    past = None
    if previous is None and _is_session(path):
        previous = _previous_of(path.parent)
    if previous is not None:
        before = _samples_path(previous)
        try:
            past_result = analyze_recording(
                _read(before, accel_unit, gyro_unit), source=str(before), targets=targets
            )
        except AnalysisInputError as exc:
            raise _fail(str(exc)) from None
        past = PastSession(past_result, _labels(before, exercise)[0])
    try:
        result = write_report(
            rec, path, target, planned_sets=planned_sets, labels=labels, targets=targets,
            previous=past,
        )  # fmt: skip
    except AnalysisInputError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{target}: cannot write ({exc.strerror or exc})") from None
    _write_tables(result, path, asked=False)
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
            f"{speed_change(s.velocity_loss_pct)}",
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
            f"{height_change(js.height_loss_pct)}",
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
