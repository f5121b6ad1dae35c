"""The Anklet wire format, defined once. Everything else derives from these definitions.

A frame is `Header | payload | CRC-32`, little-endian. The CRC (zlib/binascii CRC-32) covers the
header and the payload. Serial carries frames COBS-encoded, each followed by a zero byte; BLE
carries exactly one frame per notification or write.

    from anklet_protocol import spec
    frame = spec.Frame.build(dict(header=dict(...), payload=b"..."))
    spec.Status.parse(payload)
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import NamedTuple

from construct import (
    Array,
    Bytes,
    Const,
    Float32l,
    GreedyBytes,
    Int8ul,
    Int16sl,
    Int16ul,
    Int32sl,
    Int32ul,
    PaddedString,
    PascalString,
    Renamed,
    Struct,
    Subconstruct,
    stream_iseof,
    this,
)

# Version rule: a host speaks to any board with the same major version. Minor versions only add
# message types, opcodes, status codes or trailing payload fields (declared with `Trailing`):
# an older peer's shorter payload parses with the fields' defaults, a newer peer's extra
# trailing bytes are ignored.
VERSION_MAJOR = 1
VERSION_MINOR = 3

MAGIC = b"AK"

# Device times are MicroPython ticks_us() values: they wrap every 2**30 µs (~17.9 min), and
# staying below 2**30 keeps them small ints on the ESP32 (no heap allocation).
TICKS_PERIOD_US = 1 << 30

# BLE: ATT MTU we ask for, and the ATT header that a notification/write spends of it.
BLE_MTU = 247
ATT_OVERHEAD = 3
# Largest frame on the serial link; keeps one FIFO drain at 1000 Hz within one frame.
SERIAL_MAX_FRAME = 512
# The serial line rate both ends use: MicroPython's ESP32 REPL UART runs at 115200 baud
# (ports/esp32/uart.h, MICROPY_HW_UART_REPL_BAUD). A faster rate would not help: the REPL UART's
# buffer size is fixed (machine_uart.c, "REPL UART buffer size is fixed"), so stdout writes go
# straight into the 128-byte TX FIFO and wait a 10 ms FreeRTOS tick whenever it is full
# (uart.c, uart_stdout_tx_strn): at most ~12.8 KB/s at any baud, short of 1000 Hz's ~14.8 KB/s.
SERIAL_BAUD = 115_200

# The Anklet GATT service (random 128-bit base, fixed forever for major version 1).
BLE_SERVICE_UUID = "8f1a0001-5c3e-4b7a-9d2e-a4c6e1b7f001"
BLE_DATA_UUID = "8f1a0002-5c3e-4b7a-9d2e-a4c6e1b7f001"  # notify: frames from the board
BLE_CONTROL_UUID = "8f1a0003-5c3e-4b7a-9d2e-a4c6e1b7f001"  # write with response: COMMAND frames


class MsgType(IntEnum):
    """What the payload of a frame holds."""

    INFO = 1  # device identity, versions, sensor set-up (board → host)
    SAMPLES = 2  # a block of IMU samples and the load samples of the same window (board → host)
    STATUS = 3  # health and counters (board → host, every second while streaming)
    COMMAND = 4  # a request (host → board)
    REPLY = 5  # the answer to one COMMAND, matched by request id (board → host)
    EVENT = 6  # button press, marker, boot (board → host)
    LOG = 7  # a short line of text (board → host)


class FrameFlag(IntFlag):
    """Bits of the header's `flags` byte."""

    NONE = 0
    RESENT = 0x01  # SAMPLES re-sent from the ring buffer after a RESEND command
    GAP_BEFORE = 0x02  # samples before `first_index` were lost on the board (FIFO overflow)


class Opcode(IntEnum):
    """COMMAND opcodes and the arguments each takes (see `COMMAND_ARGS`)."""

    GET_INFO = 1
    START = 2
    STOP = 3
    SET_RATES = 4
    TARE = 5
    CALIBRATE = 6
    SET_NAME = 7
    TIME_SYNC = 8
    RESEND = 9
    REBOOT = 10
    GET_STATUS = 11
    EXIT_TO_REPL = 12
    RESET_CONFIG = 13  # name, rates, ranges and bonding rule back to defaults; keeps calibration
    ACK = 14  # (1.3) the host holds every sample below an index: the board may forget them


