"""Seeded, bounded fuzzers for the trust boundaries: the decoder (every message type, frames
that pass their CRC, so the payload checks are what is tested) and `anklet decode` (captures
whose fields are forged and whose frames are shuffled, duplicated and dropped).

    tried, escapes = fuzz_decoder(seed=1, cases=2000)
    tried, escapes = fuzz_decode(tmp_dir, seed=1, cases=40)

An escape is an input that got past the checks: an exception other than the documented one
(MalformedPayload, CaptureError), or files that break the session's invariants (rows out of
order, times equal or negative, the loss account not adding up). Used by the tests (small
case counts) and by bench/bench_integrity.py (the figures).
"""

from __future__ import annotations

import csv
import random
import shutil
import struct
from pathlib import Path

import numpy as np
from anklet_protocol import StreamDecoder, framing, parse_message, spec
from anklet_protocol.decoder import MalformedPayload

RATE_HZ = 200
PERIOD_US = 1_000_000 // RATE_HZ
BLOCK = 15


def info_fields(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = dict(
        device_id=b"\x24\xa1\x60\xc0\xff\xee",
        name="Anklet-FFEE",
        fw_major=1,
        fw_minor=0,
        fw_patch=0,
        fw_git="abcdef12",
        proto_major=spec.VERSION_MAJOR,
        proto_minor=spec.VERSION_MINOR,
        imu_model=spec.ImuModel.MPU6050,
        accel_fs_g=8,
        gyro_fs_dps=1000,
        imu_rate_hz=RATE_HZ,
        load_rate_hz=80,
        reset_cause=1,
        load_offset=0,
        load_scale=2280.0,
        max_frame=512,
    )
    fields.update(changes)
    return fields


def samples_payload(
    first: int,
    t0_us: int | None = None,
    n: int = BLOCK,
    n_load: int = 0,
    period_us: int = PERIOD_US,
) -> bytes:
    t0 = (1_000_000 + first * PERIOD_US) % spec.TICKS_PERIOD_US if t0_us is None else t0_us
    head = spec.SamplesHeader.build(
        dict(first_index=first, t0_us=t0, period_us=period_us, imu_count=n, load_count=n_load)
    )
    imu = np.full((n, 6), 100, dtype="<i2").tobytes()
    load = b"".join(struct.pack("<IIi", k, t0 + k * 12500, 1000) for k in range(n_load))
    return head + imu + load


def _frame(msg_type: int, payload: bytes, seq: int, flags: int = 0) -> bytes:
    return framing.cobs_wrap(framing.encode_frame(msg_type, payload, seq, flags))


# --- the decoder ---------------------------------------------------------------------------


def _valid_payloads(rng: random.Random) -> dict[int, bytes]:
    return {
        spec.MsgType.INFO: spec.Info.build(info_fields()),
        spec.MsgType.SAMPLES: samples_payload(rng.randrange(1000), n_load=rng.randrange(3)),
        spec.MsgType.STATUS: bytes(spec.Status.sizeof()),
        spec.MsgType.COMMAND: spec.Command.build(dict(request_id=1, opcode=9, args=b"\0" * 4)),
        spec.MsgType.REPLY: spec.Reply.build(dict(request_id=1, opcode=1, status=0, payload=b"")),
        spec.MsgType.EVENT: spec.Event.build(dict(kind=1, t_us=5, value=1)),
        spec.MsgType.LOG: spec.Log.build(dict(level=20, text="hello")),
    }


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Flip, overwrite with extremes, truncate, extend or splice: structure-blind changes to a
    payload that will still be framed with a good CRC."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            width = rng.choice((1, 2, 4))
            value = (
                rng.choice((0, 0xFF, 0x7F, 0x80))
                if width == 1
                else rng.choice((0, 2**31, 2**32 - 1, 2**30, 2**29 + 1, 1))
            )
            packed = value.to_bytes(4, "little")[:width]
            buf[at : at + width] = packed
        elif op == 2:
            del buf[at:]
        elif op == 3:
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        elif op == 4:
            buf = bytearray(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))))
        else:
            del buf[at : at + rng.randrange(1, 8)]
    return bytes(buf)


