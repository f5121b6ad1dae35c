"""Per-rep, per-set and per-session metrics on synthetic reps with known timing and range."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from anklet.analysis import analyze
from anklet.analysis.synthetic import SyntheticSession, random_rotation


def test_rep_metrics_match_the_known_rep() -> None:
    rng = np.random.default_rng(21)
    session = SyntheticSession(rate_hz=200, mount=random_rotation(rng))
    session.rest(4).set(4, rom_deg=40, up_s=1.0, hold_s=5.0, down_s=1.5, pause_s=2).rest(4)
    rec, truth = session.build(rng)
    reps = analyze(rec).sets[0].reps
    assert len(reps) == 4
    for rep, true in zip(reps, truth, strict=True):
        assert rep.rom_deg == pytest.approx(40, abs=1.0)
        assert rep.concentric_s == pytest.approx(1.0, abs=0.15)
        assert rep.hold_s == pytest.approx(5.0, abs=0.2)
        assert rep.eccentric_s == pytest.approx(1.5, abs=0.15)
        assert rep.duration_s == pytest.approx(7.5, abs=0.2)
        assert true.start_s <= rep.turnaround_s <= true.end_s
        # half-cosine lift: peak velocity = pi/2 * ROM / time
        assert rep.peak_velocity_dps == pytest.approx(np.pi / 2 * 40 / 1.0, rel=0.05)
        assert rep.concentric_mean_velocity_dps == pytest.approx(40 / 1.0, rel=0.12)
        assert rep.sway_deg < 1.0  # pure hinge movement
        assert rep.peak_force_n is None


def test_set_metrics_and_velocity_loss_flag_on_a_slowing_set() -> None:
    rng = np.random.default_rng(4)
    session = SyntheticSession(rate_hz=100, mount=random_rotation(rng))
    session.rest(3).set(10, rom_deg=40, up_s=0.8, hold_s=0.5, down_s=1.0, slow_down=2.0).rest(3)
    rec, _ = session.build(rng)
    result = analyze(rec)
    (s,) = result.sets
    assert s.rep_count == 10
    assert s.velocity_loss_pct == pytest.approx(100 * (1 - 1 / 1.9), abs=6)  # last 2 vs first 2
    assert s.time_under_tension_s == pytest.approx(sum(r.duration_s for r in s.reps))
    assert s.cadence_rpm == pytest.approx(60 * 10 / (s.end_s - s.start_s))
    assert any("speed fell" in f for f in result.flags)


def test_steady_set_raises_no_flags_and_plan_overrun_is_flagged() -> None:
    rng = np.random.default_rng(8)
    session = SyntheticSession(rate_hz=100, mount=random_rotation(rng))
    held = {"rom_deg": 40, "up_s": 1.5, "hold_s": 4.0, "down_s": 1.5}  # near the 2-5-2 s target
    session.rest(3).set(5, **held).rest(40).set(5, **held).rest(3)
    rec, _ = session.build(rng)
    assert analyze(rec).flags == []
    from anklet.analysis.pipeline import analyze as analyze_planned

    flags = analyze_planned(rec, planned_sets=1).flags
    assert flags and "more than the session plan" in flags[-1]


def test_force_metrics_when_a_load_cell_is_present() -> None:
    rng = np.random.default_rng(9)
    session = SyntheticSession(rate_hz=100, mount=random_rotation(rng))
    session.rest(3).set(4, rom_deg=40, hold_s=2).rest(3)
    rec, _ = session.build(rng)
    force = np.full(len(rec.t_s), 25.0)
    force[:150] = np.nan  # no load sample yet
    rec = dataclasses.replace(rec, force_n=force)
    for rep in analyze(rec).sets[0].reps:
        assert rep.peak_force_n == pytest.approx(25.0)
        assert rep.mean_force_n == pytest.approx(25.0)
        assert rep.impulse_ns == pytest.approx(25.0 * rep.duration_s, rel=0.03)