class StatusCode(IntEnum):
    """REPLY status codes. Every failure a board can report is one of these."""

    OK = 0  # done; the payload holds the result, if any
    UNKNOWN_OPCODE = 1  # the board does not know this opcode (newer host, older firmware)
    BAD_LENGTH = 2  # the arguments are shorter or longer than the opcode takes
    OUT_OF_RANGE = 3  # an argument is outside what the hardware supports (e.g. rate 300 Hz)
    INVALID_STATE = 4  # not possible now (e.g. tare while the load cell is not ready)
    SENSOR_ERROR = 5  # a sensor did not answer or answered wrongly (I2C error, HX711 timeout)
    NOT_AVAILABLE = 6  # RESEND: the requested samples are no longer in the ring buffer
    STORAGE_ERROR = 7  # the configuration could not be written to flash
    NOT_AUTHORIZED = 8  # the link is not encrypted and the board requires a bonded link
    INTERNAL_ERROR = 9  # an unexpected failure on the board; a LOG frame says more
    BUSY = 10  # the board's command queue is full (a flood): not done, send it again later


STATUS_MEANINGS: dict[StatusCode, str] = {
    StatusCode.OK: "done",
    StatusCode.UNKNOWN_OPCODE: "the firmware does not know this command",
    StatusCode.BAD_LENGTH: "the command's arguments have the wrong length",
    StatusCode.OUT_OF_RANGE: "an argument is outside what the hardware supports",
    StatusCode.INVALID_STATE: "the board cannot do this in its current state",
    StatusCode.SENSOR_ERROR: "a sensor did not answer or answered wrongly",
    StatusCode.NOT_AVAILABLE: "the requested samples are no longer held by the board",
    StatusCode.STORAGE_ERROR: "the configuration could not be saved to flash",
    StatusCode.NOT_AUTHORIZED: "the link must be paired (encrypted) for this command",
    StatusCode.INTERNAL_ERROR: "the board hit an unexpected error (see its log)",
    StatusCode.BUSY: "the board's command queue was full: send the command again",
}


class ImuModel(IntEnum):
    UNKNOWN = 0
    MPU6050 = 1
    LSM6DSO = 2
    ICM42688 = 3
    MPU6500 = 4  # also the MPU-9250/9255 (an MPU-6500 and a magnetometer): GY-521 clones


#: What one LSB of a SAMPLES reading is worth, from each part's datasheet, by full scale:
#: LSB per g and LSB per deg/s. Not always 32768 / full scale: the MPU-6050's ±1000 deg/s is
#: 32.8 LSB/(deg/s), 0.1 % off 32.768; the LSM6DSO's ±250 deg/s is 8.75 mdps/LSB (114.3/(deg/s)).
ACCEL_LSB_PER_G: dict[int, dict[int, float]] = {
    ImuModel.MPU6050: {2: 16384.0, 4: 8192.0, 8: 4096.0, 16: 2048.0},
    ImuModel.LSM6DSO: {2: 1 / 0.000061, 4: 1 / 0.000122, 8: 1 / 0.000244, 16: 1 / 0.000488},
    ImuModel.ICM42688: {2: 16384.0, 4: 8192.0, 8: 4096.0, 16: 2048.0},
    ImuModel.MPU6500: {2: 16384.0, 4: 8192.0, 8: 4096.0, 16: 2048.0},  # PS-MPU-6500A table 1.3
}
GYRO_LSB_PER_DPS: dict[int, dict[int, float]] = {
    ImuModel.MPU6050: {250: 131.0, 500: 65.5, 1000: 32.8, 2000: 16.4},
    ImuModel.LSM6DSO: {250: 1 / 0.00875, 500: 1 / 0.0175, 1000: 1 / 0.035, 2000: 1 / 0.07},
    ImuModel.ICM42688: {250: 131.0, 500: 65.5, 1000: 32.8, 2000: 16.4},
    ImuModel.MPU6500: {250: 131.0, 500: 65.5, 1000: 32.8, 2000: 16.4},  # PS-MPU-6500A table 1.2
}


