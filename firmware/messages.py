"""Payload packers for every board → host message, and the COMMAND parser.

Each packer writes into a caller's buffer with `struct.pack_into` (no allocation) and returns the
payload length. Formats come from `anklet_wire`, generated from the protocol definition.

    n = messages.pack_event(writer.payload, anklet_wire.EVENT_BUTTON, t_us, 450)
    writer.seal(anklet_wire.MSG_EVENT, 0, n)
"""

import struct

import anklet_wire as W

_TICKS_MASK = 0x3FFFFFFF  # device times wrap at 2**30 on the wire (MicroPython ticks period)


def pack_samples_header(buf, offset, first_index, t0_us, period_us, imu_count, load_count):
    struct.pack_into(
        W.SAMPLES_HEADER_FMT,
        buf,
        offset,
        first_index,
        t0_us & _TICKS_MASK,
        period_us,
        imu_count,
        load_count,
    )


def pack_load(buf, offset, index, t_us, counts):
    struct.pack_into(W.LOAD_SAMPLE_FMT, buf, offset, index, t_us & _TICKS_MASK, counts)


def pack_info(buf, info):
    """`info` is a dict with the Info fields (built once per config change, not in a hot path)."""
    values = dict(info)
    values["name"] = info["name"].encode()[: W.NAME_MAX]
    values["fw_git"] = info["fw_git"].encode()[:8]
    return W.pack_info(buf, 0, values)


def pack_status(buf, offset, s):
    """`s` is a Counters-like object with the Status fields as attributes (allocation-free)."""
    return W.pack_status(buf, offset, s)


def pack_event(buf, kind, t_us, value):
    struct.pack_into(W.EVENT_FMT, buf, 0, kind, t_us & _TICKS_MASK, value)
    return W.EVENT_SIZE


def pack_log(buf, level, text):
    data = text.encode() if isinstance(text, str) else text
    room = len(buf) - W.LOG_HEAD_SIZE - 1
    n = min(len(data), room, 255)
    struct.pack_into(W.LOG_HEAD_FMT, buf, 0, level)
    buf[W.LOG_HEAD_SIZE] = n
    buf[W.LOG_HEAD_SIZE + 1 : W.LOG_HEAD_SIZE + 1 + n] = data[:n]
    return W.LOG_HEAD_SIZE + 1 + n


def pack_start_reply(buf, first_index):
    """START's result: the index of the first IMU sample of the stream (protocol 1.2)."""
    struct.pack_into(W.START_REPLY_FMT, buf, 0, first_index)
    return W.START_REPLY_SIZE


def pack_reply_head(buf, request_id, opcode, status):
    """The reply's fixed head; its result (if any) follows at W.REPLY_HEAD_SIZE."""
    struct.pack_into(W.REPLY_HEAD_FMT, buf, 0, request_id, opcode, status)
    return W.REPLY_HEAD_SIZE


def parse_command(frame, n):
    """(request_id, opcode, args_offset, args_len) of a COMMAND frame of `n` bytes, or None."""
    start = W.HEADER_SIZE
    length = n - W.FRAME_OVERHEAD
    if length < W.COMMAND_HEAD_SIZE:
        return None
    request_id, opcode = struct.unpack_from(W.COMMAND_HEAD_FMT, frame, start)
    head = start + W.COMMAND_HEAD_SIZE
    return request_id, opcode, head, length - W.COMMAND_HEAD_SIZE
