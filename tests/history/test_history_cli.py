"""`anklet history`, `progress` and `compare` as a user runs them (the default SQLite store in
the data folder), and what they do with folders that cannot be read."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from anklet.history import HistoryStore, read_session
from clihelpers import assert_one_line_error
from historyhelpers import anklet


def _rom(folder: Path) -> float:
    with open(folder / "reps.csv") as fh:
        rows = fh.read().splitlines()
    header = rows[0].split(",")
    i = header.index("rom_deg")
    return statistics.fmean(float(r.split(",")[i]) for r in rows[1:])


def test_progress_prints_weeks_and_ratios_and_writes_the_chart(week, tmp_path):
    chart = tmp_path / "ana.png"
    result = anklet("progress", "--exercise", "seated knee extension", "--athlete", "Ana",
                    "--sessions", str(week), "--out", str(chart))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2026-W47" in result.stdout and "left / right" in result.stdout
    assert chart.read_bytes()[:4] == b"\x89PNG"
    as_json = anklet("progress", "--exercise", "standing-hip-abduction", "--sessions", str(week),
                     "--out", str(tmp_path / "ben.png"), "--json")  # fmt: skip
    data = json.loads(as_json.stdout)
    assert [w["week"] for w in data["weeks"]] == ["2026-W45", "2026-W46", "2026-W47"]
    assert data["left_right"] == []  # Ben trained his left leg only


def test_compare_puts_two_sessions_side_by_side_with_the_change(recordings):
    a, b = recordings["ana-knee-left"], recordings["ana-knee-right"]
    result = anklet("compare", str(a), str(b), "--json")
    assert result.exit_code == 0, result.output
    lines = {line["what"]: line for line in json.loads(result.stdout)}
    rom = lines["range of motion per rep (deg)"]
    assert rom["change"] == round(rom["b"] - rom["a"], 3)
    assert rom["change"] == pytest.approx(_rom(b) - _rom(a), abs=2e-3)
    assert rom["change"] < -10  # recorded with 60 and 45 deg
    figures = ("tempo up (s)", "tempo hold (s)", "tempo down (s)", "time under tension (s)",
               "sway per rep (deg)", "lifting speed per rep (deg/s)", "sets", "reps")  # fmt: skip
    for what in figures:
        assert lines[what]["a"] is not None and lines[what]["b"] is not None
    table = anklet("compare", str(a), str(b))
    assert "B − A" in table.stdout and "tempo hold (s)" in table.stdout


def test_unreadable_folders_are_named_and_the_rest_indexed(week, tmp_path):
    broken, summarised = sorted(week.iterdir())[:2]
    (broken / "session.json").write_text("{not json")
    # A folder whose sets and reps are only in session.json's analysis summary.
    meta = json.loads((summarised / "session.json").read_text())
    record = read_session(summarised)
    meta["analysis"] = {
        "flags": ["sway rose in set 1"],
        "sets": [
            {"index": 1, "rep_count": len(record.reps), "time_under_tension_s": 6.0,
             "flags": [], "reps": [{"index": r["rep_index"], "rom_deg": r["rom_deg"]}
                                   for r in record.reps]},
        ],
    }  # fmt: skip
    (summarised / "session.json").write_text(json.dumps(meta))
    for name in ("sets.csv", "reps.csv"):
        (summarised / name).unlink()
    result = anklet("history", "--sessions", str(week), "--json")
    assert result.exit_code == 0, result.output
    assert "indexed 23 new" in result.stderr and "1 skipped" in result.stderr
    assert f"skipped: {broken}" in result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert broken.name not in rows
    row = rows[summarised.name]
    assert (row["source"], row["rep_count"], row["flags"]) == (
        "analysis", len(record.reps), "sway rose in set 1",
    )  # fmt: skip
    assert row["mean_rom_deg"] == record.summary["mean_rom_deg"]


def test_history_rebuild_recovers_a_damaged_store(week, tmp_path):
    assert anklet("history", "--sessions", str(week)).exit_code == 0
    db = tmp_path / "data" / "history.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    assert_one_line_error(anklet("history", "--sessions", str(week)), "history store")
    rebuilt = anklet("history", "--sessions", str(week), "--rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "24 session(s)" in rebuilt.stdout
    assert len(HistoryStore().find()) == 24


def test_history_errors_are_one_line(week, tmp_path):
    assert_one_line_error(anklet("history", "--sessions", str(tmp_path / "none")), "no such folder")
    assert_one_line_error(
        anklet("history", "--sessions", str(week), "--since", "May"), "YYYY-MM-DD"
    )
    assert_one_line_error(anklet("history", "--sessions", str(week), "--side", "up"), "--side")
    assert_one_line_error(
        anklet("history", "--sessions", str(week), "--db", "clinic"), "database URL"
    )
    unreachable = f"postgresql://nobody@/anklet?host={tmp_path}&connect_timeout=2"
    assert_one_line_error(anklet("history", "--sessions", str(week), "--db", unreachable),
                          "history store postgresql")  # fmt: skip
    assert_one_line_error(anklet("progress", "--exercise", "donkey kick", "--sessions", str(week)),
                          "no dated session of donkey kick")  # fmt: skip
    assert_one_line_error(anklet("compare", "a", "b", "--sessions", str(week)), "a: no session")


def test_report_compares_with_the_previous_session_of_the_same_exercise_side_and_athlete(week):
    from anklet.history.previous import previous_session

    ana_left = sorted(week.glob("ana-knee-left-Ana-*"))  # named by their start: oldest first
    assert len(ana_left) == 6
    assert previous_session(ana_left[0]) is None  # her first
    assert previous_session(ana_left[3]) == ana_left[2].resolve()  # not her right leg, not Ben's
    result = anklet("report", str(ana_left[3]), "--out", str(week / "r.png"))
    assert result.exit_code == 0, result.output
    assert f"compared with {ana_left[2].resolve()}" in result.output
    first = anklet("report", str(ana_left[0]), "--out", str(week / "first.png"))
    assert first.exit_code == 0 and "compared with" not in first.output


def test_relabelling_the_exercise_judges_the_sets_again(recordings, tmp_path):
    import shutil

    folder = tmp_path / "s"
    shutil.copytree(recordings["ana-knee-left"], folder)  # quick raises: ~1.5 s a rep

    def analysis():
        return json.loads((folder / "session.json").read_text())["analysis"]

    assert not any("too fast" in f for f in analysis()["flags"])  # no exercise: no prescription
    reps = analysis()["reps"]
    assert reps >= 3
    held = anklet("label", str(folder), "--exercise", "seated knee extension")
    assert held.exit_code == 0, held.output
    assert "against the new exercise" in held.output
    assert any("too fast" in f for f in analysis()["flags"])  # 2 s up, 5 s hold, 2 s down
    assert "too fast" in (folder / "sets.csv").read_text()
    own = anklet("label", str(folder), "--exercise", "my own quick raise")  # free text
    assert own.exit_code == 0, own.output
    assert not any("too fast" in f for f in analysis()["flags"])
    assert analysis()["reps"] == reps  # the same reps, judged again
    same = anklet("label", str(folder), "--athlete", "Ana")  # not the exercise: not re-judged
    assert "against the new exercise" not in same.output
