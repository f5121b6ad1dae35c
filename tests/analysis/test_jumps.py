"""Jumps: take-off, landing, ground contact and the fatigue flag, against the simulated board's
own jump motion (sim/anklet_sim/mpy/motion.py, whose events() are the truth), in any
sensor orientation and at any rate; and no jumps where nobody jumps."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from anklet.analysis import (
    ImuRecording,
    OnlineJumpDetector,
    analyze,
    find_jumps,
    read_imu_csv,
    write_session_tables,
)
from anklet.analysis.loading import AnalysisInputError
from anklet.analysis.synthetic import SyntheticSession, random_rotation
from anklet_sim import motion as sim_motion

G = 9.80665


def _recording(spec: str, rate_hz: float) -> tuple[ImuRecording, list[tuple[float, float]]]:
    source = sim_motion.from_spec(spec)
    t, x = sim_motion.sampled(source, rate_hz, source.length_s)
    return ImuRecording(t_s=t, acc_ms2=x[:, :3], gyro_dps=x[:, 3:6]), source.events()


@pytest.mark.parametrize(("rate_hz", "seed"), [(100, 1), (200, 2), (400, 3), (1000, 4)])
def test_every_jump_is_found_with_its_take_off_and_landing(rate_hz: int, seed: int) -> None:
    rec, truth = _recording(f"jumps:series=2,jumps=8,rest=8,seed={seed}", rate_hz)
    series = find_jumps(rec)
    assert [s.jump_count for s in series] == [8, 8]
    jumps = [j for s in series for j in s.jumps]
    tolerance = 1.0 / rate_hz + 0.004  # a sample, plus the push-off fading into the flight
    for jump, (takeoff, landing) in zip(jumps, truth, strict=True):
        assert jump.takeoff_s == pytest.approx(takeoff, abs=tolerance)
        assert jump.landing_s == pytest.approx(landing, abs=tolerance)
        assert jump.height_cm == pytest.approx(G * 0.45**2 / 8 * 100, rel=0.05)  # 24.8 cm
    for s in series:
        assert s.jumps[0].contact_s is None  # from standing: no rebound
        for jump in s.jumps[1:]:
            assert jump.contact_s == pytest.approx(0.25, abs=2 * tolerance)
            assert jump.rsi == pytest.approx(jump.height_cm / 100 / jump.contact_s)
        assert s.flags == []  # steady jumps: no fatigue


def test_height_falling_across_a_series_is_flagged_as_fatigue() -> None:
    # Each jump flies 3 % shorter and stays 3 % longer on the ground than the one before.
    rec, truth = _recording("jumps:series=1,jumps=10,fade=0.03,seed=5", 400)
    (series,) = find_jumps(rec)
    flights = np.array([b - a for a, b in truth])
    heights = G * flights**2 / 8
    expected_loss = 100 * (1 - heights[-2:].mean() / heights[:2].mean())
    assert series.height_loss_pct == pytest.approx(expected_loss, abs=3.0)  # about 39 %
    assert series.contact_change_pct is not None and series.contact_change_pct > 15
    assert len(series.flags) == 1 and "jump height fell" in series.flags[0]


@pytest.mark.parametrize("seed", [1, 2])
def test_jumping_gives_jumps_not_reps(seed: int) -> None:
    rec, _ = _recording(f"jumps:series=3,jumps=10,rest=20,seed={seed}", 200)
    result = analyze(rec)
    assert result.total_reps == 0
    assert result.total_jumps == 30
    assert [s.index for s in result.jump_series] == [1, 2, 3]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_jumps_in_leg_raises_walking_or_fidgeting(seed: int) -> None:
    rng = np.random.default_rng(seed)
    session = (
        SyntheticSession(rate_hz=200, mount=random_rotation(rng))
        .rest(3)
        .set(10, rom_deg=60, up_s=0.5, hold_s=0, down_s=0.5, pause_s=0.3)
        .walk(30, stride_s=0.9)
        .fidget(10)
        .rest(3)
    )
    rec, _ = session.build(rng)
    assert find_jumps(rec) == []


def test_a_still_sensor_in_free_fall_without_a_landing_is_not_a_jump() -> None:
    # The weight dropped onto a cushion: 0 g for 0.3 s, then a soft 1.2 g stop.
    t = np.arange(0, 4, 0.005)
    a = np.full(len(t), G)
    a[(t >= 2.0) & (t < 2.3)] = 0.0
    a[(t >= 2.3) & (t < 2.4)] = 1.2 * G
    acc = np.column_stack([np.zeros_like(a), np.zeros_like(a), a])
    rec = ImuRecording(t_s=t, acc_ms2=acc, gyro_dps=np.zeros((len(t), 3)))
    assert find_jumps(rec) == []


def test_jumps_csv_is_written_and_cleared(tmp_path: Path) -> None:
    rec, _ = _recording("jumps:series=1,jumps=5,seed=6", 200)
    write_session_tables(analyze(rec), tmp_path)
    with (tmp_path / "jumps.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["jump_index"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert rows[0]["contact_s"] == "" and float(rows[1]["contact_s"]) > 0.2
    assert 20 < float(rows[2]["height_cm"]) < 30
    still, _ = _recording("jumps:series=0,seed=6", 200)
    write_session_tables(analyze(still), tmp_path)
    assert not (tmp_path / "jumps.csv").exists()  # a re-analysis without jumps leaves none


@pytest.mark.parametrize("rate_hz", [200, 1000])
def test_live_detector_reports_each_jump_once_soon_after_landing(rate_hz: int) -> None:
    rec, truth = _recording("jumps:series=2,jumps=8,rest=5,seed=7", rate_hz)
    detector = OnlineJumpDetector()
    block = max(1, int(0.02 * rate_hz))  # 20 ms blocks, as the logger feeds it
    reported: list[tuple[float, float]] = []  # (landing, the time it was reported)
    for i in range(0, len(rec.t_s), block):
        sl = slice(i, i + block)
        for jump in detector.feed(rec.t_s[sl], rec.acc_ms2[sl], rec.gyro_dps[sl]):
            reported.append((jump.landing_s, float(rec.t_s[min(i + block, len(rec.t_s)) - 1])))
    offline = [j for s in find_jumps(rec) for j in s.jumps]
    assert len(reported) == len(offline) == len(truth)
    for (landing, when), jump in zip(reported, offline, strict=True):
        assert landing == pytest.approx(jump.landing_s, abs=1e-9)
        assert when - landing < 0.25  # within the landing window and a block


def test_landings_clipped_at_the_accelerometer_range_are_flagged(tmp_path: Path) -> None:
    rec, _ = _recording("jumps:series=1,jumps=5,impact=8,mount=0/0/0,seed=8", 400)
    # What a ±8 g accelerometer records of landings that pass 8 g (along the shank: z here).
    clipped = np.clip(rec.acc_ms2, -8 * G, 8 * G)
    at_8g = ImuRecording(rec.t_s, clipped, rec.gyro_dps, accel_range_g=8.0)
    result = analyze(at_8g)
    assert all(j.landing_clipped for s in result.jump_series for j in s.jumps)
    (flag,) = [f for f in result.flags if "landings reached" in f]
    assert "5 of 5 landings reached the accelerometer's ±8 g range" in flag
    assert "--accel-g 16" in flag
    at_16g = ImuRecording(rec.t_s, rec.acc_ms2, rec.gyro_dps, accel_range_g=16.0)
    result = analyze(at_16g)
    assert not any(j.landing_clipped for s in result.jump_series for j in s.jumps)
    assert not [f for f in result.flags if "landings reached" in f]


def test_a_session_folder_gives_the_accelerometer_range(tmp_path: Path) -> None:
    rec, _ = _recording("jumps:series=1,jumps=3,seed=9", 200)
    with (tmp_path / "samples.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "ax_ms2", "ay_ms2", "az_ms2", "gx_dps", "gy_dps", "gz_dps"])
        for t, acc, gyro in zip(rec.t_s, rec.acc_ms2, rec.gyro_dps, strict=True):
            w.writerow([f"{t:.4f}", *(f"{v:.4f}" for v in (*acc, *gyro))])
    assert read_imu_csv(tmp_path / "samples.csv").accel_range_g is None  # a bare CSV
    (tmp_path / "session.json").write_text(json.dumps({"ranges": {"accel_g": 4, "gyro_dps": 1000}}))
    assert read_imu_csv(tmp_path / "samples.csv").accel_range_g == 4.0
    (tmp_path / "session.json").write_text("{not json")
    assert read_imu_csv(tmp_path / "samples.csv").accel_range_g is None  # unreadable: unknown


def test_flight_is_found_without_free_fall_from_push_off_and_impact() -> None:
    # The simulated shank swings in flight as a real foot does: |a| never near 0 for long.
    rec, truth = _recording("jumps:series=1,jumps=6,seed=10", 400)
    a = np.linalg.norm(rec.acc_ms2, axis=1)
    for takeoff, landing in truth:
        flight = (rec.t_s > takeoff + 0.03) & (rec.t_s < landing - 0.01)
        assert a[flight].mean() > 0.4 * G  # not free fall: the old 0.3 g median test fails here
    jumps = [j for s in find_jumps(rec) for j in s.jumps]
    assert len(jumps) == len(truth)
    for jump, (takeoff, landing) in zip(jumps, truth, strict=True):
        assert jump.takeoff_s == pytest.approx(takeoff, abs=0.005)
        assert jump.landing_s == pytest.approx(landing, abs=0.005)


def test_a_drop_off_a_box_is_not_a_jump_and_starts_the_rebound_contact() -> None:
    spec = "jumps:series=2,jumps=1,drop=0.43,contact=0.45,flight=0.33,rest=5,seed=11"
    source = sim_motion.from_spec(spec)
    t, x = sim_motion.sampled(source, 400, source.length_s)
    rec = ImuRecording(t_s=t, acc_ms2=x[:, :3], gyro_dps=x[:, 3:6])
    series = find_jumps(rec)
    assert [s.jump_count for s in series] == [1, 1]  # the steps off the box are not jumps
    for s, drop_landing, (takeoff, landing) in zip(
        series, source.drops(), source.events(), strict=True
    ):
        assert s.drop_landing_s == pytest.approx(drop_landing, abs=0.005)
        (jump,) = s.jumps
        assert jump.contact_s is not None
        assert jump.contact_s == pytest.approx(0.45, abs=0.01)
        assert jump.rsi == pytest.approx(jump.height_cm / 100 / jump.contact_s)
        assert jump.flight_s == pytest.approx(landing - takeoff, abs=0.01)


def _write_csv(path: Path, rec: ImuRecording, *, gyro: bool) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "ax_ms2", "ay_ms2", "az_ms2", "gx_dps", "gy_dps", "gz_dps"])
        for t, acc, g in zip(rec.t_s, rec.acc_ms2, rec.gyro_dps, strict=True):
            cells = [f"{v:.5f}" for v in g] if gyro else ["", "", ""]
            w.writerow([f"{t:.5f}", *(f"{v:.5f}" for v in acc), *cells])


def test_an_accelerometer_only_recording_gives_jumps_and_says_reps_need_the_gyro(
    tmp_path: Path,
) -> None:
    rec, truth = _recording("jumps:series=1,jumps=5,seed=12", 400)
    _write_csv(tmp_path / "samples.csv", rec, gyro=False)
    loaded = read_imu_csv(tmp_path / "samples.csv")
    assert not loaded.has_gyro
    result = analyze(loaded)
    assert result.total_jumps == len(truth) == 5
    assert result.total_reps == 0
    (note,) = [f for f in result.flags if "no gyroscope data" in f]
    assert "reps" in note and "jumps" in note


def test_a_gyro_column_filled_only_later_is_a_one_line_error(tmp_path: Path) -> None:
    rec, _ = _recording("jumps:series=1,jumps=1,seed=12", 100)
    _write_csv(tmp_path / "samples.csv", rec, gyro=False)
    lines = (tmp_path / "samples.csv").read_text().splitlines()
    lines[5] = lines[5].rstrip(",") + ",1.0,2.0,3.0"
    (tmp_path / "samples.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(AnalysisInputError, match=r"row 6, column gx_dps: a gyro value"):
        read_imu_csv(tmp_path / "samples.csv")


def test_clipped_landings_are_found_from_the_data_flat_tops_without_session_json() -> None:
    rec, _ = _recording("jumps:series=1,jumps=4,impact=10,mount=0/0/0,seed=13", 400)
    clipped = np.clip(rec.acc_ms2, -8 * G, 8 * G)  # a ±8 g part, its range not recorded
    result = analyze(ImuRecording(rec.t_s, clipped, rec.gyro_dps))
    assert result.total_jumps == 4
    assert all(j.landing_clipped for s in result.jump_series for j in s.jumps)
    assert any("4 of 4 landings reached the accelerometer's ±8 g range" in f for f in result.flags)
    unclipped = analyze(ImuRecording(rec.t_s, rec.acc_ms2, rec.gyro_dps))
    assert not any(j.landing_clipped for s in unclipped.jump_series for j in s.jumps)


def test_a_landing_with_only_one_axis_near_range_but_a_large_magnitude_is_clipped() -> None:
    # Several axes saturate at once: |a| exceeds the range, though no single axis passes it.
    rec, _ = _recording("jumps:series=1,jumps=3,impact=20,mount=30/40/10,seed=14", 400)
    clipped = np.clip(rec.acc_ms2, -16 * G, 16 * G)
    result = analyze(ImuRecording(rec.t_s, clipped, rec.gyro_dps, accel_range_g=16.0))
    jumps = [j for s in result.jump_series for j in s.jumps]
    assert len(jumps) == 3
    assert all(j.landing_clipped and j.landing_peak_g > 16 for j in jumps)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_jumps_when_a_leg_is_set_down_hard_between_reps(seed: int) -> None:
    # Prone or seated reps that end with the leg dropped onto the table: a 4-6 g knock each rep,
    # after a fall of the limb, but no push-off before any "flight".
    rng = np.random.default_rng(seed)
    rate = 200
    t = np.arange(0, 40, 1 / rate)
    acc = np.tile([0.0, 0.0, G], (len(t), 1))
    for k in range(10):
        drop_t = 3 + 3.3 * k
        falling = (t >= drop_t - 0.15) & (t < drop_t)
        acc[falling, 2] = 0.3 * G  # the leg let fall
        knock = (t >= drop_t) & (t < drop_t + 0.03)
        acc[knock, 2] = G + rng.uniform(3, 5) * G * np.exp(-(t[knock] - drop_t) / 0.01)
        bounce = (t >= drop_t + 0.15) & (t < drop_t + 0.3)
        acc[bounce, 2] = 0.4 * G  # and bounces once
        knock2 = (t >= drop_t + 0.3) & (t < drop_t + 0.33)
        acc[knock2, 2] = 5 * G
    rec = ImuRecording(t_s=t, acc_ms2=acc, gyro_dps=np.zeros((len(t), 3)))
    assert find_jumps(rec) == []


def test_with_a_gyro_a_flight_in_which_the_segment_never_turns_is_not_a_jump() -> None:
    # The accelerometer trace of real-looking jumps, but the gyro says the limb lay still: knocks
    # on a resting limb. Without a gyro the same trace is taken for the jumps it resembles.
    rec, truth = _recording("jumps:series=1,jumps=4,gnoise=0,seed=15", 400)
    still = np.random.default_rng(15).normal(0.0, 0.5, rec.gyro_dps.shape)  # noise, no rotation
    assert find_jumps(ImuRecording(rec.t_s, rec.acc_ms2, still)) == []
    no_gyro = ImuRecording(rec.t_s, rec.acc_ms2, np.zeros_like(still), has_gyro=False)
    assert sum(s.jump_count for s in find_jumps(no_gyro)) == len(truth) == 4
    assert sum(s.jump_count for s in find_jumps(rec)) == 4  # the simulated shank does turn
