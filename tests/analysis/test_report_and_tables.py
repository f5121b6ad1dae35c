"""Issue #14: report.png draws the whole recording (jumps as jumps, the load cell) in plain
words; `analyze` gives a killed session its tables and says what it wrote or replaced."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from anklet.analysis import read_imu_csv
from anklet.analysis.labels import height_change, speed_change
from anklet.analysis.report import build_report
from anklet.cli import _load_commands, app
from anklet_sim import motion as sim_motion
from matplotlib.colors import to_rgb
from typer.testing import CliRunner

FIXTURE = Path(__file__).parents[1] / "fixtures" / "uci_s1_e1_u2_fast_set.csv"
_load_commands()
runner = CliRunner()


def _jump_session(folder: Path, seconds: float = 30.0) -> Path:
    """A session folder (samples.csv with force, session.json): one series, then standing."""
    folder.mkdir()
    source = sim_motion.from_spec("jumps:series=1,jumps=6,fade=0.04,seed=3")
    with (folder / "samples.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "t_s", "ax_ms2", "ay_ms2", "az_ms2", "gx_dps", "gy_dps", "gz_dps",
                    "force_n"])  # fmt: skip
        for i, t in enumerate(np.arange(0.0, seconds, 0.005)):
            x = source.sample(t)
            w.writerow([i, f"{t:.3f}", *(f"{v:.4f}" for v in x[:6]), f"{x[6]:.2f}"])
    (folder / "session.json").write_text(json.dumps({"ranges": {"accel_g": 16}}))
    return folder / "samples.csv"


def _texts(fig) -> list[tuple[str, tuple[float, float, float]]]:
    return [(t.get_text(), to_rgb(t.get_color())) for ax in fig.axes for t in ax.texts]


def test_report_draws_every_jump_the_whole_recording_and_the_load_cell(tmp_path: Path) -> None:
    samples = _jump_session(tmp_path / "s")
    rec = read_imu_csv(samples)
    fig, result = build_report(rec, samples)
    assert result.total_jumps == 6
    labels = {ax.get_ylabel(): ax for ax in fig.axes}
    for ylabel in ("leg tilt from rest (deg)", "acceleration (g)", "strap force (N)"):
        x = labels[ylabel].lines[0].get_xdata()
        assert x[0] == rec.t_s[0] and x[-1] == rec.t_s[-1]  # the whole recording, not a bout
    flights = [p for p in labels["acceleration (g)"].patches]
    jumps = result.jump_series[0].jumps
    assert len(flights) == len(jumps)
    for patch, jump in zip(flights, jumps, strict=True):
        x0, x1 = patch.get_x(), patch.get_x() + patch.get_width()
        assert (x0, x1) == pytest.approx((jump.takeoff_s, jump.landing_s))
    table_text = [c.get_text().get_text() for ax in fig.axes for t in ax.tables
                  for c in t.get_celld().values()]  # fmt: skip
    assert "jump series" in table_text and "6" in table_text
    words = " ".join(ax.get_xlabel() + " " + ax.get_ylabel() for ax in fig.axes)
    assert "file clock" not in words and "movement axis" not in words


def test_report_says_no_sets_as_a_note_and_only_flags_in_red(tmp_path: Path) -> None:
    samples = _jump_session(tmp_path / "s")
    fig, result = build_report(read_imu_csv(samples), samples)
    red = to_rgb("#b00020")
    texts = _texts(fig)
    note = [c for text, c in texts if text == "No sets of reps found."]
    assert note and note[0] != red
    assert result.flags  # the fading series is flagged: those lines, and only those, are red
    red_lines = {" ".join(text.split()) for text, c in texts if c == red}  # flags wrap
    assert red_lines == {" ".join(f"! {f}".split()) for f in result.flags}


def test_speed_and_height_changes_are_said_as_gains_or_losses() -> None:
    assert speed_change(-38.0) == "speed gain +38 %"
    assert speed_change(12.4) == "speed loss 12 %"
    assert speed_change(0.2) == "speed held"
    assert height_change(21.0) == "height loss 21 %"
    assert height_change(-5.0) == "height gain +5 %"


def test_analyze_gives_a_killed_session_its_tables_and_says_so(tmp_path: Path) -> None:
    samples = _jump_session(tmp_path / "s")  # samples.csv and session.json, no tables (kill -9)
    result = runner.invoke(app, ["analyze", str(samples.parent)])
    assert result.exit_code == 0, result.output
    assert (samples.parent / "sets.csv").exists() and (samples.parent / "jumps.csv").exists()
    assert "wrote sets.csv, reps.csv, jumps.csv" in result.stderr
    again = runner.invoke(app, ["analyze", str(samples.parent)])
    assert "wrote" not in again.stderr and "replaced" not in again.stderr  # left alone
    asked = runner.invoke(app, ["analyze", str(samples.parent), "--tables"])
    assert "replaced sets.csv, reps.csv, jumps.csv" in asked.stderr


def test_analyze_of_a_cut_off_session_skips_and_counts_the_row(tmp_path: Path) -> None:
    shutil.copy(FIXTURE, tmp_path / "rec.csv")
    text = (tmp_path / "rec.csv").read_text()
    (tmp_path / "rec.csv").write_text(text[: len(text) - 12])  # a power cut mid-row
    result = runner.invoke(app, ["analyze", str(tmp_path / "rec.csv"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["input"]["skipped_rows"] == 1
    assert "cut off mid-row" in result.stderr
    assert sum(len(s["reps"]) for s in data["sets"]) == 10


def test_wrong_units_are_one_line_naming_the_option(tmp_path: Path) -> None:
    rows = list(csv.DictReader(FIXTURE.open()))
    with (tmp_path / "g.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (float(v) / 9.80665 if k in ("ax_ms2", "ay_ms2", "az_ms2") else v)
                        for k, v in r.items()})  # fmt: skip
    result = runner.invoke(app, ["analyze", str(tmp_path / "g.csv")])
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert "--accel-unit g" in result.stderr and result.stderr.count("\n") == 1
    ok = runner.invoke(app, ["analyze", str(tmp_path / "g.csv"), "--accel-unit", "g"])
    assert ok.exit_code == 0 and "1 sets, 10 reps" in ok.stdout
    bad = runner.invoke(app, ["analyze", str(tmp_path / "g.csv"), "--accel-unit", "mg"])
    assert bad.stderr == "error: --accel-unit mg: use m/s2 or g\n"


def test_force_trace_is_scaled_to_the_trace_and_counts_a_stray_reading(tmp_path: Path) -> None:
    samples = _jump_session(tmp_path / "s")
    rec = read_imu_csv(samples)
    fig, _ = build_report(rec, samples)
    force_ax = next(ax for ax in fig.axes if ax.get_ylabel() == "strap force (N)")
    assert force_ax.get_ylim()[1] >= np.nanmax(rec.force_n)  # landing peaks are drawn whole
    assert not force_ax.texts
    assert rec.force_n is not None
    rec.force_n[1000:1005] = 50_000.0  # one misread conversion, held for five IMU rows
    fig, _ = build_report(rec, samples)
    force_ax = next(ax for ax in fig.axes if ax.get_ylabel() == "strap force (N)")
    assert force_ax.get_ylim()[1] < 50_000
    assert [t.get_text() for t in force_ax.texts] == [
        "5 sample(s) off the scale (50000 to 50000 N)"
    ]
