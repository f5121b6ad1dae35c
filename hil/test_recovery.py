"""Recovery: a dropped link loses nothing, and the board comes back from a REBOOT command and
from its watchdog."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise

import pytest
from anklet_protocol import spec
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


BACKLOG_S = 10.0  # issue #13's window at 1000 Hz; past a DevKitC's RAM ring at any rate


def test_the_board_keeps_10_s_its_host_has_not_acknowledged(hil, target, figure):
    """The refill window, on any board: stream at the link's top rate, acknowledge (ACK) only
    the first sample, as a host does whose link dropped at once, then after 10 s RESEND from
    it. A DevKitC keeps that in the flash ring `anklet flash` makes; a board flashed another
    way only in RAM, 2-4 s on a DevKitC, and fails here: flash it with `anklet flash`."""
    top = max(spec.IMU_RATES_HZ) if target.is_ble else spec.fastest_serial_rate_hz()

    async def body(board):
        device = board.device
        blocks = []
        listener, device.on_samples = device.on_samples, blocks.append
        await device.set_rates(imu_rate_hz=top)
        first = await device.start()
        await device.ack(first)
        await asyncio.sleep(BACKLOG_S)
        window_ms = (await device.get_info()).resend_window_ms
        try:
            answer = await device.resend(first)
            wanted = first + int(BACKLOG_S * top * 0.9)
            deadline = time.monotonic() + 120
            while answer.ok and not any(b.resent and b.end_index >= wanted for b in blocks):
                assert time.monotonic() < deadline, "the re-sent blocks stopped coming"
                await asyncio.sleep(0.1)
        finally:
            device.on_samples = listener
            await device.stop()
            await device.set_rates(imu_rate_hz=200)
        return first, answer, window_ms, [b for b in blocks if b.resent]

    first, answer, window_ms, resent = hil.run(body)
    figure(
        f"RESEND {first} after {BACKLOG_S:g} s at {top} Hz → "
        f"{'OK' if answer.ok else 'NOT_AVAILABLE'}, {len(resent)} blocks again; resend "
        f"window {window_ms / 1000:.1f} s"
    )
    assert answer.ok, (
        f"the board no longer holds sample {first} after {BACKLOG_S:g} s (it holds from "
        f"{answer.oldest_index}): flash it with `anklet flash` (docs/INTEGRITY.md)"
    )
    assert resent[0].first_index == first
    for before, after in pairwise(resent):
        flagged = after.flags & spec.FrameFlag.GAP_BEFORE  # a FIFO overflow the board declared
        assert after.first_index == before.end_index or flagged, (before, after)


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
            radio = board.ble_sim.radio if board.ble_sim is not None else None
            radio_state = (
                f"; radio: advertising {radio.advertising}, connected {radio.connected}, "
                f"{radio.stats}"
                if radio is not None
                else ""
            )
            raise AssertionError(
                f"not back after the watchdog: {exc}; exit codes {board.sim.exit_codes}, "
                f"boots {board.sim.boots}{radio_state}; board log:\n{board.log_tail(60)}"
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
