"""The end of a session: what the board still holds is fetched before the files close.

A board's ring outlives its stream, so samples lost on the link in the last moments (or a tail
of the stream that never arrived) can still be re-sent after STOP. The board here is a scripted
one on a fake link (tests/fake_transport.py) that streams, loses chosen blocks on the way and
answers RESEND as the firmware does: no MicroPython, so the test is about the recorder alone.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from accounting import assert_every_sample_accounted
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
    ) -> None:
        super().__init__(link, info=INFO, status=STATUS)
        self.blocks = blocks
        self.lost = lost
        self.oldest_block = oldest_block
        self.resend_pause_s = resend_pause_s
        self.produced = 0
        self.finished = asyncio.Event()
        self.resent: list[int] = []
        self.origin_s = time.monotonic()
        self.start_us = 0
        self.handlers[spec.Opcode.START] = self._start
        self.handlers[spec.Opcode.TIME_SYNC] = self._time_sync
        self.handlers[spec.Opcode.RESEND] = self._resend
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _device_us(self) -> int:
        return int((time.monotonic() - self.origin_s) * 1e6)

    def _start(self, command: Any) -> tuple[int, bytes]:
        if self.start_us:
            return spec.StatusCode.OK, b""  # already streaming: it goes on, as the firmware's
        self.start_us = self._device_us()  # the stream's first sample, on the board's clock
        self._spawn(self._stream())
        return spec.StatusCode.OK, b""

    def _time_sync(self, command: Any) -> tuple[int, bytes]:
        token = spec.TimeSyncArgs.parse(command.args).host_token
        device_us = self._device_us() % spec.TICKS_PERIOD_US
        return spec.StatusCode.OK, spec.TimeSyncReply.build(
            dict(host_token=token, device_us=device_us)
        )

    def _samples(self, block: int) -> bytes:
        first = block * BLOCK
        header = dict(
            first_index=first,
            t0_us=(self.start_us + first * PERIOD_US) % spec.TICKS_PERIOD_US,
            period_us=PERIOD_US,
            imu_count=BLOCK,
            load_count=0,
        )
        return spec.SamplesHeader.build(header) + bytes(spec.IMU_SAMPLE_SIZE * BLOCK)

    async def _stream(self) -> None:
        for block in range(self.blocks):
            self.produced = block + 1
            if block not in self.lost:
                self.send(spec.MsgType.SAMPLES, self._samples(block))
            await asyncio.sleep(BLOCK * PERIOD_US / 1e6)
        self.finished.set()

    def _resend(self, command: Any) -> tuple[int, bytes]:
        start = spec.ResendArgs.parse(command.args).from_index
        next_index = self.produced * BLOCK
        reply = spec.ResendReply.build(
            dict(from_index=start, oldest_index=self.oldest_block * BLOCK, next_index=next_index)
        )
        if not self.oldest_block * BLOCK <= start < next_index:
            return spec.StatusCode.NOT_AVAILABLE, reply
        self._spawn(self._resend_from(start // BLOCK))
        return spec.StatusCode.OK, reply

    async def _resend_from(self, block: int) -> None:
        await asyncio.sleep(0)  # after the reply, as the firmware sends them
        for b in range(block, self.produced):
            self.resent.append(b)
            self.send(spec.MsgType.SAMPLES, self._samples(b), spec.FrameFlag.RESENT)
            await asyncio.sleep(self.resend_pause_s)


def record(tmp_path, board_args: dict[str, Any], during: Any = None):
    async def go():
        link = FakeTransport()
        board = StreamingBoard(link, **board_args)
        device = Device(link, command_timeout_s=5.0)
        recorder = SessionRecorder(device, tmp_path / "out")
        task = asyncio.create_task(recorder.run(120))
        await board.finished.wait()
        recorder.request_stop()
        if during is not None:
            await during(recorder, board)
        summary = await task
        await device.close()
        return summary, board

    return asyncio.run(go())


def test_a_tail_lost_on_the_link_is_fetched_before_the_files_close(tmp_path):
    # The last five blocks never arrived: nothing told the host they existed.
    summary, board = record(tmp_path, dict(blocks=60, lost={55, 56, 57, 58, 59}))
    meta = assert_every_sample_accounted(summary.folder)
    assert summary.expected == summary.samples == 600
    # (the first re-sent block may land before the answer that announced it is handled: it is
    # then simply the next block, not a refill)
    assert summary.lost == 0 and summary.refilled >= 40
    assert board.resent[:5] == [55, 56, 57, 58, 59]
    assert meta["loss"]["samples_lost"] == 0


def test_a_hole_just_before_the_stop_is_refilled_after_it(tmp_path):
    summary, _ = record(tmp_path, dict(blocks=60, lost={58}))
    assert_every_sample_accounted(summary.folder)
    assert summary.expected == summary.samples == 600
    assert summary.lost == 0


def test_a_tail_the_board_no_longer_holds_is_counted_lost_not_forgotten(tmp_path):
    summary, _ = record(tmp_path, dict(blocks=60, lost={57, 58, 59}, oldest_block=59))
    meta = assert_every_sample_accounted(summary.folder)
    assert summary.expected == 600
    # The board re-sent the one block its ring still held; the two before it were gone.
    assert summary.samples == 580 and summary.lost == 20
    assert [r["why"] for r in meta["loss"]["lost_ranges"]] == ["older than the board's buffer"]


def test_stopping_again_ends_the_fetch_at_once_with_the_rest_counted(tmp_path):
    async def impatient(recorder, board):
        while not board.resent:  # the fetch has begun, one block every 2 s
            await asyncio.sleep(0.01)
        recorder.request_stop()  # Ctrl-C again

    lost = set(range(44, 60))  # 0.8 s: short of the 2 s after which a stream counts as stopped
    summary, _ = record(tmp_path, dict(blocks=60, lost=lost, resend_pause_s=2.0), during=impatient)
    meta = assert_every_sample_accounted(summary.folder)
    assert summary.expected == 600
    assert summary.lost >= 100  # most of the 160 still missing, not waited for (32 s)
    whys = {r["why"] for r in meta["loss"]["lost_ranges"]}
    assert whys == {"session ended before the board re-sent them"}
