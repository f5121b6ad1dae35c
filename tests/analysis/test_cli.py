"""`anklet analyze` and `anklet report` through typer's runner, and the session tables."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from anklet.analysis import analyze_csv, write_session_tables
from anklet.cli import _load_commands, app
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
