"""`report.png`: the session at a glance. The whole recording (leg tilt with reps and sets
marked; acceleration with every jump's flight marked; the load cell), per-rep or per-jump bars,
and the set and jump-series tables with the analysis's flags.

    rec = read_imu_csv(Path("session/samples.csv"))
    result = write_report(rec, Path("session/samples.csv"), Path("session/report.png"))
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from anklet.analysis.labels import height_change, speed_change
from anklet.analysis.loading import GRAVITY, FloatArray, ImuRecording
from anklet.analysis.pipeline import analyze
from anklet.analysis.results import SessionAnalysis
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings

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


def build_report(
    rec: ImuRecording,
    samples_csv: Path,
    settings: Settings = DEFAULT_SETTINGS,
    planned_sets: int | None = None,
) -> tuple[Figure, SessionAnalysis]:
    result = analyze(rec, settings, source=str(samples_csv), planned_sets=planned_sets)
    has_force = rec.force_n is not None
    heights = [1.2, 0.8] + ([0.6] if has_force else []) + [0.9, 0.7]
    fig = plt.figure(figsize=(14, 3.2 * sum(heights)), layout="constrained")
    gs = fig.add_gridspec(len(heights), 2, height_ratios=heights)
    tilt_ax = fig.add_subplot(gs[0, :])
    _draw_tilt(tilt_ax, rec, result)
    acc_ax = fig.add_subplot(gs[1, :], sharex=tilt_ax)
    _draw_acceleration(acc_ax, rec, result)
    row = 2
    if has_force:
        force_ax = fig.add_subplot(gs[row, :], sharex=tilt_ax)
        _draw_force(force_ax, rec)
        row += 1
    _draw_bars(fig, gs, row, result)
    _draw_tables(fig.add_subplot(gs[row + 1, :]), result)
    jumps = f", {result.total_jumps} jumps" if result.total_jumps else ""
    tilt_ax.set_title(
        f"{_title(samples_csv)}: {result.set_count} sets, {result.total_reps} reps{jumps}, "
        f"{rec.duration_s:.0f} s at {rec.rate_hz:.0f} Hz",
        loc="left",
        pad=18,
        fontsize=13,
    )
    return fig, result


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
    ax.tick_params(labelbottom=False)


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
        # Scaled to the trace, not to a stray reading far beyond it (a misread conversion):
        # those are counted on the plot instead. Landing peaks stay within 2 spans of the rest.
        lo, hi = np.percentile(finite, [0.1, 99.9])
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


def _draw_bars(fig: Figure, gs: object, row: int, result: SessionAnalysis) -> None:
    reps = [(s, r) for s in result.sets for r in s.reps]
    jumps = [(js, j) for js in result.jump_series for j in js.jumps]
    if reps or not jumps:
        labels = [f"{s.index}.{r.index}" for s, r in reps]
        colours = [_SET_COLOURS[(s.index - 1) % len(_SET_COLOURS)] for s, _ in reps]
        bars = [
            ([r.rom_deg for _, r in reps], "range of motion (deg)"),
            ([r.concentric_mean_velocity_dps for _, r in reps], "mean lifting speed (deg/s)"),
        ]
        xlabel = "set.rep"
    else:  # a plyometric session: the jumps' height and ground contact instead
        labels = [f"{js.index}.{j.index}" for js, j in jumps]
        colours = [_JUMP_COLOUR for _ in jumps]
        bars = [
            ([j.height_cm for _, j in jumps], "jump height (cm)"),
            ([(j.contact_s or 0.0) * 1000 for _, j in jumps], "time on the ground before (ms)"),
        ]
        xlabel = "series.jump"
    x = list(range(len(labels)))
    for col, (values, ylabel) in enumerate(bars):
        bx = fig.add_subplot(gs[row, col])  # type: ignore[index]
        bx.bar(x, values, color=colours)
        bx.set_ylabel(ylabel)
        bx.set_xlabel(xlabel)
        step = max(1, len(x) // 30)
        bx.set_xticks(x[::step], labels[::step], rotation=90, fontsize=7)
        bx.grid(axis="y", alpha=0.3)


def _set_rows(result: SessionAnalysis) -> list[list[str]]:
    return [
        [
            str(s.index),
            str(s.rep_count),
            f"{s.start_s:.0f}–{s.end_s:.0f}",
            f"{s.cadence_rpm:.1f}",
            f"{s.time_under_tension_s:.0f}",
            f"{s.mean_rom_deg:.0f}",
            speed_change(s.velocity_loss_pct),
            f"{s.sway_first_deg:.1f}→{s.sway_last_deg:.1f}",
        ]
        for s in result.sets
    ]


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
    "set", "reps", "from–to (s)", "reps/min", "under tension (s)", "range (deg)",
    "speed, last vs first reps", "wobble first→last (deg)",
]  # fmt: skip
_SERIES_HEADER = [
    "jump series", "jumps", "from–to (s)", "in the air (ms)", "height (cm)",
    "on the ground (ms)", "reactive strength", "height, last vs first jumps",
]  # fmt: skip
_COLUMN_WIDTHS = [0.08, 0.06, 0.1, 0.1, 0.13, 0.11, 0.22, 0.2]


def _draw_tables(tx: Axes, result: SessionAnalysis) -> None:
    tx.axis("off")
    both = ((_SET_HEADER, _set_rows(result)), (_SERIES_HEADER, _series_rows(result)))
    tables = [(header, rows) for header, rows in both if rows]
    top = 1.0
    for header, rows in tables:
        height = 0.1 * (len(rows) + 1)
        table = tx.table(
            cellText=rows,
            colLabels=header,
            cellLoc="center",
            colWidths=_COLUMN_WIDTHS,
            bbox=Bbox.from_bounds(0.0, top - height, 1.0, height),
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        top -= height + 0.06
    notes = []
    if not result.sets:
        notes.append("No sets of reps found.")
    if not result.jump_series and not result.sets:
        notes.append("No jumps found.")
    if not result.flags:
        notes.append("No flags: nothing to change.")
    lines = [(n, _NOTE_COLOUR) for n in notes] + [(f"! {f}", _FLAG_COLOUR) for f in result.flags]
    for i, (text, colour) in enumerate(lines):
        tx.text(0.0, max(top, 0.0) - 0.07 * (i + 1), text, transform=tx.transAxes,
                va="bottom", fontsize=10, color=colour, wrap=True)  # fmt: skip


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
) -> SessionAnalysis:
    fig, result = build_report(rec, samples_csv, settings, planned_sets)
    try:
        fig.savefig(out_png, dpi=100)
    finally:
        plt.close(fig)
    return result
