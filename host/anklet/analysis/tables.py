"""A session folder's `sets.csv` and `reps.csv` (and `jumps.csv` when it has jumps): one row per
set / rep / jump, units in column names.

write_session_tables(result, Path("sessions/Anklet-FFEE-20261127-101500"))
"""

from __future__ import annotations

import csv
from pathlib import Path

from anklet.analysis.results import SessionAnalysis

REP_COLUMNS = (
    "set_index",
    "rep_index",
    "start_s",
    "end_s",
    "turnaround_s",
    "duration_s",
    "concentric_s",
    "hold_s",
    "eccentric_s",
    "rom_deg",
    "peak_velocity_dps",
    "mean_velocity_dps",
    "concentric_mean_velocity_dps",
    "sway_deg",
    "peak_force_n",
    "mean_force_n",
    "impulse_ns",
)
SET_COLUMNS = (
    "set_index",
    "start_s",
    "end_s",
    "reps",
    "cadence_rpm",
    "time_under_tension_s",
    "mean_rom_deg",
    "velocity_loss_pct",
    "sway_first_deg",
    "sway_last_deg",
    "sway_trend_deg",
    "flags",
)


JUMP_COLUMNS = (
    "series_index",
    "jump_index",
    "takeoff_s",
    "landing_s",
    "flight_s",
    "height_cm",
    "contact_s",
    "rsi",
    "landing_peak_g",
    "landing_clipped",
)


def _fmt(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}"


def write_session_tables(result: SessionAnalysis, session_dir: Path) -> tuple[Path, Path]:
    """Write `sets.csv`, `reps.csv` (and `jumps.csv`) into `session_dir`; return the first two."""
    session_dir.mkdir(parents=True, exist_ok=True)
    sets_path = session_dir / "sets.csv"
    reps_path = session_dir / "reps.csv"
    with sets_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SET_COLUMNS)
        for s in result.sets:
            w.writerow(
                [
                    s.index,
                    _fmt(s.start_s),
                    _fmt(s.end_s),
                    s.rep_count,
                    _fmt(s.cadence_rpm),
                    _fmt(s.time_under_tension_s),
                    _fmt(s.mean_rom_deg),
                    _fmt(s.velocity_loss_pct),
                    _fmt(s.sway_first_deg),
                    _fmt(s.sway_last_deg),
                    _fmt(s.sway_trend_deg),
                    " | ".join(s.flags),
                ]
            )
    with reps_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REP_COLUMNS)
        for s in result.sets:
            for r in s.reps:
                w.writerow([s.index, r.index] + [_fmt(getattr(r, c)) for c in REP_COLUMNS[2:]])
    jumps_path = session_dir / "jumps.csv"
    if result.jump_series:
        with jumps_path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(JUMP_COLUMNS)
            for js in result.jump_series:
                for j in js.jumps:
                    w.writerow(
                        [js.index, j.index] + [_fmt(getattr(j, c)) for c in JUMP_COLUMNS[2:]]
                    )
    else:
        jumps_path.unlink(missing_ok=True)  # from an earlier analysis of this folder
    return sets_path, reps_path
