"""A board flashed by `anklet flash` refills what its RAM ring has long overwritten: the blocks
its host has not acknowledged (ACK, protocol 1.3) went to its `ankring` flash partition.

Two simulated boards, the real firmware in MicroPython: one with the partition, one flashed
without it (`flash_ring_kb=0`). Each streams at 400 Hz (serial's top rate) for longer than its
RAM ring holds, acknowledged only up to its first sample, as when a link drops at once. Then
RESEND from that first sample: the board without flash no longer has it; the board with flash
sends every block again from there, in order, from flash and then RAM. Nothing here depends on
timing: the board keeps every unacknowledged block whatever the machine's load (a FIFO overflow
on a busy machine is a gap the board flags, and is allowed for)."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from pathlib import Path

from anklet.device import CommandFailed, Device
from anklet_protocol import spec
from anklet_protocol.decoder import SampleBlock
from anklet_sim.board import SimulatedBoard
from simhelpers import QUIET_MOTION, device_on, eventually

RATE_HZ = 400


async def _stream_unacknowledged(device: Device, blocks: list[SampleBlock]) -> tuple[int, float]:
    """Start streaming and ACK only the first index: returns it and INFO's resend window."""
    device.on_samples = blocks.append
    await device.wait_ready()
    await device.set_rates(imu_rate_hz=RATE_HZ)
    first = await device.start()
    assert first is not None
    await device.ack(first)
    ram_window_s = (await device.get_info()).resend_window_ms / 1000
    return first, ram_window_s


async def _run(flash_board: SimulatedBoard, plain_board: SimulatedBoard) -> dict:
    flash_blocks: list[SampleBlock] = []
    plain_blocks: list[SampleBlock] = []
    flash, plain = device_on(flash_board), device_on(plain_board)
    try:
        (first_f, _), (first_p, plain_window_s) = await asyncio.gather(
            _stream_unacknowledged(flash, flash_blocks),
            _stream_unacknowledged(plain, plain_blocks),
        )
        # Past the RAM-only board's whole window: its first sample is gone from RAM.
        await asyncio.sleep(plain_window_s + 2.0)
        status = await flash.get_status()
        with_flash = await flash.resend(first_f)
        try:
            await plain.command(spec.Opcode.RESEND, from_index=first_p)
            plain_refused = None
        except CommandFailed as exc:
            plain_refused = exc
        # The re-sent blocks come at the line's pace beside the live stream: until they reach
        # what the RAM-only board had already lost.
        lost_by_plain = first_f + int(plain_window_s * RATE_HZ)
        assert await eventually(
            lambda: any(b.resent and b.end_index >= lost_by_plain for b in flash_blocks)
        ), "the re-sent blocks never reached past the RAM ring's window"
        await flash.stop()
        await plain.stop()
        resent = [b for b in flash_blocks if b.resent]
        return {
            "first": first_f,
            "ring_oldest": status.ring_oldest,
            "produced_s": status.samples_produced / RATE_HZ,
            "plain_window_s": plain_window_s,
            "with_flash_ok": with_flash.ok,
            "plain_refused": plain_refused,
            "resent": resent,
        }
    finally:
        await flash.close()
        await plain.close()


def test_a_board_with_the_flash_ring_refills_what_its_ram_ring_overwrote(tmp_path: Path):
    with (
        SimulatedBoard(flash_dir=tmp_path / "a", motion=QUIET_MOTION) as flash_board,
        SimulatedBoard(
            flash_dir=tmp_path / "b",
            motion=QUIET_MOTION,
            unique_id="24a160c0ff02",
            sim_options={"flash_ring_kb": 0},
        ) as plain_board,
    ):
        got = asyncio.run(_run(flash_board, plain_board))

    # The RAM ring wrapped: the board without flash refuses, naming what it still holds.
    assert got["produced_s"] > got["plain_window_s"]
    refused = got["plain_refused"]
    assert refused is not None and refused.status == spec.StatusCode.NOT_AVAILABLE
    assert spec.ResendReply.parse(refused.payload).oldest_index > 0

    # The board with flash still holds its first sample, and sends it all again, in order.
    assert got["ring_oldest"] == got["first"]
    assert got["with_flash_ok"] is True
    resent = got["resent"]
    assert resent[0].first_index == got["first"]
    for before, after in pairwise(resent):
        gap_flagged = after.flags & spec.FrameFlag.GAP_BEFORE  # a FIFO overflow, board-declared
        assert after.first_index == before.end_index or gap_flagged, (before, after)
