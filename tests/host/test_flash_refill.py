"""A board flashed by `anklet flash` refills what its RAM ring has long overwritten: the blocks
its host has not acknowledged (ACK, protocol 1.3) went to its `ankring` flash partition.

Two simulated boards, the real firmware in MicroPython: one with the partition, one flashed
without it (`flash_ring_kb=0`). Each streams at 400 Hz (serial's top rate) for longer than its
RAM ring holds, acknowledged only up to its first sample, as when a link drops at once. Then
RESEND from that first sample: the board without flash no longer has it; the board with flash
sends every block again from there, in order, from flash and then RAM. Nothing here depends on
timing: the board keeps every unacknowledged block whatever the machine's load (a FIFO overflow
on a busy machine is a gap the board flags, and is allowed for), and what the link drops of the
re-sent run is asked for again, as the recorder does: a USB-serial bridge loses what its host
reads too late (the simulated board's pty holds 1.5 s of the line; a saturated machine's test
host lagged longer, and the run jumped 1092 -> 1554 with the frames between missing on the link).
So the link is cut for 1000 bytes just after the first ask's answer. That drops part of the run
unless the test's host is held up past the whole run (once, beside two busy loops: the run was
already through the bridge, and the cut fell on the live stream alone); either way every sample
must come re-sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from pathlib import Path

from anklet.device import CommandFailed, Device, ResendAnswer
from anklet_protocol import spec
from anklet_protocol.decoder import SampleBlock
from anklet_sim.board import SimulatedBoard
from simhelpers import QUIET_MOTION, device_on, eventually

RATE_HZ = 400
_MAX_ASKS = 20


class _Arrivals:
    """A device's blocks as they came, each with the link's losses until then (frames missing
    from the sequence numbers, or damaged): between two blocks that came with the same count,
    the link dropped nothing."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.blocks: list[tuple[SampleBlock, int]] = []

    def __call__(self, block: SampleBlock) -> None:
        stats = self.device.decoder.stats
        self.blocks.append((block, stats.frames_missing + stats.bad_frames))

    def resent(self) -> list[tuple[SampleBlock, int]]:
        return [(block, lost) for block, lost in self.blocks if block.resent]

    def first_missing(self, start: int, end: int) -> int | None:
        """The first index of [start, end) that no re-sent block brought and the board did not
        declare lost (GAP_BEFORE on the block after it, nothing lost between); None if none."""
        resent = self.resent()
        spans = [(block.first_index, block.end_index) for block, _ in resent]
        spans += [
            (before.end_index, after.first_index)
            for (before, lost), (after, lost_after) in pairwise(resent)
            if lost_after == lost
            and after.flags & spec.FrameFlag.GAP_BEFORE
            and after.first_index > before.end_index
        ]
        at = start
        for first, stop in sorted(spans):
            if first > at:
                break
            at = max(at, stop)
        return at if at < end else None


async def _stream_unacknowledged(
    device: Device, on_samples: Callable[[SampleBlock], None]
) -> tuple[int, float]:
    """Start streaming and ACK only the first index: returns it and INFO's resend window."""
    device.on_samples = on_samples
    await device.wait_ready()
    await device.set_rates(imu_rate_hz=RATE_HZ)
    first = await device.start()
    assert first is not None
    await device.ack(first)
    ram_window_s = (await device.get_info()).resend_window_ms / 1000
    return first, ram_window_s


async def _lose_some_of_the_run(board: SimulatedBoard, nbytes: int = 1000) -> None:
    """The link drops `nbytes` of what the board sends, as a host that reads too late loses
    them: cut until the board's launcher has dropped that many (an event, not a time)."""
    dropped = board.stats.dropped_to_host
    board.cut_link()
    assert await eventually(lambda: board.stats.dropped_to_host >= dropped + nbytes)
    board.restore_link()


