"""Frame encoder and decoder for the board: header | payload | CRC-32, and COBS for serial.

    writer = FrameWriter(max_frame=512)
    writer.payload[0] = ...                    # fill the payload in place
    n = writer.seal(anklet_wire.MSG_LOG, 0, payload_len)   # header + CRC into writer.frame
    stream.write(writer.wire, writer.cobs(n))  # COBS + zero delimiter

Allocation-free after construction: CRC and COBS are viper loops writing into preallocated
buffers (binascii.crc32 would return a 32-bit int, which is a heap object on the ESP32).
"""

import struct
from array import array

import anklet_wire as W
import micropython
from micropython import const

_HEADER_SIZE = const(10)  # W.HEADER_SIZE; checked in FrameWriter.__init__
_POLY = const(0xEDB88320)  # CRC-32 (IEEE 802.3), reflected


def _crc_table():
    table = array("I", bytearray(1024))
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table[i] = c
    return table


_CRC_TABLE = _crc_table()


@micropython.viper
def _crc32_into(buf, n: int, table):
    # CRC-32 of buf[0:n], stored little-endian at buf[n:n+4].
    p = ptr8(buf)
    t = ptr32(table)
    crc = 0xFFFF
    crc = (crc << 16) | 0xFFFF
    i = 0
    while i < n:
        crc = t[(crc ^ p[i]) & 0xFF] ^ ((crc >> 8) & 0xFFFFFF)
        i += 1
    p[n] = (crc ^ 0xFF) & 0xFF
    p[n + 1] = ((crc >> 8) ^ 0xFF) & 0xFF
    p[n + 2] = ((crc >> 16) ^ 0xFF) & 0xFF
    p[n + 3] = ((crc >> 24) ^ 0xFF) & 0xFF


@micropython.viper
def _crc32_check(buf, n: int, table) -> bool:
    # True if buf[n-4:n] holds the CRC-32 of buf[0:n-4].
    p = ptr8(buf)
    t = ptr32(table)
    crc = 0xFFFF
    crc = (crc << 16) | 0xFFFF
    i = 0
    end = n - 4
    while i < end:
        crc = t[(crc ^ p[i]) & 0xFF] ^ ((crc >> 8) & 0xFFFFFF)
        i += 1
    if p[end] != (crc ^ 0xFF) & 0xFF:
        return False
    if p[end + 1] != ((crc >> 8) ^ 0xFF) & 0xFF:
        return False
    if p[end + 2] != ((crc >> 16) ^ 0xFF) & 0xFF:
        return False
    return p[end + 3] == ((crc >> 24) ^ 0xFF) & 0xFF


@micropython.viper
def cobs_encode_into(src, n: int, dst) -> int:
    """COBS-encode src[0:n] into dst, add the zero delimiter; returns the bytes written."""
    s = ptr8(src)
    d = ptr8(dst)
    code_at = 0
    out = 1
    code = 1
    i = 0
    while i < n:
        b = s[i]
        i += 1
        if b == 0:
            d[code_at] = code
            code_at = out
            out += 1
            code = 1
        else:
            d[out] = b
            out += 1
            code += 1
            if code == 0xFF:
                d[code_at] = code
                code = 0  # block closed; a new one opens only if more bytes follow
                if i < n:
                    code_at = out
                    out += 1
                    code = 1
    if code:
        d[code_at] = code
    d[out] = 0
    return out + 1


@micropython.viper
def cobs_decode_into(src, n: int, dst) -> int:
    """Decode one COBS packet src[0:n] (no delimiter) into dst; returns its length or -1.

    dst may be src: each byte is written at or before the one being read."""
    s = ptr8(src)
    d = ptr8(dst)
    cap = int(len(dst))
    i = 0
    out = 0
    while i < n:
        code = s[i]
        if code == 0:
            return -1
        i += 1
        end = i + code - 1
        if end > n:
            return -1
        while i < end:
            if out >= cap:
                return -1
            b = s[i]
            if b == 0:
                return -1
            d[out] = b
            out += 1
            i += 1
        if code != 0xFF and i < n:
            if out >= cap:
                return -1
            d[out] = 0
            out += 1
    return out


