"""TIME_SYNC: the round trip is short, and the board's clock keeps pace with the host's."""

from __future__ import annotations

import asyncio

import numpy as np
from anklet.clock import TicksUnwrapper, robust_line

PINGS = 25
SPACING_S = 0.1


def test_time_sync_round_trip_is_short_and_device_time_tracks_host_time(hil, target, figure):
    async def body(board):
        syncs = []
        for _ in range(PINGS):
            syncs.append(await board.device.time_sync())
            await asyncio.sleep(SPACING_S)
        return syncs

    syncs = hil.run(body)
    rtt_s = np.array([s.round_trip_s for s in syncs])
    host_s = np.array([s.host_mid_s for s in syncs])
    ticks = TicksUnwrapper()
    device_s = np.array([ticks.unwrap(s.device_us) for s in syncs], dtype=np.float64) / 1e6
    _, slope, _ = robust_line(host_s, device_s)
    # Each device stamp lies within its own round trip of the host's midpoint (after the
    # offset): the board's time neither jumps nor stalls between pings.
    residual_s = (device_s - device_s[0]) - (host_s - host_s[0])
    median_rtt_ms = float(np.median(rtt_s) * 1e3)
    figure(
        f"median RTT {median_rtt_ms:.1f} ms (max {rtt_s.max() * 1e3:.1f}); device/host rate "
        f"{(slope - 1) * 1e6:+.0f} ppm over {host_s[-1] - host_s[0]:.1f} s"
    )
    # Serial answers within a few ms; BLE within a few connection intervals (7.5-30 ms each).
    assert median_rtt_ms < (150.0 if target.is_ble else 50.0)
    assert np.all(np.diff(device_s) > 0)
    assert np.all(np.abs(residual_s) <= (rtt_s + rtt_s[0]) / 2 + 0.002)
    assert abs(slope - 1) < 0.005