def accel_lsb_per_g(model: int, full_scale_g: int) -> float:
    """LSB per g for this part and range (32768 / range for a part or range not listed)."""
    return ACCEL_LSB_PER_G.get(model, {}).get(full_scale_g, 32768.0 / full_scale_g)


def gyro_lsb_per_dps(model: int, full_scale_dps: int) -> float:
    """LSB per deg/s for this part and range (32768 / range for a part or range not listed)."""
    return GYRO_LSB_PER_DPS.get(model, {}).get(full_scale_dps, 32768.0 / full_scale_dps)


class ResetCause(IntEnum):
    """Why the board last started (mirrors machine.reset_cause() on the ESP32)."""

    UNKNOWN = 0
    POWER_ON = 1
    HARD_RESET = 2
    WATCHDOG = 3
    DEEPSLEEP = 4
    SOFT_RESET = 5


class EventKind(IntEnum):
    BOOT = 1  # the board started; value = ResetCause
    BUTTON = 2  # the button was pressed; value = press duration in ms
    MARKER = 3  # a marker set by the user (long press)
    CONFIG_CHANGED = 4  # rates, ranges or calibration changed; an INFO frame follows


class LogLevel(IntEnum):
    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40


class StatusFlag(IntFlag):
    NONE = 0
    STREAMING = 0x01
    CONFIG_DEFAULTS = 0x02  # the config file was missing or corrupt: defaults are in use
    IMU_FAULT = 0x04  # the IMU did not answer on the last attempt
    LOAD_FAULT = 0x08  # the HX711 has not been ready for longer than two periods
    LOW_BATTERY = 0x10
    BONDING_REQUIRED = 0x20  # commands over BLE need an encrypted link


IMU_RATES_HZ = (100, 200, 400, 1000)
LOAD_RATES_HZ = (10, 80)
ACCEL_RANGES_G = (2, 4, 8, 16)
GYRO_RANGES_DPS = (250, 500, 1000, 2000)
NAME_MAX = 20

# --- Compatibility -------------------------------------------------------------------------


class Trailing(Subconstruct):
    """A field added at the end of a message in minor version `since`.

    Parsing a payload that ends where this field would start (an older peer's) gives `default`;
    a payload that ends inside the field is still an error. Building without the field writes
    `default`. Only `Trailing` fields may follow a `Trailing` field (`check_trailing`), and
    only in a struct that is a whole payload: the end of the payload is what marks an older peer.

        "load_dropped" / Trailing(Int32ul, default=0, since=1)
    """

    def __init__(self, subcon, default, since):
        super().__init__(subcon)
        self.default = default
        self.since = since
        self.flagbuildnone = True  # Struct passes None when the caller leaves the field out

    def _parse(self, stream, context, path):
        if stream_iseof(stream):
            return self.default
        return self.subcon._parsereport(stream, context, path)

    def _build(self, obj, stream, context, path):
        return self.subcon._build(self.default if obj is None else obj, stream, context, path)


def trailing_of(sub) -> Trailing | None:
    """The `Trailing` marker of a Struct's field, if it was added in a minor version."""
    while isinstance(sub, Renamed):
        sub = sub.subcon
    return sub if isinstance(sub, Trailing) else None


def field_since(sub) -> int:
    """The minor version that added this field of a Struct (0: there from the start)."""
    marker = trailing_of(sub)
    return marker.since if marker is not None else 0


def check_trailing(struct: Struct) -> Struct:
    """Raise if a field added in a minor version is followed by an older or plain field."""
    since = 0
    for sub in struct.subcons:
        added = field_since(sub)
        if added < since:
            raise TypeError(f"field {sub.name} follows a field added in 1.{since}: add it last")
        if added > VERSION_MINOR:
            raise TypeError(f"field {sub.name} is added in 1.{added}, after {VERSION_MINOR}")
        since = added
    return struct


