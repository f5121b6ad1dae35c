"""Puts SAMPLES blocks back in index order, finds every gap, and accounts for each sample.

    stream = Reassembly()               # the first live block gives the stream's first index,
    stream.begin_at(first_index)        # ... unless the board's START reply said it first
    stream.add(block, now_s)            # any order, duplicates welcome
    for start, end in stream.holes_to_request(now_s): ...   # ask the board to RESEND
    stream.declare_lost(start, end, "older than the board's buffer")
    for block in stream.pop_ready(now_s): ...               # contiguous, oldest first

Blocks after a hole are held back until the hole is refilled or declared lost, so the files
are written in order. A hole the board itself skipped (its IMU FIFO overflowed: the block after
it is flagged GAP_BEFORE and the block before it came in the same run) is lost at once. A hole
the board was asked to refill that gets no sample for `refill_timeout_s` is lost: asking again
does not restart that clock, only data arriving in the hole does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anklet_protocol import spec
from anklet_protocol.decoder import SampleBlock


@dataclass
class Hole:
    start: int
    end: int
    first_seen_s: float
    requested_s: float | None = None  # last time the board was asked to re-send it
    progress_s: float | None = None  # last time a sample arrived in it (or first asked)


@dataclass
class LossCount:
    received: int = 0  # unique samples received
    refilled: int = 0  # of which arrived by RESEND after a gap
    duplicates: int = 0  # samples received twice (re-sent blocks we already had)
    lost: int = 0  # samples that never arrived
    lost_ranges: list[tuple[int, int, str]] = field(default_factory=list)
    before_start: int = 0  # samples of blocks before the stream's first index (an earlier one)
    overlapping: int = 0  # samples of blocks that straddle others (a damaged or forged stream)


FIFO_OVERFLOW = "dropped on the board (IMU FIFO overflow)"


class Reassembly:
    def __init__(self, start_index: int | None = None, refill_timeout_s: float = 3.0) -> None:
        # None: the stream starts at the first live (not re-sent) block, as the board numbers
        # samples from its boot, not from our session (a board older than protocol 1.2, whose
        # START reply does not say where its stream begins).
        self.start_index: int | None = None
        self.write_index = 0  # next index to hand out
        self.high = 0  # one past the highest index received
        if start_index is not None:
            self.begin_at(start_index)
        self.refill_timeout_s = refill_timeout_s
        self.count = LossCount()
        self._blocks: dict[int, SampleBlock] = {}
        self._arrived_s: dict[int, float] = {}  # held block → when it came
        self._journaled: set[int] = set()  # held blocks already copied to the journal
        self._holes: dict[int, Hole] = {}  # by start; disjoint, within [write_index, high)
        self._lost: dict[int, tuple[int, str]] = {}  # start → (end, why)
        # Where the board's re-send run stands: it re-sends its ring in order from the index we
        # asked for, so a GAP_BEFORE block that comes next marks a gap the board itself made.
        self._resend_end: int | None = None
        self._resent_s: float | None = None  # when the last re-sent block came (the run moves)

    def begin_at(self, start_index: int) -> None:
        """The stream's first index, as the board said (its START reply): every sample from
        here on is expected, so a first block lost on the link is a hole like any other, and
        blocks before it are an earlier stream's. Only before the first block is taken."""
        if self.start_index is not None:
            raise ValueError(f"the stream already began at index {self.start_index}")
        self.start_index = self.write_index = self.high = start_index

    @property
    def held(self) -> int:
        """Samples received but held back behind a hole."""
        return sum(b.imu_count for b in self._blocks.values())

    @property
    def open_holes(self) -> list[Hole]:
        return sorted(self._holes.values(), key=lambda h: h.start)

    def add(self, block: SampleBlock, now_s: float) -> bool:
        """Take a block; returns False for a duplicate."""
        first, end = block.first_index, block.end_index
        resent = bool(block.flags & spec.FrameFlag.RESENT)
        if self.start_index is None:
            if resent:  # answers a RESEND from before this stream (an earlier session's)
                self.count.before_start += block.imu_count
                return False
            self.begin_at(first)
        elif end <= self.start_index:  # an earlier stream's, sent before this one began
            self.count.before_start += block.imu_count
            return False
        if resent:
            self._resent_s = now_s
            run_end, self._resend_end = self._resend_end, end
            if block.flags & spec.FrameFlag.GAP_BEFORE and run_end is not None:
                self._declare_board_gap(run_end, first)
        if end <= self.write_index or first in self._blocks or self._is_lost(first):
            self.count.duplicates += block.imu_count
            return False
        if first < self.high and not self._inside_a_hole(first, end):
            # Not a re-sent block (those fit the holes exactly as the board cut them): keeping
            # it would leave the blocks around it never contiguous.
            self.count.overlapping += block.imu_count
            return False
        if first > self.high:
            self._holes[self.high] = Hole(self.high, first, now_s)
        elif first < self.high:
            self._fill(first, end, now_s)
            self.count.refilled += block.imu_count
        self._blocks[first] = block
        self._arrived_s[first] = now_s
        self.high = max(self.high, end)
        self.count.received += block.imu_count
        return True

    def _inside_a_hole(self, first: int, end: int) -> bool:
        return any(h.start <= first and end <= h.end for h in self._holes.values())

    def _is_lost(self, index: int) -> bool:
        return any(start <= index < stop for start, (stop, _) in self._lost.items())

    def _declare_board_gap(self, start: int, end: int) -> None:
        """[start, end) was skipped by the board: an open hole exactly there is lost."""
        hole = self._holes.get(start)
        if hole is not None and hole.end == end:
            self.declare_lost(start, end, FIFO_OVERFLOW)

    def _fill(self, first: int, end: int, now_s: float) -> None:
        for start, hole in list(self._holes.items()):
            if end <= hole.start or first >= hole.end:
                continue
            del self._holes[start]
            if hole.start < first:
                self._holes[hole.start] = Hole(
                    hole.start, first, hole.first_seen_s, hole.requested_s, now_s
                )
            if end < hole.end:
                self._holes[end] = Hole(end, hole.end, hole.first_seen_s, hole.requested_s, now_s)

    def holes_to_request(self, now_s: float, retry_s: float = 1.0) -> list[Hole]:
        """The oldest hole, if not yet asked for (or asked for over `retry_s` ago); marks it
        asked. Only one: the board re-sends everything from where it is asked, in order, which
        reaches the later holes too, and a second RESEND would move it away from the first."""
        for hole in self.open_holes[:1]:
            if hole.requested_s is None or now_s - hole.requested_s > retry_s:
                hole.requested_s = now_s
                if hole.progress_s is None:
                    hole.progress_s = now_s
                self._resend_end = hole.start
                return [hole]
        return []

    def expect_until(self, end: int, now_s: float) -> None:
        """The stream reached `end`: [high, end) is a hole (the end of a stream lost on the
        link), asked for as of `now_s`."""
        if self.start_index is None or end <= self.high:
            return
        self._holes[self.high] = Hole(self.high, end, now_s, now_s, now_s)
        self.high = end

    def resend_answered(self, index: int, now_s: float) -> None:
        """The board answered a RESEND from `index` at `now_s`: its re-sent blocks follow the
        answer on the same ordered link, so the hole's retry and expiry count from here, not
        from the ask. A host that reads behind its link (a busy machine, a deep port buffer)
        would otherwise ask again before the first answer's blocks came, and each ask sends
        the board back over blocks already on their way."""
        for hole in self._holes.values():
            if hole.start <= index < hole.end:
                hole.requested_s = hole.progress_s = now_s

    def resend_from(self, index: int) -> None:
        """The board was asked to re-send from `index` (after the first ask found it gone)."""
        self._resend_end = index

    def declare_lost(self, start: int, end: int, why: str) -> None:
        """Samples [start, end) will never come: stop waiting for them."""
        start = max(start, self.write_index)
        if end <= start:
            return
        for hole_start, hole in list(self._holes.items()):
            if hole.end <= start or hole.start >= end:
                continue
            del self._holes[hole_start]
            lo, hi = max(hole.start, start), min(hole.end, end)
            if hole.start < lo:
                self._holes[hole.start] = Hole(
                    hole.start, lo, hole.first_seen_s, hole.requested_s, hole.progress_s
                )
            if hi < hole.end:
                self._holes[hi] = Hole(
                    hi, hole.end, hole.first_seen_s, hole.requested_s, hole.progress_s
                )
            self._lost[lo] = (hi, why)
            self.count.lost += hi - lo
            self.count.lost_ranges.append((lo, hi, why))

    def expire(self, now_s: float) -> None:
        """Declare lost every hole asked for that got no sample for `refill_timeout_s` while
        the board re-sent nothing else either (a long re-send run reaches it in its turn)."""
        for hole in self.open_holes:
            if hole.progress_s is None:
                continue
            last_s = max(hole.progress_s, self._resent_s or hole.progress_s)
            if now_s - last_s > self.refill_timeout_s:
                self.declare_lost(hole.start, hole.end, self._why_missing(hole))

    def _why_missing(self, hole: Hole) -> str:
        after = self._blocks.get(hole.end)
        if after is not None and after.flags & spec.FrameFlag.GAP_BEFORE:
            return FIFO_OVERFLOW
        return "not refilled by the board"

    def abandon(self, why: str, ring_oldest: int | None = None) -> None:
        """The board can no longer refill anything (reset, session end): all holes are lost.
        What lay below `ring_oldest` (the board's last STATUS) had left its ring already, and
        is lost for that reason whatever ended the refilling."""
        for hole in self.open_holes:
            start = hole.start
            if ring_oldest is not None and start < ring_oldest:
                start = min(hole.end, ring_oldest)
                self.declare_lost(hole.start, start, "older than the board's buffer")
            if start < hole.end:
                self.declare_lost(start, hole.end, why)

    def held_since(self, before_s: float) -> list[SampleBlock]:
        """Blocks held behind a hole that came before `before_s` and were not returned here
        yet (for the journal that keeps them on disk while the hole waits)."""
        out = []
        for first, block in sorted(self._blocks.items()):
            if first not in self._journaled and self._arrived_s[first] < before_s:
                self._journaled.add(first)
                out.append(block)
        return out

    def pop_ready(self) -> list[SampleBlock]:
        out = []
        while True:
            block = self._blocks.pop(self.write_index, None)
            if block is not None:
                self._arrived_s.pop(block.first_index, None)
                self._journaled.discard(block.first_index)
                out.append(block)
                self.write_index = block.end_index
                continue
            lost = self._lost.pop(self.write_index, None)
            if lost is not None:
                self.write_index = lost[0]
                continue
            return out
