"""`report.png`: the session at a glance, for the person who trained. A heading naming the
exercise, side, athlete, load and date (session.json "labels", when there); the whole recording
(leg tilt with sets and reps marked; acceleration with every jump's flight when there are jumps;
the strap force when there is a load cell); per rep the range of motion and the time up, held
and down against their targets, sideways sway and lifting speed, with last time's values when
given; the set (and jump-series) tables, a comparison with last time, and the flags in words.

    rec = read_imu_csv(Path("session/samples.csv"))
    result = write_report(rec, Path("session/samples.csv"), Path("session/report.png"),
                          previous=PastSession(last_result, last_labels))
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec
from matplotlib.transforms import Bbox

from anklet.analysis.form import median_rep_s, median_rom_deg, session_reference_tempo
from anklet.analysis.labels import height_change, speed_change
from anklet.analysis.loading import GRAVITY, FloatArray, ImuRecording
from anklet.analysis.pipeline import analyze
from anklet.analysis.results import SessionAnalysis
from anklet.analysis.session_labels import SessionLabels, read_session_labels
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings
from anklet.analysis.targets import FormTargets, targets_for

_SET_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
_JUMP_COLOUR = "#6a3d9a"
_FLAG_COLOUR = "#b00020"
_NOTE_COLOUR = "0.3"
_SMOOTH_S = 0.2  # tilt from gravity: averaged over this, so a rep's swing is kept, jolts not
_NO_GRAVITY = 0.3  # |a| this far from 1 g (fraction): gravity is no reference, tilt not drawn
_STILL_DPS = 5.0  # turning slower than this: the leg is at rest (a slow rep passes 30 deg/s)


def leg_tilt_deg(rec: ImuRecording) -> FloatArray:
    """The shank's tilt from its usual (median) direction, from gravity alone, over the whole
    recording; NaN where the leg accelerates too hard for gravity to be a reference (jumps)."""
    n = max(1, round(_SMOOTH_S * rec.rate_hz))
    kernel = np.ones(n) / n
    acc = np.column_stack([np.convolve(rec.acc_ms2[:, k], kernel, mode="same") for k in range(3)])
    norm = np.linalg.norm(acc, axis=1)
    unit = acc / np.maximum(norm, 1e-9)[:, None]
    # Rest is where the leg is still (gyro quiet); a recording without stillness uses them all.
    still = np.linalg.norm(rec.gyro_dps, axis=1) < _STILL_DPS
    rest = np.median(unit[still] if still.sum() >= n else unit, axis=0)
    rest /= max(float(np.linalg.norm(rest)), 1e-9)
    tilt = np.degrees(np.arccos(np.clip(unit @ rest, -1.0, 1.0)))
    raw = np.linalg.norm(rec.acc_ms2, axis=1) / GRAVITY
    tilt[np.abs(raw - 1.0) > _NO_GRAVITY] = np.nan
    return tilt


@dataclass(frozen=True)
class PastSession:
    """The previous session of the same exercise, for comparison (found by the caller)."""

    result: SessionAnalysis
    labels: SessionLabels = field(default_factory=SessionLabels)


def build_report(
    rec: ImuRecording,
    samples_csv: Path,
    settings: Settings = DEFAULT_SETTINGS,
    planned_sets: int | None = None,
    *,
    labels: SessionLabels | None = None,
    previous: PastSession | None = None,
    targets: FormTargets | None = None,
) -> tuple[Figure, SessionAnalysis]:
    """The report of one session; `labels` default to the folder's session.json, `targets` to
    the labelled exercise's tempo; `previous` adds "last time" to the charts and a table."""
    if labels is None:
        labels = read_session_labels(samples_csv.parent)
    if targets is None:
        targets = targets_for(labels.exercise)
    result = analyze(
        rec, settings, source=str(samples_csv), planned_sets=planned_sets, targets=targets
    )
    has_force = rec.force_n is not None
    has_reps = bool(result.sets)
    jumps_only = bool(result.jump_series) and not has_reps
    heights = [1.1]
    if result.jump_series:
        heights.append(0.7)
    if has_force:
        heights.append(0.6)
    heights += [0.9, 0.8] if has_reps else [0.9]
    heights.append(_table_height(result, previous))
    fig = plt.figure(figsize=(14, 3.0 * sum(heights) + 0.9), layout="constrained")
    gs = fig.add_gridspec(len(heights), 2, height_ratios=heights)
    tilt_ax = fig.add_subplot(gs[0, :])
    _draw_tilt(tilt_ax, rec, result)
    row = 1
    time_axes = [tilt_ax]
    if result.jump_series:
        acc_ax = fig.add_subplot(gs[row, :], sharex=tilt_ax)
        _draw_acceleration(acc_ax, rec, result)
        time_axes.append(acc_ax)
        row += 1
    if has_force:
        force_ax = fig.add_subplot(gs[row, :], sharex=tilt_ax)
        _draw_force(force_ax, rec)
        time_axes.append(force_ax)
        row += 1
    for ax in time_axes[:-1]:
        ax.tick_params(labelbottom=False)
        ax.set_xlabel("")
    time_axes[-1].set_xlabel("time since the start (s)")
    if jumps_only:
        _draw_jump_bars(fig, gs, row, result)
        row += 1
    else:
        _draw_rep_panels(fig, gs, row, result, targets, settings, previous)
        row += 2
    _draw_tables(fig.add_subplot(gs[row, :]), result, previous)
    fig.suptitle(_heading(labels, samples_csv, rec, result), x=0.01, ha="left", fontsize=14)
    return fig, result


