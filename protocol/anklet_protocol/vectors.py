"""Golden vectors: frames built by the host definitions, checked byte for byte on both sides.

Each vector has the message's fields (JSON), its payload, the raw frame and the COBS wire bytes.
The firmware's encoder must produce the same bytes from the same fields under MicroPython.
"""

from __future__ import annotations

import json
from typing import Any

from . import framing, spec


def _i16(value: int) -> int:
    return (value + 32768) % 65536 - 32768


# A spread of int16 values, both signs and both extremes, varying with the sample index k.
_SPREAD = (
    lambda k: _i16(k * 977),
    lambda k: _i16(-k * 31),
    lambda k: 16384 - k,
    lambda k: _i16(k * 7 - 200),
    lambda k: 32767 - k,
    lambda k: -32768 + k,
)


def _imu(k: int) -> dict[str, int]:
    """One IMU sample: every field of `spec.ImuSample`, each with its own spread."""
    k %= 4096
    names = [str(sub.name) for sub in spec.ImuSample.subcons]
    return {name: _SPREAD[j % len(_SPREAD)](k) for j, name in enumerate(names)}


def _info(name: str) -> dict[str, Any]:
    return dict(
        device_id=bytes.fromhex("24a160c0ffee"),
        name=name,
        fw_major=0,
        fw_minor=3,
        fw_patch=1,
        fw_git="1a2b3c4d",
        proto_major=spec.VERSION_MAJOR,
        proto_minor=spec.VERSION_MINOR,
        imu_model=spec.ImuModel.MPU6050,
        accel_fs_g=8,
        gyro_fs_dps=1000,
        imu_rate_hz=200,
        load_rate_hz=80,
        reset_cause=spec.ResetCause.WATCHDOG,
        load_offset=-81234,
        load_scale=2280.5,
        max_frame=244,
        resend_window_ms=25800,
    )


def _status() -> dict[str, Any]:
    return dict(
        uptime_ms=123456789,
        battery_mv=3987,
        battery_pct=81,
        flags=spec.StatusFlag.STREAMING | spec.StatusFlag.CONFIG_DEFAULTS,
        samples_produced=4000000,
        samples_dropped=12,
        load_produced=1600000,
        frames_sent=250000,
        tx_retries=17,
        ring_oldest=3990000,
        free_heap=81920,
        load_dropped=3,
    )


def _samples(first: int, n_imu: int, n_load: int) -> dict[str, Any]:
    return dict(
        first_index=first,
        t0_us=(first * 5000) % spec.TICKS_PERIOD_US,
        period_us=5000,
        imu_count=n_imu,
        load_count=n_load,
        imu=[_imu(first + k) for k in range(n_imu)],
        load=[
            dict(
                index=first // 3 + j,
                t_us=(first * 5000 + j * 12500) % spec.TICKS_PERIOD_US,
                counts=-(2**23) + 1 + j * 654321,
            )
            for j in range(n_load)
        ],
    )


def _command(opcode: spec.Opcode, request_id: int, **args: Any) -> dict[str, Any]:
    return dict(request_id=request_id, opcode=opcode, args=spec.COMMAND_ARGS[opcode].build(args))


def _reply(opcode: spec.Opcode, request_id: int, status: int, **payload: Any) -> dict[str, Any]:
    body = spec.REPLY_PAYLOADS[opcode].build(payload) if payload else b""
    return dict(request_id=request_id, opcode=opcode, status=status, payload=body)


