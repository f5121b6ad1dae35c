"""A session's data path, from decoded blocks to the files: ordering, timing, units, accounting.

    log = SessionLog(folder, info, started_utc, start_host_s, on_rows=training.add_rows)
    log.new_boot(boot_host_s=..., now_s=...)   # at start and after every board reset
    log.stream_starts_at(first_index)           # START's reply: where the board's stream begins
    log.add_sync(sent_s, received_s, device_us) # time-sync pings
    log.add_block(block, now_s)                 # SAMPLES, any order, duplicates welcome
    log.write_ready(now_s)                      # rows that are contiguous and timed
    log.finish(now_s)                           # remaining holes become lost
    log.record_status(status); log.record_event(kind, value, t_s); log.annotate(key, value)
    folder.write_json(log.meta(...))            # session.json

Used live by the recorder (recorder.py) and offline by `anklet decode` (capture.py): both
write the same files. Samples that never arrive are counted and listed, never interpolated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from anklet_protocol import layout, spec
from anklet_protocol.decoder import SampleBlock

from .clock import ClockModel
from .csvlog import SessionFolder
from .device import DeviceInfo, StatusReport
from .journal import Journal, block_key
from .reassembly import Hole, Reassembly

GRAVITY = 9.80665
WARMUP_S = 2.0  # of sample-clock fit before a boot's first rows are written
# Rows held behind a hole longer than this are copied to held.csv, so that rows that arrived
# are on disk within a second even while a refill is pending (a crash then keeps them).
HELD_JOURNAL_S = 0.5
# A block's device time must match its index: the IMU's oscillator is within ±2 % of nominal
# (MPU-6050 datasheet, sample-rate tolerance) and a block is stamped within a FIFO drain of its
# first sample (≤ 50 ms, firmware/sampler.py); a block that does not is refused, not placed.
_RATE_TOLERANCE = 0.03
_STAMP_SLACK_US = 50_000
_TICKS = spec.TICKS_PERIOD_US
# Device ticks wrap every 2**30 µs, so a jump longer than half of that cannot be checked: it is
# believed only once this many blocks after it agree with each other (a link down > 9 min).
_REANCHOR_BLOCKS = 8
_START_BLOCKS = 2  # ... and a stream's start once this many agree
# A row's force is the latest load sample at most this many load periods before it (jitter of
# the HX711's data-ready included); older, there was a gap, and the force is unknown.
_FORCE_HELD_PERIODS = 3


@dataclass
class Boot:
    """One boot of the board: its own clock, its own sample indices."""

    clock: ClockModel
    stream: Reassembly
    boot_host_s: float  # host time the board booted (from its uptime)
    base: int = 0  # session index = base + device index; set when the clock is frozen
    reset_gap: int = 0  # samples missing between the previous boot's last and this one's first
    placed: bool = False
    gap_why: str = "board reset"  # what made that gap
    anchor: tuple[int, int] | None = None  # (first index, t0_us) of the last block accepted
    # The latest load sample written: its unwrapped board µs and force (N).
    last_load_us: float = float("-inf")
    last_load_n: float = float("nan")
    doubted: list[SampleBlock] = field(default_factory=list)  # refused, consistent among them


@dataclass
class Accounting:
    expected: int
    received: int
    refilled: int
    lost: int
    completeness_pct: float
    refused: int = 0  # samples in blocks refused as implausible (their indices untrusted)
    lost_ranges: list[dict[str, Any]] = field(default_factory=list)


RowsCallback = Callable[[np.ndarray, np.ndarray, np.ndarray], None]


class SessionLog:
    def __init__(
        self,
        folder: SessionFolder,
        info: DeviceInfo,
        started_utc: datetime,
        start_host_s: float | None,
        on_rows: RowsCallback | None = None,
    ) -> None:
        self.folder = folder
        self.info = info
        self.started_utc = started_utc
        # Session time 0 on the host clock; None: the first row's instant (a capture, where
        # the first frame in the file may be a late, re-sent or damaged one).
        self.start_host_s = start_host_s
        # (t_s, imu_si (n, IMU_WIDTH), force_n) as written: live and final analysis (training.py)
        self.on_rows = on_rows
        self._boots: list[Boot] = []
        self._status: StatusReport | None = None
        self._events: list[dict[str, Any]] = []
        self._board_log: list[str] = []
        self._extra: dict[str, Any] = {}
        self.blocks_refused = 0
        self.samples_refused = 0
        self.refused_why: list[str] = []  # the latest reasons, for session.json
        # With a raw capture: every input below is journaled, so `anklet decode` can replay it.
        self.journal: Journal | None = None

    # --- input -----------------------------------------------------------------------------

    def new_boot(
        self, boot_host_s: float, now_s: float, refill_timeout_s: float | None = None
    ) -> None:
        """Start accounting a new boot; the previous one can refill nothing any more.
        `refill_timeout_s`: how long a hole waits for its refill (default the reassembly's)."""
        if self.journal is not None:
            self.journal.record("boot", boot_host_s, now_s)
        if self._boots:
            self._settle(self._boots[-1], now_s)
            self._boots[-1].stream.abandon("board reset before sending them")
            self._write_ready(now_s)
        # A boot's stream starts where the board's stream does (its indices count from its own
        # boot, and it samples only once started): never at an index assumed here.
        stream = Reassembly() if refill_timeout_s is None else Reassembly(None, refill_timeout_s)
        self._boots.append(
            Boot(ClockModel(round(1e6 / self.info.imu_rate_hz)), stream, boot_host_s)
        )

    def new_segment(self, now_s: float, why: str) -> None:
        """The board stopped streaming and starts again on the same boot: its indices go on
        but the IMU did not sample meanwhile, so the samples of the pause are lost, counted from
        the time between the two segments (each with its own clock fit)."""
        if self.journal is not None:
            self.journal.record("segment", now_s, why)
        prev = self._boot
        self._settle(prev, now_s)
        prev.stream.abandon(f"{why} before the board re-sent them")
        self._write_ready(now_s)
        boot = Boot(
            ClockModel(round(1e6 / self.info.imu_rate_hz)),
            Reassembly(),
            prev.boot_host_s,
            gap_why=why,
        )
        self._boots.append(boot)

    @property
    def boot_count(self) -> int:
        """Boots of the board seen (a stream restarted on the same boot is not one)."""
        return sum(1 for b in self._boots if b.gap_why == "board reset")

    @property
    def _boot(self) -> Boot:
        return self._boots[-1]

    @property
    def started(self) -> bool:
        """A boot has begun: blocks can be taken."""
        return bool(self._boots)

    @property
    def segments(self) -> int:
        """Boots and stream restarts so far (1 for a session without either)."""
        return len(self._boots)

    @property
    def boot_host_s(self) -> float:
        """Host time the current boot of the board began."""
        return self._boot.boot_host_s

    @property
    def next_index(self) -> int | None:
        """One past the highest device index of the current segment; None before its first."""
        stream = self._boot.stream
        return None if stream.start_index is None else stream.high

    @property
    def settled_index(self) -> int | None:
        """Every sample of the current segment below this index is written or counted lost
        (what ACK tells the board); None before the segment's first."""
        stream = self._boot.stream
        return None if stream.start_index is None else stream.write_index

    @property
    def samples_received(self) -> int:
        return sum(b.stream.count.received for b in self._boots)

    @property
    def missing(self) -> int:
        """Samples of the current boot still awaited from the board (its holes)."""
        return sum(h.end - h.start for h in self._boot.stream.open_holes)

    def expect_until(self, end: int, now_s: float) -> None:
        """The board's stream reached `end` (its answer to a RESEND says so): what is past the
        last sample received is missing too, not merely unseen."""
        if self.journal is not None:
            self.journal.record("expect", end, now_s)
        self._boot.stream.expect_until(end, now_s)

    @property
    def held(self) -> int:
        """Samples received but waiting behind a gap the board may still refill."""
        return sum(b.stream.held for b in self._boots)

    # --- what the board said, for session.json ---------------------------------------------

    @property
    def status(self) -> StatusReport | None:
        return self._status

    def record_status(self, status: StatusReport) -> None:
        """The board's latest STATUS (session.json's board_status)."""
        self._status = status

    @property
    def events(self) -> tuple[dict[str, Any], ...]:
        return tuple(self._events)

    def record_event(self, kind: str, value: int, t_s: float) -> None:
        """A board EVENT (or a stream stop the recorder saw) at session time t_s."""
        self._events.append({"kind": kind, "value": value, "t_s": round(t_s, 3)})

    def record_board_log(self, text: str) -> None:
        self._board_log.append(text)

    def annotate(self, key: str, value: Any) -> None:
        """Add a top-level entry to session.json (the recorder's reconnects, the analysis)."""
        self._extra[key] = value

    def stream_starts_at(self, first_index: int | None) -> None:
        """The board's answer to START: the index of its stream's first sample. The current
        boot (or segment) expects every sample from there on: a first block lost on the link
        is a hole to refill or count, and blocks before it belong to an earlier stream. Taken
        only while the stream has not begun (a START that resumes a stream moves nothing);
        None (a board older than protocol 1.2) leaves the start to the stream: the first two
        blocks that agree."""
        if first_index is None:
            return
        if self.journal is not None:
            self.journal.record("stream_start", first_index)
        stream = self._boot.stream
        if stream.start_index is None:
            stream.begin_at(first_index)

    def add_sync(self, host_sent_s: float, host_received_s: float, device_us: int) -> None:
        if self.journal is not None:
            self.journal.record("sync", host_sent_s, host_received_s, device_us)
        self._boot.clock.add_sync(host_sent_s, host_received_s, device_us)

    def add_block(self, block: SampleBlock, now_s: float) -> bool:
        if self.journal is not None:
            self.journal.record("block", now_s, *block_key(block))
        boot = self._boot
        why = self._implausible(boot, block)
        if why:
            self._refuse(boot, block, why, now_s)
            return False
        if boot.anchor is None:
            return self._start(boot, block, now_s)
        boot.doubted.clear()
        return self._accept(boot, block, now_s)

    def _settle(self, boot: Boot, now_s: float) -> None:
        """The boot is over: a lone first block that nothing contradicted is believed."""
        if boot.anchor is None:
            for held in list(boot.doubted):
                self._accept(boot, held, now_s)
            boot.doubted.clear()

    def _start(self, boot: Boot, block: SampleBlock, now_s: float) -> bool:
        """A boot's time line starts once two blocks agree on it: one forged or damaged first
        block cannot set it (nor, from a board older than 1.2, where the stream begins)."""
        start = boot.stream.start_index
        if start is not None and block.end_index <= start:
            return boot.stream.add(block, now_s)  # an earlier stream's: counted, not taken
        pending = boot.doubted
        if pending:
            last = pending[-1]
            if self._implausible(boot, block, (last.first_index, last.t0_us)):
                self.blocks_refused += len(pending)
                self.samples_refused += sum(b.imu_count for b in pending)
                self.refused_why = [
                    *self.refused_why[-9:],
                    f"block at index {last.first_index}: disagrees with the next one",
                ]
                pending.clear()
        pending.append(block)
        if len(pending) < _START_BLOCKS:
            return False
        accepted = False
        for held in list(pending):
            accepted = self._accept(boot, held, now_s) or accepted
        pending.clear()
        return accepted

    def _accept(self, boot: Boot, block: SampleBlock, now_s: float) -> bool:
        if boot.stream.add(block, now_s):
            boot.clock.add_block(block.first_index, block.t0_us)
            boot.anchor = (block.first_index, block.t0_us)
            return True
        return False

    def _implausible(self, boot: Boot, block: SampleBlock, anchor: tuple[int, int] | None = None):
        """Why a block cannot be this boot's (its period, or its time against its index), or ''."""
        nominal_us = boot.clock.nominal_period_us
        if abs(block.period_us - nominal_us) > 1:
            return f"period {block.period_us} µs in a {self.info.imu_rate_hz} Hz session"
        anchor = anchor or boot.anchor
        if anchor is None:
            return ""
        index, t0_us = anchor
        expected_us = (block.first_index - index) * nominal_us
        if abs(expected_us) >= _TICKS // 2 - _STAMP_SLACK_US:
            return f"index jump of {block.first_index - index} samples"
        elapsed_us = (block.t0_us - t0_us + _TICKS // 2) % _TICKS - _TICKS // 2
        error_us = elapsed_us - expected_us
        if abs(error_us) > _RATE_TOLERANCE * abs(expected_us) + _STAMP_SLACK_US:
            return f"time {error_us / 1000:+.0f} ms off its index"
        return ""

    def _refuse(self, boot: Boot, block: SampleBlock, why: str, now_s: float) -> None:
        self.blocks_refused += 1
        self.samples_refused += block.imu_count
        self.refused_why = [*self.refused_why[-9:], f"block at index {block.first_index}: {why}"]
        doubted = boot.doubted
        if doubted:
            last = doubted[-1]
            if self._implausible(boot, block, (last.first_index, last.t0_us)):
                doubted.clear()
        if not self._implausible(boot, block, (block.first_index, block.t0_us)):
            doubted.append(block)
        if len(doubted) >= _REANCHOR_BLOCKS:
            # They agree with each other: the stream really moved on (a long drop).
            self.blocks_refused -= len(doubted)
            self.samples_refused -= sum(b.imu_count for b in doubted)
            for held in list(doubted):
                self._accept(boot, held, now_s)
            doubted.clear()

    # --- output ----------------------------------------------------------------------------

    def holes_to_request(self, now_s: float, retry_s: float = 1.0) -> list[Hole]:
        """The current boot's holes to ask the board to re-send (marked asked; asked again
        after `retry_s`)."""
        if self.journal is not None:
            self.journal.record("ask", now_s)
        return self._boot.stream.holes_to_request(now_s, retry_s)

    def declare_lost(self, start: int, end: int, why: str) -> None:
        if self.journal is not None:
            self.journal.record("lost", start, end, why)
        self._boot.stream.declare_lost(start, end, why)

    def resend_answered(self, index: int, now_s: float) -> None:
        """The board answered the RESEND from `index` (its re-sent blocks come next)."""
        if self.journal is not None:
            self.journal.record("answered", index, now_s)
        self._boot.stream.resend_answered(index, now_s)

    def resend_from(self, index: int) -> None:
        """The board was asked again, from `index` (the first ask found the start gone)."""
        if self.journal is not None:
            self.journal.record("resend_from", index)
        self._boot.stream.resend_from(index)

    def expire(self, now_s: float) -> None:
        if self.journal is not None:
            self.journal.record("expire", now_s)
        self._boot.stream.expire(now_s)

    def write_ready(self, now_s: float, final: bool = False) -> int:
        """Write every row that is contiguous and whose boot's clock is fitted; returns rows."""
        if self.journal is not None:
            self.journal.record("write", now_s)
        return self._write_ready(now_s, final)

    def _write_ready(self, now_s: float, final: bool = False) -> int:
        written = 0
        for boot in self._boots:
            clock = boot.clock
            if not clock.frozen:
                if clock.blocks == 0:
                    continue
                if clock.span_s() < WARMUP_S and boot is self._boot and not final:
                    continue
                clock.freeze()
                self._place(boot)
            elif clock.refine_due():
                clock.refine(boot.stream.write_index)
            blocks = boot.stream.pop_ready()
            if blocks:
                written += self._write_blocks(boot, blocks)
            held = boot.stream.held_since(now_s - HELD_JOURNAL_S)
            if held and self.start_host_s is not None:
                index, t_s, imu = self._rows(boot, held)
                self.folder.write_held(index + boot.base, t_s, imu)
        self.folder.flush()
        return written

    def _rows(
        self, boot: Boot, blocks: list[SampleBlock]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Device index, session time and SI units of the blocks' IMU samples."""
        info = self.info
        index = np.concatenate([np.arange(b.first_index, b.end_index) for b in blocks])
        imu = np.concatenate([b.imu for b in blocks]).astype(np.float64)
        imu[:, layout.ACCEL] *= GRAVITY / info.accel_lsb_per_g
        imu[:, layout.GYRO] *= 1.0 / info.gyro_lsb_per_dps
        host_s = np.asarray(boot.clock.index_to_host_s(index))
        if self.start_host_s is None:
            self.start_host_s = float(host_s[0])
        return index, host_s - self.start_host_s, imu

    def _place(self, boot: Boot) -> None:
        """Give a boot's samples session indices after the previous boot's, past the gap of
        the reset (counted as lost: nothing was sampled while the board restarted)."""
        index = self._boots.index(boot)
        boot.placed = True
        if index == 0:
            boot.base = -(boot.stream.start_index or 0)  # the session's rows count from 0
            return
        prev = self._boots[index - 1]
        period_s = 1.0 / self.info.imu_rate_hz
        gap = 0
        if prev.clock.frozen and prev.stream.high:
            last_t = float(prev.clock.index_to_host_s(prev.stream.high - 1))
            first_t = float(boot.clock.index_to_host_s(boot.stream.start_index or 0))
            gap = max(0, round((first_t - last_t) / period_s) - 1)
        boot.reset_gap = gap
        boot.base = prev.base + prev.stream.high + gap - (boot.stream.start_index or 0)

    def _write_blocks(self, boot: Boot, blocks: list[SampleBlock]) -> int:
        info = self.info
        clock = boot.clock
        index, t_s, imu = self._rows(boot, blocks)
        # Each IMU row gets the latest load sample at or before its instant, if that is recent:
        # after a gap in the load stream (samples lost with their blocks) the row's force is
        # unknown, not the value from before the gap (a replay cut off by a crash once held
        # one for 2 s across a hole the live session later filled). Both instants are the
        # board's own stamps, not the host's fit of them, so the same bytes give the same
        # forces however that fit moved (refined after a crash cut a replay short, or fitted
        # around a hole: a row moved tens of µs fell the other side of a load sample).
        row_us = np.concatenate(
            [clock.unwrap(b.t0_us) + b.period_us * np.arange(b.imu_count) for b in blocks]
        )
        load_us = np.array([boot.last_load_us])
        load_n = np.array([boot.last_load_n])
        loads = [b.load for b in blocks if b.load_count]
        if loads:
            load = np.concatenate(loads)
            device_us = np.array([clock.unwrap(int(t)) for t in load["t_us"]], dtype=np.float64)
            order = np.argsort(device_us, kind="stable")
            load_i, device_us = load["index"][order], device_us[order]
            new_n = load["counts"][order] / info.load_scale_counts_per_n
            host_s = np.asarray(clock.device_to_host_s(device_us)) - self.start_host_s
            self.folder.write_force(load_i.astype(np.int64), host_s, new_n)
            load_us, load_n = np.concatenate([load_us, device_us]), np.concatenate([load_n, new_n])
            order = np.argsort(load_us, kind="stable")
            load_us, load_n = load_us[order], load_n[order]
            boot.last_load_us, boot.last_load_n = float(load_us[-1]), float(load_n[-1])
        pos = np.searchsorted(load_us, row_us, side="right") - 1
        at = np.clip(pos, 0, None)
        stale_us = 1e6 * _FORCE_HELD_PERIODS / max(info.load_rate_hz, 1)
        force = np.where((pos >= 0) & (row_us - load_us[at] <= stale_us), load_n[at], np.nan)
        written = self.folder.write_samples(index + boot.base, t_s, imu, force)
        if self.on_rows is not None:
            self.on_rows(*written)  # the rows as samples.csv holds them
        return len(index)

    @property
    def samples_written(self) -> int:
        """Rows on disk (whole, fsynced)."""
        return self.folder.samples.rows

    # --- accounting ------------------------------------------------------------------------

    def accounting(self) -> Accounting:
        received = self.samples_received
        lost = sum(b.stream.count.lost + b.reset_gap for b in self._boots)
        expected = received + lost + self.samples_refused
        ranges = []
        for boot in self._boots:
            if boot.reset_gap:
                # Just before the part's first sample: index 0 after a reset, where the board's
                # indices went on after a stop on the same boot.
                first = boot.base + (boot.stream.start_index or 0)
                ranges.append(
                    {"from_index": first - boot.reset_gap, "to_index": first, "why": boot.gap_why}
                )
            for start, end, why in boot.stream.count.lost_ranges:
                ranges.append(
                    {"from_index": boot.base + start, "to_index": boot.base + end, "why": why}
                )
        return Accounting(
            expected=expected,
            received=received,
            refilled=sum(b.stream.count.refilled for b in self._boots),
            lost=lost,
            completeness_pct=100.0 * received / expected if expected else 0.0,
            refused=self.samples_refused,
            lost_ranges=ranges,
        )

    def finish(
        self, now_s: float, why: str = "session ended before the board re-sent them"
    ) -> Accounting:
        """Raises StorageError if the last rows could not be written (after counting them)."""
        if self.journal is not None:
            self.journal.record("finish", now_s, why)
        # The last STATUS is the current boot's: what its ring no longer held, it says.
        ring_oldest = self._status.ring_oldest if self._status is not None else None
        for boot in self._boots:
            self._settle(boot, now_s)
            boot.stream.abandon(why, ring_oldest if boot is self._boots[-1] else None)
        self._write_ready(now_s, final=True)
        return self.accounting()

    def meta(
        self, complete: bool, duration_s: float, transport: str, decoder_stats: dict[str, int]
    ) -> dict[str, Any]:
        info = self.info
        acct = self.accounting()
        return {
            "complete": complete,
            "device": info.as_dict(),
            "firmware": info.firmware,
            "firmware_git": info.firmware_git,
            "protocol": info.protocol,
            "transport": transport,
            "started_utc": self.started_utc.isoformat(),
            "duration_s": round(duration_s, 3),
            "samples_written": self.samples_written,
            "samples_not_written": self.folder.samples.rows_not_written,
            # force.csv's rows (the load cell's samples): the disk can fill during its write
            "force_rows_written": self.folder.force.rows,
            "force_rows_not_written": self.folder.force.rows_not_written,
            "storage_error": self.folder.failed or None,
            "rates": {"imu_hz": info.imu_rate_hz, "load_hz": info.load_rate_hz},
            "ranges": {"accel_g": info.accel_fs_g, "gyro_dps": info.gyro_fs_dps},
            "sensitivity": {
                "accel_lsb_per_g": info.accel_lsb_per_g,
                "gyro_lsb_per_dps": info.gyro_lsb_per_dps,
            },
            "calibration": {
                "load_offset_counts": info.load_offset,
                "load_scale_counts_per_n": info.load_scale_counts_per_n,
            },
            "clock": [asdict(b.clock.summary()) for b in self._boots if b.clock.blocks],
            "boots": self.boot_count,
            "stream_restarts": len(self._boots) - self.boot_count,
            "loss": {
                "samples_expected": acct.expected,
                "samples_received": acct.received,
                "samples_refilled": acct.refilled,
                "samples_lost": acct.lost,
                "completeness_pct": round(acct.completeness_pct, 4),
                "lost_ranges": acct.lost_ranges,
                "decoder": decoder_stats,
                "samples_refused": acct.refused,
                "blocks_refused": self.blocks_refused,
                "refused_why": self.refused_why,
                "samples_overlapping": sum(b.stream.count.overlapping for b in self._boots),
                # Blocks of an earlier stream on the same boot (before START's first index).
                "samples_before_start": sum(b.stream.count.before_start for b in self._boots),
            },
            "board_status": self._status.as_dict() if self._status else None,
            "events": self._events[-200:],
            "board_log": self._board_log[-100:],
            **self._extra,
        }
