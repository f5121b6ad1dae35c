"""A connected Anklet board: commands with request ids and timeouts, and the incoming stream.

    async with Device(SerialTransport("/dev/ttyUSB0")) as board:
        info = await board.get_info()
        board.on_samples = lambda block: ...
        first_index = await board.start()    # the index of the stream's first sample

Everything the board sends goes through one StreamDecoder; SAMPLES go to `on_samples`,
STATUS/EVENT/LOG/INFO to `on_message`. A lost link fails pending commands with LinkLost and
sets `link_lost`; `reconnect()` opens the link again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from anklet_protocol import StreamDecoder, framing, parse_message, spec
from anklet_protocol.decoder import MalformedPayload, SampleBlock, check_info
from anklet_protocol.deframer import Discarded
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_fixed,
    wait_incrementing,
)

from .transport import LinkLost, Transport, TransportError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 2.0
#: How long a board may take to answer after the port opens: an ESP32 dev board resets when
#: its USB-serial port opens (DTR/RTS) and MicroPython then boots and imports the firmware.
BOOT_TIMEOUT_S = 15.0
READY_PAUSE_S = 0.3  # wait_ready: between GET_INFO tries while the board boots
# GET_INFO and GET_STATUS change nothing: unanswered, they are sent again this often within
# their timeout (a reply lost to a full port buffer or a bad byte costs a second, not the wait).
ASK_AGAIN_S = 1.0
# START is asked again too (a board already streaming continues and answers its next index),
# for longer: two busy loops beside a test run held a reply back 1.7 s (ACK, serial), and a
# session that ends before it began for a busy PC's moment is a session lost.
START_TIMEOUT_S = 5.0
BUSY_PAUSE_S = 0.05  # × try: a BUSY command is sent again after 50, 100, ... ms


class DeviceError(Exception):
    """The board did not do what was asked; the message says why and what to try."""


def _opcode_name(opcode: int) -> str:
    try:
        return spec.Opcode(opcode).name.lower()
    except ValueError:
        return f"opcode {opcode}"


class CommandFailed(DeviceError):
    def __init__(self, opcode: int, status: int, payload: bytes = b"") -> None:
        self.opcode = opcode
        self.status = status
        self.payload = payload
        try:
            name = spec.StatusCode(status).name
            meaning = spec.STATUS_MEANINGS[spec.StatusCode(status)]
        except ValueError:
            name, meaning = f"status {status}", "a status this host does not know"
        text = f"{_opcode_name(opcode)} refused by the board: {name} ({meaning})"
        reason = _reason(opcode, payload)
        super().__init__(f"{text}: {reason}" if reason else text)


def _reason(opcode: int, payload: bytes) -> str:
    """The board's own words for a refusal (e.g. the rate limit of its link), if it sent any:
    a refused command's payload is text, except RESEND's (the indices it still holds)."""
    if opcode == spec.Opcode.RESEND or not payload:
        return ""
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return ""
    return text if text.isprintable() else ""


def _is_busy(exc: BaseException) -> bool:
    """The board's command queue was full: the command was not done, sending it again is safe."""
    return isinstance(exc, CommandFailed) and exc.status == spec.StatusCode.BUSY


class CommandTimeout(DeviceError):
    pass


class IncompatibleDevice(DeviceError):
    pass


