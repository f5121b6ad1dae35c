"""The end of a session: what the board still holds is fetched before the files close.

A board's ring outlives its stream, so samples lost on the link in the last moments (or a tail
of the stream that never arrived) can still be re-sent after STOP. The board here is a scripted
one on a fake link (tests/fake_transport.py) that streams, loses chosen blocks on the way and
answers RESEND as the firmware does: no MicroPython, so the test is about the recorder alone.
"""

from __future__ import annotations

import asyncio

import anklet.recorder as recorder_module
from accounting import assert_every_sample_accounted
from anklet_protocol import spec
from streaming_board import record


def test_a_tail_lost_on_the_link_is_fetched_before_the_files_close(tmp_path):
    # The last five blocks never arrived: nothing told the host they existed.
    summary, board = record(tmp_path, dict(blocks=60, lost={55, 56, 57, 58, 59}))
    meta = assert_every_sample_accounted(summary.folder)
    assert summary.expected == summary.samples == 600
    # (the first re-sent block may land before the answer that announced it is handled: it is
    # then simply the next block, not a refill)
    assert summary.lost == 0 and summary.refilled >= 40
    assert board.resent[:5] == [55, 56, 57, 58, 59]
    assert meta["loss"]["samples_lost"] == 0


def test_a_lost_stop_reply_is_asked_again_and_the_tail_still_fetched(tmp_path):
    # The board stopped, but its answer to STOP was lost. STOP was waited for 2 s, once: the
    # fetch was skipped and the lost tail counted lost. It is asked again, as START is.
    summary, board = record(tmp_path, dict(blocks=60, lost={57, 58, 59}, unanswered_stops=1))
    assert_every_sample_accounted(summary.folder)
    assert [c.opcode for c in board.commands].count(spec.Opcode.STOP) == 2
    assert board.resent[:3] == [57, 58, 59]
    assert summary.expected == summary.samples == 600 and summary.lost == 0


def test_a_host_held_past_the_idle_limit_still_reads_what_the_board_resent(tmp_path):
    # The board answers the fetch and re-sends at once, but the PC holds the host for longer
    # than the fetch's idle limit before it reads them. Counted in wall time, the fetch ended
    # on waking, the blocks unread, and the tail was lost; the host's own stall is not the
    # board's silence.
    hold_s = recorder_module._DRAIN_IDLE_S + 1.0
    summary, board = record(tmp_path, dict(blocks=60, lost={57, 58, 59}, hold_host_s=hold_s))
    assert_every_sample_accounted(summary.folder)
    assert board.hold_host_s == 0.0  # the hold happened
    assert summary.expected == summary.samples == 600 and summary.lost == 0


def test_a_board_slow_to_answer_the_fetch_is_waited_for(tmp_path):
    # The RESEND's answer takes longer than the drain's idle limit (a slow link, a busy host):
    # the wait for the board's blocks counts from its answer, not from the question.
    assert recorder_module._DRAIN_IDLE_S < 2.5
    summary, board = record(
        tmp_path,
        dict(blocks=60, lost={55, 56, 57, 58, 59}, resend_answer_s=2.5, resend_pause_s=0.5),
    )
    assert_every_sample_accounted(summary.folder)
    assert board.resent[:5] == [55, 56, 57, 58, 59]
    assert summary.expected == summary.samples == 600
    assert summary.lost == 0


def test_a_board_that_answers_but_never_resends_does_not_hold_the_session_open(tmp_path):
    # Each RESEND answer counted as progress, so a board that answered and sent nothing kept
    # the fetch going as long as it answered (270 s in a saturated run): an answer now counts
    # only when blocks came since the last one that did.
    async def bounded(coro):
        return await asyncio.wait_for(coro, 60)  # a hang guard, far above the 2 s idle limit

    summary, board = record(
        tmp_path, dict(blocks=60, lost={57, 58, 59}, resend_nothing=True), wrap=bounded
    )
    meta = assert_every_sample_accounted(summary.folder)
    assert any(c.opcode == spec.Opcode.RESEND for c in board.commands)  # asked, answered, none
    assert summary.expected == 600 and summary.samples == 570 and summary.lost == 30
    assert {r["why"] for r in meta["loss"]["lost_ranges"]} == {
        "session ended before the board re-sent them"
    }


def test_a_hole_just_before_the_stop_is_refilled_after_it(tmp_path):
    summary, _ = record(tmp_path, dict(blocks=60, lost={58}))
    assert_every_sample_accounted(summary.folder)
    assert summary.expected == summary.samples == 600
    assert summary.lost == 0


def test_a_tail_the_board_no_longer_holds_is_counted_lost_not_forgotten(tmp_path):
    summary, _ = record(tmp_path, dict(blocks=60, lost={57, 58, 59}, oldest_block=59))
    meta = assert_every_sample_accounted(summary.folder)
    assert summary.expected == 600
    # The board re-sent the one block its ring still held; the two before it were gone.
    assert summary.samples == 580 and summary.lost == 20
    assert [r["why"] for r in meta["loss"]["lost_ranges"]] == ["older than the board's buffer"]


async def until_the_fetch_begins(recorder, board) -> None:
    """After the first Ctrl-C, until the board re-sends its first block (one every 2 s)."""
    for _ in range(6000):  # 60 s: a hang guard
        if board.resent:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no RESEND after the stop; the recorder is {recorder.live.state!r}")


def test_stopping_again_ends_the_fetch_at_once_with_the_rest_counted(tmp_path):
    async def impatient(recorder, board):
        await until_the_fetch_begins(recorder, board)
        recorder.request_stop()  # Ctrl-C again

    lost = set(range(44, 60))  # 0.8 s: short of the 2 s after which a stream counts as stopped
    summary, _ = record(tmp_path, dict(blocks=60, lost=lost, resend_pause_s=2.0), during=impatient)
    meta = assert_every_sample_accounted(summary.folder)
    assert summary.expected == 600
    assert summary.lost >= 100  # most of the 160 still missing, not waited for (32 s)
    whys = {r["why"] for r in meta["loss"]["lost_ranges"]}
    assert whys == {"session ended before the board re-sent them"}


def test_what_left_the_ring_before_the_fetch_ended_is_counted_as_such(tmp_path):
    # The fetch is cut short by a second Ctrl-C, and meanwhile the board's ring moved past part
    # of what was missing: its last STATUS says so, and that part is lost for that reason.
    async def impatient(recorder, board):
        await until_the_fetch_begins(recorder, board)
        board.oldest_block = 50  # the ring no longer holds blocks before 50
        recorder.request_stop()

    lost = set(range(44, 60))
    summary, _ = record(tmp_path, dict(blocks=60, lost=lost, resend_pause_s=2.0), during=impatient)
    meta = assert_every_sample_accounted(summary.folder)
    whys = {}
    for r in meta["loss"]["lost_ranges"]:
        for i in range(r["from_index"], r["to_index"]):
            whys[i] = r["why"]
    assert whys, "the fetch was cut short: something is lost"
    assert all(w == "older than the board's buffer" for i, w in whys.items() if i < 500)
    assert all(
        w == "session ended before the board re-sent them" for i, w in whys.items() if i >= 500
    )
    assert any(i < 500 for i in whys) and any(i >= 500 for i in whys)
