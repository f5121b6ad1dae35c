"""Re-decode a raw capture (`capture.bin`, or bytes saved from a serial port) into a session
folder through the same data path as a live session.

    result = decode_capture(Path("capture.bin"), out_dir=Path("decoded"))
    print(result.stats.frames_ok, result.stats.bad_frames, result.accounting.lost, result.exact)

A capture from `anklet log --raw` has its timeline beside it (`capture.jsonl`, journal.py): the
host times at which blocks and time-sync replies came. Decode feeds the same inputs to the same
SessionLog in the same order, so the decoded folder (its name, `started_utc`, `samples.csv`,
`force.csv`) is the live session's, byte for byte. Without a timeline (bytes saved from a port)
the board's clock is the only clock: t_s starts at the first sample and `exact` is False.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anklet_protocol import StreamDecoder, parse_message, spec
from anklet_protocol.decoder import DecoderStats, MalformedPayload, SampleBlock

from .csvlog import SessionFolder
from .device import DeviceInfo
from .journal import JOURNAL_NAME, BlockKey, JournalError, block_key, read_journal
from .session import Accounting, SessionLog
from .training import SessionTraining, TrainingOutcome, conclude

_CHUNK = 1 << 20


class CaptureError(Exception):
    pass


@dataclass
class CaptureResult:
    folder: Path
    stats: DecoderStats
    accounting: Accounting
    samples: int
    exact: bool = False  # replayed from the live timeline: the live session's files exactly
    note: str = ""  # why the result may differ from the live session
    # Rows written as the live session wrote them, times included; the rest of a timeline that
    # did not end cleanly are placed on the clock as it stood at its end.
    rows_as_live: int = 0
    training: TrainingOutcome | None = None  # the analysis a live session ends with


def _first_info(path: Path) -> DeviceInfo:
    decoder = StreamDecoder()
    invalid = ""  # why the last INFO found could not be used
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for frame in decoder.feed(chunk):
                try:
                    message = parse_message(frame)
                    if frame.msg_type == spec.MsgType.INFO:
                        return DeviceInfo.from_message(message)
                    if (
                        frame.msg_type == spec.MsgType.REPLY
                        and message.opcode == spec.Opcode.GET_INFO
                        and message.status == spec.StatusCode.OK
                    ):
                        return DeviceInfo.from_message(_parse_info(message.payload))
                except MalformedPayload as exc:
                    if frame.msg_type == spec.MsgType.INFO or "INFO" in str(exc):
                        invalid = str(exc)
                    continue
    if invalid:
        raise CaptureError(f"{path}: its only INFO is unusable ({invalid})")
    if decoder.foreign_version:
        major, minor = decoder.foreign_version
        raise CaptureError(
            f"{path} holds protocol {major}.{minor} frames; this host reads {spec.VERSION_MAJOR}.x"
        )
    raise CaptureError(
        f"{path} holds no INFO frame ({decoder.stats.frames_ok} good frames): without it the "
        "units and rates are unknown. Record with `anklet log --raw`, which keeps it."
    )


def _parse_info(payload: bytes) -> object:
    try:
        return spec.Info.parse(payload)
    except Exception as exc:  # construct's parse errors
        raise MalformedPayload(f"INFO payload: {exc}") from None


def decode_capture(path: Path, out_dir: Path) -> CaptureResult:
    path = Path(path)
    if not path.is_file():
        raise CaptureError(f"no such capture file: {path}")
    info = _first_info(path)
    timeline = path.with_name(JOURNAL_NAME)
    if timeline.is_file():
        return _replay(path, timeline, info, out_dir)
    result = _decode_on_device_clock(path, info, out_dir)
    result.note = (
        f"no {JOURNAL_NAME} beside the capture: times are from the board's clock alone "
        "(t_s starts at the first sample), not the live session's clock model"
    )
    return result


def _messages(path: Path, decoder: StreamDecoder) -> Iterator[Any]:
    """Every well-formed message of the capture, in order; malformed ones are counted."""
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for frame in decoder.feed(chunk):
                try:
                    yield parse_message(frame)
                except MalformedPayload:
                    decoder.stats.malformed_payload += 1


def _blocks(path: Path, decoder: StreamDecoder) -> Iterator[SampleBlock]:
    return (m for m in _messages(path, decoder) if isinstance(m, SampleBlock))


class _BlockFinder:
    """The capture's blocks by key, read ahead only as far as the timeline asks."""

    def __init__(self, blocks: Iterator[SampleBlock]) -> None:
        self._blocks = blocks
        self._ahead: dict[BlockKey, deque[SampleBlock]] = {}

    def take(self, key: BlockKey) -> SampleBlock | None:
        queue = self._ahead.get(key)
        if queue:
            return queue.popleft()
        for block in self._blocks:
            found = block_key(block)
            if found == key:
                return block
            self._ahead.setdefault(found, deque()).append(block)
        return None  # damaged in the capture: its samples are counted lost


