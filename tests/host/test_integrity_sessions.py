"""Attacks on the loss account against the simulated board (the real firmware in MicroPython):
back-to-back sessions, a stream stopped behind the recorder's back, a port that disappears.
Each waits for events, never for a time."""

from __future__ import annotations

import asyncio
import os

import anklet.recorder as recorder_module
import numpy as np
import pytest
from accounting import assert_every_sample_accounted, lost_on_the_link
from anklet.device import CommandTimeout
from anklet.transport import PortBusy
from simhelpers import (
    device_on,
    holders,
    read_samples,
    reader_state,
    record,
    record_until,
    rows_in_file,
    rows_written,
)

pytestmark = pytest.mark.timeout(240)


def _column(rows: list[dict[str, str]], name: str) -> np.ndarray:
    return np.array([float(r[name]) for r in rows])


def _first_covered(index: np.ndarray, meta: dict) -> int:
    """The session's first index, written or counted lost."""
    return int(min([index[0], *(r["from_index"] for r in meta["loss"]["lost_ranges"])]))


def test_second_session_on_the_same_boot_records_only_its_own_samples(sim, tmp_path):
    first = asyncio.run(record_until(sim, tmp_path / "one", 200, rows_written(400)))
    try:
        second = asyncio.run(record_until(sim, tmp_path / "two", 200, rows_written(400)))
    except PortBusy:  # once in a clean-clone CI run: who held the port? (os.getpid(): the test)
        raise AssertionError(
            f"{sim.port} busy; held by {holders(sim.port)}; test {os.getpid()}"
        ) from None
    assert first.samples > 0
    rows = read_samples(second.folder)
    index = _column(rows, "index")
    t_s = _column(rows, "t_s")
    # Every sample of its own, written or counted: the board may drop some itself (its IMU
    # FIFO overflows when a saturated PC starves it), the link loses none.
    meta = assert_every_sample_accounted(second.folder)
    assert lost_on_the_link(meta) == 0
    assert second.expected == second.samples + second.lost
    assert _first_covered(index, meta) == 0
    assert t_s.min() > -0.5  # nothing from before the session started
    # Its own seconds, not the first's too.
    assert second.expected <= (second.duration_s + 1.0) * 200


