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
