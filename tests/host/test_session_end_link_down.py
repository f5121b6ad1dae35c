"""A session that ends while its link is down: what the board still holds is fetched once the
link is back, and what cannot be fetched is counted.

A saturated pair run ended while one side was reconnecting: the recorder closed the files with
its link down, and a hole the board's ring still held was counted lost. The board here is the
scripted one (tests/streaming_board.py): its link drops after a chosen block and connecting
fails for a while, as a board out of range does, while it streams on. No MicroPython: the
drops come at fixed points of the board's stream, so no test depends on the scheduler.
"""

from __future__ import annotations

import asyncio

import anklet.recorder as recorder_module
from accounting import assert_every_sample_accounted, lost_indices
from anklet.device import Device
from anklet.recorder import SessionRecorder
from anklet_protocol import spec
from fake_transport import FakeTransport
from streaming_board import BLOCK, StreamingBoard


def record_until(tmp_path, board_args, *, duration_s=None, stops_once_away=0, linger_s=0.0):
    """A session on the scripted board, until its `duration_s`, or until the board has walked
    away and the user stops as Ctrl-C does (`stops_once_away` times), `linger_s` after the
    recorder began to reconnect."""

    async def go():
        link = FakeTransport()
        board = StreamingBoard(link, **board_args)
        device = Device(link)
        recorder = SessionRecorder(device, tmp_path / "out")
        task = asyncio.create_task(recorder.run(duration_s))
        if stops_once_away:
            while board.back_s is None:  # the drop comes at a fixed block of the stream
                await asyncio.sleep(0.01)
            if linger_s:
                while recorder.live.reconnects == 0:  # it heard the last block before that
                    await asyncio.sleep(0.01)
                await asyncio.sleep(linger_s)
            for _ in range(stops_once_away):
                recorder.request_stop()
        summary = await asyncio.wait_for(task, 60)  # a hang guard only
        await device.close()
        return summary, board

    return asyncio.run(go())


def test_a_session_whose_time_ends_while_the_board_is_away_fetches_its_tail_once_back(tmp_path):
    # The link drops right after the stream's first two blocks (this board's START answer
    # has no index: two blocks that agree start its stream), and the board stays out of reach
    # past the 1 s the session was to last. Ending there, the session said 20 of 20 samples,
    # complete, while the board had made 180 more in its time.
    summary, board = record_until(
        tmp_path, dict(blocks=80, lost=set(), drop_after_block=1, away_s=2.0), duration_s=1.0
    )
    meta = assert_every_sample_accounted(summary.folder)
    assert board.link.connects > 1  # it was reconnected, after the session's time
    assert [c.opcode for c in board.commands].count(spec.Opcode.STOP) >= 1
    assert board.resent[:3] == [2, 3, 4]
    # Everything the board made until it was stopped: streamed past the deadline, into a link
    # nobody heard, and fetched from its ring.
    assert summary.expected == summary.samples == board.produced * BLOCK > 20
    assert summary.lost == 0 and meta["loss"]["lost_ranges"] == []


def test_a_hole_awaiting_its_resend_when_the_user_stops_during_a_drop_is_still_fetched(tmp_path):
    # Blocks 1 and 2 are lost on the way; the link drops after block 3, before the RESEND for
    # them could go out, and the user stops while the board is out of reach. The hole was
    # counted lost as "session ended before the board re-sent them" with the board still
    # holding it; the samples after block 3 were not counted at all.
    summary, board = record_until(
        tmp_path, dict(blocks=80, lost={1, 2}, drop_after_block=3, away_s=1.0), stops_once_away=1
    )
    meta = assert_every_sample_accounted(summary.folder)
    assert board.link.connects > 1
    assert board.resent[:2] == [1, 2]
    assert summary.expected == summary.samples == board.produced * BLOCK
    assert summary.lost == 0 and meta["loss"]["lost_ranges"] == []


def test_a_board_that_stays_away_leaves_its_hole_and_unheard_tail_counted_lost(
    tmp_path, monkeypatch
):
    # The board never comes back within the end's reconnect bound: the hole and the samples
    # it made after the last one heard, until the session ended, are lost with that reason,
    # not left out (which would have called the session complete).
    monkeypatch.setattr(recorder_module, "_END_RECONNECT_S", 0.5)
    summary, board = record_until(
        tmp_path,
        dict(blocks=400, lost={1, 2}, drop_after_block=3, away_s=60.0),
        stops_once_away=1,
        linger_s=0.5,
    )
    meta = assert_every_sample_accounted(summary.folder)
    assert board.resent == []
    assert summary.samples == 20  # blocks 0 and 3
    whys = {r["why"] for r in meta["loss"]["lost_ranges"]}
    assert whys == {"session ended with the link down"}
    lost = lost_indices(meta)
    assert set(range(10, 30)) <= lost  # the hole
    # And the tail: the session went on for at least 0.5 s after the last sample heard (block
    # 3, samples 30-39), at 200 Hz. (Stopped at once, the tail was rightly 0 on a saturated
    # run: the board had made nothing more by then.)
    tail = max(lost) + 1 - 40
    assert tail >= 0.5 * 200 - 1  # (int() of a wait a hair under 0.5 s)


def test_a_second_stop_gives_up_the_reconnect_at_once(tmp_path):
    # Ctrl-C twice: the user wants out now, not after 10 s of trying to reach a board.
    summary, board = record_until(
        tmp_path, dict(blocks=400, lost={1, 2}, drop_after_block=3, away_s=60.0), stops_once_away=2
    )
    assert_every_sample_accounted(summary.folder)
    assert summary.samples == 20
    # The loop's first attempt at most, then nothing: the end tried no reconnect of its own.
    assert board.link.connects <= 2
