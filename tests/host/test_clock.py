"""Clock model: unwrapping device ticks, the true sample rate, host alignment."""

from __future__ import annotations

import numpy as np
import pytest
from anklet.clock import ClockModel, TicksUnwrapper, robust_line
from anklet_protocol import spec


def test_ticks_unwrap_across_the_wrap():
    unwrap = TicksUnwrapper()
    period = spec.TICKS_PERIOD_US
    values = [period - 3000, period - 1000, 500, 2500]
    assert [unwrap.unwrap(v) for v in values] == [
        period - 3000,
        period - 1000,
        period + 500,
        period + 2500,
    ]


def test_robust_line_ignores_outliers():
    x = np.arange(100.0)
    y = 7.0 + 3.0 * x
    y[[5, 50]] += 400
    a, b, rms = robust_line(x, y)
    assert a == pytest.approx(7.0)
    assert b == pytest.approx(3.0)
    assert rms < 1e-6


def test_model_finds_a_detuned_imu_rate_and_host_drift():
    rng = np.random.default_rng(1)
    true_period_us = 5000 / (1 + 150e-6)  # IMU 150 ppm fast
    drift = 40e-6  # device clock 40 ppm fast against the host
    model = ClockModel(5000)
    start_us = spec.TICKS_PERIOD_US - 2_000_000  # wraps during the session
    for k in range(0, 60 * 200, 20):
        stamp = start_us + k * true_period_us + rng.normal(0, 150)
        model.add_block(k, int(stamp) % spec.TICKS_PERIOD_US)
    for s in range(0, 61, 5):
        device_us = start_us + s * 1e6
        host = 100.0 + s / (1 + drift)
        model.add_sync(host - 0.001, host + 0.001, int(device_us) % spec.TICKS_PERIOD_US)
    model.freeze()
    summary = model.summary()
    assert summary.rate_error_ppm == pytest.approx(150, abs=5)
    assert summary.drift_ppm == pytest.approx(40, abs=2)
    t = np.asarray(model.index_to_host_s(np.arange(0, 12000)))
    spacing = np.diff(t)
    assert np.all(spacing > 0)
    assert spacing.std() < 1e-12
    assert t[0] == pytest.approx(100.0, abs=0.001)


def _stream_times(refine: bool, minutes: float = 10.0):
    """A session as session.py drives the model: blocks every 100 ms with 1 ms stamp jitter
    (the FIFO read's bus time), pings every 5 s, a 2 s warm-up, then rows written every 0.2 s
    from the times the model gives at that moment. Returns (times written, true host times,
    times asked again at the end for the same indices)."""
    rng = np.random.default_rng(7)
    period_us = 5000 / (1 + 2000e-6)  # an IMU 0.2 % fast (the datasheet allows ±1 %)
    drift = 40e-6  # the device clock 40 ppm fast against the host
    model = ClockModel(5000)
    written: list[np.ndarray] = []
    next_index = 0
    for step in range(int(minutes * 600)):  # 100 ms of device time each
        device_us = step * 100_000
        index = round(device_us / period_us)
        model.add_block(index, int(device_us + rng.normal(0, 1000)) % spec.TICKS_PERIOD_US)
        if step % 50 == 0:
            host = 100.0 + device_us / 1e6 / (1 + drift)
            model.add_sync(host - 0.002, host + 0.002, device_us % spec.TICKS_PERIOD_US)
        if not model.frozen:
            if model.span_s() >= 2.0:
                model.freeze()
            continue
        if step % 2:
            continue
        if refine and model.refine_due():
            model.refine(next_index)
        rows = np.arange(next_index, index)
        written.append(np.asarray(model.index_to_host_s(rows)))
        next_index = index
    t = np.concatenate(written)
    truth = 100.0 + np.arange(len(t)) * period_us / 1e6 / (1 + drift)
    again = np.asarray(model.index_to_host_s(np.arange(len(t))))
    return t, truth, again


def test_times_converge_on_the_best_fit_without_moving_or_jumping():
    t, truth, again = _stream_times(refine=True)
    frozen, _, _ = _stream_times(refine=False)
    spacing = np.diff(t)
    true = float(np.diff(truth)[0])
    assert np.all(spacing > 0)
    # The spacing changes only at refinements (a handful of times, not per row), is never
    # further from the truth than the warm-up's plus the slew, and ends on the truth.
    assert np.count_nonzero(np.abs(np.diff(spacing)) > 1e-9) <= 2 * 14
    assert np.all(np.abs(spacing - true) <= abs(spacing[0] - true) + 500e-6 * true)
    assert spacing[-1] == pytest.approx(true, rel=50e-6)
    # Times never move once given (a refill of an old index gets its old time).
    assert np.array_equal(again, t)
    # After 10 minutes the rows are on the true clock; frozen after the warm-up they were not.
    assert abs(t[-1] - truth[-1]) < 0.002
    assert abs(frozen[-1] - truth[-1]) > 10 * abs(t[-1] - truth[-1])
