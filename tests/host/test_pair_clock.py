"""The offset between two boards' clocks, from each one's fit to the host clock (no board)."""

from __future__ import annotations

import random

import pytest
from anklet.clock import UNMEASURED_DRIFT_PPM, ClockModel, HostFit, bounded_fit
from anklet.pair_session import clock_offset, refit, wrapped_us
from anklet_protocol import spec


def _pinged(offset_us: int, seed: int, pings: int = 8) -> ClockModel:
    """A board whose clock reads host µs + offset (mod 2**30), synced by pings whose two legs
    take random, unequal times (0.2-6 ms each way)."""
    rng = random.Random(seed)
    model = ClockModel(5000)
    host_s = 100.0
    for _ in range(pings):
        out_s, back_s = rng.uniform(2e-4, 6e-3), rng.uniform(2e-4, 6e-3)
        read_s = host_s + out_s
        device_us = (round(read_s * 1e6) + offset_us) % spec.TICKS_PERIOD_US
        model.add_sync(host_s, read_s + back_s, device_us)
        host_s += 0.2
    model.freeze()
    return model


@pytest.mark.parametrize("seed", range(5))
def test_fitted_offset_between_boards_is_within_its_bound_of_the_truth(seed):
    left_off, right_off = 3_000_000, 3_000_000 + 123_456
    left = _pinged(left_off, seed).host_fit()
    right = _pinged(right_off, seed + 100).host_fit()
    assert left is not None and right is not None
    offset = clock_offset(left, right, 100.0, 110.0)
    error_s = offset.right_minus_left_s - 0.123456
    assert abs(error_s) <= offset.bound_s
    # The bound: half of each anchor's round trip, plus 10 ppm from each anchor to the end.
    drift_s = (220.0 - left.host_s_at_anchor - right.host_s_at_anchor) * UNMEASURED_DRIFT_PPM
    assert offset.bound_s == pytest.approx(
        (left.round_trip_s + right.round_trip_s) / 2 + drift_s * 1e-6
    )
    assert 0 < offset.uncertainty_s < offset.bound_s


def test_offset_is_taken_modulo_the_wire_ticks():
    # The right board's ticks wrapped just before the session: its raw readings are small.
    left = _pinged(spec.TICKS_PERIOD_US - 50_000, 1).host_fit()
    right = _pinged(20_000, 2).host_fit()
    assert left is not None and right is not None
    offset = clock_offset(left, right, 100.0, 102.0)
    assert offset.right_minus_left_s == pytest.approx(0.070, abs=offset.bound_s)


def test_wrapped_difference_stays_within_half_the_tick_period():
    half = spec.TICKS_PERIOD_US // 2
    assert wrapped_us(half) == -half
    assert wrapped_us(-half - 1) == half - 1
    assert wrapped_us(1_000) == 1_000


def test_a_clock_without_pings_has_no_host_fit():
    model = ClockModel(5000)
    model.add_block(0, 1_000)
    assert model.host_fit() is None


def test_refit_corrects_a_recorder_fit_that_was_off_by_the_difference():
    # The recorder's line puts device ticks 4 ms too late on the host clock; the pair's pings
    # (the truth: device = host + 3 s) find it, and the correction moves its rows 4 ms earlier.
    offset_us = 3_000_000
    recorded = HostFit(100.004, 100.0 * 1e6 + offset_us, 1.0, 0.010, UNMEASURED_DRIFT_PPM)
    rng = random.Random(5)
    pings = []
    for i in range(50):
        sent = 101.0 + i * 0.1
        read = sent + rng.uniform(3e-4, 2e-3)
        pings.append((sent, read + rng.uniform(3e-4, 2e-3), round(read * 1e6) + offset_us))
    fit, correction_s = refit(recorded, pings, 5000, 103.0)
    assert correction_s == pytest.approx(-0.004, abs=fit.round_trip_s / 2 + 1e-6)
    assert fit.round_trip_s < 1e-3  # 50 pings narrow the window below one round trip


def test_bounded_fit_falls_back_to_the_fastest_ping_when_windows_disagree():
    # Two pings whose windows cannot both hold (the rate assumed is wrong): the fastest one.
    pings = [(10.0, 10.002, 5_001_000), (11.0, 11.004, 5_003_500)]
    fit = bounded_fit(pings, 5000)
    assert fit is not None
    assert fit.round_trip_s == pytest.approx(0.002)
    assert fit.host_s_at_anchor == pytest.approx(10.001)


def test_refit_keeps_the_recorders_line_when_the_pings_know_less():
    # A saturated PC: the pair's one ping on a side was answered 15.5 s after it was sent. Its
    # middle is anywhere in those 15.5 s; the recorder's line rests on a 10 ms round trip.
    offset_us = 3_000_000
    recorded = HostFit(100.0, 100.0 * 1e6 + offset_us, 1.0, 0.010, UNMEASURED_DRIFT_PPM)
    late = [(101.0, 116.5, round(101.01 * 1e6) + offset_us)]
    fit, correction_s = refit(recorded, late, 5000, 108.0)
    assert fit is recorded
    assert correction_s == 0.0