def _replay(path: Path, timeline: Path, info: DeviceInfo, out_dir: Path) -> CaptureResult:
    try:
        header, entries = read_journal(timeline)
    except (JournalError, OSError) as exc:
        raise CaptureError(str(exc)) from None
    decoder = StreamDecoder()
    finder = _BlockFinder(_blocks(path, decoder))
    folder = SessionFolder.create(out_dir, info.name, header.started_utc)
    training = SessionTraining.for_session(info, folder.path)
    log = SessionLog(folder, info, header.started_utc, header.start_host_s, training.add_rows)
    now_s = header.start_host_s
    missing = 0
    finished = False
    for kind, *args in entries:
        if kind == "boot":
            log.new_boot(args[0], args[1])
        elif not log.started:
            continue  # nothing before the first boot changes the files
        elif kind == "sync":
            log.add_sync(args[0], args[1], args[2])
        elif kind == "block":
            now_s = args[0]
            block = finder.take((args[1], args[2], args[3], args[4]))
            if block is None:
                missing += 1
            else:
                log.add_block(block, now_s)
        elif kind == "ask":
            log.holes_to_request(args[0])
        elif kind == "lost":
            log.declare_lost(args[0], args[1], args[2])
        elif kind == "resend_from":
            log.resend_from(args[0])
        elif kind == "answered":
            log.resend_answered(args[0], args[1])
        elif kind == "expect":
            log.expect_until(args[0], args[1])
        elif kind == "stream_start":
            log.stream_starts_at(args[0])
        elif kind == "segment":
            log.new_segment(args[0], args[1])
        elif kind == "expire":
            log.expire(args[0])
        elif kind == "write":
            now_s = args[0]
            log.write_ready(now_s)
        elif kind == "finish":
            now_s = args[0]
            log.finish(now_s, args[1])
            finished = True
            break
    if not log.started:
        folder.close()
        raise CaptureError(f"{timeline} holds no boot of the board: nothing was recorded")
    rows_as_live = log.samples_written
    # A timeline cut off by a crash: a hole its live session was still waiting on is lost here,
    # whether or not the board re-sent it later.
    cut_off = "the recording was cut off before the board re-sent them"
    accounting = log.accounting() if finished else log.finish(now_s, cut_off)
    outcome = conclude(training, log)
    duration_s = now_s - header.start_host_s
    log.folder.write_json(log.meta(True, duration_s, f"capture:{path}", decoder.stats.as_dict()))
    folder.close()
    notes = []
    if missing:
        notes.append(f"{missing} block(s) of the timeline are damaged in the capture")
    if not finished:
        notes.append("the recording did not end cleanly: replayed as far as it went")
    return CaptureResult(folder.path, decoder.stats, accounting, log.samples_written,
                         exact=finished and not missing, note="; ".join(notes),
                         training=outcome, rows_as_live=rows_as_live)  # fmt: skip


def _is_start_reply(message: Any) -> bool:
    return (
        getattr(message, "opcode", None) == spec.Opcode.START
        and getattr(message, "status", None) == spec.StatusCode.OK
        and hasattr(message, "payload")
    )


def _start_index(payload: bytes) -> int | None:
    """The stream's first index from START's reply; None from an older board (or a reply
    too damaged to say)."""
    try:
        first_index = int(spec.StartReply.parse(payload).first_index)
    except Exception:  # construct's parse errors: the stream itself then says where it begins
        return None
    return None if first_index == spec.FIRST_INDEX_UNKNOWN else first_index


def _resend_next_index(message: Any) -> int | None:
    """The board's next sample index from a RESEND reply (OK, or NOT_AVAILABLE naming what it
    still holds); None for any other message or a reply too damaged to say."""
    if getattr(message, "opcode", None) != spec.Opcode.RESEND or not hasattr(message, "payload"):
        return None
    if message.status not in (spec.StatusCode.OK, spec.StatusCode.NOT_AVAILABLE):
        return None
    try:
        return int(spec.ResendReply.parse(message.payload).next_index)
    except Exception:  # construct's parse errors
        return None


def _decode_on_device_clock(path: Path, info: DeviceInfo, out_dir: Path) -> CaptureResult:
    started = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    folder = SessionFolder.create(out_dir, info.name, started)
    training = SessionTraining.for_session(info, folder.path)
    log: SessionLog | None = None
    decoder = StreamDecoder()
    blocks = 0

    def new_boot() -> None:
        assert log is not None
        # "Time" here counts blocks: a hole not refilled within 5000 blocks of the capture
        # (a minute or more of streaming) is not coming.
        log.new_boot(0.0, 0.0, refill_timeout_s=5000.0)

    first_index: int | None = None  # START's answer before the first block: where it begins
    for message in _messages(path, decoder):
        if isinstance(message, SampleBlock):
            if log is None:
                # Session time 0 = the first row's device time (not this frame's: it may be a
                # late or forged one).
                log = SessionLog(folder, info, started, None, training.add_rows)
                new_boot()
                log.stream_starts_at(first_index)
            log.add_block(message, float(blocks))
            log.holes_to_request(float(blocks), retry_s=float("inf"))
            log.expire(float(blocks))
            blocks += 1
            if blocks % 256 == 0:
                log.write_ready(float(blocks))
        elif getattr(message, "kind", None) == spec.EventKind.BOOT:
            first_index = None  # a START before the reset told of the previous boot's stream
            if log is not None:
                new_boot()
        elif _is_start_reply(message):
            first_index = _start_index(message.payload)
            if log is not None:
                log.stream_starts_at(first_index)  # a new boot's; a resumed stream's is moot
        elif log is not None and (next_index := _resend_next_index(message)) is not None:
            # The board's next index when it answered: samples it had made up to there are
            # expected, as the live session expected them (a tail never re-sent is lost).
            log.expect_until(next_index, float(blocks))
    if log is None:
        folder.close()
        for file in folder.path.iterdir():  # leave nothing behind but the error
            file.unlink()
        folder.path.rmdir()
        raise CaptureError(f"{path} holds no SAMPLES frames")
    accounting = log.finish(float(blocks) + 1e9, "missing from the capture")
    outcome = conclude(training, log)
    log.folder.write_json(log.meta(True, 0.0, f"capture:{path}", decoder.stats.as_dict()))
    folder.close()
    return CaptureResult(
        folder.path, decoder.stats, accounting, log.samples_written, training=outcome
    )
