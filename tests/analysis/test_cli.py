"""`anklet analyze` and `anklet report` through typer's runner, and the session tables."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
from anklet.analysis import analyze_csv, write_session_tables
from anklet.cli import _load_commands, app
from anklet_sim import motion as sim_motion
from typer.testing import CliRunner

FIXTURE = Path(__file__).parents[1] / "fixtures" / "uci_s1_e1_u2_fast_set.csv"
_load_commands()
runner = CliRunner()


def test_analyze_prints_sets_and_reps() -> None:
    result = runner.invoke(app, ["analyze", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    assert "1 sets, 10 reps" in result.output


def test_analyze_json_has_sets_with_reps_on_the_file_clock() -> None:
    result = runner.invoke(app, ["analyze", str(FIXTURE), "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    (s,) = doc["sets"]
    assert {"index", "start_s", "end_s", "reps", "velocity_loss_pct"} <= set(s)
    assert len(s["reps"]) == 10
    assert 96 <= s["reps"][0]["start_s"] < s["reps"][0]["end_s"] <= 140
    assert {"rom_deg", "peak_velocity_dps", "sway_deg", "hold_s"} <= set(s["reps"][0])


def test_bad_input_is_one_line_on_stderr_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,ax_ms2\n0,1\n")
    for args in (
        ["analyze", str(bad)],
        ["analyze", str(tmp_path / "nope.csv")],
        ["report", str(tmp_path)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
        assert "Traceback" not in result.output


def test_report_writes_a_png_into_the_session(tmp_path: Path) -> None:
    shutil.copy(FIXTURE, tmp_path / "samples.csv")
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    png = tmp_path / "report.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_session_tables_have_one_row_per_set_and_rep(tmp_path: Path) -> None:
    sets_path, reps_path = write_session_tables(analyze_csv(FIXTURE), tmp_path)
    sets = list(csv.DictReader(sets_path.open()))
    reps = list(csv.DictReader(reps_path.open()))
    assert len(sets) == 1 and sets[0]["reps"] == "10"
    assert len(reps) == 10
    assert {"rom_deg", "peak_velocity_dps", "sway_deg", "impulse_ns"} <= set(reps[0])
    assert reps[0]["impulse_ns"] == ""  # no load cell in this recording


def _jump_csv(path: Path) -> Path:
    source = sim_motion.from_spec("jumps:series=1,jumps=5,fade=0.04,seed=3")
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "ax_ms2", "ay_ms2", "az_ms2", "gx_dps", "gy_dps", "gz_dps"])
        for t in np.arange(0.0, 10.0, 0.005):
            w.writerow([f"{t:.3f}", *(f"{v:.4f}" for v in source.sample(t)[:6])])
    return path


def test_analyze_and_report_show_jumps(tmp_path: Path) -> None:
    samples = _jump_csv(tmp_path / "samples.csv")
    result = runner.invoke(app, ["analyze", str(samples), "--tables"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "0 sets, 0 reps, 5 jumps" in result.output
    assert "Jump series 1: 5 jumps" in result.output
    assert "jump height fell" in result.output  # 4 % lower each jump: flagged
    assert (tmp_path / "jumps.csv").read_text().count("\n") == 6
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "5 jumps" in result.output and (tmp_path / "report.png").stat().st_size > 10_000
