"""Recovery: a dropped link loses nothing, and the board comes back from a REBOOT command and
from its watchdog."""

from __future__ import annotations

import asyncio
import time

import pytest
from sessions import record

CUT_S = 3.0
#: Longer than the firmware's 8 s watchdog: the simulated watchdog kills the frozen firmware
#: (see mpy/machine.py) and the board restarts with reset cause WATCHDOG.
STALL_MS = 12_000


@pytest.mark.sim_only("cuts the simulated link")
def test_link_drop_loses_no_sample(hil, target, tmp_path, figure):
    async def body(board):
        async def cut(recorder):
            await asyncio.sleep(6.0)
            await board.cut_link(CUT_S)

        return await record(board, tmp_path / "out", 16.0, 200, during=cut)

    rec = hil.run(body)
    summary = rec.summary
    figure(
        f"{summary.refilled} refilled after a {CUT_S:g} s cut, {summary.lost} lost, "
        f"{summary.reconnects} reconnect(s), {summary.completeness_pct:.3f} %"
    )
    assert summary.reconnects >= 1
    assert rec.unexcused_loss(target) == 0, (rec.meta["loss"], rec.meta["board_status"])
    if not target.is_ble:
        # The serial bridge threw the bytes away: only RESEND can have brought them back. (Over
        # BLE the board sees the link go and holds its blocks until the host is back.)
        assert summary.refilled >= 0.8 * CUT_S * 200


def test_reboot_command_restarts_the_board(hil, figure):
    async def body(board):
        device = board.device
        since = time.monotonic()
        await device.reboot()
        status = await board.wait_rebooted(since)
        info = await device.get_info()
        return status, info, time.monotonic() - since

    status, info, back_s = hil.run(body)
    figure(f"back in {back_s:.1f} s, reset cause {info.reset_cause}, uptime {status.uptime_ms} ms")
    # machine.reset(): the ESP32 reports a software reset, the simulator a hard reset.
    assert info.reset_cause in ("HARD_RESET", "SOFT_RESET")
    assert status.uptime_ms < back_s * 1000  # a new boot began after the command


@pytest.mark.sim_only("hangs the simulated firmware with a stalled I2C transaction")
def test_watchdog_resets_a_hung_board(hil, figure):
    async def body(board):
        device = board.device
        await device.start()  # the sampler's next I2C read stalls
        await asyncio.sleep(0.5)
        since = time.monotonic()
        board.set_faults(stall_ms=STALL_MS)
        await asyncio.sleep(STALL_MS / 1000)
        try:
            status = await board.wait_rebooted(since)
        except Exception as exc:
            raise AssertionError(
                f"not back after the watchdog: {exc}; exit codes {board.sim.exit_codes}, "
                f"boots {board.sim.boots}; board log:\n{board.log_tail()}"
            ) from exc
        info = await device.get_info()
        return status, info, time.monotonic() - since, list(board.sim.exit_codes)

    status, info, back_s, exit_codes = hil.run(body)
    figure(
        f"hung {STALL_MS} ms; back in {back_s:.1f} s with reset cause {info.reset_cause} "
        f"(exit codes {exit_codes})"
    )
    assert info.reset_cause == "WATCHDOG"
    assert status.uptime_ms < back_s * 1000