def _run_passed_a_hole(arrivals: _Arrivals, asked_at: int, start: int, end: int) -> bool:
    """Nothing is missing, or a block that came since `asked_at` is from past the first index
    still missing: an ask's run comes in order, so the link dropped that one."""
    first = arrivals.first_missing(start, end)
    return first is None or any(
        block.first_index > first for block, _ in arrivals.blocks[asked_at:]
    )


async def _resend_until_all_came(
    device: Device, board: SimulatedBoard, arrivals: _Arrivals, start: int, end: int
) -> tuple[list[ResendAnswer], int | None]:
    """RESEND from `start`, then again from the first index still missing, until every one below
    `end` came re-sent; the link drops part of the first ask's run. Returns the answers and
    what is still missing (None: nothing)."""
    answers: list[ResendAnswer] = []
    missing: int | None = start
    while missing is not None and len(answers) < _MAX_ASKS:
        answers.append(await device.resend(missing))
        asked_at = len(arrivals.blocks)  # what comes after the answer is its run, then live
        if len(answers) == 1:
            await _lose_some_of_the_run(board)
        await eventually(partial(_run_passed_a_hole, arrivals, asked_at, start, end))
        missing = arrivals.first_missing(start, end)
    return answers, missing


async def _run(flash_board: SimulatedBoard, plain_board: SimulatedBoard) -> dict:
    flash, plain = device_on(flash_board), device_on(plain_board)
    arrivals = _Arrivals(flash)
    try:
        (first_f, _), (first_p, plain_window_s) = await asyncio.gather(
            _stream_unacknowledged(flash, arrivals),
            _stream_unacknowledged(plain, lambda block: None),
        )
        # Past the RAM-only board's whole window: its first sample is gone from RAM. Asked of
        # the board, not slept for: samples a starved board dropped at its IMU FIFO move its
        # index on without filling its ring.
        await asyncio.sleep(plain_window_s)
        while (await plain.get_status()).ring_oldest <= first_p:
            await asyncio.sleep(0.5)
        status = await flash.get_status()
        try:
            await plain.command(spec.Opcode.RESEND, from_index=first_p)
            plain_refused = None
        except CommandFailed as exc:
            plain_refused = exc
        # The re-sent blocks come at the line's pace beside the live stream: until they reach
        # what the RAM-only board had already lost.
        lost_by_plain = first_f + int(plain_window_s * RATE_HZ)
        answers, missing = await _resend_until_all_came(
            flash, flash_board, arrivals, first_f, lost_by_plain
        )
        await flash.stop()
        await plain.stop()
        return {
            "first": first_f,
            "ring_oldest": status.ring_oldest,
            "produced_s": status.samples_produced / RATE_HZ,
            "plain_window_s": plain_window_s,
            "plain_refused": plain_refused,
            "answers": answers,
            "missing": missing,
            "resent": arrivals.resent(),
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

    # The board with flash still holds its first sample, and sends it all again: every sample
    # came re-sent (what the link dropped, when asked again), in order wherever the link dropped
    # nothing between two blocks, each later ask's run starting back where it was asked.
    assert got["ring_oldest"] == got["first"]
    answers = got["answers"]
    assert all(answer.ok for answer in answers), answers
    assert got["missing"] is None, (got["missing"], len(answers))
    runs = 1
    for (before, lost), (after, lost_after) in pairwise(got["resent"]):
        if lost_after != lost:
            continue  # the link dropped frames between these two
        if after.first_index < before.end_index:
            runs += 1  # a later ask's run
            continue
        gap_flagged = after.flags & spec.FrameFlag.GAP_BEFORE  # a FIFO overflow, board-declared
        assert after.first_index == before.end_index or gap_flagged, (before, after)
    assert runs <= len(answers)
    if len(answers) == 1:  # the cut missed the run: it came whole, in order
        for (before, _), (after, _) in pairwise(got["resent"]):
            gap_flagged = after.flags & spec.FrameFlag.GAP_BEFORE
            assert after.first_index == before.end_index or gap_flagged, (before, after)