def _heading(
    labels: SessionLabels, samples_csv: Path, rec: ImuRecording, result: SessionAnalysis
) -> str:
    """Two lines: what was trained by whom, then when and how much."""
    what = [
        labels.exercise[0].upper() + labels.exercise[1:] if labels.exercise else None,
        _side(labels.side),
        labels.athlete,
        f"{labels.load_kg:g} kg ankle weight" if labels.load_kg is not None else None,
    ]
    jumps = f", {result.total_jumps} jumps" if result.total_jumps else ""
    minutes = rec.duration_s / 60
    length = f"{minutes:.0f} min" if minutes >= 1.5 else f"{rec.duration_s:.0f} s"
    when = [
        labels.when() or _title(samples_csv),
        f"{result.set_count} sets, {result.total_reps} reps{jumps} in {length}",
        f"note: {labels.note}" if labels.note else None,
    ]
    first = "  ·  ".join(x for x in what if x)
    if not labels.exercise:
        first = "Exercise not labelled" + (f"  ·  {first}" if first else "")
    second = "  ·  ".join(x for x in when if x)
    return _literal(first) + "\n" + _literal(second)


def _literal(text: str) -> str:
    """Free text drawn as typed: a `$` would start matplotlib's math mode."""
    return text.replace("$", r"\$")


def _side(side: str | None) -> str | None:
    if side in ("left", "right"):
        return f"{side} leg"
    if side == "both":
        return "both legs"
    return side


def _draw_tilt(ax: Axes, rec: ImuRecording, result: SessionAnalysis) -> None:
    ax.plot(rec.t_s, leg_tilt_deg(rec), color="0.25", lw=0.8)
    for s in result.sets:
        colour = _SET_COLOURS[(s.index - 1) % len(_SET_COLOURS)]
        ax.axvspan(s.start_s, s.end_s, color=colour, alpha=0.08)
        for r in s.reps:
            ax.axvspan(r.start_s, r.end_s, color=colour, alpha=0.22, lw=0)
            ax.axvline(r.turnaround_s, color=colour, lw=0.6, ls=":")
        ax.annotate(
            f"Set {s.index}: {s.rep_count} reps",
            xy=(s.start_s, 1.0),
            xycoords=("data", "axes fraction"),
            va="bottom",
            fontsize=10,
            color=colour,
            fontweight="bold",
        )
    for js in result.jump_series:
        ax.axvspan(js.start_s, js.end_s, color=_JUMP_COLOUR, alpha=0.08)
        ax.annotate(
            f"Jump series {js.index}: {js.jump_count} jumps",
            xy=(js.start_s, 1.0),
            xycoords=("data", "axes fraction"),
            va="bottom",
            fontsize=10,
            color=_JUMP_COLOUR,
            fontweight="bold",
        )
    ax.set_ylabel("leg tilt from rest (deg)")
    ax.set_xlim(float(rec.t_s[0]), float(rec.t_s[-1]))
    ax.grid(alpha=0.3)


