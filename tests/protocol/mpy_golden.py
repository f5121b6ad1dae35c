# Runs under MicroPython: checks the firmware's encoder and decoder against the golden vectors.
# Usage: micropython mpy_golden.py VECTORS.json  (firmware/ on MICROPYPATH). Prints one line per
# vector: "ok NAME" or "FAIL NAME: why".
import binascii
import json
import struct
import sys

import anklet_wire as W
import framing
import messages


def unhex(value):
    return binascii.unhexlify(value["hex"]) if isinstance(value, dict) else value


def build_payload(vec, buf):
    t = vec["msg_type"]
    f = vec["fields"]
    if t == W.MSG_INFO:
        info = dict(f)
        info["device_id"] = unhex(f["device_id"])
        return messages.pack_info(buf, info)
    if t == W.MSG_STATUS:

        class S:
            pass

        s = S()
        for k in f:
            setattr(s, k, f[k])
        return messages.pack_status(buf, 0, s)
    if t == W.MSG_SAMPLES:
        messages.pack_samples_header(
            buf, 0, f["first_index"], f["t0_us"], f["period_us"], f["imu_count"], f["load_count"]
        )
        at = W.SAMPLES_HEADER_SIZE
        for s in f["imu"]:
            struct.pack_into(W.IMU_SAMPLE_FMT, buf, at, *[s[k] for k in W.IMU_FIELDS])
            at += W.IMU_SAMPLE_SIZE
        for s in f["load"]:
            messages.pack_load(buf, at, s["index"], s["t_us"], s["counts"])
            at += W.LOAD_SAMPLE_SIZE
        return at
    if t == W.MSG_EVENT:
        return messages.pack_event(buf, f["kind"], f["t_us"], f["value"])
    if t == W.MSG_LOG:
        return messages.pack_log(buf, f["level"], f["text"])
    if t == W.MSG_REPLY:
        n = messages.pack_reply_head(buf, f["request_id"], f["opcode"], f["status"])
        if f["opcode"] == W.OP_START and "reply" in vec:
            # The firmware's own packer (commands.py answers START with it); the payload
            # goes at the reply's head as send_reply copies it there.
            return n + messages.pack_start_reply(memoryview(buf)[n:], vec["reply"]["first_index"])
        body = unhex(f["payload"])
        buf[n : n + len(body)] = body
        return n + len(body)
    return None


def check_encode(vec):
    writer = framing.FrameWriter(600)
    n = build_payload(vec, writer.payload)
    if n is None:
        return None
    got = binascii.hexlify(writer.frame[W.HEADER_SIZE : W.HEADER_SIZE + n]).decode()
    if "peer_version" in vec:
        return check_peer_payload(vec, got)
    if got != vec["payload"]:
        return "payload " + got
    writer.seq = vec["seq"]
    size = writer.seal(vec["msg_type"], vec["flags"], n)
    got = binascii.hexlify(writer.frame[:size]).decode()
    if got != vec["frame"]:
        return "frame " + got
    m = writer.cobs(size)
    got = binascii.hexlify(writer.wire[:m]).decode()
    if got != vec["wire"]:
        return "wire " + got
    return ""


def check_peer_payload(vec, got):
    # A board of another minor version: the payloads agree on every byte both versions have,
    # so an older host reads this board's prefix and a newer board only appends.
    want = vec["payload"]
    common = min(len(got), len(want))
    if got[:common] != want[:common]:
        return "common prefix " + got
    older = vec["peer_version"][1] < W.VERSION_MINOR
    if (len(want) < len(got)) != older or len(want) == len(got):
        return "payload length %d for peer 1.%d" % (len(want) // 2, vec["peer_version"][1])
    return ""


def check_decode(vec):
    got = []
    reader = framing.FrameReader(600, lambda t, frame, n: got.append((t, bytes(frame[:n]))))
    for b in binascii.unhexlify(vec["wire"]):
        reader.feed_byte(b)
    if len(got) != 1 or reader.errors:
        return "decoded %d frames, %d errors" % (len(got), reader.errors)
    msg_type, frame = got[0]
    if msg_type != vec["msg_type"] or binascii.hexlify(frame).decode() != vec["frame"]:
        return "decoded frame differs"
    if msg_type == W.MSG_COMMAND:
        request_id, opcode, at, n = messages.parse_command(frame, len(frame))
        f = vec["fields"]
        if request_id != f["request_id"] or opcode != f["opcode"]:
            return "command head"
        if binascii.hexlify(frame[at : at + n]).decode() != f["args"]["hex"]:
            return "command args"
        if W.ARGS_SIZE[opcode] >= 0 and W.ARGS_SIZE[opcode] != n:
            return "args size %d != %d" % (n, W.ARGS_SIZE[opcode])
    return ""


vectors = json.load(open(sys.argv[1]))
for vec in vectors:
    why = check_encode(vec)
    if why is None:  # a message the board only receives
        why = ""
    if not why:
        why = check_decode(vec)
    print(("ok " if not why else "FAIL ") + vec["name"] + ("" if not why else ": " + why))
