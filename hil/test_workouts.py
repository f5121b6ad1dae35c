"""From motion to training figures: what the simulated board streams is analysed as the
workout it performed, scripted or replayed from a real recording."""

from __future__ import annotations

import pytest
from anklet.analysis.pipeline import analyze_csv
from conftest import REPLAY_SOURCE, REPLAY_WINDOW_S


@pytest.mark.sim_only("needs the simulator's scripted motion")
def test_scripted_workout_is_reported_as_three_sets_of_ten(workout_session, figure):
    rec = workout_session
    result = analyze_csv(rec.samples_csv)
    counts = [s.rep_count for s in result.sets]
    figure(
        f"sets {counts}, {result.total_reps} reps, {rec.summary.completeness_pct:.3f} % "
        f"of {rec.summary.expected} samples"
    )
    assert rec.summary.lost == 0
    assert counts == [10, 10, 10]


@pytest.mark.sim_only("needs the simulator's CSV replay motion")
def test_replayed_recording_counts_the_same_reps_as_its_csv(replay_session, figure):
    rec = replay_session
    assert rec.job is not None and rec.job.source is not None
    direct = analyze_csv(rec.job.source)
    replayed = analyze_csv(rec.samples_csv)
    figure(
        f"{REPLAY_SOURCE.name} {REPLAY_WINDOW_S[0]:g}-{REPLAY_WINDOW_S[1]:g} s: "
        f"{direct.total_reps} reps from the CSV, {replayed.total_reps} replayed "
        f"({rec.summary.completeness_pct:.3f} % of {rec.summary.expected} samples)"
    )
    assert rec.summary.lost == 0
    assert direct.total_reps >= 8  # the window holds a set of 10
    assert abs(replayed.total_reps - direct.total_reps) <= 1