def as_of(struct: Struct, minor: int) -> Struct:
    """The struct as a peer of version 1.`minor` knows it (without fields added later)."""
    return Struct(*(sub for sub in struct.subcons if field_since(sub) <= minor))


# --- Frame ---------------------------------------------------------------------------------

Header = Struct(
    "magic" / Const(MAGIC),
    "version_major" / Int8ul,
    "version_minor" / Int8ul,
    "msg_type" / Int8ul,  # MsgType
    "flags" / Int8ul,  # FrameFlag
    "seq" / Int16ul,  # per-link frame counter, wraps; gaps reveal lost frames
    "length" / Int16ul,  # payload bytes
)
HEADER_SIZE = Header.sizeof()
CRC_SIZE = 4
FRAME_OVERHEAD = HEADER_SIZE + CRC_SIZE

Frame = Struct(
    "header" / Header,
    "payload" / Bytes(this.header.length),
    "crc32" / Int32ul,  # CRC-32 of header + payload
)

# --- Payloads ------------------------------------------------------------------------------

ImuSample = Struct(
    "ax" / Int16sl,  # accelerometer, LSB of the configured full scale
    "ay" / Int16sl,
    "az" / Int16sl,
    "gx" / Int16sl,  # gyroscope, LSB of the configured full scale
    "gy" / Int16sl,
    "gz" / Int16sl,
)
IMU_SAMPLE_SIZE = ImuSample.sizeof()


class ChannelGroup(NamedTuple):
    """Consecutive fields of an IMU sample that measure one quantity on three axes."""

    name: str  # the host's name for the group: `layout.GROUPS["accel"]`
    fields: tuple[str, ...]  # the ImuSample fields, in wire order
    unit: str  # the host's unit, the suffix of its CSV columns: ax → ax_ms2
    from_lsb: str  # how the host turns a reading into that unit (docs)


#: The IMU sample's channels. A field added to every IMU sample (a magnetometer: mx, my, mz)
#: goes into `ImuSample` and here; `layout`, the CSV columns and the firmware's sizes follow.
IMU_GROUPS = (
    ChannelGroup("accel", ("ax", "ay", "az"), "ms2", "× 9.80665 / accel_lsb_per_g (INFO)"),
    ChannelGroup("gyro", ("gx", "gy", "gz"), "dps", "/ gyro_lsb_per_dps (INFO)"),
)


LoadSample = Struct(
    "index" / Int32ul,  # load-cell sample counter since start
    "t_us" / Int32ul,  # device time of the conversion, µs, wraps at 2**30
    "counts" / Int32sl,  # tared ADC counts (raw − tare offset); newtons = counts / scale
)
LOAD_SAMPLE_SIZE = LoadSample.sizeof()

SamplesHeader = Struct(
    "first_index" / Int32ul,  # IMU sample index of the first sample in this block
    "t0_us" / Int32ul,  # device time of that sample, µs, wraps at 2**30
    "period_us" / Int16ul,  # nominal IMU sample period
    "imu_count" / Int8ul,
    "load_count" / Int8ul,
)
SAMPLES_HEADER_SIZE = SamplesHeader.sizeof()

Samples = Struct(
    "first_index" / Int32ul,
    "t0_us" / Int32ul,
    "period_us" / Int16ul,
    "imu_count" / Int8ul,
    "load_count" / Int8ul,
    "imu" / Array(this.imu_count, ImuSample),
    "load" / Array(this.load_count, LoadSample),
)

Info = Struct(
    "device_id" / Bytes(6),  # the board's MAC / unique id
    "name" / PaddedString(NAME_MAX, "utf8"),
    "fw_major" / Int8ul,
    "fw_minor" / Int8ul,
    "fw_patch" / Int8ul,
    "fw_git" / PaddedString(8, "ascii"),  # short git revision of the deployed firmware
    "proto_major" / Int8ul,
    "proto_minor" / Int8ul,
    "imu_model" / Int8ul,  # ImuModel
    "accel_fs_g" / Int8ul,
    "gyro_fs_dps" / Int16ul,
    "imu_rate_hz" / Int16ul,
    "load_rate_hz" / Int8ul,
    "reset_cause" / Int8ul,  # ResetCause
    "load_offset" / Int32sl,  # tare offset in raw ADC counts
    "load_scale" / Float32l,  # ADC counts per newton
    "max_frame" / Int16ul,  # largest frame this link carries
    "resend_window_ms" / Trailing(Int32ul, 0, since=1),  # link outage RESEND can refill
)