@dataclass(frozen=True)
class DeviceInfo:
    device_id: str
    name: str
    firmware: str
    firmware_git: str
    protocol: str
    imu_model: str
    accel_fs_g: int
    gyro_fs_dps: int
    imu_rate_hz: int
    load_rate_hz: int
    reset_cause: str
    load_offset: int
    load_scale_counts_per_n: float
    max_frame: int
    accel_lsb_per_g: float  # the part's datasheet sensitivity at this range
    gyro_lsb_per_dps: float
    resend_window_ms: int  # how long the link may drop and RESEND still refill it; 0: not known

    @property
    def protocol_version(self) -> tuple[int, int]:
        """`protocol` as (major, minor); (0, 0) if it cannot be read."""
        major, _, minor = self.protocol.partition(".")
        try:
            return int(major), int(minor)
        except ValueError:
            return 0, 0

    @classmethod
    def from_message(cls, info: Any) -> DeviceInfo:
        """Raises MalformedPayload for ranges, rates or a calibration no board can have."""
        check_info(info)

        def enum_name(enum: type[spec.IntEnum], value: int) -> str:
            try:
                return enum(value).name
            except ValueError:
                return f"unknown({value})"

        return cls(
            device_id=info.device_id.hex(),
            name=info.name,
            firmware=f"{info.fw_major}.{info.fw_minor}.{info.fw_patch}",
            firmware_git=info.fw_git,
            protocol=f"{info.proto_major}.{info.proto_minor}",
            imu_model=enum_name(spec.ImuModel, info.imu_model),
            accel_fs_g=info.accel_fs_g,
            gyro_fs_dps=info.gyro_fs_dps,
            imu_rate_hz=info.imu_rate_hz,
            load_rate_hz=info.load_rate_hz,
            reset_cause=enum_name(spec.ResetCause, info.reset_cause),
            load_offset=info.load_offset,
            load_scale_counts_per_n=float(info.load_scale),
            max_frame=info.max_frame,
            accel_lsb_per_g=spec.accel_lsb_per_g(info.imu_model, info.accel_fs_g),
            gyro_lsb_per_dps=spec.gyro_lsb_per_dps(info.imu_model, info.gyro_fs_dps),
            resend_window_ms=info.resend_window_ms,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StatusReport:
    uptime_ms: int
    battery_mv: int
    battery_pct: int
    flags: list[str]
    samples_produced: int
    samples_dropped: int
    load_produced: int
    frames_sent: int
    tx_retries: int
    ring_oldest: int
    free_heap: int
    load_dropped: int  # load-cell samples lost on the board; 0 from boards older than 1.1

    @classmethod
    def from_message(cls, status: Any) -> StatusReport:
        flags = [f.name or "" for f in spec.StatusFlag if f and status.flags & f]
        fields = {k: status[k] for k in cls.__dataclass_fields__ if k != "flags"}
        return cls(flags=flags, **fields)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TimeSync:
    host_sent_s: float
    host_received_s: float
    device_us: int

    @property
    def round_trip_s(self) -> float:
        return self.host_received_s - self.host_sent_s

    @property
    def host_mid_s(self) -> float:
        return (self.host_sent_s + self.host_received_s) / 2


@dataclass(frozen=True)
class ResendAnswer:
    ok: bool
    from_index: int
    oldest_index: int
    next_index: int


MessageHandler = Callable[[spec.MsgType, Any], None]


class Device:
    def __init__(self, transport: Transport, command_timeout_s: float = DEFAULT_TIMEOUT_S):
        self.transport = transport
        self.command_timeout_s = command_timeout_s
        self.decoder = StreamDecoder()
        self.on_samples: Callable[[SampleBlock], None] = lambda block: None
        self.on_message: MessageHandler = lambda msg_type, message: None
        self.link_lost = asyncio.Event()
        self.info: DeviceInfo | None = None
        self._pending: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._reader: asyncio.Task[None] | None = None
        self.last_rx_s = 0.0
        #: Receives what the link delivered, for --raw's capture.bin: each frame COBS-wrapped
        #: (the serial wire format, whatever the link) and discarded bytes zero-terminated.
        self.raw_sink: Callable[[bytes], object] | None = None
        transport.on_discard = self._on_discard

    async def __aenter__(self) -> Device:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def description(self) -> str:
        return self.transport.description

    async def open(self) -> None:
        if self._reader is not None and not self._reader.done():
            return
        await self.transport.connect()
        self.decoder.reset_link()
        self.link_lost.clear()
        self.last_rx_s = time.monotonic()
        self._reader = asyncio.create_task(self._read_loop(), name="anklet-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        await self.transport.disconnect()
        self._fail_pending(LinkLost(f"{self.description}: closed"))

    async def reconnect(self) -> None:
        await self.close()
        await self.open()

    # --- receiving -------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        transport = self.transport
        decoder = self.decoder
        try:
            while True:
                raw = await transport.read_frame()
                self.last_rx_s = time.monotonic()
                if self.raw_sink is not None:
                    self.raw_sink(framing.cobs_wrap(raw))
                frame = decoder.feed_frame(raw)
                if frame is not None:
                    self._dispatch(frame)
        except LinkLost as exc:
            log.info("link lost: %s", exc)
            self.link_lost.set()
            self._fail_pending(exc)
        except TransportError as exc:
            self.link_lost.set()
            self._fail_pending(exc)

    def _on_discard(self, discarded: Discarded) -> None:
        """Bytes the link received that were not a frame: counted, and kept in the capture
        (delimited, so decoding the capture meets them as the live session did)."""
        self.decoder.discard(discarded)
        if self.raw_sink is not None:
            self.raw_sink(discarded.data + b"\x00")

    def _dispatch(self, frame: Any) -> None:
        try:
            message = parse_message(frame)
        except MalformedPayload as exc:
            self.decoder.stats.malformed_payload += 1
            self.decoder.recent_errors.append(str(exc))
            return
        msg_type = spec.MsgType(frame.msg_type)
        if msg_type == spec.MsgType.SAMPLES:
            self.on_samples(message)
            return
        if msg_type == spec.MsgType.REPLY:
            future = self._pending.pop(message.request_id, None)
            if future is not None and not future.done():
                future.set_result((message.status, bytes(message.payload)))
            return
        if msg_type == spec.MsgType.INFO:
            self.info = DeviceInfo.from_message(message)
        self.on_message(msg_type, message)

    def _fail_pending(self, exc: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()

    # --- commands --------------------------------------------------------------------------

    async def command(
        self, opcode: spec.Opcode, timeout_s: float | None = None, **args: Any
    ) -> bytes:
        """Send a COMMAND and wait for its REPLY; returns the reply payload on OK."""
        arg_bytes = spec.COMMAND_ARGS[opcode].build(args)
        return await self.command_raw(opcode, arg_bytes, timeout_s)

    async def command_raw(
        self, opcode: int, args: bytes, timeout_s: float | None = None, busy_retries: int = 5
    ) -> bytes:
        """Send a COMMAND with argument bytes as given (tests use it to send bad ones).

        A BUSY reply (the board's command queue was full, the command not done) is sent again
        after a short pause, up to `busy_retries` times."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_busy),
            wait=wait_incrementing(start=BUSY_PAUSE_S, increment=BUSY_PAUSE_S),
            stop=stop_after_attempt(busy_retries + 1),
            reraise=True,
        )
        return await retrying(self._command_once, opcode, args, timeout_s)

    async def _command_once(self, opcode: int, args: bytes, timeout_s: float | None) -> bytes:
        request_id = next(self._ids) & 0xFFFF
        payload = framing.build_command_raw(request_id, opcode, args)
        frame = framing.encode_frame(spec.MsgType.COMMAND, payload, seq=next(self._seq))
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self.transport.write_frame(frame)
        except BaseException:
            # Nobody will await this future now: forget it, or a later _fail_pending leaves
            # asyncio's "Future exception was never retrieved" on the user's screen.
            self._pending.pop(request_id, None)
            future.cancel()
            raise
        try:
            status, body = await asyncio.wait_for(future, timeout_s or self.command_timeout_s)
        except asyncio.CancelledError:
            self._pending.pop(request_id, None)  # an ask `query` no longer needs
            raise
        except TimeoutError:
            self._pending.pop(request_id, None)
            foreign = self.decoder.foreign_version
            if foreign is not None:
                raise IncompatibleDevice(
                    f"{self.description} speaks protocol {foreign[0]}.{foreign[1]}, this host "
                    f"speaks {spec.VERSION_MAJOR}.{spec.VERSION_MINOR}: update the "
                    + (
                        "host (pip install -U anklet)"
                        if foreign[0] > spec.VERSION_MAJOR
                        else "firmware (anklet deploy)"
                    )
                ) from None
            raise CommandTimeout(
                f"{self.description} did not answer {_opcode_name(opcode)} within "
                f"{timeout_s or self.command_timeout_s:.1f} s: is it powered and running the "
                "Anklet firmware?"
            ) from None
        if status != spec.StatusCode.OK:
            raise CommandFailed(opcode, status, body)
        return body

    async def wait_ready(
        self, timeout_s: float = BOOT_TIMEOUT_S, *, retry_open: bool = False
    ) -> DeviceInfo:
        """Open the link and ask GET_INFO until the board answers: it may still be booting.

        Each try waits `command_timeout_s`; a lost link is opened again between tries.
        Raises the last try's error (CommandTimeout, LinkLost, ...) once `timeout_s` is spent;
        an answer that is an error (IncompatibleDevice, CommandFailed) is raised at once.
        A port that cannot be opened at first is an error at once too, unless `retry_open`
        (a board under test that is resetting, its USB port re-enumerating); a link that
        opened and dropped while being set up (LinkLost) is opened again.
        """
        if self._reader is None and not retry_open:
            try:
                await self.open()  # never opened: a missing or busy port fails here, at once
            except LinkLost as exc:
                # The board was reached and the link dropped while being set up (over BLE, the
                # MTU exchange or pairing): tried again below, as a phone or laptop would.
                log.info("%s: %s; connecting again", self.description, exc)

        async def ask() -> DeviceInfo:
            if self._reader is None or self._reader.done() or self.link_lost.is_set():
                await self.reconnect()  # a USB-CDC board's port comes and goes as it resets
            return await self.get_info()

        retrying = AsyncRetrying(
            retry=retry_if_exception_type((CommandTimeout, TransportError)),
            wait=wait_fixed(READY_PAUSE_S),
            stop=stop_after_delay(timeout_s),
            before_sleep=lambda state: log.info(
                "%s not ready yet (%s); asking again",
                self.description,
                state.outcome.exception() if state.outcome else "?",
            ),
            reraise=True,
        )
        try:
            return await retrying(ask)
        except CommandTimeout:
            raise CommandTimeout(
                f"{self.description} did not answer within {timeout_s:.0f} s: is it "
                "powered and running the Anklet firmware?"
            ) from None

    def _parse_reply(self, opcode: spec.Opcode, body: bytes) -> Any:
        """A reply payload by `spec.REPLY_PAYLOADS`; a short or broken one is a DeviceError."""
        try:
            return spec.REPLY_PAYLOADS[opcode].parse(body)
        except Exception as exc:  # construct raises many types; all mean the same here
            self.decoder.stats.malformed_payload += 1
            why = "; ".join(str(exc).splitlines()) or type(exc).__name__
            raise DeviceError(
                f"{self.description} answered {_opcode_name(opcode)} with a malformed reply "
                f"({len(body)} bytes: {why}): update the firmware (anklet deploy)"
            ) from None

    async def query(
        self, opcode: spec.Opcode, *, ask_again_s: float | None, timeout_s: float | None = None
    ) -> bytes:
        """A COMMAND whose repeat is harmless (GET_INFO, GET_STATUS, START, STOP) sent again every
        `ask_again_s` until any copy is answered, within `timeout_s` of the first (default
        `command_timeout_s`); asked once if `ask_again_s` is None.

        One ask waits its whole timeout when it went into a link that was still down; asked
        again, a board whose link came back answers within `ask_again_s`."""
        if ask_again_s is None:
            return await self.command(opcode, timeout_s)
        timeout = timeout_s or self.command_timeout_s
        args = spec.COMMAND_ARGS[opcode].build({})
        asks: list[asyncio.Task[bytes]] = []
        try:
            while True:
                asks.append(asyncio.create_task(self.command_raw(opcode, args, timeout)))
                done, _ = await asyncio.wait(
                    asks, timeout=ask_again_s, return_when=asyncio.FIRST_COMPLETED
                )
                for ask in done:
                    if not isinstance(ask.exception(), CommandTimeout):
                        return ask.result()  # an answer, or an error that is not a silence
                    if ask is asks[0]:
                        raise ask.exception()  # type: ignore[misc]  # the first ask's time is up
                    asks.remove(ask)
        finally:
            for ask in asks:
                ask.cancel()
            await asyncio.gather(*asks, return_exceptions=True)

    async def get_info(self, *, ask_again_s: float | None = ASK_AGAIN_S) -> DeviceInfo:
        """`ask_again_s`: send GET_INFO again that often until answered (see `query`)."""
        body = await self.query(spec.Opcode.GET_INFO, ask_again_s=ask_again_s)
        try:
            info = DeviceInfo.from_message(self._parse_reply(spec.Opcode.GET_INFO, body))
        except MalformedPayload as exc:
            raise DeviceError(f"{self.description} describes itself impossibly: {exc}") from None
        if info.protocol_version[0] != spec.VERSION_MAJOR:
            raise IncompatibleDevice(
                f"{self.description} speaks protocol {info.protocol}, this host speaks "
                f"{spec.VERSION_MAJOR}.{spec.VERSION_MINOR}"
            )
        self.info = info
        return info

    async def get_status(self, *, ask_again_s: float | None = ASK_AGAIN_S) -> StatusReport:
        """`ask_again_s`: send GET_STATUS again that often until answered (see `query`)."""
        body = await self.query(spec.Opcode.GET_STATUS, ask_again_s=ask_again_s)
        return StatusReport.from_message(self._parse_reply(spec.Opcode.GET_STATUS, body))

    async def start(
        self, *, ask_again_s: float | None = ASK_AGAIN_S, timeout_s: float = START_TIMEOUT_S
    ) -> int | None:
        """Start streaming; returns the index of the stream's first sample (a board already
        streaming: of the next one it produces), or None from a board older than protocol 1.2,
        whose START reply is empty.

        Unanswered, START is sent again every `ask_again_s` within `timeout_s`: a repeat is
        harmless (the board streams on) and the first answer to arrive is the earliest index;
        if the first reply was lost, the stream starts for this host at the repeat's."""
        body = await self.query(spec.Opcode.START, ask_again_s=ask_again_s, timeout_s=timeout_s)
        first_index = int(self._parse_reply(spec.Opcode.START, body).first_index)
        return None if first_index == spec.FIRST_INDEX_UNKNOWN else first_index

    async def stop(
        self, *, ask_again_s: float | None = ASK_AGAIN_S, timeout_s: float = START_TIMEOUT_S
    ) -> None:
        """Stop streaming. Unanswered, STOP is sent again every `ask_again_s` within
        `timeout_s`, as START is: stopping a stopped stream changes nothing, and a session's end
        whose STOP reply was lost would otherwise skip fetching what the board still holds."""
        await self.query(spec.Opcode.STOP, ask_again_s=ask_again_s, timeout_s=timeout_s)

    async def set_rates(
        self,
        imu_rate_hz: int = 0,
        load_rate_hz: int = 0,
        accel_fs_g: int = 0,
        gyro_fs_dps: int = 0,
    ) -> None:
        await self.command(
            spec.Opcode.SET_RATES,
            imu_rate_hz=imu_rate_hz,
            load_rate_hz=load_rate_hz,
            accel_fs_g=accel_fs_g,
            gyro_fs_dps=gyro_fs_dps,
        )

    async def tare(self, samples: int = 20) -> int:
        body = await self.command(spec.Opcode.TARE, timeout_s=8.0, samples=samples)
        return int(self._parse_reply(spec.Opcode.TARE, body).offset)

    async def calibrate(self, mass_kg: float) -> float:
        body = await self.command(
            spec.Opcode.CALIBRATE, timeout_s=10.0, mass_g=round(mass_kg * 1000)
        )
        return float(self._parse_reply(spec.Opcode.CALIBRATE, body).scale)

    async def set_name(self, name: str) -> None:
        await self.command(spec.Opcode.SET_NAME, name=name)

    async def time_sync(self) -> TimeSync:
        token = next(self._ids) & 0xFFFFFFFF
        sent = time.monotonic()
        body = await self.command(spec.Opcode.TIME_SYNC, host_token=token)
        received = time.monotonic()
        reply = self._parse_reply(spec.Opcode.TIME_SYNC, body)
        return TimeSync(sent, received, int(reply.device_us))

    async def resend(self, from_index: int) -> ResendAnswer:
        try:
            body = await self.command(spec.Opcode.RESEND, from_index=from_index)
            ok = True
        except CommandFailed as exc:
            if exc.status != spec.StatusCode.NOT_AVAILABLE or not exc.payload:
                raise
            body, ok = exc.payload, False
        reply = self._parse_reply(spec.Opcode.RESEND, body)
        return ResendAnswer(ok, reply.from_index, reply.oldest_index, reply.next_index)

    async def ack(self, below_index: int) -> None:
        """Tell the board the host holds every sample below `below_index` (protocol 1.3): it
        keeps the rest, in flash once its RAM ring overwrites them, for RESEND."""
        await self.command(spec.Opcode.ACK, below_index=below_index)

    async def reboot(self) -> None:
        await self.command(spec.Opcode.REBOOT)

    async def exit_to_repl(self) -> None:
        await self.command(spec.Opcode.EXIT_TO_REPL)

    async def reset_config(self) -> None:
        """Name, rates, ranges and the bonding rule back to the firmware's defaults; the load
        cell's calibration is kept."""
        await self.command(spec.Opcode.RESET_CONFIG)
