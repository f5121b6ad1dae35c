"""A link that goes silent while the recorder waits for an answer is a lost link after 2 s of
silence, not after the command's timeout. The board is the scripted one on a fake link
(tests/streaming_board.py): no MicroPython.

Once, a link cut during a TIME_SYNC ping held the recorder for the ping's whole timeout (10 s
in the simulated-board tests) before it reconnected; a RESEND's wait did the same."""

from __future__ import annotations

import asyncio

import pytest
from anklet.device import Device
from anklet.recorder import SessionRecorder
from anklet.silence import Silence
from anklet_protocol import spec
from fake_transport import FakeTransport
from simhelpers import rows_in_file
from streaming_board import BLOCK, StreamingBoard, record

NEVER_S = 3600.0  # a command timeout no test outlives: only the silence can end the wait


class MutedLink(StreamingBoard):
    """Goes mute at the first RESEND: from then on nothing reaches the host, no answer, no
    sample, until `speak()`."""

    def __init__(self, link: FakeTransport) -> None:
        super().__init__(link, blocks=400, lost={20})  # block 20 lost: the host asks RESEND
        self.resend_unanswered: int | None = None
        self.handlers[spec.Opcode.RESEND] = self._mute_at_resend

    def _mute_at_resend(self, command):
        if self.resend_unanswered is None:
            self.resend_unanswered = command.request_id
            self.muted.set()
            return None
        return self._resend(command)


def _record_through_silence(tmp_path, board_class, went_on):
    """Record from `board_class` until it goes mute and the recorder is reconnecting, let it
    speak again, and stop once `went_on(recorder, board)`; returns (summary, board)."""

    async def go():
        link = FakeTransport()
        board = board_class(link)
        device = Device(link, command_timeout_s=NEVER_S)
        recorder = SessionRecorder(device, tmp_path / "out")
        task = asyncio.create_task(recorder.run(60))
        await board.muted.wait()
        while recorder.live.state != "reconnecting":  # the RESEND still has no answer
            assert not task.done()
            await asyncio.sleep(0.05)
        board.speak()
        while not went_on(recorder, board):
            assert not task.done()
            await asyncio.sleep(0.05)
        recorder.request_stop()
        return await task, board

    return asyncio.run(asyncio.wait_for(go(), 60))  # a hang guard, not a deadline


def test_a_link_silent_during_a_resend_is_reconnected_without_waiting_its_timeout(tmp_path):
    summary, board = _record_through_silence(
        tmp_path,
        MutedLink,
        lambda recorder, _board: (
            recorder.live.state == "streaming" and recorder.live.samples_written >= 30 * BLOCK
        ),
    )
    assert board.resend_unanswered is not None
    assert summary.reconnects == 1
    # Block 20, lost before the silence, and what the silence swallowed: all refilled after it.
    assert summary.samples + summary.lost == summary.expected
    assert summary.lost == 0


LATE_S = 3.0  # longer than the 2 s by which a reconnect's uptime tells a reset


class LateStatusAfterSilence(MutedLink):
    """After the silence, each STATUS answer reaches the host LATE_S after the board made it,
    as when a saturated PC does not read its port for that long; the board never resets."""

    def __init__(self, link: FakeTransport) -> None:
        super().__init__(link)
        self.late_answers = 0
        self.handlers[spec.Opcode.GET_STATUS] = self._answer_late_after_silence

    def _answer_late_after_silence(self, command):
        answer = self._status_now(command)
        if self.resend_unanswered is None or self.muted.is_set() or self.late_answers > 0:
            return answer

        async def later() -> None:
            await asyncio.sleep(LATE_S)
            self.late_answers += 1
            self.reply(command.request_id, command.opcode, *answer)

        self._spawn(later())
        return None


def test_a_status_read_late_after_a_reconnect_is_not_a_reset(tmp_path):
    summary, board = _record_through_silence(
        tmp_path,
        LateStatusAfterSilence,
        lambda recorder, board: board.late_answers > 0 and rows_in_file(recorder) >= 60 * BLOCK,
    )
    assert board.late_answers >= 1
    assert summary.reconnects == 1
    assert summary.boots == 1  # one boot: the late uptime was not taken for a reset
    assert summary.samples + summary.lost == summary.expected
    assert summary.lost == 0  # and nothing it still held was declared lost


HELD_S = 2.5  # longer than the 2 s of silence that mean a lost link


def test_a_host_held_longer_than_the_silence_limit_does_not_reconnect(tmp_path):
    # The PC holds the host for 2.5 s mid-stream while the board streams on: its blocks wait
    # in the port for the reader thread. Counted in wall time, the host woke to 2.5 s of
    # "silence" and reconnected, and reopening the port threw the waiting blocks away (a
    # saturated run: six reconnects, and a refill that outlasted its test's 60 s).
    summary, board = record(tmp_path, dict(blocks=150, lost=set(), hold_host_s=HELD_S,
                                           hold_before_block=41))  # fmt: skip
    assert board.hold_host_s == 0.0  # the hold happened
    assert summary.reconnects == 0
    assert summary.refilled == 0  # nothing was thrown away to be asked for again
    assert summary.expected == summary.samples == 150 * BLOCK and summary.lost == 0


def test_silence_counts_each_look_at_most_its_cap():
    heard = [10.0]
    quiet = Silence(lambda: heard[0], turn_cap_s=0.5)
    assert quiet.seconds(10.2) == pytest.approx(0.2)
    assert quiet.seconds(12.7) == pytest.approx(0.7)  # a 2.5 s hold counts 0.5 s
    looks = [quiet.seconds(12.7 + 0.2 * i) for i in range(1, 8)]  # looked at every 0.2 s
    assert looks[-1] == pytest.approx(0.7 + 1.4)  # a silent link: all of it counted
    heard[0] = 14.0
    assert quiet.seconds(14.3) == pytest.approx(0.3)  # heard: counted from then
