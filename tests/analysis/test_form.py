"""Form flags on synthetic per-rep metrics: range lost within a set, low-amplitude sets, tempo
against the exercise's target, sway rising, and the limb symmetry index of two sides."""

from __future__ import annotations

from dataclasses import replace

import pytest
from anklet.analysis import DEFAULT_SETTINGS, Rep, RepSet
from anklet.analysis.form import (
    add_form_flags,
    limb_symmetry,
    low_amplitude_flag,
    rom_loss_flag,
    sway_rise_flag,
    tempo_flag,
)
from anklet.analysis.metrics import set_metrics
from anklet.analysis.targets import DEFAULT_TEMPO, Tempo, exercise_key, targets_for

S = DEFAULT_SETTINGS


def _rep(
    i: int,
    rom: float = 40.0,
    up: float = 2.0,
    hold: float = 5.0,
    down: float = 2.0,
    sway: float = 2.0,
    speed: float = 30.0,
    force: float | None = None,
) -> Rep:
    start = 20.0 * i
    return Rep(
        index=i, start_s=start, end_s=start + up + hold + down, turnaround_s=start + up,
        concentric_end_s=start + up, eccentric_start_s=start + up + hold,
        duration_s=up + hold + down, concentric_s=up, hold_s=hold, eccentric_s=down,
        rom_deg=rom, peak_velocity_dps=1.6 * speed, mean_velocity_dps=speed,
        concentric_mean_velocity_dps=speed, sway_deg=sway, peak_force_n=force,
        mean_force_n=force, impulse_ns=None if force is None else force * 9.0,
    )  # fmt: skip


def _set(reps: list[Rep], index: int = 1) -> RepSet:
    return set_metrics(index, reps, S)


def test_range_lost_within_a_set_is_flagged_and_names_the_short_reps() -> None:
    roms = [50, 50, 48, 45, 40, 36, 34, 34]  # last two 32 % under the first two
    flag = rom_loss_flag(_set([_rep(i, rom=r) for i, r in enumerate(roms, 1)]), S)
    assert flag is not None
    assert "fell 32%" in flag and "reps 6, 7, 8 under 40 deg" in flag


def test_a_set_that_keeps_its_range_or_loses_less_than_the_threshold_is_not_flagged() -> None:
    steady = [50, 52, 49, 51, 50, 50, 51, 50]
    slight = [50, 50, 49, 48, 47, 46, 45, 44]  # 12 % under the threshold of 20 %
    for roms in (steady, slight):
        assert rom_loss_flag(_set([_rep(i, rom=r) for i, r in enumerate(roms, 1)]), S) is None
    short = _set([_rep(1, rom=50), _rep(2, rom=50), _rep(3, rom=20)])  # too few reps to judge
    assert rom_loss_flag(short, S) is None


def test_low_amplitude_against_a_target_and_against_the_sessions_best_set() -> None:
    small = _set([_rep(i, rom=30) for i in range(1, 6)], index=2)
    assert low_amplitude_flag(small, 50.0, "the target", S) is not None  # 60 %
    assert low_amplitude_flag(small, 36.0, "the target", S) is None  # 83 %
    big = _set([_rep(i, rom=50) for i in range(1, 6)], index=1)
    add_form_flags([big, small], targets_for(None), S)
    assert big.flags == []
    assert small.flags == [
        "Set 2: range of motion 30 deg, 60% of set 1, today's largest (50 deg; flagged under "
        "80%): the reps are short; lift through the full range, with less weight if needed."
    ]


def test_a_single_set_has_no_reference_unless_a_target_range_is_given() -> None:
    only = _set([_rep(i, rom=20) for i in range(1, 6)])
    add_form_flags([only], targets_for(None), S)
    assert only.flags == []
    again = _set([_rep(i, rom=20) for i in range(1, 6)])
    add_form_flags([again], targets_for(None, target_rom_deg=40.0), S)
    assert len(again.flags) == 1 and "50% of the target (40 deg" in again.flags[0]


def test_tempo_faster_than_the_target_names_the_shortest_phase() -> None:
    rushed = _set([_rep(i, up=1.0, hold=0.3, down=1.0) for i in range(1, 6)])  # 2.3 s of 9
    flag = tempo_flag(rushed, DEFAULT_TEMPO, S)
    assert flag is not None and "too fast" in flag
    assert "the hold at the top was 0.3 s against 5 s" in flag and flag.endswith("top.")
    on_time = _set([_rep(i, up=1.5, hold=4.0, down=1.5) for i in range(1, 6)])
    assert tempo_flag(on_time, DEFAULT_TEMPO, S) is None