Status = Struct(
    "uptime_ms" / Int32ul,  # since boot, on through the 17.9 min wrap of ticks; wraps at 2**32
    "battery_mv" / Int16ul,
    "battery_pct" / Int8ul,
    "flags" / Int8ul,  # StatusFlag
    "samples_produced" / Int32ul,  # IMU samples read from the sensor since start
    "samples_dropped" / Int32ul,  # IMU samples lost to FIFO overflow
    "load_produced" / Int32ul,
    "frames_sent" / Int32ul,
    "tx_retries" / Int32ul,  # BLE notifications retried after ENOMEM (back-pressure)
    "ring_oldest" / Int32ul,  # oldest IMU sample index still held for RESEND (RAM or flash)
    "free_heap" / Int32ul,
    "load_dropped" / Trailing(Int32ul, 0, since=1),  # load samples lost on the board (queue full)
)

Command = Struct(
    "request_id" / Int16ul,
    "opcode" / Int8ul,  # Opcode
    "args" / GreedyBytes,  # see COMMAND_ARGS
)

Reply = Struct(
    "request_id" / Int16ul,
    "opcode" / Int8ul,
    "status" / Int8ul,  # StatusCode
    "payload" / GreedyBytes,  # see REPLY_PAYLOADS
)

Event = Struct(
    "kind" / Int8ul,  # EventKind
    "t_us" / Int32ul,
    "value" / Int32ul,
)

Log = Struct(
    "level" / Int8ul,  # LogLevel
    "text" / PascalString(Int8ul, "utf8"),
)

# --- Command arguments and reply payloads --------------------------------------------------

Empty = Struct()

SetRatesArgs = Struct(
    "imu_rate_hz" / Int16ul,  # one of IMU_RATES_HZ, or 0 to keep
    "load_rate_hz" / Int8ul,  # one of LOAD_RATES_HZ, or 0 to keep
    "accel_fs_g" / Int8ul,  # one of ACCEL_RANGES_G, or 0 to keep
    "gyro_fs_dps" / Int16ul,  # one of GYRO_RANGES_DPS, or 0 to keep
)
TareArgs = Struct("samples" / Int8ul)  # load samples to average (1..80)
CalibrateArgs = Struct("mass_g" / Int32ul)  # known mass hanging on the strap, grams
SetNameArgs = Struct("name" / PascalString(Int8ul, "utf8"))
TimeSyncArgs = Struct("host_token" / Int32ul)  # echoed back; pairs request and reply
ResendArgs = Struct("from_index" / Int32ul)  # IMU sample index to re-send from
# The host has written (or counted lost) every IMU sample below `below_index`. A board keeps the
# blocks after it, moving them from its RAM ring to flash before they are overwritten, so a
# long link drop can still be refilled; a host that never sends ACK gets the RAM ring only.
AckArgs = Struct("below_index" / Int32ul)

TimeSyncReply = Struct("host_token" / Int32ul, "device_us" / Int32ul)
TareReply = Struct("offset" / Int32sl)
CalibrateReply = Struct("scale" / Float32l)
# START answers with the index of the first IMU sample of the stream it began (a board already
# streaming: of the next sample it produces), so a session starts where the board's stream does,
# even when the first block is lost on the link. A board older than 1.2 answers START with an
# empty payload: FIRST_INDEX_UNKNOWN, the host then takes the start from the stream itself.
FIRST_INDEX_UNKNOWN = 0xFFFF_FFFF
StartReply = Struct(
    "first_index" / Trailing(Int32ul, FIRST_INDEX_UNKNOWN, since=2),  # first IMU index it streams
)
ResendReply = Struct(
    "from_index" / Int32ul,  # first index that will be re-sent
    "oldest_index" / Int32ul,  # oldest index held (RAM, flash); if from_index is not: next held
    "next_index" / Int32ul,  # next index the board will produce
)