# (name, message type, flags, seq, fields)
CASES: list[tuple[str, spec.MsgType, int, int, dict[str, Any]]] = [
    ("info", spec.MsgType.INFO, 0, 0, _info("Anklet-C0FFEE")),
    ("info_unicode_name", spec.MsgType.INFO, 0, 1, _info("Åsa's ankle")),
    ("status", spec.MsgType.STATUS, 0, 2, _status()),
    ("samples_small", spec.MsgType.SAMPLES, 0, 3, _samples(0, 1, 0)),
    ("samples_ble_full", spec.MsgType.SAMPLES, 0, 65535, _samples(1000, 12, 6)),
    (
        "samples_gap_resent",
        spec.MsgType.SAMPLES,
        spec.FrameFlag.GAP_BEFORE | spec.FrameFlag.RESENT,
        4,
        _samples(2**29 + 5, 36, 4),
    ),
    (
        "event_button",
        spec.MsgType.EVENT,
        0,
        5,
        dict(kind=spec.EventKind.BUTTON, t_us=999, value=450),
    ),
    (
        "log",
        spec.MsgType.LOG,
        0,
        6,
        dict(level=spec.LogLevel.WARNING, text="config.json corrupt: using defaults"),
    ),
    ("cmd_get_info", spec.MsgType.COMMAND, 0, 0, _command(spec.Opcode.GET_INFO, 1)),
    (
        "cmd_set_rates",
        spec.MsgType.COMMAND,
        0,
        1,
        _command(
            spec.Opcode.SET_RATES,
            2,
            imu_rate_hz=1000,
            load_rate_hz=80,
            accel_fs_g=16,
            gyro_fs_dps=2000,
        ),
    ),
    ("cmd_tare", spec.MsgType.COMMAND, 0, 2, _command(spec.Opcode.TARE, 3, samples=20)),
    ("cmd_calibrate", spec.MsgType.COMMAND, 0, 3, _command(spec.Opcode.CALIBRATE, 4, mass_g=5000)),
    (
        "cmd_set_name",
        spec.MsgType.COMMAND,
        0,
        4,
        _command(spec.Opcode.SET_NAME, 5, name="Left ankle"),
    ),
    (
        "cmd_time_sync",
        spec.MsgType.COMMAND,
        0,
        5,
        _command(spec.Opcode.TIME_SYNC, 65535, host_token=0xDEADBEEF),
    ),
    ("cmd_resend", spec.MsgType.COMMAND, 0, 6, _command(spec.Opcode.RESEND, 7, from_index=123456)),
    (
        "reply_time_sync",
        spec.MsgType.REPLY,
        0,
        7,
        _reply(
            spec.Opcode.TIME_SYNC,
            65535,
            spec.StatusCode.OK,
            host_token=0xDEADBEEF,
            device_us=2**30 - 1,
        ),
    ),
    (
        "reply_resend",
        spec.MsgType.REPLY,
        0,
        8,
        _reply(
            spec.Opcode.RESEND,
            7,
            spec.StatusCode.OK,
            from_index=123456,
            oldest_index=120000,
            next_index=130000,
        ),
    ),
    (
        "reply_start",
        spec.MsgType.REPLY,
        0,
        11,
        _reply(spec.Opcode.START, 12, spec.StatusCode.OK, first_index=2**29 + 5),
    ),
    (
        "reply_calibrate",
        spec.MsgType.REPLY,
        0,
        9,
        _reply(spec.Opcode.CALIBRATE, 4, spec.StatusCode.OK, scale=2280.5),
    ),
    (
        "reply_error",
        spec.MsgType.REPLY,
        0,
        10,
        _reply(spec.Opcode.SET_RATES, 2, spec.StatusCode.OUT_OF_RANGE),
    ),
]


# Peers of other minor versions (name, message type, seq, fields, the peer's minor version):
# an older board's payload ends before the fields added since, which the host reads as their
# defaults; a newer board's payload carries a field this host does not know, which it ignores.
# `fields` is what this host must read.
COMPAT_CASES: list[tuple[str, spec.MsgType, int, dict[str, Any], int]] = [
    ("info_from_board_1_0", spec.MsgType.INFO, 20, _info("Anklet-C0FFEE"), 0),
    ("status_from_board_1_0", spec.MsgType.STATUS, 21, _status(), 0),
    (
        "info_from_newer_board",
        spec.MsgType.INFO,
        22,
        _info("Anklet-C0FFEE"),
        spec.VERSION_MINOR + 1,
    ),
    ("status_from_newer_board", spec.MsgType.STATUS, 23, _status(), spec.VERSION_MINOR + 1),
]
# Replies of peers of other minor versions (name, opcode, seq, reply payload fields, the peer's
# minor version): a 1.1 board answers START with nothing (where its stream begins is unknown), a
# newer board appends a field.
REPLY_COMPAT_CASES: list[tuple[str, spec.Opcode, int, dict[str, Any], int]] = [
    ("reply_start_from_board_1_1", spec.Opcode.START, 24, dict(first_index=4321), 1),
    (
        "reply_start_from_newer_board",
        spec.Opcode.START,
        25,
        dict(first_index=4321),
        spec.VERSION_MINOR + 1,
    ),
]
#: The field a newer board appends in the vectors above (4 bytes this host has never seen).
NEWER_FIELD = bytes.fromhex("a5c3e1f0")