def test_tempo_slower_than_the_target_and_each_exercise_has_its_own() -> None:
    dynamic = targets_for("Donkey kick").tempo
    assert dynamic == Tempo(2.0, 1.0, 2.0)
    dragging = _set([_rep(i, up=2.0, hold=6.0, down=4.0) for i in range(1, 6)])  # 12 s of 5
    flag = tempo_flag(dragging, dynamic, S)
    assert flag is not None and "too slow" in flag and "hold at the top was 6.0 s" in flag
    assert tempo_flag(dragging, DEFAULT_TEMPO, S) is None  # a held raise: 12 s of 9 is fine
    quick = _set([_rep(i, up=0.8, hold=0.5, down=0.8) for i in range(1, 6)])  # 2.1 s
    assert tempo_flag(quick, dynamic, S) is None  # over 0.35 x 5 s for a donkey kick
    assert tempo_flag(quick, DEFAULT_TEMPO, S) is not None  # under 0.35 x 9 s for a raise


def test_exercise_names_are_matched_loosely_and_unknown_ones_get_the_default() -> None:
    assert exercise_key("  Side-lying LEG raise ") == "side_lying_leg_raise"
    assert targets_for("side lying leg raise").tempo == targets_for("Side-lying leg raise").tempo
    assert targets_for("my own thing").tempo == DEFAULT_TEMPO
    assert targets_for("my own thing").exercise == "my own thing"
    assert targets_for("").exercise is None


def test_sway_rising_across_the_set_is_flagged_and_a_steady_sway_is_not() -> None:
    rising = _set([_rep(i, sway=s) for i, s in enumerate([2, 2, 3, 5, 7, 8], 1)])
    assert sway_rise_flag(rising, S) is not None
    steady = _set([_rep(i, sway=s) for i, s in enumerate([6, 5, 6, 6, 5, 6], 1)])
    assert sway_rise_flag(steady, S) is None
    large_but_proportionally_small = _set(
        [_rep(i, sway=s) for i, s in enumerate([10, 10, 11, 12, 13, 14], 1)]
    )  # +4 deg but only +40 %
    assert sway_rise_flag(large_but_proportionally_small, S) is None


def test_limb_symmetry_index_with_an_involved_side() -> None:
    left = [_rep(i, rom=30, speed=20, force=40.0) for i in range(1, 6)]
    right = [_rep(i, rom=40, speed=21, force=41.0) for i in range(1, 6)]
    sym = limb_symmetry(left, right, S, involved="left")
    by_name = {m.name: m for m in sym.metrics}
    assert by_name["range of motion"].lsi_pct == pytest.approx(75.0)
    assert by_name["lifting speed"].lsi_pct == pytest.approx(100 * 20 / 21)
    assert by_name["peak strap force"].lsi_pct == pytest.approx(100 * 40 / 41)
    assert sym.flags == [
        "Range of motion: left 30 deg, right 40 deg: the left side is at 75% of the right "
        "(under 90%, the usual symmetry target)."
    ]
    # The involved side can be the stronger one: its LSI is then over 100 %, not flagged.
    assert limb_symmetry(right, left, S, involved="left").flags == []


def test_limb_symmetry_without_an_involved_side_puts_the_weaker_over_the_stronger() -> None:
    left = [_rep(i, rom=40) for i in range(1, 6)]
    right = [_rep(i, rom=28) for i in range(1, 6)]
    sym = limb_symmetry(left, right, S)
    rom = next(m for m in sym.metrics if m.name == "range of motion")
    assert rom.lsi_pct == pytest.approx(70.0) and rom.weaker == "right"
    assert "the right side is at 70% of the left" in sym.flags[0]
    assert [m.name for m in sym.metrics] == ["range of motion", "lifting speed"]  # no force
    with pytest.raises(ValueError, match="give left or right"):
        limb_symmetry(left, right, S, involved="both")


def test_thresholds_come_from_the_settings() -> None:
    roms = [50, 50, 47, 45, 44, 43]  # 13 % lost
    reps = [_rep(i, rom=r) for i, r in enumerate(roms, 1)]
    assert rom_loss_flag(_set(reps), S) is None
    assert rom_loss_flag(_set(reps), replace(S, rom_loss_flag_pct=10.0)) is not None


def test_unlabelled_sets_are_timed_against_the_sessions_slowest_set() -> None:
    # No exercise given: no prescribed tempo to hold a set to, only how the person moved when
    # unhurried. One steady tempo (the simulated demo's 3.5 s reps) is never "too fast".
    steady = [_set([_rep(i, up=1.0, hold=1.0, down=1.5) for i in range(1, 6)], k) for k in (1, 2)]
    add_form_flags(steady, targets_for(None), S)
    assert not any(f for s in steady for f in s.flags)
    careful = _set([_rep(i, up=2.0, hold=5.0, down=2.0) for i in range(1, 6)], 1)
    rushed = _set([_rep(i, up=1.5, hold=1.5, down=1.4) for i in range(1, 6)], 2)  # 4.4 s of 9
    add_form_flags([careful, rushed], targets_for(None), S)
    assert careful.flags == []
    assert len(rushed.flags) == 1 and "too fast" in rushed.flags[0]
    assert "set 1, today's slowest, 9.0 s" in rushed.flags[0]  # under half: rushed
    brisk = _set([_rep(i, up=2.0, hold=1.5, down=2.0) for i in range(1, 6)], 2)  # 5.5 s of 9
    add_form_flags([_set([_rep(i) for i in range(1, 6)], 1), brisk], targets_for(None), S)
    assert brisk.flags == []