def _draw_acceleration(ax: Axes, rec: ImuRecording, result: SessionAnalysis) -> None:
    ax.plot(rec.t_s, np.linalg.norm(rec.acc_ms2, axis=1) / GRAVITY, color="0.25", lw=0.6)
    ax.axhline(1.0, color="0.5", lw=0.6, ls="--")
    for js in result.jump_series:
        for j in js.jumps:  # each flight: the leg in free fall, near 0 g
            ax.axvspan(j.takeoff_s, j.landing_s, color=_JUMP_COLOUR, alpha=0.3, lw=0)
    if result.jump_series:
        ax.annotate(
            "shaded: in the air",
            xy=(0.995, 0.97),
            xycoords="axes fraction",
            ha="right",
            va="top",
            fontsize=9,
            color=_JUMP_COLOUR,
        )
    ax.set_ylabel("acceleration (g)")
    ax.grid(alpha=0.3)
    ax.set_xlabel("time (s)")


def _draw_force(ax: Axes, rec: ImuRecording) -> None:
    assert rec.force_n is not None
    force = rec.force_n
    ax.plot(rec.t_s, force, color="#8c564b", lw=0.8)
    finite = force[np.isfinite(force)]
    if finite.size:
        # Scaled to the trace, not to stray readings far beyond it (misread conversions, each
        # held over a few IMU rows: 0.2 % of the rows in a simulated demo session): those are
        # counted on the plot instead. Landing peaks stay within 2 spans of the rest.
        lo, hi = np.percentile(finite, [1.0, 99.0])
        span = max(float(hi - lo), 1.0)
        lo = max(float(finite.min()), lo - 2 * span) - 0.05 * span
        hi = min(float(finite.max()), hi + 2 * span) + 0.05 * span
        off = finite[(finite < lo) | (finite > hi)]
        ax.set_ylim(lo, hi)
        if off.size:
            ax.annotate(
                f"{off.size} sample(s) off the scale ({off.min():.0f} to {off.max():.0f} N)",
                xy=(0.995, 0.95), xycoords="axes fraction", ha="right", va="top",
                fontsize=9, color=_NOTE_COLOUR,
            )  # fmt: skip
    ax.set_ylabel("strap force (N)")
    ax.set_xlabel("time (s)")
    ax.grid(alpha=0.3)


def _draw_jump_bars(fig: Figure, gs: GridSpec, row: int, result: SessionAnalysis) -> None:
    """A plyometric session: each jump's height and ground contact."""
    jumps = [(js, j) for js in result.jump_series for j in js.jumps]
    labels = [f"{js.index}.{j.index}" for js, j in jumps]
    bars = [
        ([j.height_cm for _, j in jumps], "jump height (cm)"),
        ([(j.contact_s or 0.0) * 1000 for _, j in jumps], "time on the ground before (ms)"),
    ]
    for col, (values, ylabel) in enumerate(bars):
        bx = fig.add_subplot(gs[row, col])
        x = list(range(len(labels)))
        bx.bar(x, values, color=_JUMP_COLOUR)
        bx.set_ylabel(ylabel)
        _rep_ticks(bx, labels, "series.jump")