def crc_ok(buf, n):
    """True if the frame buf[0:n] ends with a good CRC-32."""
    return n >= W.FRAME_OVERHEAD and _crc32_check(buf, n, _CRC_TABLE)


class FrameWriter:
    """Seals frames in one preallocated buffer; `seq` counts frames on this link."""

    def __init__(self, max_frame, cobs=True):
        if W.HEADER_SIZE != _HEADER_SIZE:
            raise ValueError("anklet_wire.HEADER_SIZE changed: update framing._HEADER_SIZE")
        self.max_frame = max_frame
        self.max_payload = max_frame - W.FRAME_OVERHEAD
        self.frame = bytearray(max_frame)
        # COBS adds one byte per 254, plus the leading code byte and the delimiter. Only a byte
        # stream (serial) needs it: cobs=False leaves it out (BLE sends frames as they are).
        self.wire = bytearray(max_frame + max_frame // 254 + 2) if cobs else None
        # Payload area as a view that starts at offset 0, for pack_into and readinto.
        self.payload = memoryview(self.frame)[_HEADER_SIZE : _HEADER_SIZE + self.max_payload]
        self.seq = 0
        self._magic = W.MAGIC
        self._fmt = W.HEADER_FMT

    def seal(self, msg_type, flags, length):
        """Write header and CRC around a payload of `length` bytes; returns the frame size."""
        struct.pack_into(
            self._fmt,
            self.frame,
            0,
            self._magic,
            W.VERSION_MAJOR,
            W.VERSION_MINOR,
            msg_type,
            flags,
            self.seq,
            length,
        )
        self.seq = (self.seq + 1) & 0xFFFF
        n = _HEADER_SIZE + length
        _crc32_into(self.frame, n, _CRC_TABLE)
        return n + 4

    def cobs(self, n):
        """COBS-encode the sealed frame of `n` bytes into `wire`; returns the wire length."""
        return cobs_encode_into(self.frame, n, self.wire)


class FrameReader:
    """Collects COBS packets from a byte stream and checks them into frames.

    feed() takes bytes as they arrive; when a zero delimiter completes a packet that decodes to
    a frame with a good CRC, magic and major version, `on_frame(msg_type, frame, length)` is
    called with the decoded frame buffer. Bad packets are counted in `errors`, never raised.
    """

    def __init__(self, max_frame, on_frame):
        # One buffer: packets decode in place (COBS output never overtakes its input), and a
        # link that checks raw frames (BLE) uses it as the frame.
        self.packet = self.frame = bytearray(max_frame + max_frame // 254 + 2)
        self.fill = 0
        self.errors = 0
        self.overflowed = False
        self.on_frame = on_frame

    def feed_byte(self, b):
        if b != 0:
            if self.fill < len(self.packet):
                self.packet[self.fill] = b
                self.fill += 1
            else:
                self.overflowed = True
            return
        n = self.fill
        self.fill = 0
        if self.overflowed:
            self.overflowed = False
            self.errors += 1
            return
        if n == 0:
            return
        self.check(cobs_decode_into(self.packet, n, self.frame))

    def check(self, n):
        """Validate a raw frame of `n` bytes in self.frame and deliver it."""
        frame = self.frame
        if n < W.FRAME_OVERHEAD or frame[0] != 0x41 or frame[1] != 0x4B:  # b"AK"
            self.errors += 1
            return
        length = frame[8] | (frame[9] << 8)
        if length + W.FRAME_OVERHEAD != n or not crc_ok(frame, n):
            self.errors += 1
            return
        if frame[2] != W.VERSION_MAJOR:
            self.errors += 1
            return
        self.on_frame(frame[4], frame, n)
