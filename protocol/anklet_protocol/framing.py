"""Build and check frames: `Header | payload | CRC-32`, and COBS for the serial link.

from anklet_protocol import framing, spec
raw = framing.encode_frame(spec.MsgType.LOG, payload, seq=7)
wire = framing.cobs_wrap(raw)  # what goes on the serial port, zero-terminated
"""

from __future__ import annotations

import struct
import zlib

from cobs import cobs

from . import spec, structfmt

HEADER = struct.Struct(structfmt.format_of(spec.Header))
CRC = struct.Struct("<I")
MAX_PAYLOAD = 0xFFFF


def encode_frame(
    msg_type: int,
    payload: bytes,
    seq: int,
    flags: int = 0,
    version: tuple[int, int] = (spec.VERSION_MAJOR, spec.VERSION_MINOR),
) -> bytes:
    """One raw frame (no COBS) with its CRC."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    head = HEADER.pack(
        spec.MAGIC, version[0], version[1], msg_type, flags, seq & 0xFFFF, len(payload)
    )
    body = head + payload
    return body + CRC.pack(zlib.crc32(body))


def cobs_wrap(frame: bytes) -> bytes:
    """COBS-encode a raw frame and terminate it with the zero delimiter."""
    return cobs.encode(frame) + b"\x00"


def build_command(request_id: int, opcode: spec.Opcode, **args: object) -> bytes:
    """A COMMAND payload with its arguments built from `spec.COMMAND_ARGS`."""
    return build_command_raw(request_id, opcode, spec.COMMAND_ARGS[opcode].build(args))


def build_command_raw(request_id: int, opcode: int, args: bytes) -> bytes:
    """A COMMAND payload with argument bytes as given (any opcode, any length)."""
    return spec.Command.build(dict(request_id=request_id, opcode=opcode, args=args))