def _draw_rep_panels(
    fig: Figure,
    gs: GridSpec,
    row: int,
    result: SessionAnalysis,
    targets: FormTargets,
    settings: Settings,
    previous: PastSession | None,
) -> None:
    """Per rep: range of motion and time (lifting, hold, lowering) against their targets;
    sideways sway and lifting speed; last time's typical values as grey lines."""
    reps = [(s, r) for s in result.sets for r in s.reps]
    labels = [f"{s.index}.{r.index}" for s, r in reps]
    colours = [_SET_COLOURS[(s.index - 1) % len(_SET_COLOURS)] for s, _ in reps]
    x = np.arange(len(reps))
    past = _typical(previous.result) if previous else None
    past_name = f"last time ({previous.labels.date() or 'previous session'})" if previous else ""

    rom_ax = fig.add_subplot(gs[row, 0])
    rom_ax.bar(x, [r.rom_deg for _, r in reps], color=colours)
    rom_ax.set_ylabel("range of motion (deg)")
    if targets.rom_deg is not None:
        _line(rom_ax, targets.rom_deg, f"target {targets.rom_deg:.0f} deg", "k", "--")
    elif len(result.sets) >= 2:
        best = max(median_rom_deg(s) for s in result.sets)
        short = settings.low_rom_fraction * best
        _line(rom_ax, short, f"short of today's best set below {short:.0f} deg", _FLAG_COLOUR, ":")
    if past:
        _line(rom_ax, past["rom"], f"{past_name}: {past['rom']:.0f} deg", "0.45", "-.")
    _rep_ticks(rom_ax, labels, "set.rep")

    tempo_ax = fig.add_subplot(gs[row, 1])
    bottom = np.zeros(len(reps))
    for name, attr, shade in (
        ("lifting", "concentric_s", 1.0),
        ("hold at the top", "hold_s", 0.55),
        ("lowering", "eccentric_s", 0.3),
    ):
        values = np.array([getattr(r, attr) for _, r in reps])
        tempo_ax.bar(x, values, bottom=bottom, color=[_tint(c, shade) for c in colours],
                     label=name, edgecolor="white", linewidth=0.3)  # fmt: skip
        bottom += values
    top = float(bottom.max(initial=0.0))
    if targets.tempo_known:
        tempo = targets.tempo
        _line(tempo_ax, tempo.total_s, f"target {tempo.total_s:g} s ({tempo})", "k", "--")
        rushed = settings.fast_tempo_fraction * tempo.total_s
        _line(tempo_ax, rushed, f"too fast below {rushed:.1f} s", _FLAG_COLOUR, ":")
        top = max(top, tempo.total_s)
    elif (slowest := session_reference_tempo(result.sets)) is not None:
        # No exercise named: the sets are timed against the session's own slowest set.
        ref, tempo = slowest
        _line(tempo_ax, tempo.total_s, f"set {ref.index}, today's slowest: {tempo.total_s:.1f} s",
              "k", "--")  # fmt: skip
        rushed = settings.fast_relative_fraction * tempo.total_s
        _line(tempo_ax, rushed, f"too fast below {rushed:.1f} s", _FLAG_COLOUR, ":")
    if past:
        _line(tempo_ax, past["rep_s"], f"{past_name}: {past['rep_s']:.1f} s", "0.45", "-.")
    tempo_ax.set_ylabel("time per rep (s)")
    tempo_ax.set_ylim(0, max(top, 1.0) * 1.3)
    handles, names = tempo_ax.get_legend_handles_labels()
    tempo_ax.legend(handles, names, fontsize=8, loc="upper left", ncols=3)
    _rep_ticks(tempo_ax, labels, "set.rep")

    sway_ax = fig.add_subplot(gs[row + 1, 0])
    sway_ax.bar(x, [r.sway_deg for _, r in reps], color=colours)
    sway_ax.set_ylabel("sideways sway (deg)")
    if past:
        _line(sway_ax, past["sway"], f"{past_name}: {past['sway']:.0f} deg", "0.45", "-.")
    _rep_ticks(sway_ax, labels, "set.rep")

    speed_ax = fig.add_subplot(gs[row + 1, 1])
    speed_ax.bar(x, [r.concentric_mean_velocity_dps for _, r in reps], color=colours)
    speed_ax.set_ylabel("lifting speed (deg/s)")
    if past:
        _line(speed_ax, past["speed"], f"{past_name}: {past['speed']:.0f} deg/s", "0.45", "-.")
    _rep_ticks(speed_ax, labels, "set.rep")
    for ax in (rom_ax, sway_ax, speed_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="lower right")


