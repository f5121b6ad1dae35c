"""Streaming: every sample at every rate, at the rate the board claims, stopped and restarted,
and re-rated while running."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from anklet.device import CommandFailed
from anklet_protocol import spec
from conftest import RATES_HZ

# The IMU's sample clock runs from its gyro's MEMS oscillator (the driver selects CLKSEL=1):
# ±1 % at 25 °C and ±1 % more over temperature (PS-MPU-6000A-00 rev 3.4, §6.6 and §7.15). A
# wrong divider or a lost configuration is off by far more (200 Hz asked, 1 kHz or 100 Hz got).
RATE_TOLERANCE = 0.02


async def collect(device, seconds):
    """The SAMPLES blocks that arrive within `seconds`."""
    blocks = []
    device.on_samples = blocks.append
    await asyncio.sleep(seconds)
    device.on_samples = lambda block: None
    return blocks


def top_rate_hz(target) -> int:
    """The highest IMU rate the target's link carries: all of them on BLE; on serial what
    115200 baud carries (the board refuses more, naming the limit)."""
    return max(RATES_HZ) if target.is_ble else spec.fastest_serial_rate_hz()


def rate_recording(recordings, target, rate_hz, figure):
    """The recording at `rate_hz`, or None once the board's refusal of a rate its link cannot
    carry has been checked: a one-line reason naming the limit, never a lossy stream."""
    if rate_hz <= top_rate_hz(target):
        return recordings.get(f"rate-{rate_hz}")
    with pytest.raises(CommandFailed) as refused:
        recordings.get(f"rate-{rate_hz}")
    text = str(refused.value)
    figure(f"refused: {text.split(': ', 2)[-1]}")
    assert "OUT_OF_RANGE" in text
    assert f"{spec.SERIAL_BAUD} baud carries" in text
    assert f"{top_rate_hz(target)} Hz at most" in text
    return None


@pytest.mark.parametrize("rate_hz", RATES_HZ)
def test_stream_at_rate_delivers_every_sample(recordings, target, rate_hz, figure):
    rec = rate_recording(recordings, target, rate_hz, figure)
    if rec is None:
        return
    summary = rec.summary
    index = rec.indices()
    meta = rec.meta
    board = meta["board_status"] or {}
    figure(
        f"{summary.samples} of {summary.expected} samples, {summary.completeness_pct:.3f} %, "
        f"{summary.refilled} refilled, {summary.reconnects} reconnects, "
        f"{board.get('samples_dropped', '?')} dropped by the board (FIFO overflow)"
    )
    # Every index from the first to the last written once, or listed as lost with its reason.
    assert rec.unexcused_loss(target) == 0, (meta["loss"]["lost_ranges"], board)
    assert summary.boots == 1
    assert len(index) == summary.samples
    assert summary.expected >= 0.95 * (rec.seconds - 2.0) * rate_hz


@pytest.mark.parametrize("rate_hz", RATES_HZ)
def test_device_rate_is_within_imu_clock_tolerance(recordings, target, rate_hz, figure):
    rec = rate_recording(recordings, target, rate_hz, figure)
    if rec is None:
        return
    clock = rec.meta["clock"][0]
    model_error = clock["sample_rate_hz"] / rate_hz - 1
    arrival_rate = rec.host_rate_hz()
    arrival_error = arrival_rate / rate_hz - 1
    figure(
        f"rate error {model_error * 1e6:+.0f} ppm (clock model), {arrival_error * 1e6:+.0f} ppm "
        f"(arrivals); device drift {clock['drift_ppm']:+.0f} ppm; best RTT "
        f"{clock['best_round_trip_ms']:.1f} ms"
    )
    assert clock["nominal_rate_hz"] == pytest.approx(rate_hz)
    # The IMU's true rate on the host clock (session.json), and on arrival at the host.
    assert abs(model_error) <= RATE_TOLERANCE
    assert abs(arrival_error) <= RATE_TOLERANCE
    assert "drift_ppm" in clock


def test_stop_halts_samples_and_start_continues_the_indices(hil, figure):
    async def body(board):
        device = board.device
        blocks = []
        device.on_samples = blocks.append
        starts = [await device.start()]
        await asyncio.sleep(2.0)
        await device.stop()
        await asyncio.sleep(0.5)  # frames already on their way
        stopped_at = await device.get_status()
        n_before = len(blocks)
        await asyncio.sleep(2.0)
        still = await device.get_status()
        n_during = len(blocks)
        starts.append(await device.start())
        await asyncio.sleep(2.0)
        await device.stop()
        return (blocks[:n_before], stopped_at, blocks[n_before:n_during], still,
                blocks[n_during:], starts)  # fmt: skip

    before, stopped_at, during, still, after, starts = hil.run(body)
    last_end = max(b.end_index for b in before)
    first = min(after, key=lambda b: b.first_index)
    figure(
        f"{sum(b.imu_count for b in before)} samples, stopped at index {last_end}, "
        f"{len(during)} blocks while stopped, resumed at {first.first_index}"
    )
    assert before and after
    assert during == []
    assert still.samples_produced == stopped_at.samples_produced
    assert "STREAMING" not in stopped_at.flags
    # Nothing is skipped or repeated across the pause: the next block starts where the last
    # one ended, without the board's lost-samples flag.
    assert first.first_index == last_end
    assert not first.flags & spec.FrameFlag.GAP_BEFORE
    # START's reply (protocol 1.2) says where each stream begins: its first block's index
    # (blocks below it would be a stream left running by an earlier test).
    assert starts[0] == min(b.first_index for b in before if b.first_index >= starts[0])
    assert starts[1] == first.first_index
    ends = sorted((b.first_index, b.end_index) for b in after if not b.resent)
    assert all(nxt == end for (_, end), (nxt, _) in itertools.pairwise(ends))


def test_set_rates_changes_block_period_and_info(hil, target, figure):
    top = top_rate_hz(target)

    async def body(board):
        device = board.device
        await device.set_rates(imu_rate_hz=100)
        info_100 = await device.get_info()
        await device.start()
        at_100 = await collect(device, 1.5)
        await device.set_rates(imu_rate_hz=top)
        info_top = await device.get_info()
        await collect(device, 0.5)  # blocks cut before the change may still be on their way
        at_top = await collect(device, 1.5)
        await device.stop()
        await device.set_rates(imu_rate_hz=200)  # the firmware's default, for the next test
        return info_100, at_100, info_top, at_top

    info_100, at_100, info_top, at_top = hil.run(body)
    periods_100 = {b.period_us for b in at_100}
    periods_top = {b.period_us for b in at_top}
    figure(
        f"INFO {info_100.imu_rate_hz} → {info_top.imu_rate_hz} Hz; period_us "
        f"{sorted(periods_100)} → {sorted(periods_top)}"
    )
    assert info_100.imu_rate_hz == 100
    assert info_top.imu_rate_hz == top
    assert periods_100 == {10_000}
    assert periods_top == {1_000_000 // top}
    samples_top = sum(b.imu_count for b in at_top)
    assert samples_top == pytest.approx(1.5 * top, rel=0.25)
