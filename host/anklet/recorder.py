"""Record a live session: keep the board streaming, refill gaps, survive drops and resets.

    recorder = SessionRecorder(device, out_dir=Path("sessions"))
    summary = await recorder.run(duration_s=600)    # or until recorder.request_stop()

The link is kept alive: a drop (or 2 s of silence) makes the recorder reconnect with backoff,
restart streaming and ask the board to RESEND from the first missing sample; a board reset
starts a new boot in the log with the gap counted. It watches the data, not the heartbeat: 2 s
without samples while the link still talks (STATUS frames) means the stream stopped, and it is
started again with the pause counted as lost. The deadline holds through all of it; a session
that ends with its link down reconnects (for at most _END_RECONNECT_S) to fetch what the board
still holds.
The data path itself is session.SessionLog; the rows it writes go to training.SessionTraining
(live rep and jump events: `recorder.training.subscribe(listener)`), which analyses them at
the end: sets.csv, reps.csv and session.json's "analysis" (`summary.training`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from anklet_protocol import spec
from anklet_protocol.decoder import SampleBlock
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_chain,
    wait_fixed,
)

from .csvlog import SessionFolder, StorageError
from .device import CommandFailed, CommandTimeout, Device, DeviceError, StatusReport
from .journal import JOURNAL_NAME, Journal
from .labels import Labels, attach_labels
from .session import RowsCallback, SessionLog
from .silence import Silence
from .training import RepEnded, SessionTraining, TrainingEvent, TrainingOutcome, conclude
from .transport import LinkLost, TransportError

log = logging.getLogger(__name__)

_SYNC_EVERY_S = 5.0
_STALL_S = 2.0  # no bytes for this long while streaming: the link is gone
# One look at the link counts at most this much towards _STALL_S (silence.Silence): a PC that
# held this process for seconds had not read what the board sent meanwhile.
_STALL_TURN_S = 0.5
_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 4.0)
# The session's time ran out (or the user stopped it) while the link was down: what the board
# still holds for it comes only over a link, so reconnecting goes on this long before the fetch.
_END_RECONNECT_S = 10.0
_END_TRIES = 3  # a link that drops during the end's fetch is reconnected, this many times at most
_BACK_OFF_TICK_S = 0.05  # a back-off checks this often whether it is still wanted
_ASK_AGAIN_S = 1.0  # a reconnect attempt's GET_INFO and GET_STATUS, sent again until answered
# After STOP: the board's ring outlives its stream, so what is still missing is asked for while
# the board keeps bringing it; this long with nothing new, and what is left stays lost.
_DRAIN_IDLE_S = 2.0
_DRAIN_MAX_S = 60.0  # the end-of-session fetch, at most: what is still missing is then lost
_DRAIN_QUIET_S = 0.1  # no block for this long after STOP: the board has sent what it owed
# One turn of the fetch loop counts at most this much towards _DRAIN_IDLE_S: a PC that held this
# process for seconds had not read what the board sent meanwhile, and its stall is not the
# board's silence.
_DRAIN_TURN_S = 0.25
# ACK what is on disk this often: the board then keeps only the rest, and keeps it in flash when
# a link drop outlasts its RAM ring (2.5 s at 1000 Hz on a DevKitC).
_ACK_EVERY_S = 0.5
_ACK_SINCE = (1, 3)  # the protocol version that has ACK
_LinkErrors = (LinkLost, DeviceError, TransportError)


@dataclass
class LiveStats:
    """What `anklet log` shows while recording."""

    state: str = "connecting"
    elapsed_s: float = 0.0
    samples_written: int = 0
    rate_hz: float = 0.0
    lost: int = 0
    refilled: int = 0
    held: int = 0
    reconnects: int = 0
    battery_pct: int | None = None
    sets: int = 0
    reps: int = 0
    jumps: int = 0
    last_error: str = ""


@dataclass
class SessionSummary:
    folder: Path
    device_name: str
    duration_s: float
    samples: int
    expected: int
    lost: int
    refilled: int
    completeness_pct: float
    reconnects: int
    boots: int
    training: TrainingOutcome  # the analysis of the rows on disk (also in session.json)


class SessionRecorder:
    def __init__(
        self,
        device: Device,
        out_dir: Path,
        imu_rate_hz: int | None = None,
        keep_raw: bool = False,
        on_rows: RowsCallback | None = None,
        labels: Labels | None = None,
    ) -> None:
        self.device = device
        self.labels = labels  # what the session is (exercise, side, ...): in every session.json
        self.out_dir = Path(out_dir)
        self.imu_rate_hz = imu_rate_hz
        self.keep_raw = keep_raw
        self.on_rows = on_rows  # besides the training's own: the rows as written
        self.live = LiveStats()
        # Live rep and jump events (subscribe before run) and the analysis at the end.
        self.training = SessionTraining()
        self.training.subscribe(self._on_training)
        self.outcome: TrainingOutcome | None = None
        self.log: SessionLog | None = None
        self._stop = asyncio.Event()
        self._stop_requests = 0
        self._start_s = 0.0
        self._rx: list[tuple[float, int]] = []
        self._raw_file: Any = None
        self._reboot_seen = False
        # Blocks that came while a START's answer (where the stream begins) was awaited: taken
        # once it is known, in the order they came.
        self._early: list[tuple[float, SampleBlock]] | None = None
        self._last_block_s = 0.0
        # The link's silence (no frame), and the stream's (no samples), as this process saw it.
        self._link_quiet = Silence(lambda: self.device.last_rx_s, _STALL_TURN_S)
        self._stream_quiet = Silence(lambda: self._last_block_s, _STALL_TURN_S)
        self._newest_s = 0.0  # when the block that carried the newest sample came
        self._resend_answered_s = 0.0  # when the board last answered a RESEND
        self._deadline: float | None = None
        self._storage_error: StorageError | None = None
        self._acks = False  # the board takes ACK (protocol 1.3)
        self._acked_s = 0.0
        self._ack_task: asyncio.Task[None] | None = None
        self._link_up = True  # False from a link error until a reconnect gets through
        self._streaming = False  # as far as the host knows: since START, or the last STATUS

    def request_stop(self) -> None:
        """End the session; while it fetches the samples still missing after the stream
        stopped, a second request ends that at once."""
        self._stop_requests += 1
        self._stop.set()

    async def run(self, duration_s: float | None = None) -> SessionSummary:
        device = self.device
        device.on_samples = self._on_block
        device.on_message = self._on_message
        self._start_s = time.monotonic()
        self._deadline = None  # from the stream's start: --duration is time recorded
        started = datetime.now(UTC)
        info = await device.wait_ready()
        if self.imu_rate_hz and self.imu_rate_hz != info.imu_rate_hz:
            await device.set_rates(imu_rate_hz=self.imu_rate_hz)
            info = await device.get_info()
        folder = SessionFolder.create(self.out_dir, info.name, started)
        self.training.attach(info, folder.path)
        self.log = SessionLog(folder, info, started, self._start_s, self._on_rows)
        if self.labels is not None:
            attach_labels(self.log, self.labels)
        if self.keep_raw:
            self._raw_file = open(folder.path / "capture.bin", "ab", buffering=0)  # noqa: SIM115
            device.raw_sink = self._raw_file.write
            # The inputs of the data path, so `anklet decode` reproduces these files exactly.
            self.log.journal = Journal.create(
                folder.path / JOURNAL_NAME, started, self._start_s, info.name
            )
            await device.get_info()  # so the capture holds the INFO it needs to be decoded
        self._acks = info.protocol_version >= _ACK_SINCE
        try:
            await self._begin_boot()
            await self._start_stream()
        except BaseException:
            self._discard_unstarted()  # refused or cut before any sample: no empty session
            raise
        if duration_s is not None:
            # Not from the command's start: finding, connecting and pairing a board can take
            # seconds (a BLE scan, a busy machine), and they are not the user's recording.
            self._deadline = time.monotonic() + duration_s
        try:
            self._last_block_s = time.monotonic()
            self.live.state = "streaming"
            self._save_meta(complete=False)
            await self._loop(duration_s)
        except StorageError as exc:
            self._storage_error = exc  # the disk is full: end here, the files whole
        finally:
            self._finish(await self._end_stream())
        if self._storage_error is not None:
            raise StorageError(
                f"{self._storage_error.strerror}: the session ended there, "
                f"{self.log.samples_written if self.log else 0} whole rows kept in "
                f"{self.log.folder.path if self.log else self.out_dir}",
            )
        return self.summary()

    async def _end_stream(self) -> str:
        """STOP, fetch what is still missing, and the board's final STATUS; with the link down
        (the time ran out during a reconnect, or the link dropped as the session ended), after
        reconnecting. Returns why what is still missing then is lost."""
        assert self.log is not None
        ended_s = time.monotonic()
        requests = self._stop_requests
        for _ in range(_END_TRIES):
            try:
                if not self._link_up or self.device.link_lost.is_set():
                    # Ending there lost a hole the board's ring still held (a saturated pair
                    # run): what it holds comes only over a link.
                    self.live.state = "reconnecting to fetch what the board holds"
                    if not await self._keep_trying(
                        self._reach_same_boot,
                        time.monotonic() + _END_RECONNECT_S,
                        lambda: self._hurried(requests),
                    ):
                        break
                    if self._reboot_seen:
                        return "board reset before sending them"
                self.live.state = "stopping"
                # Asked again while unanswered (Device.stop): with a 2 s cap, one STOP reply
                # lost or late skipped the fetch, and a tail the board still held was lost.
                await self.device.stop()
                if self._storage_error is None:
                    await self._drain()
                    await self._last_ack()
                await self._final_status()
                return "session ended before the board re-sent them"
            except _LinkErrors as exc:
                self._link_up = False  # it dropped during the end: reconnect, fetch again
                self.live.last_error = str(exc)
                if self._hurried(requests):
                    break
        self._count_unheard_tail(ended_s)
        return "session ended with the link down"

    def _record_status(self, status: StatusReport) -> None:
        assert self.log is not None
        self.log.record_status(status)
        self._streaming = "STREAMING" in status.flags

    def _hurried(self, requests: int) -> bool:
        """The user asked to stop again since `requests` were counted, or had asked twice
        already: the end's fetch and reconnects give up at once."""
        return self._stop_requests != requests or self._stop_requests >= 2

    def _count_unheard_tail(self, ended_s: float) -> None:
        """The board could not be reached to end the session: it streamed on from its last
        sample heard until the session ended, and those samples are lost, not unseen (a
        session of 10 s that heard 2 s would say it was complete). Sized from the time, since
        only the board knows its index."""
        assert self.log is not None
        received = self.log.next_index
        if received is None or not self._streaming:
            return
        unheard = int((ended_s - self._newest_s) * self.log.info.imu_rate_hz)
        if unheard > 0:
            self.log.expect_until(received + unheard, time.monotonic())

    async def _final_status(self) -> None:
        """The board's own count of what it dropped, as of the end: session.json's board_status
        must not be a STATUS from up to a second before. Once the fetch is done, a STATUS lost
        costs nothing but that."""
        assert self.log is not None
        try:
            self._record_status(await self.device.get_status())
        except _LinkErrors as exc:
            log.info("no final STATUS: %s", exc)

    # --- the loop --------------------------------------------------------------------------

    async def _loop(self, duration_s: float | None) -> None:
        assert self.log is not None
        deadline = self._deadline
        last_sync = last_meta = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            self.live.elapsed_s = now - self._start_s
            try:
                if self.device.link_lost.is_set():
                    raise LinkLost(f"{self.device.description}: link lost")
                if self._link_quiet.seconds(now) > _STALL_S:
                    raise LinkLost(f"{self.device.description}: no data for {_STALL_S:.0f} s")
                sync = now - last_sync > _SYNC_EVERY_S
                if sync:
                    last_sync = now
                await self._unless_silent(self._tend(now, sync))
            except _LinkErrors as exc:
                self.live.last_error = str(exc)
                self._link_up = False
                await self._reconnect()
                continue
            self.log.write_ready(now)
            self._acknowledge(now)
            self._update_live(now)
            if now - last_meta > 5.0:
                last_meta = now
                self._save_meta(complete=False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.2)

    async def _begin_boot(self) -> None:
        assert self.log is not None
        self._hold_blocks()  # a board streaming already: its blocks may predate our START
        status = await self.device.get_status()
        now = time.monotonic()
        self._record_status(status)
        self.log.new_boot(now - status.uptime_ms / 1000, now)
        await self._sync(5)

    async def _start_stream(self) -> None:
        """START, and the stream's first index from the board's answer: from there on every
        sample is this session's (a first block lost on the link is asked for again), before
        it none is. Blocks that came meanwhile are taken once that is known."""
        assert self.log is not None
        self._hold_blocks()
        before = self.log.next_index
        try:
            self.log.stream_starts_at(await self.device.start())
            self._streaming = True
            if self.log.next_index != before:
                self._newest_s = time.monotonic()  # a new stream: nothing of it unheard yet
        finally:
            early, self._early = self._early or [], None
            for arrived_s, block in early:
                self._take(block, arrived_s)
        self._last_block_s = time.monotonic()

    def _hold_blocks(self) -> None:
        if self._early is None:
            self._early = []

    async def _sync(self, count: int, tries: int | None = None) -> None:
        """`count` time-sync pings in at most `tries` (default twice as many). The clock needs
        some, not each: a ping whose answer is lost or late (a damaged frame, a board or PC busy
        for 2 s) is skipped and another sent; only a board that answers none is an error."""
        assert self.log is not None
        tries = tries or 2 * count
        answered = 0
        for attempt in range(tries):
            if answered == count:
                return
            try:
                sync = await self.device.time_sync()
            except CommandTimeout as exc:
                log.warning("%s", exc)
                if answered == 0 and attempt == tries - 1:
                    raise
                continue
            answered += 1
            self.log.add_sync(sync.host_sent_s, sync.host_received_s, sync.device_us)

    async def _refill(self, now: float) -> None:
        assert self.log is not None
        for hole in self.log.holes_to_request(now):
            start = hole.start
            for _ in range(3):
                answer = await self.device.resend(start)
                self._resend_answered_s = time.monotonic()
                if answer.ok:
                    self.log.resend_answered(start, time.monotonic())
                    break
                if answer.oldest_index <= start:
                    break
                # Gone from the ring: lost now, and ask at once for what it still holds (a
                # second later the ring has moved on by a second of samples).
                oldest = min(hole.end, answer.oldest_index)
                self.log.declare_lost(start, oldest, "older than the board's buffer")
                if oldest >= hole.end:
                    break
                start = oldest
                self.log.resend_from(start)
        self.log.expire(now)

    async def _drain(self) -> None:
        """The stream has stopped: fetch what is still missing while the board brings it.

        First the blocks the board still owed its link arrive; then one RESEND from just past
        the last sample received asks for the stream's tail (its answer gives the board's next
        index, so a tail lost on the link is known, and counted if it cannot be re-sent); then
        the holes are asked for as during the stream, until none is left, the board brings
        nothing for _DRAIN_IDLE_S after its last block or RESEND answer, _DRAIN_MAX_S have
        passed, or the user asks again to stop."""
        log = self.log
        assert log is not None
        requests = self._stop_requests
        received = -1
        stopped_s = turn_s = time.monotonic()
        idle_s = 0.0  # since the last progress, counting each turn at most _DRAIN_TURN_S
        tail_asked = False
        credited_answer_s, received_at_credit = 0.0, -1
        while not self._hurried(requests):
            now = time.monotonic()
            idle_s += min(now - turn_s, _DRAIN_TURN_S)
            turn_s = now
            if log.samples_received != received:
                received, idle_s = log.samples_received, 0.0
            # An answer is progress too: the idle wait for what it announced starts there, not
            # when it was asked (on a slow link or a busy host the answer itself takes seconds).
            # But only if blocks came since the last answer counted: a board that answers and
            # never sends kept a saturated run's fetch going for 270 s.
            answered = self._resend_answered_s
            if answered > credited_answer_s and received != received_at_credit:
                idle_s = min(idle_s, max(0.0, now - answered))
                credited_answer_s, received_at_credit = answered, received
            if idle_s > _DRAIN_IDLE_S or now - stopped_s > _DRAIN_MAX_S:
                break
            if not tail_asked and now - max(stopped_s, self._last_block_s) > _DRAIN_QUIET_S:
                tail_asked = True
                await self._ask_for_tail(now)
            if tail_asked and not log.missing:
                break  # nothing missing: the usual end, a tenth of a second after STOP
            await self._refill(now)
            try:
                log.write_ready(now)
            except StorageError as exc:
                self._storage_error = exc  # the disk filled meanwhile: end as in the loop
                return
            self._acknowledge(now)
            self._update_live(now)
            await asyncio.sleep(0.05)

    async def _ask_for_tail(self, now: float) -> None:
        assert self.log is not None
        end = self.log.next_index
        if end is None:
            return
        answer = await self.device.resend(end)
        self._resend_answered_s = time.monotonic()
        if answer.next_index > end:
            self.live.state = "fetching missing samples"
            self.log.expect_until(answer.next_index, now)
            if answer.ok:
                self.log.resend_answered(end, time.monotonic())

    async def _on_reboot(self) -> None:
        self._reboot_seen = False
        await self._begin_boot()
        await self._start_stream()

    async def _restart_stream(self) -> None:
        """No samples for _STALL_S while the board still answers: if it stopped streaming
        (a STOP from another program, a crash of its sampler), start it again; the pause is a
        new segment of the board's clock, its missing samples counted as lost."""
        assert self.log is not None
        status = await self.device.get_status()
        self._record_status(status)
        now = time.monotonic()
        paused = self._paused_unsampled(status)
        if "STREAMING" in status.flags:
            self.log.record_event("NO_SAMPLES", status.samples_produced, now - self._start_s)
            log.warning("no samples for %.0f s, though the board is streaming", _STALL_S)
        else:
            self._note_stream_stopped(status)
        if paused:
            await self._new_segment()
        self._last_block_s = time.monotonic()
        await self._start_stream()

    def _note_stream_stopped(self, status: StatusReport) -> None:
        """The board says it is not streaming (a STOP from another program, its BLE owner gone
        too long, a crash of its sampler): an event in session.json, however it was found."""
        assert self.log is not None
        at_s = time.monotonic() - self._start_s
        self.log.record_event("STREAM_STOPPED", status.samples_produced, at_s)
        log.warning("the board stopped streaming: starting it again")

    async def _new_segment(self) -> None:
        """The board stopped streaming on this boot. What it made before the stop and the link
        lost is still in its ring: it is fetched first, as at the end of a session (the pause
        after it is sized from the time, since nothing was sampled)."""
        assert self.log is not None
        await self._drain()
        self.log.new_segment(time.monotonic(), "board stopped streaming")
        await self._sync(5)

    def _paused_unsampled(self, status: StatusReport) -> bool:
        """The board is not streaming and its sample index did not move on with the time: its
        IMU was not sampled, so the pause is lost (a new segment), not waiting in its ring."""
        assert self.log is not None
        received = self.log.next_index
        if "STREAMING" in status.flags or received is None:
            return False
        next_index = status.samples_produced + status.samples_dropped
        behind_s = time.monotonic() - self._last_block_s
        return next_index - received < 0.5 * behind_s * self.log.info.imu_rate_hz

    async def _tend(self, now: float, sync: bool) -> None:
        """The loop's talk with the board: a new boot, a stopped stream, a time-sync ping,
        the refill of holes."""
        if self._reboot_seen:
            await self._on_reboot()
        elif self._stream_quiet.seconds(now) > _STALL_S:
            await self._restart_stream()
        if sync:
            await self._sync(1, tries=1)  # the loop waits on it: no second try
        await self._refill(now)

    async def _unless_silent(self, work: Coroutine[Any, Any, None]) -> None:
        """`work`, given up with LinkLost once the link has said nothing for _STALL_S: a
        command left waiting out its timeout on a dead link would hold the reconnect back."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                silent_s = self._link_quiet.seconds(time.monotonic())
                if silent_s > _STALL_S:
                    raise LinkLost(f"{self.device.description}: no data for {_STALL_S:.0f} s")
                timeout_s = min(_STALL_S - silent_s + 0.05, _STALL_TURN_S)
                done, _ = await asyncio.wait({task}, timeout=timeout_s)
                if done:
                    return task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _reconnect(self) -> None:
        """Reattach with back-off until it works, Ctrl-C, or the session's deadline."""
        self.live.state = "reconnecting"
        self.live.reconnects += 1
        if await self._keep_trying(self._reattach, self._deadline, self._stop.is_set):
            self.live.state = "streaming"
            self.live.last_error = ""

    async def _keep_trying(
        self,
        attempt: Callable[[], Coroutine[Any, Any, object]],
        deadline_s: float | None,
        given_up: Callable[[], bool],
    ) -> bool:
        """`attempt` again with back-off while the link fails. True once it succeeds; False
        when `given_up()` or `deadline_s` comes first, with the last error in live.last_error."""

        def left_s() -> float | None:
            return None if deadline_s is None else deadline_s - time.monotonic()

        def out_of_time() -> bool:
            left = left_s()
            return left is not None and left <= 0

        async def back_off(delay: float) -> None:  # cut short by the deadline and given_up()
            until_s = time.monotonic() + delay
            while not given_up() and not out_of_time() and time.monotonic() < until_s:
                await asyncio.sleep(_BACK_OFF_TICK_S)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_LinkErrors),
            wait=wait_chain(*(wait_fixed(delay) for delay in _BACKOFF_S)),  # the last repeats
            stop=lambda _state: given_up() or out_of_time(),
            sleep=back_off,
            before_sleep=self._attempt_failed,
            reraise=True,
        )
        try:
            async for tried in retrying:
                with tried:
                    if out_of_time():
                        return False
                    async with asyncio.timeout(left_s()):
                        await attempt()
        except TimeoutError:
            self.live.last_error = "time ran out while reconnecting"
            return False
        except _LinkErrors as exc:
            self.live.last_error = str(exc)  # stopped, or out of time, while it kept failing
            return False
        return True

    def _attempt_failed(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        self.live.last_error = str(exc)
        log.info("reconnect attempt %d failed: %s", state.attempt_number, exc)

    async def _reach_same_boot(self) -> StatusReport:
        """The link again, to the same board; `_reboot_seen` if it reset meanwhile."""
        assert self.log is not None
        await self.device.reconnect()
        # Asked again each second: the first ask may go out while the link is still down.
        info = await self.device.get_info(ask_again_s=_ASK_AGAIN_S)
        if info.device_id != self.log.info.device_id:
            raise DeviceError(f"a different board answered ({info.name})")
        asked_s = time.monotonic()
        status = await self.device.get_status(ask_again_s=_ASK_AGAIN_S)
        self._record_status(status)
        # The board answered after `asked_s`: had it not reset, its uptime then was at least
        # the time since its boot. Not measured from the answer's arrival: a host held up for
        # 2 s before reading it (a saturated PC) took a board that ran on for a reset, and
        # declared the samples it still held lost.
        if status.uptime_ms / 1000 < asked_s - self.log.boot_host_s - 2.0:
            self._reboot_seen = True  # it reset while we could not hear it
        self._link_up = True
        return status

    async def _reattach(self) -> None:
        """One reconnect attempt: same board, then streaming again (a new boot if it reset)."""
        status = await self._reach_same_boot()
        if self._reboot_seen:
            await self._on_reboot()
            return
        if "STREAMING" not in status.flags:  # it stopped while we could not hear it
            self._note_stream_stopped(status)
        if self._paused_unsampled(status):
            await self._new_segment()
        await self._start_stream()

    # --- incoming --------------------------------------------------------------------------

    def _on_block(self, block: SampleBlock) -> None:
        if self._reboot_seen:
            return
        now = time.monotonic()
        if self._early is not None:
            self._early.append((now, block))
            return
        if self.log is None or not self.log.started:
            return
        self._take(block, now)

    def _take(self, block: SampleBlock, arrived_s: float) -> None:
        assert self.log is not None
        self._last_block_s = arrived_s
        newest = self.log.next_index
        if self.log.add_block(block, arrived_s):
            self._rx.append((arrived_s, block.imu_count))
        if self.log.next_index != newest:
            self._newest_s = arrived_s  # the stream's newest sample so far came then

    def _on_message(self, msg_type: spec.MsgType, message: Any) -> None:
        if self.log is None:
            return
        if msg_type == spec.MsgType.STATUS:
            status = StatusReport.from_message(message)
            self._record_status(status)
            self.live.battery_pct = status.battery_pct
        elif msg_type == spec.MsgType.EVENT:
            try:
                kind = spec.EventKind(message.kind).name
            except ValueError:
                kind = f"unknown({message.kind})"
            self.log.record_event(kind, message.value, time.monotonic() - self._start_s)
            if message.kind == spec.EventKind.BOOT and self.log.started:
                self._reboot_seen = True
        elif msg_type == spec.MsgType.LOG:
            self.log.record_board_log(message.text)
            log.info("board: %s", message.text)

    def _on_rows(self, t_s: np.ndarray, imu: np.ndarray, force_n: np.ndarray) -> None:
        self.training.add_rows(t_s, imu, force_n)
        if self.on_rows is not None:
            self.on_rows(t_s, imu, force_n)

    def _on_training(self, event: TrainingEvent) -> None:
        live = self.training.live  # the counts as of this event: shown at once
        self.live.sets, self.live.reps, self.live.jumps = live.sets, live.reps, live.jumps
        if isinstance(event, RepEnded):
            log.info("set %d rep %d: %.0f deg", event.set_number, event.rep_number,
                     event.rep.rom_deg)  # fmt: skip

    # --- bookkeeping -----------------------------------------------------------------------

    def _update_live(self, now: float) -> None:
        assert self.log is not None
        self._rx = [(t, n) for t, n in self._rx if now - t <= 2.0]
        if len(self._rx) >= 2:
            span = max(now - self._rx[0][0], 1e-3)
            self.live.rate_hz = sum(n for _, n in self._rx[1:]) / span
        acct = self.log.accounting()
        self.live.samples_written = self.log.samples_written
        self.live.lost = acct.lost
        self.live.refilled = acct.refilled
        self.live.held = self.log.held

    def _save_meta(self, complete: bool) -> None:
        assert self.log is not None
        self.log.annotate("reconnects", self.live.reconnects)
        meta = self.log.meta(
            complete,
            self.live.elapsed_s,
            self.device.description,
            self.device.decoder.stats.as_dict(),
        )
        self.log.folder.write_json(meta)

    def _discard_unstarted(self) -> None:
        """The board never streamed: the folder holds nothing worth keeping (empty tables, the
        INFO exchange); remove it rather than leave a session that says it is complete."""
        if self.log is None:
            return
        if self._raw_file is not None:
            self._raw_file.close()
            self._raw_file = None
            self.device.raw_sink = None
        if self.log.journal is not None:
            self.log.journal.close()
        self.log.folder.close()
        shutil.rmtree(self.log.folder.path, ignore_errors=True)
        self.log = None

    def _acknowledge(self, now: float) -> None:
        """ACK what is on disk every _ACK_EVERY_S, without waiting for the answer: a lost ACK
        costs nothing, the next one says more."""
        if not self._acks or self.log is None or now - self._acked_s < _ACK_EVERY_S:
            return
        if self._ack_task is not None and not self._ack_task.done():
            return  # the last one is still on its way (a slow link)
        settled = self.log.settled_index
        if settled is None:
            return
        self._acked_s = now
        self._ack_task = asyncio.create_task(self._send_ack(settled), name="anklet-ack")

    async def _last_ack(self) -> None:
        """After the fetch: the board holds nothing the host still wants, and may erase its
        flash now rather than when its wait for a late RESEND runs out (which it does anyway,
        so an ACK lost costs nothing)."""
        settled = self.log.settled_index if self.log is not None else None
        if self._acks and settled is not None:
            try:
                await asyncio.wait_for(self.device.ack(settled), 2.0)
            except (*_LinkErrors, TimeoutError) as exc:
                log.info("last ACK not answered: %s", exc)

    async def _send_ack(self, below_index: int) -> None:
        try:
            await self.device.ack(below_index)
        except CommandFailed as exc:
            if exc.status == spec.StatusCode.UNKNOWN_OPCODE:
                self._acks = False  # a firmware that says 1.3 and lacks it: stop asking
            log.info("ACK refused: %s", exc)
        except (*_LinkErrors, TimeoutError) as exc:
            log.info("ACK not answered: %s", exc)  # the link is down: the next one follows

    def _finish(self, why: str) -> None:
        if self._ack_task is not None:
            self._ack_task.cancel()
        if self.log is None:
            return
        now = time.monotonic()
        # The one duration, summary and session.json, rounded as session.json writes it: the
        # summary once printed 3.4 s for a session.json's 3.450.
        self.live.elapsed_s = round(now - self._start_s, 3)
        try:
            self.log.finish(now, why)
        except StorageError as exc:
            self._storage_error = self._storage_error or exc
        self._update_live(now)
        self.outcome = conclude(self.training, self.log)  # on the rows kept, not a re-read
        try:
            self._save_meta(complete=True)
        except StorageError as exc:  # not even the reserve was enough
            log.error("session.json not updated: %s", exc)
            self._storage_error = self._storage_error or exc
        self.log.folder.close()
        if self._raw_file is not None:
            self._raw_file.close()
            self.device.raw_sink = None
        if self.log.journal is not None:
            self.log.journal.close()
            self.log.journal = None

    def summary(self) -> SessionSummary:
        assert self.log is not None
        acct = self.log.accounting()
        return SessionSummary(
            folder=self.log.folder.path,
            device_name=self.log.info.name,
            duration_s=self.live.elapsed_s,
            samples=self.log.samples_written,
            expected=acct.expected,
            lost=acct.lost,
            refilled=acct.refilled,
            completeness_pct=acct.completeness_pct,
            reconnects=self.live.reconnects,
            boots=self.log.boot_count,
            training=self.outcome or self.training.finish(0),
        )
