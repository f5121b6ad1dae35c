"""A scripted streaming board on a fake link (tests/fake_transport.py), for tests of the
recorder alone: no MicroPython. It streams after START until STOP, loses chosen blocks on the
way, answers RESEND as the firmware does and can leave chosen TIME_SYNC pings or STOPs unanswered;
its link can go mute (`muted`) until `speak()`, or drop and stay out of reach for a while."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from anklet.device import Device
from anklet.recorder import SessionRecorder
from anklet_protocol import spec, vectors
from fake_transport import FakeTransport, ScriptedBoard

INFO = {**vectors._info("Anklet-C0FFEE"), "imu_rate_hz": 200}
STATUS = {**vectors._status(), "samples_dropped": 0}
BLOCK = 10  # samples per SAMPLES frame
PERIOD_US = 5000


class StreamingBoard(ScriptedBoard):
    """Streams `blocks` blocks of 200 Hz samples after START, then stops by itself (as if the
    user's set were over); `lost` blocks never reach the host. RESEND re-sends from the ring
    (every block since `oldest_block`), one block every `resend_pause_s`."""

    def __init__(
        self,
        link: FakeTransport,
        blocks: int,
        lost: set[int],
        oldest_block: int = 0,
        resend_pause_s: float = 0.0,
        unanswered_syncs: int = 0,
        resend_answer_s: float = 0.0,
        resend_nothing: bool = False,
        unanswered_stops: int = 0,
        hold_host_s: float = 0.0,
        hold_before_block: int | None = None,
        drop_after_block: int | None = None,
        away_s: float = 0.0,
    ) -> None:
        super().__init__(link, info=INFO, status=STATUS)
        self.blocks = blocks
        self.lost = lost
        self.oldest_block = oldest_block
        self.resend_pause_s = resend_pause_s
        self.resend_answer_s = resend_answer_s  # how long a RESEND waits for its answer
        self.resend_nothing = resend_nothing  # answers RESEND OK, then sends nothing
        self.unanswered_syncs = unanswered_syncs  # the first N pings get no answer
        self.unanswered_stops = unanswered_stops  # the first N STOPs stop it, their answer lost
        # Before its first re-sent block, the whole process is held this long (time.sleep: the
        # host's loop too, as a busy PC holds it): the blocks then wait to be read.
        self.hold_host_s = hold_host_s
        # ... or, if given, before sending this block of the stream (it streams on meanwhile).
        self.hold_before_block = hold_before_block
        # After sending this block the link drops, and connecting fails for `away_s` (the
        # board walked out of range): it streams on meanwhile, into a link nobody hears.
        self.drop_after_block = drop_after_block
        self.away_s = away_s
        self.back_s: float | None = None  # when it can be reached again
        self.syncs_answered = 0
        self.produced = 0
        self.part_first_block = 0  # where the current part of the stream began
        self.streaming = False
        self.finished = asyncio.Event()
        self.resent: list[int] = []
        self.origin_s = time.monotonic()
        self.start_us = 0
        self.handlers[spec.Opcode.START] = self._start
        self.handlers[spec.Opcode.STOP] = self._stop
        self.stopped = False
        self.handlers[spec.Opcode.TIME_SYNC] = self._time_sync
        self.handlers[spec.Opcode.RESEND] = self._resend
        self.handlers[spec.Opcode.GET_STATUS] = self._status_now
        self._tasks: set[asyncio.Task[None]] = set()
        self.muted = asyncio.Event()  # set: nothing reaches the host (a silent link) until speak()

    def speak(self) -> None:
        self.muted.clear()

    def send(self, msg_type: int, payload: bytes, flags: int = 0) -> None:
        if not self.muted.is_set():
            super().send(msg_type, payload, flags)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _status(self) -> dict[str, Any]:
        # A board that keeps running: its uptime and count go on. (A constant uptime made a
        # recorder that reconnected after a busy PC's 2 s of silence take it for a reset.)
        return {
            **STATUS,
            "uptime_ms": self._device_us() // 1000,
            "samples_produced": self.produced * BLOCK,
            "ring_oldest": self.oldest_block * BLOCK,
        }

    def _status_now(self, command: Any) -> tuple[int, bytes]:
        return spec.StatusCode.OK, spec.Status.build(self._status())

    def _device_us(self) -> int:
        return int((time.monotonic() - self.origin_s) * 1e6)

    def _start(self, command: Any) -> tuple[int, bytes]:
        if self.start_us:
            return spec.StatusCode.OK, b""  # already streaming: it goes on, as the firmware's
        self.start_us = self._device_us()  # the stream's first sample, on the board's clock
        self._spawn(self._stream())
        return spec.StatusCode.OK, b""

    def _stop(self, command: Any) -> tuple[int, bytes] | None:
        self.stopped = True  # the stream ends before its next block, as the firmware's
        if self.unanswered_stops:
            self.unanswered_stops -= 1
            return None  # the answer is lost on the way
        return spec.StatusCode.OK, b""

    def _time_sync(self, command: Any) -> tuple[int, bytes] | None:
        if self.unanswered_syncs:
            self.unanswered_syncs -= 1
            return None  # the answer is lost on the way
        self.syncs_answered += 1
        token = spec.TimeSyncArgs.parse(command.args).host_token
        device_us = self._device_us() % spec.TICKS_PERIOD_US
        return spec.StatusCode.OK, spec.TimeSyncReply.build(
            dict(host_token=token, device_us=device_us)
        )

    def _samples(self, block: int) -> bytes:
        first = block * BLOCK
        t0_us = self.start_us + (block - self.part_first_block) * BLOCK * PERIOD_US
        header = dict(
            first_index=first,
            t0_us=t0_us % spec.TICKS_PERIOD_US,
            period_us=PERIOD_US,
            imu_count=BLOCK,
            load_count=0,
        )
        return spec.SamplesHeader.build(header) + bytes(spec.IMU_SAMPLE_SIZE * BLOCK)

    async def _stream(self) -> None:
        self.streaming = True
        started_s = time.monotonic()
        for block in range(self.part_first_block, self.blocks):
            if self.stopped:
                break
            if block == self.hold_before_block and self.hold_host_s:
                await self._hold_host()  # this block and those made meanwhile wait in the port
            self.produced = block + 1
            if block not in self.lost:
                self.send(spec.MsgType.SAMPLES, self._samples(block))
            if block == self.drop_after_block:
                self._walk_away()
            # Paced by the board's clock, as an IMU clocks its samples: a late wake-up (a busy
            # PC) sends the blocks it owes at once instead of making fewer.
            due_s = started_s + (block + 1 - self.part_first_block) * BLOCK * PERIOD_US / 1e6
            await asyncio.sleep(max(0.0, due_s - time.monotonic()))
        self.streaming = False
        await self._after_stream()

    def _walk_away(self) -> None:
        self.back_s = time.monotonic() + self.away_s
        self.link.refuse_connects_until(self.back_s)
        self.link.drop("board out of range")

    async def _after_stream(self) -> None:
        self.finished.set()

    def _resend(self, command: Any) -> tuple[int, bytes] | None:
        start = spec.ResendArgs.parse(command.args).from_index
        next_index = self.produced * BLOCK
        reply = spec.ResendReply.build(
            dict(from_index=start, oldest_index=self.oldest_block * BLOCK, next_index=next_index)
        )
        if not self.oldest_block * BLOCK <= start < next_index:
            return spec.StatusCode.NOT_AVAILABLE, reply
        if self.resend_answer_s:
            self._spawn(self._answer_resend_late(command, reply, start // BLOCK))
            return None
        if not self.resend_nothing:
            self._spawn(self._resend_from(start // BLOCK))
        return spec.StatusCode.OK, reply

    async def _answer_resend_late(self, command: Any, reply: bytes, block: int) -> None:
        await asyncio.sleep(self.resend_answer_s)
        self.reply(command.request_id, command.opcode, spec.StatusCode.OK, reply)
        await asyncio.sleep(self.resend_pause_s)  # its blocks follow the answer
        await self._resend_from(block)

    async def _resend_from(self, block: int) -> None:
        await asyncio.sleep(0)  # after the reply, as the firmware sends them
        if self.hold_host_s and self.hold_before_block is None:
            await asyncio.sleep(0.2)  # the host has read the answer and waits for the blocks
            await self._hold_host()
        for b in range(block, self.produced):
            self.resent.append(b)
            self.send(spec.MsgType.SAMPLES, self._samples(b), spec.FrameFlag.RESENT)
            await asyncio.sleep(self.resend_pause_s)

    async def _hold_host(self) -> None:
        time.sleep(self.hold_host_s)
        self.hold_host_s = 0.0
        # The port's reader thread hands the bytes that waited over a moment after the host's
        # loop wakes (it needs its own turn): the loop's timers come first.
        await asyncio.sleep(0.1)


def record(
    tmp_path,
    board_args: dict[str, Any],
    during: Any = None,
    command_timeout_s=5.0,
    wrap: Any = None,
    keep_raw: bool = False,
    duration_s: float = 120,
):
    async def go():
        link = FakeTransport()
        board = StreamingBoard(link, **board_args)
        device = Device(link, command_timeout_s=command_timeout_s)
        recorder = SessionRecorder(device, tmp_path / "out", keep_raw=keep_raw)
        task = asyncio.create_task(recorder.run(duration_s))
        finished = asyncio.create_task(board.finished.wait())
        await asyncio.wait({task, finished}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():  # the recorder gave up before the board's stream was over
            finished.cancel()
            await task
        recorder.request_stop()
        if during is not None:
            await during(recorder, board)
        summary = await (wrap(task) if wrap is not None else task)
        await device.close()
        return summary, board

    return asyncio.run(go())
