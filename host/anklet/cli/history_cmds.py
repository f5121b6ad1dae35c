"""Commands over the training history: label, history, progress, compare.

anklet label sessions/Anklet-FFEE-20261127-101500 --exercise seated-knee-extension --side left
anklet history --athlete Ana --since 2026-11-01
anklet progress --exercise seated-knee-extension --athlete Ana
anklet compare Anklet-FFEE-20261120-101500 Anklet-FFEE-20261127-101500
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from anklet.cli import app
from anklet.history import (
    DB_URL_ENV,
    Filters,
    FolderError,
    HistoryError,
    HistoryStore,
    SyncReport,
    read_session,
)
from anklet.labels import (
    EXERCISES,
    SIDES,
    LabelError,
    Labels,
    make_labels,
    read_labels,
    write_labels,
)
from anklet.training import reanalyse_folder

SessionsOpt = Annotated[
    Path,
    typer.Option("--sessions", help="the folder of session folders (anklet log --out)"),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar=DB_URL_ENV,
        help="the history store: postgresql://USER@HOST/DB for a shared one "
        "(default: SQLite in the user data folder)",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
_CATALOGUE = ", ".join(EXERCISES)
ExerciseHelp = f"{_CATALOGUE}, or free text"


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def _folder(session: str, sessions_dir: Path) -> Path:
    """A session folder given by its path, or by its name in the sessions folder."""
    for candidate in (Path(session), sessions_dir / session):
        if (candidate / "session.json").is_file():
            return candidate
    raise _fail(f"{session}: no session folder there or in {sessions_dir} (no session.json)")


def _date(option: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option} {text!r}: give a date as YYYY-MM-DD") from None


def _synced(db: str | None, sessions_dir: Path, rebuild: bool = False) -> HistoryStore:
    """The store, with the sessions folder indexed (new, changed and removed folders)."""
    store = HistoryStore(db)
    report = store.rebuild(sessions_dir) if rebuild else store.sync(sessions_dir)
    _tell(report, rebuild)
    return store


def _tell(report: SyncReport, rebuild: bool) -> None:
    if rebuild or report.added or report.updated or report.removed or report.skipped:
        _note(report.describe())
    for line in report.skipped:
        _note(f"skipped: {line}")
    for line in report.problems:
        _note(f"note: {line}")


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# --- label -------------------------------------------------------------------------------


@app.command()
def label(
    session: Annotated[str, typer.Argument(help="a session folder, or its name in --sessions")],
    exercise: Annotated[str | None, typer.Option(help=ExerciseHelp, show_default=False)] = None,
    side: Annotated[str | None, typer.Option(help="left, right or both")] = None,
    athlete: Annotated[str | None, typer.Option(help="who trained")] = None,
    load_kg: Annotated[
        str | None, typer.Option("--load-kg", help="the strap weight, kg", show_default=False)
    ] = None,
    note: Annotated[str | None, typer.Option(help="free text")] = None,
    sessions_dir: SessionsOpt = Path("sessions"),
    json_out: JsonOpt = False,
) -> None:
    """Set or fix what a session was; an empty value ("") removes that label. With no option,
    print the labels.

    Examples:

      anklet label sessions/Anklet-FFEE-20261127-101500 --exercise seated-knee-extension
      --side left --athlete Ana --load-kg 2.5

      anklet label Anklet-FFEE-20261127-101500 --note ""
    """
    folder = _folder(session, sessions_dir)
    given = {
        "exercise": exercise,
        "side": side,
        "athlete": athlete,
        "load_kg": load_kg,
        "note": note,
    }
    cleared = tuple(k for k, v in given.items() if v is not None and not v.strip())
    try:
        labels = read_labels(folder)
        if any(v is not None for v in given.values()):
            changes = make_labels(**{k: v for k, v in given.items() if k not in cleared})
            before = labels.exercise
            labels = labels.updated(changes, cleared)
            write_labels(folder, labels)
            if labels.exercise != before and (folder / "samples.csv").is_file():
                # Form flags judge tempo against the exercise: judge the sets again.
                outcome = reanalyse_folder(folder)
                print(
                    f"analysis {outcome.sets} set(s), {outcome.reps} rep(s), "
                    f"{len(outcome.flags)} flag(s) against the new exercise "
                    "(sets.csv, reps.csv, session.json)",
                    file=sys.stderr,
                )
    except LabelError as exc:
        raise _fail(str(exc)) from None
    if json_out:
        print(json.dumps({"session": str(folder), "labels": labels.to_dict()}))
        return
    _print_labels(folder, labels)


def _print_labels(folder: Path, labels: Labels) -> None:
    print(f"session   {folder}")
    print(f"exercise  {labels.exercise_name or '–'}")
    print(f"side      {labels.side or '–'}")
    print(f"athlete   {labels.athlete or '–'}")
    print(
        f"load      {_fmt(labels.load_kg, 2)} kg" if labels.load_kg is not None else "load      –"
    )
    print(f"note      {labels.note or '–'}")


# --- history ------------------------------------------------------------------------------


_HISTORY_COLUMNS = (
    "started (UTC)", "session", "exercise", "side", "athlete", "kg", "sets", "reps",
    "ROM deg", "up deg/s", "TUT s", "flags",
)  # fmt: skip


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() + "Z" if hasattr(v, "isoformat") and v is not None else v)
        for k, v in row.items()
        if k not in ("fingerprint",)
    }


@app.command()
def history(
    athlete: Annotated[str | None, typer.Option(help="only this athlete (any case)")] = None,
    exercise: Annotated[str | None, typer.Option(help="only this exercise")] = None,
    side: Annotated[str | None, typer.Option(help="only this side: left, right or both")] = None,
    since: Annotated[str | None, typer.Option(help="from this day, YYYY-MM-DD (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="to this day, YYYY-MM-DD, inclusive")] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="make the index anew from the session folders")
    ] = False,
    sessions_dir: SessionsOpt = Path("sessions"),
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the sessions recorded, after indexing new, changed and removed session folders.

    Examples:

      anklet history --athlete Ana --exercise seated-knee-extension --since 2026-11-01

      anklet history --rebuild --db postgresql://physio@clinic-server/anklet

      anklet history --json | jq '.[].mean_rom_deg'
    """
    if side is not None and side not in SIDES:
        raise _fail(f"--side {side!r}: use {', '.join(SIDES[:-1])} or {SIDES[-1]}")
    filters = Filters(athlete, exercise, side, _date("--since", since), _date("--until", until))
    try:
        store = _synced(db, sessions_dir, rebuild)
        rows = store.find(filters)
    except (HistoryError, LabelError) as exc:
        raise _fail(str(exc)) from None
    if json_out:
        print(json.dumps([_json_row(r) for r in rows], indent=2))
        return
    table = Table(title=f"{len(rows)} session(s) in {store.where}", title_justify="left")
    for col in _HISTORY_COLUMNS:
        table.add_column(
            col, justify="left" if col in ("session", "exercise", "athlete") else "right"
        )
    for r in rows:
        flags = [f for f in r["flags"].split(" | ") if f]
        table.add_row(
            r["started_utc"].strftime("%Y-%m-%d %H:%M") if r["started_utc"] else "–",
            r["name"],
            Labels(exercise=r["exercise"]).exercise_name or "–",
            r["side"] or "–",
            r["athlete"] or "–",
            _fmt(r["load_kg"]),
            str(r["set_count"]),
            str(r["rep_count"]),
            _fmt(r["mean_rom_deg"]),
            _fmt(r["mean_speed_dps"], 0),
            _fmt(r["time_under_tension_s"], 0),
            str(len(flags)),
        )
    Console(width=200).print(table)


