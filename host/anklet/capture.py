"""Re-decode a raw capture (`capture.bin`, or bytes saved from a serial port) into a session
folder through the same data path as a live session.

    result = decode_capture(Path("capture.bin"), out_dir=Path("decoded"))
    print(result.stats.frames_ok, result.stats.bad_frames, result.accounting.lost)

Without time-sync pings the device clock is the only clock: t_s starts at the first sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from anklet_protocol import StreamDecoder, parse_message, spec
from anklet_protocol.decoder import DecoderStats, MalformedPayload, SampleBlock

from .csvlog import SessionFolder
from .device import DeviceInfo
from .session import Accounting, SessionLog

_CHUNK = 1 << 20


class CaptureError(Exception):
    pass


@dataclass
class CaptureResult:
    folder: Path
    stats: DecoderStats
    accounting: Accounting
    samples: int


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
    started = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    folder = SessionFolder.create(out_dir, info.name, started)
    log: SessionLog | None = None
    decoder = StreamDecoder()
    blocks = 0

    def new_boot() -> None:
        assert log is not None
        log.new_boot(0.0, 0.0)
        # "Time" here counts blocks: a hole not refilled within 5000 blocks of the capture
        # (a minute or more of streaming) is not coming.
        log.boot.stream.refill_timeout_s = 5000.0

    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for frame in decoder.feed(chunk):
                try:
                    message = parse_message(frame)
                except MalformedPayload:
                    decoder.stats.malformed_payload += 1
                    continue
                if isinstance(message, SampleBlock):
                    if log is None:
                        # Session time 0 = the first row's device time (not this frame's:
                        # it may be a late or forged one).
                        log = SessionLog(folder, info, started, None)
                        new_boot()
                    log.add_block(message, float(blocks))
                    log.boot.stream.holes_to_request(float(blocks), retry_s=float("inf"))
                    log.boot.stream.expire(float(blocks))
                    blocks += 1
                    if blocks % 256 == 0:
                        log.write_ready(float(blocks))
                elif (
                    frame.msg_type == spec.MsgType.EVENT
                    and log is not None
                    and message.kind == spec.EventKind.BOOT
                ):
                    new_boot()
    if log is None:
        folder.close()
        for file in folder.path.iterdir():  # leave nothing behind but the error
            file.unlink()
        folder.path.rmdir()
        raise CaptureError(f"{path} holds no SAMPLES frames")
    accounting = log.finish(float(blocks) + 1e9, "missing from the capture")
    log.folder.write_json(log.meta(True, 0.0, f"capture:{path}", decoder.stats.as_dict()))
    folder.close()
    return CaptureResult(folder.path, decoder.stats, accounting, log.samples_written)