def _typical(result: SessionAnalysis) -> dict[str, float] | None:
    """A session's median rep: what the grey "last time" lines show."""
    reps = [r for s in result.sets for r in s.reps]
    if not reps:
        return None
    return {
        "rom": float(np.median([r.rom_deg for r in reps])),
        "rep_s": float(np.median([r.duration_s for r in reps])),
        "sway": float(np.median([r.sway_deg for r in reps])),
        "speed": float(np.median([r.concentric_mean_velocity_dps for r in reps])),
    }


def _line(ax: Axes, y: float, label: str, colour: str, style: str) -> None:
    ax.axhline(y, color=colour, ls=style, lw=1.2, label=label)


def _tint(colour: str, amount: float) -> tuple[float, float, float]:
    """`colour` blended with white: 1 is the colour itself."""
    r, g, b = to_rgb(colour)
    return (1 - amount + amount * r, 1 - amount + amount * g, 1 - amount + amount * b)


def _rep_ticks(ax: Axes, labels: list[str], xlabel: str) -> None:
    x = list(range(len(labels)))
    step = max(1, len(x) // 30)
    ax.set_xticks(x[::step], labels[::step], rotation=90, fontsize=7)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", alpha=0.3)


def _set_rows(result: SessionAnalysis) -> list[list[str]]:
    return [
        [
            str(s.index),
            str(s.rep_count),
            f"{s.start_s:.0f}–{s.end_s:.0f}",
            f"{median_rep_s(s):.1f}",
            f"{s.time_under_tension_s:.0f}",
            f"{median_rom_deg(s):.0f}",
            speed_change(s.velocity_loss_pct),
            f"{s.sway_first_deg:.1f}→{s.sway_last_deg:.1f}",
        ]
        for s in result.sets
    ]


def _comparison_rows(result: SessionAnalysis, previous: PastSession) -> list[list[str]]:
    rows = []
    for name, session in (("today", result), (_past_name(previous), previous.result)):
        typical = _typical(session)
        tut = sum(s.time_under_tension_s for s in session.sets)
        if typical is None:
            rows.append([name, str(session.set_count), "0", "–", "–", "–", "–", "–"])
            continue
        rows.append(
            [
                name,
                str(session.set_count),
                str(session.total_reps),
                f"{typical['rom']:.0f}",
                f"{typical['rep_s']:.1f}",
                f"{typical['speed']:.0f}",
                f"{typical['sway']:.1f}",
                f"{tut:.0f}",
            ]
        )
    return rows


def _past_name(previous: PastSession) -> str:
    return f"last time, {previous.labels.date()}" if previous.labels.date() else "last time"


def _series_rows(result: SessionAnalysis) -> list[list[str]]:
    def ms(value: float | None) -> str:
        return f"{value * 1000:.0f}" if value else "–"

    return [
        [
            str(js.index),
            str(js.jump_count),
            f"{js.start_s:.0f}–{js.end_s:.0f}",
            f"{js.mean_flight_s * 1000:.0f}",
            f"{js.mean_height_cm:.0f}",
            ms(js.mean_contact_s),
            f"{js.mean_rsi:.2f}" if js.mean_rsi else "–",
            height_change(js.height_loss_pct),
        ]
        for js in result.jump_series
    ]


_SET_HEADER = [
    "set", "reps", "from–to (s)", "time per rep (s)", "under tension (s)", "range (deg)",
    "speed, last vs first reps", "sideways sway first→last (deg)",
]  # fmt: skip
_SERIES_HEADER = [
    "jump series", "jumps", "from–to (s)", "in the air (ms)", "height (cm)",
    "on the ground (ms)", "reactive strength", "height, last vs first jumps",
]  # fmt: skip
_COMPARISON_HEADER = [
    "session", "sets", "reps", "range (deg)", "time per rep (s)", "speed (deg/s)",
    "sideways sway (deg)", "under tension (s)",
]  # fmt: skip
_COLUMN_WIDTHS = [0.13, 0.06, 0.1, 0.12, 0.12, 0.1, 0.19, 0.18]
_ROW = 0.16  # one table row or flag line, in the table panel's height units (see _table_height)
_WRAP = 150  # characters per flag line


def _tables(
    result: SessionAnalysis, previous: PastSession | None
) -> list[tuple[str, list[str], list[list[str]]]]:
    tables = [
        ("Sets", _SET_HEADER, _set_rows(result)),
        ("Jump series", _SERIES_HEADER, _series_rows(result)),
    ]
    if previous is not None:
        tables.append(("Compared with last time", _COMPARISON_HEADER,
                       _comparison_rows(result, previous)))  # fmt: skip
    return [t for t in tables if t[2]]


def _lines(result: SessionAnalysis) -> list[tuple[str, str]]:
    notes = []
    if not result.sets:
        notes.append("No sets of reps found.")
    if not result.jump_series and not result.sets:
        notes.append("No jumps found.")
    if not result.flags:
        notes.append("No flags: nothing to change.")
    wrap = [textwrap.wrap(f"! {f}", _WRAP, subsequent_indent="   ") for f in result.flags]
    flags = ["\n".join(parts) for parts in wrap]
    return [(n, _NOTE_COLOUR) for n in notes] + [(f, _FLAG_COLOUR) for f in flags]


def _line_count(result: SessionAnalysis) -> int:
    return sum(text.count("\n") + 1 for text, _ in _lines(result))


def _table_height(result: SessionAnalysis, previous: PastSession | None) -> float:
    """The table panel's height ratio: its rows, table titles and flag lines."""
    rows = sum(len(rows) + 2 for _, _, rows in _tables(result, previous))
    return max(0.5, 0.09 * (rows + _line_count(result) + 1))


def _draw_tables(tx: Axes, result: SessionAnalysis, previous: PastSession | None) -> None:
    tx.axis("off")
    tables = _tables(result, previous)
    units = sum(len(rows) + 2 for _, _, rows in tables) + _line_count(result) + 1
    step = 1.0 / units  # one row, in axes fraction
    top = 1.0
    for title, header, rows in tables:
        tx.text(0.0, top - step, title, transform=tx.transAxes, va="bottom", fontsize=11,
                fontweight="bold")  # fmt: skip
        top -= step
        height = step * (len(rows) + 1)
        table = tx.table(
            cellText=rows,
            colLabels=header,
            cellLoc="center",
            colWidths=_COLUMN_WIDTHS,
            bbox=Bbox.from_bounds(0.0, top - height, 1.0, height),
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        top -= height
    if result.flags:
        tx.text(0.0, top - step, "What to change", transform=tx.transAxes, va="bottom",
                fontsize=11, fontweight="bold")  # fmt: skip
        top -= step
    for text, colour in _lines(result):  # a flag is one text, wrapped over its lines
        top -= step * (text.count("\n") + 1)
        tx.text(0.0, top, text, transform=tx.transAxes, va="bottom", fontsize=10, color=colour,
                linespacing=1.6)  # fmt: skip


def _title(samples_csv: Path) -> str:
    if samples_csv.name == "samples.csv" and samples_csv.parent.name:
        return samples_csv.parent.name  # the session folder
    return samples_csv.stem


def write_report(
    rec: ImuRecording,
    samples_csv: Path,
    out_png: Path,
    settings: Settings = DEFAULT_SETTINGS,
    planned_sets: int | None = None,
    *,
    labels: SessionLabels | None = None,
    previous: PastSession | None = None,
    targets: FormTargets | None = None,
) -> SessionAnalysis:
    fig, result = build_report(
        rec, samples_csv, settings, planned_sets,
        labels=labels, previous=previous, targets=targets,
    )  # fmt: skip
    try:
        fig.savefig(out_png, dpi=100)
    finally:
        plt.close(fig)
    return result
