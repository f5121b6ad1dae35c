"""Device time → session time: unwrapping ticks, fitting the sample clock, and host alignment.

    model = ClockModel()
    model.add_sync(host_mid_s, device_us)            # time-sync pings (lowest round trip wins)
    model.add_block(first_index, t0_us, count)       # SAMPLES headers
    model.freeze()                                    # after a warm-up: times from now on
    model.refine(next_index)                          # later, with more data: see below
    model.index_to_host_s(index), model.device_to_host_s(device_us)

The IMU clocks its own samples (its oscillator is off by up to ±1-2 %); the board stamps blocks
with its own µs ticks. A robust straight-line fit of stamp against index gives the IMU's true
period on the device clock; time-sync pings map the device clock to the host's monotonic clock
and give its drift. Sample times are then an exact line in the index: monotonic and evenly
spaced at the true rate.

Rows are written as they come, so a time once given never changes. The first line comes from
the warm-up (2 s: its rate can be ~0.1 % off, 3.6 s an hour); `refine` refits on everything
seen so far at spans of 4, 8, 16, 32 and 64 s and every 60 s after, and continues the times from
the next index not yet written: the same time there, then a rate that slews onto the new fit
within `SLEW_S` at most `MAX_SLEW` (500 ppm) off the fitted rate. The spacing changes only at
refinements, never further from the truth than the warm-up's plus 500 ppm, and the times
converge on the best fit (tests/host/test_clock.py: 10 minutes with 1 ms stamp jitter end
within 0.02 ms of the true clock; frozen after the warm-up, 1.05 s off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from anklet_protocol import spec

_PERIOD = spec.TICKS_PERIOD_US
_HALF = _PERIOD // 2
SLEW_S = 10.0  # a refinement brings the times onto the new fit over this long ...
MAX_SLEW = 500e-6  # ... or slower: the rate departs from the fit by at most this much
_REFINE_SPANS_S = (4.0, 8.0, 16.0, 32.0, 64.0)
_REFINE_EVERY_S = 60.0


class TicksUnwrapper:
    """Turns wrapping 2**30 µs ticks into a monotonic count, given values < 9 min apart."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._base = 0

    def unwrap(self, ticks_us: int) -> int:
        if self._last is None:
            self._last = ticks_us
            return ticks_us
        delta = (ticks_us - self._last) % _PERIOD
        if delta >= _HALF:
            delta -= _PERIOD
        value = self._last_unwrapped() + delta
        self._last = ticks_us
        self._base = value - ticks_us
        return value

    def _last_unwrapped(self) -> int:
        assert self._last is not None
        return self._base + self._last


def robust_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares y = a + b·x, refitted without points beyond 4 MADs; returns a, b, rms."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x0 = x[0]
    keep = np.ones(len(x), dtype=bool)
    a = b = 0.0
    for _ in range(3):
        b, a = np.polyfit(x[keep] - x0, y[keep], 1)
        residual = y - (a + b * (x - x0))
        mad = float(np.median(np.abs(residual[keep] - np.median(residual[keep])))) or 1.0
        new_keep = np.abs(residual) <= 4 * 1.4826 * mad
        if new_keep.sum() < 2 or (new_keep == keep).all():
            break
        keep = new_keep
    rms = float(np.sqrt(np.mean((y[keep] - (a + b * (x[keep] - x0))) ** 2)))
    return a - b * x0, b, rms


@dataclass(frozen=True)
class ClockSummary:
    sample_period_us: float  # true IMU period on the device clock
    sample_rate_hz: float  # true IMU rate on the host clock
    nominal_rate_hz: float
    rate_error_ppm: float  # IMU rate against its nominal value
    drift_ppm: float  # device clock against the host clock (+: device runs fast)
    offset_s: float  # host monotonic time at device time 0 of this boot
    fit_residual_us: float
    syncs: int
    best_round_trip_ms: float  # the fastest of all its pings
    line_round_trip_ms: float  # the ping the host line in use rests on: the window it is known in