async def _until(predicate, what: str, timeout_s: float = 60.0) -> None:
    """Wait for an event of the session (a generous bound only against a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.05)


def test_a_stream_stopped_behind_the_recorders_back_is_restarted_and_the_pause_counted(
    sim, tmp_path
):
    from anklet_protocol import spec

    marks: dict[str, int] = {}

    async def stop_from_elsewhere(recorder):
        await _until(lambda: rows_in_file(recorder) >= 600, "600 rows written")
        # The board hears STOP as if another program sent it; STATUS frames keep coming.
        await recorder.device.command(spec.Opcode.STOP)
        marks["stopped_at"] = rows_in_file(recorder)
        await _until(
            lambda: any(e["kind"] == "STREAM_STOPPED" for e in recorder.log.events),
            "the recorder noticing the stopped stream",
        )
        await _until(
            lambda: rows_in_file(recorder) >= marks["stopped_at"] + 800,
            "rows after the restart",
        )
        recorder.request_stop()

    summary = asyncio.run(record(sim, tmp_path / "out", 120.0, 200, during=stop_from_elsewhere))
    meta = assert_every_sample_accounted(summary.folder)  # the pause's range where its rows are
    reasons = {r["why"] for r in meta["loss"]["lost_ranges"]}
    assert "board stopped streaming" in reasons
    assert summary.lost >= 200 * 2 * 0.8  # at least the 2 s it took to notice
    assert summary.completeness_pct < 100.0
    assert summary.expected == summary.samples + summary.lost
    rows = read_samples(summary.folder)
    index = _column(rows, "index")
    t_s = _column(rows, "t_s")
    assert np.all(np.diff(index) > 0)
    # The pause shows as a jump in time that matches the jump in index.
    jump = int(np.argmax(np.diff(index)))
    assert np.diff(index)[jump] - 1 == pytest.approx((t_s[jump + 1] - t_s[jump]) * 200 - 1, abs=3)
    assert meta["boots"] == 1
    assert meta["stream_restarts"] == 1


def test_a_port_that_disappears_ends_the_session_at_its_deadline(sim, tmp_path):
    from anklet.recorder import SessionRecorder

    unhandled: list[str] = []

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: unhandled.append(ctx["message"]))
        device = device_on(sim)
        recorder = SessionRecorder(device, tmp_path / "out", imu_rate_hz=200)
        task = asyncio.create_task(recorder.run(10.0))
        await _until(lambda: rows_in_file(recorder) >= 200, "rows written")
        # The port's number stays taken while the recorder tries it again: a pty freed now
        # would soon be another test's board, which this recorder would open (and hold: that
        # test's host would find its port busy: the likely cause of two PortBusy failures in
        # clean-clone CI runs).
        reserved = os.open(sim.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            sim.stop()  # the USB cable is pulled: the port goes away for good
            # The deadline is 10 s from the stream's start, then the board is tried for what
            # it holds for _END_RECONNECT_S; far more means they were ignored.
            summary = await asyncio.wait_for(task, 60.0)
        finally:
            os.close(reserved)
        await device.close()
        import gc

        gc.collect()
        await asyncio.sleep(0)
        return summary

    summary = asyncio.run(main())
    assert 9.5 <= summary.duration_s <= 20.0 + recorder_module._END_RECONNECT_S
    assert summary.reconnects >= 1
    assert unhandled == []
    meta = assert_every_sample_accounted(summary.folder)
    assert meta["complete"] is True
    assert len(read_samples(summary.folder)) == summary.samples > 0
    # What the board streamed after the cable was pulled, until the deadline, is counted lost
    # (sized from the time): the session does not call its first second complete.
    whys = {r["why"] for r in meta["loss"]["lost_ranges"]}
    assert "session ended with the link down" in whys
    assert summary.expected > summary.samples


def test_a_board_that_streamed_with_nobody_listening_starts_a_clean_session(sim, tmp_path):

    async def stream_unheard() -> None:
        device = device_on(sim)
        await device.wait_ready()
        await device.start()
        # Let it stream into the void until it has produced a few thousand samples. Each
        # GET_STATUS is asked again every second until answered: this host reads the port only
        # now and then, and when a busy machine keeps it away the port's 8 KiB fill and the
        # bridge loses what comes next (a UART bridge does too), a reply among it: seen beside
        # two busy loops, the board running and not reset, the launcher having dropped 56
        # bytes, while the host's one GET_STATUS waited its 10 s.
        try:
            while (await device.get_status(ask_again_s=1.0)).samples_produced < 2000:
                await asyncio.sleep(0.2)
        except CommandTimeout as exc:
            # If it still happens, say what the board did.
            raise AssertionError(
                f"{exc}; boots {sim.boots}, exits {sim.exit_codes}, link {sim.stats}, "
                f"uart {sim.uart}; {sim.port} held by {holders(sim.port)}; "
                f"{reader_state(device)}; board log ends:\n" + sim.log_tail(30)
            ) from None
        await device.close()

    asyncio.run(stream_unheard())
    summary = asyncio.run(record_until(sim, tmp_path / "out", 200, rows_written(400)))
    rows = read_samples(summary.folder)
    meta = assert_every_sample_accounted(summary.folder)
    assert lost_on_the_link(meta) == 0  # (the board may drop some itself on a starved PC)
    # Its own seconds of samples, none of the backlog streamed before it.
    assert summary.expected == summary.samples + summary.lost
    assert summary.expected <= (summary.duration_s + 1.0) * 200
    assert _first_covered(_column(rows, "index"), meta) == 0
