"""Battery: STATUS reports a voltage and charge a single Li-ion cell can have."""

from __future__ import annotations


def test_battery_status_is_plausible(hil, figure):
    async def body(board):
        return await board.device.get_status()

    status = hil.run(body)
    figure(f"{status.battery_mv} mV, {status.battery_pct} %, flags {status.flags}")
    assert 3000 <= status.battery_mv <= 4300
    assert 0 <= status.battery_pct <= 100
    assert ("LOW_BATTERY" in status.flags) == (status.battery_pct < 10)