#: A device clock's rate against the host's, when the pings have not measured it (under 30 s
#: of them): the ESP32's 40 MHz crystal, which clocks its µs timer, is specified within
#: ±10 ppm (Espressif, ESP32 Hardware Design Guidelines, "Crystal Oscillator").
UNMEASURED_DRIFT_PPM = 10.0


@dataclass(frozen=True)
class HostFit:
    """How a boot's device clock maps to host time, and how well that is known.

    host_s = host_s_at_anchor + (device_us − device_us_at_anchor) · host_per_device / 1e6.
    The anchor is a time-sync ping: the board read its clock somewhere between the host's send
    and receive, so the anchor's host time is right within ±round_trip_s / 2, whatever the
    delays each way (or within what many pings leave of it: bounded_fit); away from it the
    rate's uncertainty adds drift_uncertainty_ppm.
    """

    host_s_at_anchor: float
    device_us_at_anchor: float  # unwrapped
    host_per_device: float  # k: host seconds per device second
    round_trip_s: float  # the window the anchor's host time lies in: the ping's round trip
    drift_uncertainty_ppm: float

    def device_us(self, host_s: float) -> float:
        """The device clock's reading (unwrapped µs) at host instant `host_s`."""
        return self.device_us_at_anchor + (host_s - self.host_s_at_anchor) * 1e6 / (
            self.host_per_device
        )

    def error_bound_s(self, host_s: float) -> float:
        """Largest error of the host time this fit gives to a device instant near `host_s`."""
        drift_s = abs(host_s - self.host_s_at_anchor) * self.drift_uncertainty_ppm * 1e-6
        return self.round_trip_s / 2 + drift_s

    def error_sigma_s(self, host_s: float) -> float:
        """One standard deviation of that error: the board's read equally likely anywhere in
        the round trip (a uniform spread: width / √12), the rate's bound as ±2 σ."""
        drift_s = abs(host_s - self.host_s_at_anchor) * self.drift_uncertainty_ppm * 1e-6
        return float(np.hypot(self.round_trip_s / np.sqrt(12), drift_s / 2))


def bounded_fit(pings: list[tuple[float, float, int]], nominal_period_us: int) -> HostFit | None:
    """A tighter fit from many pings (host sent s, host received s, device ticks µs): each one
    says the board read its clock between send and receive, so host − device·k lies within
    [sent − x, received − x] of every ping (x: its device time in host seconds), and the
    truth within their intersection, narrower than the fastest round trip alone. The fit is
    the intersection's middle, anchored at the ping nearest the middle of the pings. Falls back
    to the fastest ping (ClockModel.host_fit) when the intervals do not meet (the rate k was
    wrong, or a ping was not what it seemed)."""
    model = ClockModel(nominal_period_us)
    for sent, received, device_us in pings:
        model.add_sync(sent, received, device_us)
    fastest = model.host_fit()
    if fastest is None:
        return None
    k = fastest.host_per_device
    sent = np.array([p[0] for p in pings])
    received = np.array([p[1] for p in pings])
    ticks = TicksUnwrapper()  # as the model did: the same unwrapped values
    device = np.array([ticks.unwrap(p[2]) for p in pings], dtype=np.float64)
    anchor = int(np.argmin(np.abs(sent - (sent[0] + sent[-1]) / 2)))
    x = (device - device[anchor]) * k / 1e6
    low, high = float(np.max(sent - x)), float(np.min(received - x))
    if low > high:
        return fastest
    return HostFit(
        (low + high) / 2, float(device[anchor]), k, high - low, fastest.drift_uncertainty_ppm
    )


