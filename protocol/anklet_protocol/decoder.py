"""Streaming decoder: feed bytes in any chunking, get frames out; bad data is counted, never raised.

    decoder = StreamDecoder()
    for frame in decoder.feed(chunk):            # serial: COBS, zero-delimited
        message = parse_message(frame)
    decoder.feed_frame(raw)                       # one raw frame (what a transport reads)
    print(decoder.stats)

SAMPLES payloads are decoded in bulk with numpy (`SampleBlock.imu`), not sample by sample.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from . import layout, spec, structfmt
from .deframer import CobsDeframer, Discarded

_HEADER = struct.Struct(structfmt.format_of(spec.Header))
_SAMPLES_HEADER = struct.Struct(structfmt.format_of(spec.SamplesHeader))
_HEADER_SIZE = spec.HEADER_SIZE
_OVERHEAD = spec.FRAME_OVERHEAD
_KNOWN_TYPES = frozenset(int(t) for t in spec.MsgType)


@dataclass(slots=True)
class Frame:
    """One frame whose CRC checked."""

    msg_type: int
    flags: int
    seq: int
    version: tuple[int, int]
    payload: bytes
    block: SampleBlock | None = None  # SAMPLES frames: decoded once, when checked


@dataclass
class DecoderStats:
    """What the decoder saw. Every byte that did not become a good frame is counted here."""

    frames_ok: int = 0
    crc_errors: int = 0  # a whole frame arrived but its CRC did not check
    truncated: int = 0  # shorter than its header says (or than a header), or cut by a reconnect
    bad_cobs: int = 0  # the COBS encoding itself was broken
    bad_magic: int = 0  # not an Anklet frame at all
    unknown_type: int = 0  # a newer message type this host does not know (skipped)
    incompatible_version: int = 0  # a protocol major version this host cannot read
    malformed_payload: int = 0  # CRC good but the payload does not fit its type
    bytes_discarded: int = 0  # bytes thrown away while resynchronising
    frames_missing: int = 0  # gaps in the frame sequence numbers

    @property
    def bad_frames(self) -> int:
        return (
            self.crc_errors
            + self.truncated
            + self.bad_cobs
            + self.bad_magic
            + self.malformed_payload
            + self.incompatible_version
        )

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class SampleBlock:
    """A SAMPLES frame: `imu_count` IMU samples from `first_index`, and load samples."""

    first_index: int
    t0_us: int
    period_us: int
    imu_count: int
    load_count: int
    flags: int
    seq: int
    payload: bytes

    @property
    def imu_bytes(self) -> memoryview:
        start = _SAMPLES_HEADER.size
        return memoryview(self.payload)[start : start + self.imu_count * spec.IMU_SAMPLE_SIZE]

    @property
    def load_bytes(self) -> memoryview:
        start = _SAMPLES_HEADER.size + self.imu_count * spec.IMU_SAMPLE_SIZE
        return memoryview(self.payload)[start:]

    @property
    def imu(self) -> np.ndarray:
        """(imu_count, layout.IMU_WIDTH) array in LSB, columns `layout.IMU_FIELDS`."""
        return layout.imu_array(self.imu_bytes)

    @property
    def load(self) -> np.ndarray:
        """Structured array with the LoadSample fields (index, t_us, counts)."""
        return np.frombuffer(self.load_bytes, dtype=layout.LOAD_DTYPE)

    @property
    def resent(self) -> bool:
        return bool(self.flags & spec.FrameFlag.RESENT)

    @property
    def end_index(self) -> int:
        return self.first_index + self.imu_count


class MalformedPayload(ValueError):
    """A payload whose CRC checked but which does not fit its message type."""


def parse_samples(frame: Frame) -> SampleBlock:
    payload = frame.payload
    if len(payload) < _SAMPLES_HEADER.size:
        raise MalformedPayload(
            f"SAMPLES payload of {len(payload)} bytes is shorter than its header"
        )
    first, t0, period, n_imu, n_load = _SAMPLES_HEADER.unpack_from(payload)
    expected = _SAMPLES_HEADER.size + n_imu * spec.IMU_SAMPLE_SIZE + n_load * spec.LOAD_SAMPLE_SIZE
    if len(payload) != expected:
        raise MalformedPayload(
            f"SAMPLES payload is {len(payload)} bytes but {n_imu} IMU and {n_load} load samples "
            f"need {expected}"
        )
    if n_imu == 0:
        raise MalformedPayload("SAMPLES block holds no IMU sample")
    if first + n_imu > _INDEX_LIMIT:
        raise MalformedPayload(f"SAMPLES indices {first}..{first + n_imu} pass 2**32")
    if t0 >= spec.TICKS_PERIOD_US:
        raise MalformedPayload(f"SAMPLES t0_us {t0} is not a device time (< 2**30)")
    if not _PERIOD_MIN_US <= period <= _PERIOD_MAX_US:
        raise MalformedPayload(f"SAMPLES period_us {period} matches no IMU rate")
    return SampleBlock(first, t0, period, n_imu, n_load, frame.flags, frame.seq, payload)


_INDEX_LIMIT = 1 << 32
# Nominal periods of the rates a board may stream at, with room for a newer rate in between.
_PERIOD_MIN_US = 1_000_000 // (max(spec.IMU_RATES_HZ) * 2)
_PERIOD_MAX_US = 1_000_000 // (min(spec.IMU_RATES_HZ) // 2)


def check_info(info: Any) -> None:
    """Raise MalformedPayload unless an INFO's set-up is one a board can have: everything
    after it (units, sample times) divides by these values."""
    checks = (
        ("accel_fs_g", info.accel_fs_g, spec.ACCEL_RANGES_G),
        ("gyro_fs_dps", info.gyro_fs_dps, spec.GYRO_RANGES_DPS),
        ("imu_rate_hz", info.imu_rate_hz, spec.IMU_RATES_HZ),
        ("load_rate_hz", info.load_rate_hz, spec.LOAD_RATES_HZ),
    )
    for name, value, allowed in checks:
        if value not in allowed:
            raise MalformedPayload(f"INFO {name} {value} is not one of {allowed}")
    scale = float(info.load_scale)
    if not (math.isfinite(scale) and _LOAD_SCALE_MIN <= abs(scale) <= _LOAD_SCALE_MAX):
        raise MalformedPayload(f"INFO load_scale {scale!r} counts/N is not a calibration")
    if info.max_frame < spec.FRAME_OVERHEAD + spec.SAMPLES_HEADER_SIZE + spec.IMU_SAMPLE_SIZE:
        raise MalformedPayload(f"INFO max_frame {info.max_frame} cannot carry one sample")


# An HX711 (24 bits) on a strain-gauge load cell: from a 500 kg cell at gain 32 (~20 counts/N)
# to a 1 kg cell at gain 128 (~1e6 counts/N); the board refuses anything outside (config.py).
_LOAD_SCALE_MIN = 1e-3
_LOAD_SCALE_MAX = 1e8


def parse_message(frame: Frame) -> Any:
    """A SampleBlock for SAMPLES; a `construct` Container for every other type. An INFO whose
    set-up no board can have is malformed too."""
    if frame.msg_type == spec.MsgType.SAMPLES:
        return frame.block if frame.block is not None else parse_samples(frame)
    try:
        message = spec.PAYLOADS[spec.MsgType(frame.msg_type)].parse(frame.payload)
    except Exception as exc:  # construct raises many types; all mean the same here
        raise MalformedPayload(f"{spec.MsgType(frame.msg_type).name} payload: {exc}") from None
    if frame.msg_type == spec.MsgType.INFO:
        check_info(message)
    return message


def concat_imu(blocks: list[SampleBlock]) -> np.ndarray:
    """All IMU samples of many blocks as one (n, layout.IMU_WIDTH) array, with a single copy."""
    return layout.imu_array(b"".join(block.imu_bytes for block in blocks))


@dataclass
class StreamDecoder:
    """Turns raw frames (what a transport reads), or a COBS byte stream, into checked frames.

    `expected_major` is the protocol major version this host reads; frames of another major
    version are counted, and the newest such version is kept in `foreign_version` so the caller
    can say which versions clashed.
    """

    expected_major: int = spec.VERSION_MAJOR
    stats: DecoderStats = field(default_factory=DecoderStats)
    foreign_version: tuple[int, int] | None = None
    recent_errors: deque[str] = field(default_factory=lambda: deque(maxlen=32))
    _last_seq: int | None = None
    _deframer: CobsDeframer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._deframer = CobsDeframer()

    def reset_link(self) -> None:
        """Forget the partial packet and the sequence number (a new connection starts)."""
        partial = self._deframer.reset()
        if partial is not None:
            self.discard(partial)
        self._last_seq = None

    def feed(self, data: bytes) -> list[Frame]:
        """Decode a chunk of the COBS stream (a file, a port dump); returns the good frames
        completed by it. A live serial link deframes in its transport and calls feed_frame."""
        out: list[Frame] = []
        for item in self._deframer.feed(data):
            if isinstance(item, Discarded):
                self.discard(item)
                continue
            frame = self.feed_frame(item)
            if frame is not None:
                out.append(frame)
        return out

    def discard(self, discarded: Discarded) -> None:
        """Count bytes a link received that were not a frame (the deframer's reports)."""
        if discarded.bad_cobs:
            self.stats.bad_cobs += 1
        elif discarded.cut_frame:
            # A frame a reconnect cut: counted as the capture's decode counts it (the same bytes,
            # delimited, come out there as a broken or short frame).
            self.stats.truncated += 1
        self._discard(len(discarded.data), discarded.why)

    def feed_frame(self, raw: bytes) -> Frame | None:
        """Check one raw frame (a BLE notification, or a COBS packet once decoded)."""
        stats = self.stats
        size = len(raw)
        if size < _OVERHEAD:
            stats.truncated += 1
            self._discard(size, f"frame of {size} bytes is shorter than a header and CRC")
            return None
        magic, major, minor, msg_type, flags, seq, length = _HEADER.unpack_from(raw)
        if magic != spec.MAGIC:
            stats.bad_magic += 1
            self._discard(size, f"bad magic {magic!r}")
            return None
        if size != length + _OVERHEAD:
            if size < length + _OVERHEAD:
                stats.truncated += 1
                why = f"truncated: {size} bytes, header says {length + _OVERHEAD}"
            else:
                stats.crc_errors += 1
                why = f"length mismatch: {size} bytes, header says {length + _OVERHEAD}"
            self._discard(size, why)
            return None
        (crc,) = struct.unpack_from("<I", raw, size - 4)
        if zlib.crc32(memoryview(raw)[: size - 4]) != crc:
            stats.crc_errors += 1
            self._discard(size, f"CRC mismatch on frame seq {seq}")
            return None
        # From here the frame is intact: account for its sequence number first.
        if self._last_seq is not None:
            gap = (seq - self._last_seq - 1) & 0xFFFF
            if gap:
                stats.frames_missing += gap
        self._last_seq = seq
        if major != self.expected_major:
            stats.incompatible_version += 1
            self.foreign_version = (major, minor)
            self.recent_errors.append(
                f"protocol version {major}.{minor} frame ignored "
                f"(this host reads {self.expected_major}.x)"
            )
            return None
        if msg_type not in _KNOWN_TYPES:
            stats.unknown_type += 1
            self.recent_errors.append(f"unknown message type {msg_type} skipped")
            return None
        payload = bytes(raw[_HEADER_SIZE : size - 4])
        frame = Frame(msg_type, flags, seq, (major, minor), payload)
        if msg_type == spec.MsgType.SAMPLES:
            try:
                frame.block = parse_samples(frame)
            except MalformedPayload as exc:
                stats.malformed_payload += 1
                self.recent_errors.append(str(exc))
                return None
        stats.frames_ok += 1
        return frame

    def _discard(self, nbytes: int, why: str) -> None:
        self.stats.bytes_discarded += nbytes
        self.recent_errors.append(why)
