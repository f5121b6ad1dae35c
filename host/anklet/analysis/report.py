"""`report.png`: the session at a glance: the limb angle with reps and sets marked, per-rep range
and speed, and the set summary with its flags.

    png = write_report(Path("session/samples.csv"), Path("session/report.png"))
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from anklet.analysis.loading import read_imu_csv
from anklet.analysis.pipeline import assemble, bout_reps, detect_bouts, with_jumps
from anklet.analysis.resample import to_working_grid
from anklet.analysis.results import SessionAnalysis
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings

_SET_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def build_report(
    samples_csv: Path, settings: Settings = DEFAULT_SETTINGS, planned_sets: int | None = None
) -> tuple[Figure, SessionAnalysis]:
    rec = read_imu_csv(samples_csv)
    grid = to_working_grid(rec)
    bouts = detect_bouts(grid, settings)
    result = assemble(
        [r for b in bouts for r in bout_reps(grid, b)],
        settings,
        source=str(samples_csv),
        rate_hz=rec.rate_hz,
        duration_s=rec.duration_s,
        planned_sets=planned_sets,
    )
    result = with_jumps(result, rec, settings)
    fig = plt.figure(figsize=(14, 10), layout="constrained")
    gs = fig.add_gridspec(3, 2, height_ratios=[1.3, 1.0, 0.9])
    ax = fig.add_subplot(gs[0, :])
    for b in bouts:
        t = grid.t_s[b.offset : b.offset + len(b.angle_deg)]
        ax.plot(t, b.angle_deg - b.angle_deg[0], color="0.25", lw=0.8)
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
    ax.set_xlabel("time (s, file clock)")
    ax.set_ylabel("limb angle about movement axis (deg)")
    ax.set_xlim(float(grid.t_s[0]), float(grid.t_s[-1]))
    ax.grid(alpha=0.3)
    for js in result.jump_series:
        ax.axvspan(js.start_s, js.end_s, color="0.5", alpha=0.15)
        ax.annotate(
            f"{js.jump_count} jumps, {js.mean_height_cm:.0f} cm",
            xy=(js.start_s, 1.0),
            xycoords=("data", "axes fraction"),
            va="bottom",
            fontsize=10,
            color="0.3",
        )
    jumps = f", {result.total_jumps} jumps" if result.total_jumps else ""
    ax.set_title(
        f"{_title(samples_csv)}: {result.set_count} sets, {result.total_reps} reps{jumps}",
        loc="left",
        pad=18,
        fontsize=13,
    )
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
        colours = [_SET_COLOURS[(js.index - 1) % len(_SET_COLOURS)] for js, _ in jumps]
        bars = [
            ([j.height_cm for _, j in jumps], "jump height (cm)"),
            ([(j.contact_s or 0.0) * 1000 for _, j in jumps], "ground contact before (ms)"),
        ]
        xlabel = "series.jump"
    x = list(range(len(labels)))
    for col, (values, ylabel) in enumerate(bars):
        bx = fig.add_subplot(gs[1, col])
        bx.bar(x, values, color=colours)
        bx.set_ylabel(ylabel)
        bx.set_xlabel(xlabel)
        step = max(1, len(x) // 30)
        bx.set_xticks(x[::step], labels[::step], rotation=90, fontsize=7)
        bx.grid(axis="y", alpha=0.3)
    tx = fig.add_subplot(gs[2, :])
    tx.axis("off")
    header = [
        "set",
        "reps",
        "start–end (s)",
        "cadence (/min)",
        "TUT (s)",
        "ROM (deg)",
        "speed loss (%)",
        "sway first→last (deg)",
    ]
    rows = [
        [
            str(s.index),
            str(s.rep_count),
            f"{s.start_s:.0f}–{s.end_s:.0f}",
            f"{s.cadence_rpm:.1f}",
            f"{s.time_under_tension_s:.0f}",
            f"{s.mean_rom_deg:.0f}",
            f"{s.velocity_loss_pct + 0.0:.0f}" if abs(s.velocity_loss_pct) >= 0.5 else "0",
            f"{s.sway_first_deg:.1f}→{s.sway_last_deg:.1f}",
        ]
        for s in result.sets
    ]
    if rows:
        table = tx.table(cellText=rows, colLabels=header, loc="upper center", cellLoc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(10)
        table.scale(1.0, 1.3)
    flags = result.flags or ["No flags: speed and sway held up across every set."]
    if not result.sets:
        flags = ["No sets found.", *result.flags]
    tx.text(
        0.0,
        0.0,
        "\n".join(flags),
        transform=tx.transAxes,
        va="bottom",
        fontsize=10,
        color="#b00020" if result.flags else "0.3",
        wrap=True,
    )
    return fig, result


def _title(samples_csv: Path) -> str:
    if samples_csv.name == "samples.csv" and samples_csv.parent.name:
        return samples_csv.parent.name  # the session folder
    return samples_csv.stem


def write_report(
    samples_csv: Path,
    out_png: Path,
    settings: Settings = DEFAULT_SETTINGS,
    planned_sets: int | None = None,
) -> SessionAnalysis:
    fig, result = build_report(samples_csv, settings, planned_sets)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return result