def fuzz_decoder(seed: int, cases: int) -> tuple[int, list[str]]:
    """CRC-valid frames of every type with mutated payloads, through the stream decoder and
    parse_message. Returns (inputs tried, escapes)."""
    rng = random.Random(seed)
    escapes: list[str] = []
    for case in range(cases):
        msg_type = rng.choice(list(spec.MsgType))
        payload = mutate(rng, _valid_payloads(rng)[msg_type])
        decoder = StreamDecoder()
        try:
            for frame in decoder.feed(_frame(msg_type, payload, case)):
                try:
                    message = parse_message(frame)
                except MalformedPayload:
                    continue
                if msg_type == spec.MsgType.SAMPLES:
                    assert message.imu_count > 0 and message.end_index <= 2**32
                    assert message.imu.shape == (message.imu_count, 6)
                    assert len(message.load) == message.load_count
                if msg_type == spec.MsgType.INFO:
                    assert message.imu_rate_hz in spec.IMU_RATES_HZ
                    assert message.accel_fs_g in spec.ACCEL_RANGES_G
        except Exception as exc:  # the point is to catch anything
            escapes.append(f"case {case} {spec.MsgType(msg_type).name}: {exc!r}")
    return cases, escapes


# --- anklet decode -------------------------------------------------------------------------


def forged_capture(rng: random.Random, blocks: int = 80) -> bytes:
    """An INFO and a stream of SAMPLES, then forged: fields set to extremes, frames shuffled,
    duplicated, dropped; every frame with a good CRC. (No BOOT event: a capture has no host
    clock to place a second boot's rows after the first's; see capture.py.)"""
    info = info_fields()
    if rng.random() < 0.3:
        key = rng.choice(
            ["accel_fs_g", "gyro_fs_dps", "imu_rate_hz", "load_rate_hz", "load_scale", "max_frame"]
        )
        widest = 255 if key in ("accel_fs_g", "load_rate_hz") else 65535
        if key == "load_scale":
            info[key] = rng.choice((0.0, float("nan"), float("inf"), 1e-30, 1e30, -0.0))
        else:
            info[key] = rng.choice((0, 1, 3, widest))
    frames: list[tuple[int, bytes, int]] = [(spec.MsgType.INFO, spec.Info.build(info), 0)]
    for i in range(blocks):
        first = i * BLOCK
        t0 = None
        n, period = BLOCK, PERIOD_US
        roll = rng.random()
        if roll < 0.05:
            first = rng.choice((first + 2**31, 2**32 - 5, max(0, first + rng.randrange(-50, 50))))
        elif roll < 0.10:
            t0 = rng.choice((0, 12345, rng.randrange(spec.TICKS_PERIOD_US)))
        elif roll < 0.13:
            n = rng.choice((1, 7, 30, 255))
        elif roll < 0.15:
            period = rng.choice((1, 2500, 5001, 65535))
        flags = rng.choice((0, 0, 0, spec.FrameFlag.RESENT, spec.FrameFlag.GAP_BEFORE, 3))
        frames.append(
            (spec.MsgType.SAMPLES, samples_payload(first, t0, n, rng.randrange(3), period), flags)
        )
    for _ in range(rng.randrange(10)):  # shuffle, duplicate, drop
        a, b = rng.randrange(1, len(frames)), rng.randrange(1, len(frames))
        op = rng.randrange(3)
        if op == 0:
            frames[a], frames[b] = frames[b], frames[a]
        elif op == 1:
            frames.insert(b, frames[a])
        elif len(frames) > 2:
            del frames[a]
    return b"".join(_frame(t, p, seq, fl) for seq, (t, p, fl) in enumerate(frames))


def check_session(folder: Path, accounting) -> str:
    """'' if the decoded files keep the session's invariants, else what broke."""
    with open(folder / "samples.csv") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != accounting.received:
        return f"{len(rows)} rows but {accounting.received} received"
    if accounting.expected != accounting.received + accounting.lost + accounting.refused:
        return f"account does not add up: {accounting}"
    if rows:
        index = np.array([int(r["index"]) for r in rows])
        t_s = np.array([float(r["t_s"]) for r in rows])
        if np.any(np.diff(index) <= 0):
            return "rows not in index order"
        if np.any(np.diff(t_s) <= 0):
            return "row times not increasing"
        if t_s.min() < -1.0:
            return f"row time {t_s.min()} s before the session"
    return ""


def fuzz_decode(tmp: Path, seed: int, cases: int) -> tuple[int, list[str]]:
    """Forged captures through decode_capture. Returns (inputs tried, escapes)."""
    from anklet.capture import CaptureError, decode_capture

    rng = random.Random(seed)
    escapes: list[str] = []
    for case in range(cases):
        capture = tmp / f"case{case}.bin"
        capture.write_bytes(forged_capture(rng))
        out = tmp / f"out{case}"
        try:
            result = decode_capture(capture, out)
        except CaptureError:
            if out.exists() and any(out.iterdir()):
                escapes.append(f"case {case}: an error left a folder behind")
            continue
        except Exception as exc:
            escapes.append(f"case {case}: {exc!r}")
            continue
        broken = check_session(result.folder, result.accounting)
        if broken:
            escapes.append(f"case {case}: {broken}")
        shutil.rmtree(out, ignore_errors=True)
        capture.unlink()
    return cases, escapes