COMMAND_ARGS = {
    Opcode.GET_INFO: Empty,
    Opcode.START: Empty,
    Opcode.STOP: Empty,
    Opcode.SET_RATES: SetRatesArgs,
    Opcode.TARE: TareArgs,
    Opcode.CALIBRATE: CalibrateArgs,
    Opcode.SET_NAME: SetNameArgs,
    Opcode.TIME_SYNC: TimeSyncArgs,
    Opcode.RESEND: ResendArgs,
    Opcode.REBOOT: Empty,
    Opcode.GET_STATUS: Empty,
    Opcode.EXIT_TO_REPL: Empty,
    Opcode.RESET_CONFIG: Empty,
    Opcode.ACK: AckArgs,
}

REPLY_PAYLOADS = {
    Opcode.GET_INFO: Info,
    Opcode.START: StartReply,
    Opcode.TARE: TareReply,
    Opcode.CALIBRATE: CalibrateReply,
    Opcode.TIME_SYNC: TimeSyncReply,
    Opcode.RESEND: ResendReply,
    Opcode.GET_STATUS: Status,
}

# Every struct a message or reply is parsed with keeps its added fields last.
for _struct in (
    Header,
    SamplesHeader,
    ImuSample,
    LoadSample,
    Info,
    Status,
    Command,
    Reply,
    Event,
    Log,
    *COMMAND_ARGS.values(),
    *REPLY_PAYLOADS.values(),
):
    check_trailing(_struct)

PAYLOADS = {
    MsgType.INFO: Info,
    MsgType.SAMPLES: Samples,
    MsgType.STATUS: Status,
    MsgType.COMMAND: Command,
    MsgType.REPLY: Reply,
    MsgType.EVENT: Event,
    MsgType.LOG: Log,
}


def samples_capacity(max_frame: int, load_ratio: float) -> tuple[int, int]:
    """How many IMU and load samples fit one SAMPLES frame of at most `max_frame` bytes.

    `load_ratio` is load rate / IMU rate. Room is kept for every load sample that can fall in
    the window of the IMU block, plus one for a conversion landing on the boundary.
    """
    room = max_frame - FRAME_OVERHEAD - SAMPLES_HEADER_SIZE
    for imu in range(min(255, room // IMU_SAMPLE_SIZE), 0, -1):
        load = int(imu * load_ratio) + 2
        if imu * IMU_SAMPLE_SIZE + load * LOAD_SAMPLE_SIZE <= room:
            return imu, load
    raise ValueError(f"a frame of {max_frame} bytes cannot hold one IMU sample")


# The share of the serial line rate a SAMPLES stream may take: the rest carries status, replies
# and resends after a gap. The firmware refuses START (OUT_OF_RANGE, with this reasoning as the
# reply's text) for a rate whose stream needs more (firmware/capacity.py mirrors these two).
SERIAL_STREAM_SHARE_PCT = 85


def serial_stream_bytes_per_s(max_frame: int, imu_hz: int, load_hz: int) -> int:
    """Bytes per second a stream at these rates puts on the serial link (COBS, delimiters)."""
    imu, load = samples_capacity(max_frame, load_hz / imu_hz)
    frame = FRAME_OVERHEAD + SAMPLES_HEADER_SIZE + imu * IMU_SAMPLE_SIZE + load * LOAD_SAMPLE_SIZE
    wire = frame + frame // 254 + 2
    return -(-imu_hz * wire // imu)


def fastest_serial_rate_hz(load_hz: int = 80, baud: int = SERIAL_BAUD) -> int:
    """The highest IMU rate the serial link carries (blocks cut for BLE's frame, as the board
    cuts them for its smallest link)."""
    limit = baud // 10 * SERIAL_STREAM_SHARE_PCT // 100
    max_frame = BLE_MTU - ATT_OVERHEAD
    fits = [hz for hz in IMU_RATES_HZ if serial_stream_bytes_per_s(max_frame, hz, load_hz) <= limit]
    return max(fits, default=0)
