"""Reassembly: order, gaps, refills, duplicates and the loss account."""

from __future__ import annotations

from anklet.reassembly import Reassembly
from anklet_protocol import spec
from anklet_protocol.decoder import SampleBlock
from hypothesis import given, settings
from hypothesis import strategies as st


def block(first: int, n: int = 10, flags: int = 0) -> SampleBlock:
    payload = spec.SamplesHeader.build(
        dict(first_index=first, t0_us=first * 5000, period_us=5000, imu_count=n, load_count=0)
    ) + bytes(12 * n)
    return SampleBlock(first, first * 5000, 5000, n, 0, flags, 0, payload)


def firsts(blocks: list[SampleBlock]) -> list[int]:
    return [b.first_index for b in blocks]


def test_in_order_blocks_come_straight_out():
    stream = Reassembly(0)
    for first in (0, 10, 20):
        stream.add(block(first), 0.0)
    assert firsts(stream.pop_ready()) == [0, 10, 20]
    assert stream.count.received == 30
    assert stream.count.lost == 0


def test_blocks_after_a_hole_wait_for_the_refill():
    stream = Reassembly(0)
    stream.add(block(0), 0.0)
    stream.add(block(30), 0.1)
    assert firsts(stream.pop_ready()) == [0]
    assert [(h.start, h.end) for h in stream.open_holes] == [(10, 30)]
    stream.add(block(10, flags=spec.FrameFlag.RESENT), 0.5)
    stream.add(block(20, flags=spec.FrameFlag.RESENT), 0.5)
    assert firsts(stream.pop_ready()) == [10, 20, 30]
    assert stream.count.refilled == 20
    assert stream.open_holes == []


def test_duplicates_are_counted_and_dropped():
    stream = Reassembly(0)
    stream.add(block(0), 0.0)
    assert stream.add(block(0), 0.1) is False
    stream.pop_ready()
    assert stream.add(block(0), 0.2) is False
    assert stream.count.duplicates == 20
    assert stream.count.received == 10


def test_unrefilled_hole_expires_into_lost_and_writing_continues():
    stream = Reassembly(0, refill_timeout_s=3.0)
    stream.add(block(0), 0.0)
    stream.add(block(40), 0.0)
    stream.pop_ready()
    asked = stream.holes_to_request(1.0)
    assert [(h.start, h.end) for h in asked] == [(10, 40)]
    assert stream.holes_to_request(1.5) == []  # asked already, not yet due again
    stream.expire(3.0)
    assert stream.count.lost == 0
    stream.expire(4.1)
    assert stream.count.lost == 30
    assert firsts(stream.pop_ready()) == [40]
    assert stream.count.lost_ranges == [(10, 40, "not refilled by the board")]


def test_partial_refill_leaves_only_the_rest_lost():
    stream = Reassembly(0)
    stream.add(block(0), 0.0)
    stream.add(block(50), 0.0)
    stream.add(block(20), 0.0)
    stream.declare_lost(10, 20, "older than the board's buffer")
    stream.abandon("session ended")
    assert firsts(stream.pop_ready()) == [0, 20, 50]
    assert stream.count.lost == 10 + 20
    assert stream.count.received == 30


def test_a_hole_the_board_flagged_as_an_overflow_says_so():
    stream = Reassembly(0, refill_timeout_s=1.0)
    stream.add(block(0), 0.0)
    stream.add(block(40, flags=spec.FrameFlag.GAP_BEFORE), 0.0)
    stream.holes_to_request(0.0)
    stream.expire(2.0)
    assert stream.count.lost_ranges == [(10, 40, "dropped on the board (IMU FIFO overflow)")]


def test_stream_starts_at_the_first_live_block_not_at_index_zero():
    # A second session on the same boot: the board's indices count from its boot.
    stream = Reassembly()
    stream.add(block(1590, flags=spec.FrameFlag.RESENT), 0.0)  # an earlier session's RESEND
    stream.add(block(1600), 0.0)
    stream.add(block(1610), 0.0)
    assert stream.open_holes == []
    assert firsts(stream.pop_ready()) == [1600, 1610]
    assert stream.count.received == 20
    assert stream.count.before_start == 10
    assert stream.count.lost == 0


def test_asking_again_does_not_postpone_giving_up_on_a_hole():
    stream = Reassembly(0, refill_timeout_s=3.0)
    stream.add(block(0), 0.0)
    stream.add(block(40), 0.0)
    for now in (0.0, 1.1, 2.2, 3.3):
        stream.holes_to_request(now)
        stream.add(block(50 + int(now * 10) * 10), now)  # live data keeps coming meanwhile
        stream.expire(now)
    assert stream.count.lost_ranges == [(10, 40, "not refilled by the board")]
    assert firsts(stream.pop_ready())[:2] == [0, 40]


def test_a_late_resend_answer_restarts_the_wait_instead_of_a_second_ask():
    # A host reading behind its link: the board's answer (and the re-sent blocks right after
    # it) arrive 2.5 s after the ask. Asking again at 1 s would send the board back over
    # blocks already on their way; giving up at 3 s would lose what is about to come.
    stream = Reassembly(0, refill_timeout_s=3.0)
    stream.add(block(0), 0.0)
    stream.add(block(40), 0.0)
    assert [h.start for h in stream.holes_to_request(0.0)] == [10]
    stream.resend_answered(10, 2.5)
    assert stream.holes_to_request(3.0) == []  # 0.5 s after the answer: its blocks are coming
    stream.expire(4.0)
    assert stream.count.lost == 0
    for first in (10, 20, 30):
        stream.add(block(first, flags=spec.FrameFlag.RESENT), 4.2)
    assert firsts(stream.pop_ready()) == [0, 10, 20, 30, 40]
    assert stream.count.lost == 0 and stream.count.refilled == 30