def peer_payload(msg_type: spec.MsgType, fields: dict[str, Any], minor: int) -> bytes:
    """The payload a board of version 1.`minor` sends for these fields."""
    return peer_struct_payload(spec.PAYLOADS[msg_type], fields, minor)


def peer_struct_payload(struct: Any, fields: dict[str, Any], minor: int) -> bytes:
    """`struct` (a payload or a reply payload) as a board of version 1.`minor` builds it."""
    payload = struct.build(fields)
    if minor > spec.VERSION_MINOR:
        return payload + NEWER_FIELD
    return payload[: spec.as_of(struct, minor).sizeof()]


def read_by_this_host(msg_type: spec.MsgType, fields: dict[str, Any], minor: int) -> dict[str, Any]:
    """The fields this host reads from a board of version 1.`minor`: later ones at defaults."""
    return struct_read_by_this_host(spec.PAYLOADS[msg_type], fields, minor)


def struct_read_by_this_host(struct: Any, fields: dict[str, Any], minor: int) -> dict[str, Any]:
    out = dict(fields)
    for sub in struct.subcons:
        added = spec.trailing_of(sub)
        if added is not None and added.since > minor:
            out[str(sub.name)] = added.default
    return out


def _reply_payload_fields(reply: dict[str, Any]) -> dict[str, Any] | None:
    """What the host reads from an OK reply's payload (for the firmware's reply packers)."""
    struct = spec.REPLY_PAYLOADS.get(spec.Opcode(reply["opcode"]))
    if struct is None or reply["status"] != spec.StatusCode.OK:
        return None
    parsed = struct.parse(reply["payload"])
    return {str(sub.name): parsed[str(sub.name)] for sub in struct.subcons}


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | int | str):
        return value if not hasattr(value, "value") else int(value)
    return value


def build_vectors() -> list[dict[str, Any]]:
    out = []
    for name, msg_type, flags, seq, fields in CASES:
        payload = spec.PAYLOADS[msg_type].build(fields)
        frame = framing.encode_frame(msg_type, payload, seq=seq, flags=flags)
        vector = dict(
            name=name,
            msg_type=int(msg_type),
            flags=int(flags),
            seq=seq,
            fields=_jsonable(fields),
            payload=payload.hex(),
            frame=frame.hex(),
            wire=framing.cobs_wrap(frame).hex(),
        )
        reply = _reply_payload_fields(fields) if msg_type == spec.MsgType.REPLY else None
        if reply is not None:
            vector["reply"] = _jsonable(reply)
        out.append(vector)
    for name, msg_type, seq, fields, minor in COMPAT_CASES:
        payload = peer_payload(msg_type, fields, minor)
        version = (spec.VERSION_MAJOR, minor)
        frame = framing.encode_frame(msg_type, payload, seq=seq, version=version)
        out.append(
            dict(
                name=name,
                msg_type=int(msg_type),
                flags=0,
                seq=seq,
                peer_version=list(version),
                fields=_jsonable(read_by_this_host(msg_type, fields, minor)),
                payload=payload.hex(),
                frame=frame.hex(),
                wire=framing.cobs_wrap(frame).hex(),
            )
        )
    for name, opcode, seq, fields, minor in REPLY_COMPAT_CASES:
        struct = spec.REPLY_PAYLOADS[opcode]
        reply = dict(
            request_id=seq,
            opcode=opcode,
            status=spec.StatusCode.OK,
            payload=peer_struct_payload(struct, fields, minor),
        )
        payload = spec.Reply.build(reply)
        version = (spec.VERSION_MAJOR, minor)
        frame = framing.encode_frame(spec.MsgType.REPLY, payload, seq=seq, version=version)
        out.append(
            dict(
                name=name,
                msg_type=int(spec.MsgType.REPLY),
                flags=0,
                seq=seq,
                peer_version=list(version),
                fields=_jsonable(reply),
                reply=_jsonable(struct_read_by_this_host(struct, fields, minor)),
                payload=payload.hex(),
                frame=frame.hex(),
                wire=framing.cobs_wrap(frame).hex(),
            )
        )
    return out


def vectors_json() -> str:
    return json.dumps(build_vectors(), indent=1, ensure_ascii=True) + "\n"
