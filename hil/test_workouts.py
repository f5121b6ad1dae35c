"""From motion to training figures: what the simulated board streams is analysed as the
workout it performed, scripted or replayed from a real recording."""

from __future__ import annotations

import pytest
from anklet.analysis.pipeline import analyze_csv
from anklet_sim import motion as sim_motion
from conftest import JUMPS_MOTION, REPLAY_SOURCE, REPLAY_WINDOW_S


@pytest.mark.sim_only("needs the simulator's scripted motion")
def test_scripted_workout_is_reported_as_three_sets_of_ten(workout_session, target, figure):
    rec = workout_session
    result = analyze_csv(rec.samples_csv)
    counts = [s.rep_count for s in result.sets]
    figure(
        f"sets {counts}, {result.total_reps} reps, {rec.summary.completeness_pct:.3f} % "
        f"of {rec.summary.expected} samples"
    )
    assert rec.unexcused_loss(target) == 0
    assert counts == [10, 10, 10]


@pytest.mark.sim_only("needs the simulator's CSV replay motion")
def test_replayed_recording_counts_the_same_reps_as_its_csv(replay_session, target, figure):
    rec = replay_session
    assert rec.job is not None and rec.job.source is not None
    direct = analyze_csv(rec.job.source)
    replayed = analyze_csv(rec.samples_csv)
    figure(
        f"{REPLAY_SOURCE.name} {REPLAY_WINDOW_S[0]:g}-{REPLAY_WINDOW_S[1]:g} s: "
        f"{direct.total_reps} reps from the CSV, {replayed.total_reps} replayed "
        f"({rec.summary.completeness_pct:.3f} % of {rec.summary.expected} samples)"
    )
    assert rec.unexcused_loss(target) == 0
    assert direct.total_reps >= 8  # the window holds a set of 10
    assert abs(replayed.total_reps - direct.total_reps) <= 1


@pytest.mark.sim_only("needs the simulator's scripted motion")
def test_jump_series_give_their_flight_and_contact_times(jump_session, target, figure):
    rec = jump_session
    result = analyze_csv(rec.samples_csv)
    truth = sim_motion.from_spec(JUMPS_MOTION).events()
    jumps = [j for s in result.jump_series for j in s.jumps]
    flight_error = [abs(j.flight_s - (b - a)) for j, (a, b) in zip(jumps, truth, strict=False)]
    contact_error = [
        abs(j.contact_s - (now[0] - prev[1]))
        for j, prev, now in zip(jumps[1:], truth, truth[1:], strict=False)
        if j.contact_s is not None
    ]
    figure(
        f"series {[s.jump_count for s in result.jump_series]}, {result.total_reps} reps; "
        f"flight error max {1000 * max(flight_error, default=0):.1f} ms, contact "
        f"{1000 * max(contact_error, default=0):.1f} ms ({rec.summary.completeness_pct:.3f} %)"
    )
    assert rec.unexcused_loss(target) == 0
    assert [s.jump_count for s in result.jump_series] == [8, 8]
    assert result.total_reps == 0
    assert max(flight_error) < 0.010
    assert len(contact_error) == 14 and max(contact_error) < 0.010