# --- progress -----------------------------------------------------------------------------


@app.command()
def progress(
    exercise: Annotated[str, typer.Option(help=ExerciseHelp, show_default=False)],
    athlete: Annotated[str | None, typer.Option(help="only this athlete (any case)")] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="the chart (default progress-EXERCISE[-ATHLETE].png)"),
    ] = None,
    sessions_dir: SessionsOpt = Path("sessions"),
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Per ISO week: range of motion, lifting speed, reps and time under tension of one exercise,
    per side, and the left/right ratio in weeks with both; a table and a PNG chart.

    Examples:

      anklet progress --exercise seated-knee-extension --athlete Ana

      anklet progress --exercise donkey-kick --json
    """
    from anklet.history.progress import weekly_progress, write_chart
    from anklet.labels import exercise_slug

    try:
        slug = exercise_slug(exercise)
        store = _synced(db, sessions_dir)
        found = store.find(Filters(athlete=athlete, exercise=slug))
        result = weekly_progress(found, store.reps_of)
    except (HistoryError, LabelError) as exc:
        raise _fail(str(exc)) from None
    who = f" for {athlete}" if athlete else ""
    if not result.rows:
        raise _fail(
            f"no dated session of {Labels(exercise=slug).exercise_name}{who} in the history"
        )
    name = "-".join(p for p in (slug, athlete) if p).replace(" ", "-").replace("/", "-")
    path = out or Path(f"progress-{name}.png")
    title = f"{Labels(exercise=slug).exercise_name}{who}: weekly progress"
    try:
        write_chart(result, path, title)
    except OSError as exc:
        raise _fail(f"{path}: not written ({exc.strerror or exc})") from None
    if json_out:
        print(json.dumps({**result.to_dict(), "chart": str(path)}, indent=2))
        return
    table = Table(title=title, title_justify="left")
    for col in ("week", "side", "sessions", "reps", "ROM deg", "up deg/s", "TUT s"):
        table.add_column(col, justify="right")
    for r in result.rows:
        table.add_row(
            r.week, r.side, str(r.sessions), str(r.reps), _fmt(r.rom_deg), _fmt(r.speed_dps, 0),
            _fmt(r.time_under_tension_s, 0),
        )  # fmt: skip
    console = Console(width=200)
    console.print(table)
    if result.ratios:
        ratios = Table(title="left / right (1.00 = symmetric)", title_justify="left")
        for col in ("week", "ROM", "lifting speed"):
            ratios.add_column(col, justify="right")
        for lr in result.ratios:
            ratios.add_row(lr.week, _fmt(lr.rom_ratio, 2), _fmt(lr.speed_ratio, 2))
        console.print(ratios)
    print(f"chart    {path}")


# --- compare ------------------------------------------------------------------------------


@app.command()
def compare(
    a: Annotated[str, typer.Argument(help="the first session: its folder, or its name")],
    b: Annotated[str, typer.Argument(help="the second session")],
    sessions_dir: SessionsOpt = Path("sessions"),
    json_out: JsonOpt = False,
) -> None:
    """Two sessions side by side: labels, sets, reps, ROM, speed, tempo, TUT, sway; B minus A.

    Example:

      anklet compare Anklet-FFEE-20261120-101500 Anklet-FFEE-20261127-101500
    """
    from anklet.history.compare import compare as compare_sessions

    try:
        lines = compare_sessions(
            read_session(_folder(a, sessions_dir)), read_session(_folder(b, sessions_dir))
        )
    except FolderError as exc:
        raise _fail(str(exc)) from None
    if json_out:
        print(json.dumps([line.__dict__ for line in lines], indent=2))
        return
    table = Table(title_justify="left")
    for col, justify in (("", "left"), ("A", "right"), ("B", "right"), ("B − A", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for line in lines:
        change = ""
        if line.change is not None:
            change = f"{line.change:+.3g}"
            if line.change_pct is not None:
                change += f" ({line.change_pct:+.1f} %)"
        table.add_row(line.what, _fmt(line.a, 2), _fmt(line.b, 2), change)
    Console(width=200).print(table)