class ClockModel:
    def __init__(self, nominal_period_us: int) -> None:
        self.nominal_period_us = nominal_period_us
        self._ticks = TicksUnwrapper()
        self._index: list[int] = []
        self._stamp: list[int] = []
        self._sync_host: list[float] = []
        self._sync_device: list[int] = []
        self._sync_rtt: list[float] = []
        self.frozen = False
        self._b = float(nominal_period_us)  # device µs per sample, until blocks say
        self._residual = 0.0
        # Once frozen, the times given out, piecewise: index -> device µs as (from index,
        # device µs there, µs per sample), device µs -> host s as (from device µs, host s at
        # `origin`, drift k, origin). Each refinement appends one of each.
        self._samples: list[tuple[int, float, float]] = []
        self._hosts: list[tuple[float, float, float, float]] = []
        self._next_refine_s = _REFINE_SPANS_S[0]
        self._frozen_syncs = 0

    def unwrap(self, device_us: int) -> int:
        return self._ticks.unwrap(device_us)

    def add_block(self, first_index: int, t0_us: int) -> None:
        self._index.append(first_index)
        self._stamp.append(self.unwrap(t0_us))

    def add_sync(self, host_sent_s: float, host_received_s: float, device_us: int) -> None:
        self._sync_host.append((host_sent_s + host_received_s) / 2)
        self._sync_device.append(self.unwrap(device_us))
        self._sync_rtt.append(host_received_s - host_sent_s)

    @property
    def blocks(self) -> int:
        return len(self._index)

    def span_s(self) -> float:
        if len(self._stamp) < 2:
            return 0.0
        return (self._stamp[-1] - self._stamp[0]) / 1e6

    def fit_samples(self) -> tuple[float, float, float]:
        if len(self._index) < 3:
            return (self._stamp[0] - self._index[0] * self._b if self._stamp else 0.0, self._b, 0.0)
        return robust_line(np.array(self._index), np.array(self._stamp))

    def freeze(self) -> None:
        """Fix the times from here on (a warm-up's fit); `refine` continues them later."""
        a, b, self._residual = self.fit_samples()
        h0, d0, k = self._host_line()
        self._samples = [(0, a, b)]  # (from index, device µs there, µs per sample)
        self._hosts = [(float("-inf"), h0, k, d0)]
        self._next_refine_s = _REFINE_SPANS_S[0]
        self._frozen_syncs = len(self._sync_host)
        self.frozen = True

    def refine_due(self) -> bool:
        return self.frozen and self.span_s() >= self._next_refine_s

    def refine(self, next_index: int) -> None:
        """Refit on all the data so far and continue the times from `next_index` (the first
        sample not yet written): continuous there, then slewing onto the new fit."""
        if not self.frozen:
            return
        span = self.span_s()
        later = [s for s in _REFINE_SPANS_S if s > span]
        self._next_refine_s = later[0] if later else span + _REFINE_EVERY_S
        a, b, self._residual = self.fit_samples()
        # Index -> device µs: the same device time at next_index, a period that closes the gap
        # to the fitted line (within SLEW_S, the rate at most MAX_SLEW off), then the fit's.
        d_now = float(self.index_to_device_us(next_index))
        h_now = float(self.device_to_host_s(d_now))
        # Pieces not yet reached (the end of a slew still under way) give way to the new ones.
        self._samples = [seg for seg in self._samples if seg[0] < next_index] or self._samples[:1]
        self._hosts = [seg for seg in self._hosts if seg[0] < d_now] or self._hosts[:1]
        error_us = d_now - (a + b * next_index)
        step = float(np.clip(error_us * b / (SLEW_S * 1e6), -MAX_SLEW * b, MAX_SLEW * b))
        self._samples.append((next_index, d_now, b - step))
        if step:
            closed = next_index + round(error_us / step)
            self._samples.append((closed, a + b * closed, b))
        # Device µs -> host s: once the pings have measured the drift (30 s), the same host
        # time at that instant, then likewise onto the pings' line. Before, the frozen offset
        # stays: a faster ping moves the best offset by milliseconds, not a rate.
        h0, d0, k = self._host_line()
        if k == 1.0:
            return
        error_s = h_now - (h0 + (d_now - d0) * k / 1e6)
        rate = float(np.clip(error_s / SLEW_S, -MAX_SLEW * k, MAX_SLEW * k))
        self._hosts.append((d_now, h_now, k - rate, d_now))
        if rate:
            d_closed = d_now + error_s / rate * 1e6
            self._hosts.append((d_closed, h0 + (d_closed - d0) * k / 1e6, k, d_closed))

    def _host_line(self) -> tuple[float, float, float]:
        """host_s = h0 + (device_us − d0)·k / 1e6, from the syncs (drift k only from ≥ 30 s)."""
        if not self._sync_host:
            return 0.0, 0.0, 1.0  # offline (a capture): device time is the only clock
        rtt = np.array(self._sync_rtt)
        host = np.array(self._sync_host)
        device = np.array(self._sync_device, dtype=np.float64)
        best = int(np.argmin(rtt))
        k = 1.0
        if device[-1] - device[0] > 30e6 and len(host) >= 4:
            # Use the faster half of the pings: queueing delays only ever add time.
            fast = rtt <= np.median(rtt)
            _, slope, _ = robust_line(device[fast], host[fast] * 1e6)
            k = slope
        return float(host[best]), float(device[best]), k

    def host_fit(self) -> HostFit | None:
        """The device → host line in use (the frozen one once frozen), with its uncertainty;
        None without time-sync pings (an offline capture: no host clock to map to)."""
        if not self._sync_host:
            return None
        if self.frozen:
            _, h0, k, d0 = self._hosts[0]  # the line the warm-up froze
        else:
            h0, d0, k = self._host_line()
        used = self._frozen_syncs if self.frozen else len(self._sync_host)
        rtt = min(self._sync_rtt[: max(used, 1)])
        drift_ppm = UNMEASURED_DRIFT_PPM
        if k != 1.0:  # measured from ≥ 30 s of pings: the slope's own standard error, ×2
            device = np.array(self._sync_device[:used], dtype=np.float64)
            host = np.array(self._sync_host[:used]) * 1e6
            _, _, rms = robust_line(device, host)
            spread = float(np.std(device)) * np.sqrt(len(device))
            drift_ppm = 2e6 * rms / spread if spread else UNMEASURED_DRIFT_PPM
        return HostFit(h0, d0, k, rtt, drift_ppm)

    def index_to_device_us(self, index: int | np.ndarray) -> np.ndarray | float:
        i = np.asarray(index, dtype=np.float64)
        if not self.frozen:
            a, b, _ = self.fit_samples() if self._index else (0.0, self._b, 0.0)
            return a + b * i
        starts, at, period = np.array(self._samples, dtype=np.float64).T
        k = np.clip(np.searchsorted(starts, i, side="right") - 1, 0, None)
        out = at[k] + (i - starts[k]) * period[k]
        return float(out) if out.ndim == 0 else out

    def device_to_host_s(self, device_us: float | np.ndarray) -> np.ndarray | float:
        d = np.asarray(device_us, dtype=np.float64)
        if not self.frozen:
            h0, d0, k = self._host_line()
            out = h0 + (d - d0) * k / 1e6
            return float(out) if out.ndim == 0 else out
        starts, host, slope, origin = np.array(self._hosts, dtype=np.float64).T
        j = np.clip(np.searchsorted(starts, d, side="right") - 1, 0, None)
        out = host[j] + (d - origin[j]) * slope[j] / 1e6
        return float(out) if out.ndim == 0 else out

    def index_to_host_s(self, index: int | np.ndarray) -> np.ndarray | float:
        return self.device_to_host_s(self.index_to_device_us(index))

    def summary(self) -> ClockSummary:
        _a, b, residual = self.fit_samples() if self._index else (0.0, self._b, 0.0)
        _, _, k = self._host_line()
        nominal = 1e6 / self.nominal_period_us
        line = self.host_fit()
        return ClockSummary(
            sample_period_us=b,
            sample_rate_hz=1e6 / (b * k),
            nominal_rate_hz=nominal,
            rate_error_ppm=(self.nominal_period_us / b - 1) * 1e6,
            drift_ppm=(1 / k - 1) * 1e6,
            offset_s=float(self.device_to_host_s(0.0)),
            fit_residual_us=residual,
            syncs=len(self._sync_host),
            best_round_trip_ms=min(self._sync_rtt) * 1e3 if self._sync_rtt else 0.0,
            line_round_trip_ms=line.round_trip_s * 1e3 if line is not None else 0.0,
        )
