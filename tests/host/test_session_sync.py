"""Time-sync pings whose answers are lost: the clock needs some pings, not each one, so a lost
answer is skipped and the session goes on. A busy PC or board, or a frame damaged on the link,
used to end `anklet log` at its start ("did not answer time_sync within 2.0 s"). The board is
the scripted one of tests/streaming_board.py: the test is about the recorder alone."""

from __future__ import annotations

import asyncio

import pytest
from accounting import assert_every_sample_accounted
from anklet.device import CommandTimeout, Device
from anklet.recorder import SessionRecorder
from fake_transport import FakeTransport
from streaming_board import StreamingBoard, record


def test_lost_time_sync_answers_at_the_start_are_skipped_and_the_session_records(tmp_path):
    # The first three of the five pings at the start get no answer.
    summary, board = record(
        tmp_path, dict(blocks=40, lost=set(), unanswered_syncs=3), command_timeout_s=0.2
    )
    assert_every_sample_accounted(summary.folder)
    assert summary.samples == summary.expected == 400
    assert board.syncs_answered >= 5  # five answered pings in the end, as without the losses


def test_a_board_that_answers_no_time_sync_is_still_an_error(tmp_path):
    async def go():
        link = FakeTransport()
        StreamingBoard(link, blocks=40, lost=set(), unanswered_syncs=10)
        recorder = SessionRecorder(Device(link, command_timeout_s=0.2), tmp_path / "out")
        with pytest.raises(CommandTimeout, match="did not answer time_sync"):
            await asyncio.wait_for(recorder.run(120), 60)  # a hang guard

    asyncio.run(go())
