"""The history store on SQLite and on a real PostgreSQL server: a week of labelled sessions
recorded from the simulated board, listed, filtered, kept in step with the folders, and drawn
as weekly progress."""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from datetime import date
from pathlib import Path

import pytest
from anklet.history import Filters, HistoryStore
from anklet.history.progress import weekly_progress, write_chart
from anklet.labels import make_labels, write_labels
from historyhelpers import DAYS, WEEK_PLAN, anklet


def _reps_csv(folder: Path) -> list[dict[str, str]]:
    with open(folder / "reps.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _mean_rom(folder: Path) -> float:
    return statistics.fmean(float(r["rom_deg"]) for r in _reps_csv(folder))


def test_history_lists_a_week_of_labelled_sessions_for_two_athletes(store_url, week, recordings):
    store = HistoryStore(store_url)
    report = store.sync(week)
    assert (report.added, report.skipped, report.problems) == (len(WEEK_PLAN) * len(DAYS), [], [])
    rows = store.find()
    assert len(rows) == 24
    assert [r["started_utc"] for r in rows] == sorted(r["started_utc"] for r in rows)

    ana_knee = store.find(Filters(athlete="ana", exercise="Seated knee extension"))
    assert {(r["athlete"], r["exercise"], r["side"]) for r in ana_knee} == {
        ("Ana", "seated-knee-extension", "left"),
        ("Ana", "seated-knee-extension", "right"),
    }
    assert len(ana_knee) == 12
    right = store.find(Filters(athlete="Ana", side="right"))
    assert len(right) == 6
    reps = _reps_csv(recordings["ana-knee-right"])
    for row in right:
        assert row["rep_count"] == len(reps)
        assert row["mean_rom_deg"] == pytest.approx(
            _mean_rom(recordings["ana-knee-right"]), abs=1e-3
        )
        assert row["load_kg"] == 2.5

    ben_hip = store.find(Filters(athlete="Ben", exercise="standing-hip-abduction"))
    assert len(ben_hip) == 6 and {r["side"] for r in ben_hip} == {"left"}
    # Dates: the second week only (W46: days 7 and 9), `until` inclusive.
    week2 = store.find(Filters(since=date(2026, 11, 9), until=date(2026, 11, 11)))
    assert len(week2) == 8
    assert {r["started_utc"].date() for r in week2} == {date(2026, 11, 9), date(2026, 11, 11)}
    store.close()


def test_indexing_is_idempotent_and_notices_changed_and_removed_folders(store_url, week):
    store = HistoryStore(store_url)
    store.sync(week)
    before = store.find()
    again = store.sync(week)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 24)
    assert store.find() == before

    relabelled, removed = sorted(week.iterdir())[:2]
    write_labels(relabelled, make_labels(exercise="donkey kick", side="both", athlete="Cleo"))
    shutil.rmtree(removed)
    changed = store.sync(week)
    assert (changed.added, changed.updated, changed.removed) == (0, 1, 1)
    rows = store.find()
    assert len(rows) == 23
    assert not [r for r in rows if r["name"] == removed.name]
    (cleo,) = store.find(Filters(athlete="Cleo"))
    assert (cleo["name"], cleo["exercise"], cleo["side"]) == (
        relabelled.name,
        "donkey-kick",
        "both",
    )
    assert len(store.reps_of([cleo["id"]])) == cleo["rep_count"] > 0

    rebuilt = store.rebuild(week)
    assert rebuilt.added == 23
    strip = ("id",)
    assert sorted(
        (tuple(v for k, v in r.items() if k not in strip) for r in store.find()), key=str
    ) == sorted((tuple(v for k, v in r.items() if k not in strip) for r in rows), key=str)
    store.close()


def test_a_shared_store_keeps_the_other_computers_sessions(store_url, week):
    clinic_a = HistoryStore(store_url, computer="front-desk")
    clinic_b = HistoryStore(store_url, computer="gym-laptop")
    clinic_a.sync(week)
    folders = sorted(week.iterdir())
    for folder in folders[4:]:
        shutil.rmtree(folder)  # the second computer's folder of the same name holds fewer
    report = clinic_b.sync(week)
    assert (report.added, report.removed) == (4, 0)
    assert len(clinic_a.find()) == 28  # 24 from one computer, 4 from the other
    clinic_a.close()
    clinic_b.close()


def test_progress_gives_weekly_figures_and_the_left_right_ratio(
    store_url, week, recordings, tmp_path
):
    store = HistoryStore(store_url)
    store.sync(week)
    found = store.find(Filters(athlete="Ana", exercise="seated-knee-extension"))
    progress = weekly_progress(found, store.reps_of)
    assert [(r.week, r.side) for r in progress.rows] == [
        (w, s) for w in ("2026-W45", "2026-W46", "2026-W47") for s in ("left", "right")
    ]
    left_reps = len(_reps_csv(recordings["ana-knee-left"]))
    w45_left = progress.rows[0]
    assert (w45_left.sessions, w45_left.reps) == (3, 3 * left_reps)
    assert w45_left.rom_deg == pytest.approx(_mean_rom(recordings["ana-knee-left"]), abs=1e-3)
    expected_ratio = _mean_rom(recordings["ana-knee-left"]) / _mean_rom(
        recordings["ana-knee-right"]
    )
    assert len(progress.ratios) == 3
    for ratio in progress.ratios:
        assert ratio.rom_ratio == pytest.approx(expected_ratio, abs=2e-3)
    assert expected_ratio > 1.1  # the sessions were recorded 60 deg left, 45 deg right
    chart = write_chart(progress, tmp_path / "progress.png", "test")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    store.close()


def test_the_history_command_reads_the_store_named_by_db(store_url, week):
    result = anklet(
        "history", "--sessions", str(week), "--db", store_url, "--athlete", "Ben", "--json"
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert "indexed 24 new" in result.stderr
    assert len(rows) == 12
    assert {r["exercise"] for r in rows} == {"seated-knee-extension", "standing-hip-abduction"}
    assert all(r["started_utc"].endswith("Z") for r in rows)
