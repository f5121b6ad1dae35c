"""Rep and set detection on synthetic sessions with known reps, any sensor orientation."""

from __future__ import annotations

import numpy as np
import pytest
from anklet.analysis import analyze
from anklet.analysis.loading import ImuRecording
from anklet.analysis.synthetic import SyntheticSession, random_rotation


def _session(seed: int, rate_hz: float = 100.0) -> SyntheticSession:
    rng = np.random.default_rng(seed)
    return SyntheticSession(rate_hz=rate_hz, mount=random_rotation(rng))


def _counts(session: SyntheticSession, seed: int) -> list[int]:
    rec, _ = session.build(np.random.default_rng(seed))
    return [s.rep_count for s in analyze(rec).sets]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_slow_reps_with_5s_holds_count_once_each_in_any_orientation(seed: int) -> None:
    session = _session(seed).rest(4).set(8, rom_deg=35, up_s=2.0, hold_s=5.0, down_s=2.5).rest(3)
    assert _counts(session, seed) == [8]


@pytest.mark.parametrize("seed", [1, 2])
def test_fast_reps_without_pause_are_each_counted(seed: int) -> None:
    session = (
        _session(seed).rest(3).set(15, rom_deg=50, up_s=0.45, hold_s=0, down_s=0.55, pause_s=0.2)
    )
    assert _counts(session.rest(3), seed) == [15]


@pytest.mark.parametrize("seed", [1, 2])
def test_low_amplitude_reps_are_counted(seed: int) -> None:
    session = _session(seed).rest(3).set(10, rom_deg=7, up_s=1.0, hold_s=1.0, down_s=1.0).rest(3)
    assert _counts(session, seed) == [10]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fidgeting_walking_and_a_resting_leg_give_no_reps(seed: int) -> None:
    session = _session(seed).rest(5).fidget(40).rest(20).walk(30).rest(20).fidget(30, 2.0)
    assert _counts(session.rest(5), seed) == []


def test_walking_between_stations_does_not_join_or_add_to_sets() -> None:
    session = _session(7).rest(3).set(6, rom_deg=40).rest(15).walk(20).rest(15).set(5, rom_deg=30)
    assert _counts(session.rest(3), 7) == [6, 5]


def test_sets_are_split_by_rest_and_timed_on_the_file_clock() -> None:
    session = _session(5).rest(10).set(5, rom_deg=40).rest(45).set(7, rom_deg=40).rest(5)
    rec, truth = session.build(np.random.default_rng(5))
    result = analyze(rec)
    assert [s.rep_count for s in result.sets] == [5, 7]
    assert result.sets[0].start_s == pytest.approx(truth[0].start_s, abs=0.2)
    assert result.sets[1].end_s == pytest.approx(truth[-1].end_s, abs=0.2)
    for rep, true in zip([r for s in result.sets for r in s.reps], truth, strict=True):
        assert rep.start_s == pytest.approx(true.start_s, abs=0.15)
        assert rep.end_s == pytest.approx(true.end_s, abs=0.15)


@pytest.mark.parametrize("rate_hz", [25.0, 200.0, 1000.0])
def test_counts_do_not_depend_on_sample_rate(rate_hz: float) -> None:
    session = _session(11, rate_hz).rest(3).set(6, rom_deg=30, hold_s=3).rest(30)
    session.set(8, rom_deg=45, up_s=0.5, hold_s=0, down_s=0.6, pause_s=0.3).rest(3)
    assert _counts(session, 11) == [6, 8]


def test_a_lone_movement_is_not_a_set() -> None:
    session = _session(3).rest(5).set(1, rom_deg=40).rest(30).set(2, rom_deg=40).rest(5)
    assert _counts(session, 3) == []


def _hinge_recording(theta_deg: np.ndarray, rate_hz: float) -> ImuRecording:
    """A limb turning about the sensor's x axis by theta(t), gravity turning with it."""
    t = np.arange(len(theta_deg)) / rate_hz
    rng = np.random.default_rng(7)
    gyro = np.zeros((len(t), 3))
    gyro[:, 0] = np.gradient(theta_deg, 1 / rate_hz) + rng.normal(0, 0.3, len(t))
    th = np.radians(theta_deg)
    acc = np.column_stack([np.zeros_like(th), 9.81 * np.sin(th), 9.81 * np.cos(th)])
    return ImuRecording(t_s=t, acc_ms2=acc + rng.normal(0, 0.05, acc.shape), gyro_dps=gyro)


def _excursion(n: int, depth_deg: float) -> np.ndarray:
    return depth_deg * np.sin(np.linspace(0, np.pi, n)) ** 2


def test_a_fast_prone_set_whose_leg_settles_lower_after_each_rep_counts_every_rep() -> None:
    # Each lift goes -50 deg; each lowering overshoots and the leg then rests a little further
    # on (drops onto the table, or gyro drift): the bout's mean angle lies on the rest side,
    # which once made the lifts read as lowerings and lost a rep.
    rate = 50.0
    parts = [np.zeros(int(3 * rate))]
    rest = 0.0
    for _ in range(10):
        lift = rest - _excursion(int(1.6 * rate), 50.0)
        parts.append(lift)
        rest += 6.0
        parts.append(np.linspace(lift[-1], rest, int(0.3 * rate)))
        parts.append(np.full(int(1.0 * rate), rest))
    parts.append(np.full(int(3 * rate), rest))
    result = analyze(_hinge_recording(np.concatenate(parts), rate))
    assert [s.rep_count for s in result.sets] == [10]
    assert all(40 < r.rom_deg < 60 for r in result.sets[0].reps)


def test_a_slow_shift_of_the_leg_after_a_fast_set_is_not_a_rep() -> None:
    # Ten brisk 60 deg reps (~150 dps), then the leg shifted 25 deg over 5 s (~10 dps): as large
    # as a low rep, but nothing like the set's tempo.
    rate = 50.0
    parts = [np.zeros(int(3 * rate))]
    for _ in range(10):
        parts += [_excursion(int(1.2 * rate), 60.0), np.zeros(int(0.8 * rate))]
    parts += [np.zeros(int(2 * rate)), _excursion(int(5 * rate), 25.0), np.zeros(int(3 * rate))]
    result = analyze(_hinge_recording(np.concatenate(parts), rate))
    assert [s.rep_count for s in result.sets] == [10]


def test_a_fast_set_that_sets_the_leg_down_hard_each_rep_is_not_taken_for_walking() -> None:
    # Twelve 1.2 s reps, each ending with a 3 g knock as the leg lands on the table: a train of
    # impacts a stride apart, but the leg rests after each, where a walker's shank turns on.
    rate = 100.0
    parts = [np.zeros(int(3 * rate))]
    for _ in range(12):
        parts += [_excursion(int(0.9 * rate), 50.0), np.zeros(int(0.3 * rate))]
    parts.append(np.zeros(int(3 * rate)))
    rec = _hinge_recording(np.concatenate(parts), rate)
    acc = rec.acc_ms2.copy()
    for k in range(12):
        landing = int(3 * rate) + k * int(1.2 * rate) + int(0.9 * rate)
        acc[landing : landing + 3, 2] += 3 * 9.81
    result = analyze(ImuRecording(rec.t_s, acc, rec.gyro_dps))
    assert [s.rep_count for s in result.sets] == [12]
    assert result.total_jumps == 0
