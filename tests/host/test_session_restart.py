"""A board that stopped streaming mid-session (a STOP from another program, a crash of its
sampler) is started again on the same boot. Samples it made before the stop but the link lost
are still in its ring: they are fetched before the new part begins, as at the end of a session,
not written off. The board is the scripted one of tests/streaming_board.py, taught to pause."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from accounting import assert_every_sample_accounted
from anklet.device import Device
from anklet.recorder import SessionRecorder
from anklet_protocol import spec
from fake_transport import FakeTransport
from streaming_board import BLOCK, StreamingBoard

FIRST_PART = 60  # blocks before the board stops by itself
SECOND_PART = 40  # blocks after the recorder starts it again


class PausingBoard(StreamingBoard):
    """Streams FIRST_PART blocks, stops (STATUS frames go on, as the firmware's do), and on the
    next START streams SECOND_PART more, its indices going on from where it stopped."""

    def __init__(self, link: FakeTransport, lost: set[int]) -> None:
        super().__init__(link, blocks=FIRST_PART, lost=lost)
        self.restarted = asyncio.Event()

    def _status(self) -> dict[str, Any]:
        return {
            **super()._status(),
            "flags": spec.StatusFlag.STREAMING if self.streaming else 0,
        }

    def _start(self, command: Any) -> tuple[int, bytes]:
        if self.streaming:
            return spec.StatusCode.OK, spec.StartReply.build(dict(first_index=self.produced))
        if self.start_us:  # the second part
            self.blocks = self.produced + SECOND_PART
            self.restarted.set()
        self.part_first_block = self.produced
        self.start_us = self._device_us()
        self.streaming = True
        self._spawn(self._stream())
        return spec.StatusCode.OK, spec.StartReply.build(dict(first_index=self.produced * BLOCK))

    async def _after_stream(self) -> None:
        if self.restarted.is_set():
            self.finished.set()
        while not self.finished.is_set():  # paused: the heartbeat goes on
            self.send(spec.MsgType.STATUS, spec.Status.build(self._status()))
            await asyncio.sleep(0.3)


def test_samples_lost_on_the_link_before_a_pause_are_fetched_before_the_stream_restarts(tmp_path):
    tail = set(range(FIRST_PART - 5, FIRST_PART))  # the last 5 blocks before the stop

    async def go():
        link = FakeTransport()
        board = PausingBoard(link, lost=tail)
        recorder = SessionRecorder(Device(link, command_timeout_s=5.0), tmp_path / "out")
        task = asyncio.create_task(recorder.run(120))
        await asyncio.wait_for(board.finished.wait(), 60)  # a hang guard
        recorder.request_stop()
        summary = await task
        return summary, board

    started = time.monotonic()
    summary, board = asyncio.run(go())
    assert time.monotonic() - started < 60
    meta = assert_every_sample_accounted(summary.folder)
    assert board.restarted.is_set()
    assert summary.samples == (FIRST_PART + SECOND_PART) * BLOCK
    # (the first re-sent block may land before the answer that announced it is handled: it is
    # then simply the next block, not a refill)
    assert summary.refilled >= (len(tail) - 1) * BLOCK
    assert [r for r in meta["loss"]["lost_ranges"] if r["from_index"] < FIRST_PART * BLOCK] == []


class PausingBoardHeardLate(PausingBoard):
    """Goes mute as its first part ends, so the recorder reconnects before it can ask why no
    samples come; it speaks again once `speak()` is called, no longer streaming."""

    def __init__(self, link: FakeTransport) -> None:
        super().__init__(link, lost=set())

    async def _after_stream(self) -> None:
        if not self.restarted.is_set():
            self.muted.set()
        await super()._after_stream()


def test_a_stream_found_stopped_on_reconnecting_is_an_event_and_restarted(tmp_path):
    # Once, on a saturated PC, the link went quiet for 2 s just after a STOP from elsewhere:
    # the recorder restarted the stream from its reconnect but never said it had stopped.
    async def go():
        link = FakeTransport()
        board = PausingBoardHeardLate(link)
        recorder = SessionRecorder(Device(link, command_timeout_s=5.0), tmp_path / "out")
        task = asyncio.create_task(recorder.run(120))
        await asyncio.wait_for(board.muted.wait(), 60)  # hang guards, not deadlines
        while recorder.live.state != "reconnecting":
            assert not task.done()
            await asyncio.sleep(0.05)
        board.speak()
        await asyncio.wait_for(board.finished.wait(), 60)
        recorder.request_stop()
        return await task, board

    summary, board = asyncio.run(go())
    meta = assert_every_sample_accounted(summary.folder)
    assert board.restarted.is_set()
    assert summary.reconnects == 1
    assert [e["kind"] for e in meta["events"]].count("STREAM_STOPPED") == 1
    assert meta["stream_restarts"] == 1
    assert summary.samples == (FIRST_PART + SECOND_PART) * BLOCK