def test_an_answered_resend_that_brings_nothing_is_asked_again_then_given_up():
    stream = Reassembly(0, refill_timeout_s=3.0)
    stream.add(block(0), 0.0)
    stream.add(block(40), 0.0)
    stream.holes_to_request(0.0)
    stream.resend_answered(10, 0.1)
    assert [h.start for h in stream.holes_to_request(1.2)] == [10]
    stream.expire(3.0)  # 2.9 s since the answer
    assert stream.count.lost == 0
    stream.expire(3.2)
    assert stream.count.lost_ranges == [(10, 40, "not refilled by the board")]


def test_refill_in_progress_keeps_a_hole_open():
    stream = Reassembly(0, refill_timeout_s=1.0)
    stream.add(block(0), 0.0)
    stream.add(block(100), 0.0)
    stream.holes_to_request(0.0)
    for i, first in enumerate(range(10, 100, 10)):
        stream.add(block(first, flags=spec.FrameFlag.RESENT), 0.9 * (i + 1))
        stream.expire(0.9 * (i + 1) + 0.5)
    assert stream.count.lost == 0
    assert stream.count.refilled == 90


def test_a_gap_the_board_made_is_lost_as_soon_as_its_resend_shows_it():
    stream = Reassembly(0, refill_timeout_s=60.0)
    stream.add(block(0), 0.0)
    stream.add(block(40, flags=spec.FrameFlag.GAP_BEFORE), 0.0)  # 10..20 lost on the link
    stream.holes_to_request(0.0)  # RESEND from 10
    stream.add(block(10, flags=spec.FrameFlag.RESENT), 0.1)
    stream.add(block(40, flags=spec.FrameFlag.RESENT | spec.FrameFlag.GAP_BEFORE), 0.1)
    assert stream.count.lost_ranges == [(20, 40, "dropped on the board (IMU FIFO overflow)")]
    assert firsts(stream.pop_ready()) == [0, 10, 40]


def test_a_resend_answered_by_the_gap_block_declares_the_whole_hole_lost():
    stream = Reassembly(0, refill_timeout_s=60.0)
    stream.add(block(0), 0.0)
    stream.add(block(40, flags=spec.FrameFlag.GAP_BEFORE), 0.0)
    stream.holes_to_request(0.0)
    stream.add(block(40, flags=spec.FrameFlag.RESENT | spec.FrameFlag.GAP_BEFORE), 0.1)
    assert stream.count.lost_ranges == [(10, 40, "dropped on the board (IMU FIFO overflow)")]
    assert firsts(stream.pop_ready()) == [0, 40]


def test_a_block_straddling_others_is_refused_not_left_blocking_the_stream():
    stream = Reassembly(0)
    stream.add(block(0), 0.0)
    assert stream.add(block(5), 0.0) is False  # overlaps 0..10
    stream.add(block(10), 0.0)
    stream.add(block(30), 0.0)
    assert stream.add(block(15, n=20), 0.1) is False  # overlaps 10..20 and 30..40
    assert stream.add(block(20, flags=spec.FrameFlag.RESENT), 0.2) is True
    assert firsts(stream.pop_ready()) == [0, 10, 20, 30]
    assert stream.count.overlapping == 30
    assert stream.count.received == 40
    assert stream.open_holes == []


def test_only_the_oldest_hole_is_asked_for_as_the_board_resends_everything_after_it():
    stream = Reassembly(0, refill_timeout_s=3.0)
    for first in (0, 20, 40):  # holes 10..20 and 30..40
        stream.add(block(first), 0.0)
    assert [(h.start, h.end) for h in stream.holes_to_request(0.0)] == [(10, 20)]
    assert stream.holes_to_request(0.5) == []  # a second RESEND would move the board away
    # The run re-sends 10..40 in order; the later hole is reached in its turn.
    for i, first in enumerate(range(10, 40, 10)):
        stream.add(block(first, flags=spec.FrameFlag.RESENT), 2.5 * (i + 1))
        stream.expire(2.5 * (i + 1))
    assert stream.count.lost == 0
    assert firsts(stream.pop_ready()) == [0, 10, 20, 30, 40]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_arrival_order_keeps_the_account_true_and_the_rows_in_order(data):
    """Blocks arrive shuffled, duplicated, some never; whatever happens, every index from the
    stream's first to its highest is handed out once or counted lost once, in order."""
    count = data.draw(st.integers(2, 40))
    firsts_sent = [i * 10 for i in range(count)]
    arrivals = data.draw(st.lists(st.sampled_from(firsts_sent[1:]), max_size=80))
    stream = Reassembly(0, refill_timeout_s=1.0)
    stream.add(block(0), 0.0)  # the stream starts here
    handed = stream.pop_ready()
    now = 0.0
    for first in arrivals:
        now += data.draw(st.sampled_from([0.0, 0.3, 1.5]))
        resent = data.draw(st.booleans())
        size = 10
        if data.draw(st.integers(0, 9)) == 0:  # now and then a block cut differently
            first = data.draw(st.integers(1, count * 10))
            size = data.draw(st.integers(1, 25))
        stream.add(block(first, n=size, flags=spec.FrameFlag.RESENT if resent else 0), now)
        stream.holes_to_request(now)
        stream.expire(now)
        handed += stream.pop_ready()
    stream.abandon("session ended")
    handed += stream.pop_ready()
    written = [i for b in handed for i in range(b.first_index, b.end_index)]
    lost = [i for lo, hi, _ in stream.count.lost_ranges for i in range(lo, hi)]
    assert written == sorted(written)
    assert sorted(written + lost) == list(range(stream.high))
    assert stream.count.received == len(written)
    assert stream.count.lost == len(lost)
