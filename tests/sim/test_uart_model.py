"""The simulated board's UART (ESP32 model on, the default): the host must use the board's
115200 baud or both directions are garbage, bytes arrive no faster than the line rate, a write
that overfills the 128-byte TX FIFO holds the interpreter for whole ticks, and a sample rate the
line cannot carry is refused with the limit named."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from anklet.device import CommandFailed, CommandTimeout, Device
from anklet.transport.serial import SerialTransport
from anklet_protocol import framing, spec
from anklet_sim.board import SimulatedBoard
from anklet_sim.uart import TICK_S, TX_FIFO_BYTES, UartModel
from simhelpers import COMMAND_TIMEOUT_S, QUIET_MOTION

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def esp32_board(tmp_path: Path):
    board = SimulatedBoard(flash_dir=tmp_path / "flash", motion=QUIET_MOTION)
    board.start()
    try:
        yield board
    finally:
        board.stop()


async def _session(
    port: str, body, baud: int = spec.SERIAL_BAUD, command_timeout_s: float = COMMAND_TIMEOUT_S
):
    device = Device(SerialTransport(port, baudrate=baud), command_timeout_s=command_timeout_s)
    try:
        return await body(device)
    finally:
        await device.close()


def test_1000_hz_over_serial_is_refused_naming_the_limit(esp32_board):
    async def body(device: Device):
        await device.wait_ready()
        await device.set_rates(imu_rate_hz=1000)
        with pytest.raises(CommandFailed) as refused:
            await device.start()
        status = await device.get_status()
        await device.set_rates(imu_rate_hz=spec.fastest_serial_rate_hz())
        await device.start()  # the highest rate the line carries is accepted
        return str(refused.value), status

    text, status = asyncio.run(_session(esp32_board.port, body))
    assert "OUT_OF_RANGE" in text
    assert "1000 Hz needs 16267 B/s" in text
    assert "115200 baud carries 9792" in text
    assert f"{spec.fastest_serial_rate_hz()} Hz at most" in text
    assert "STREAMING" not in status.flags


def test_a_host_at_another_baud_rate_reads_and_sends_garbage(esp32_board):
    async def wrong(device: Device):
        with pytest.raises(CommandTimeout):
            await device.wait_ready(timeout_s=3.0)

    async def right(device: Device):
        return await device.wait_ready()

    asyncio.run(_session(esp32_board.port, wrong, baud=921_600, command_timeout_s=1.0))
    assert esp32_board.uart is not None
    assert esp32_board.uart.garbled_bytes > 0
    info = asyncio.run(_session(esp32_board.port, right))
    assert info.imu_rate_hz in spec.IMU_RATES_HZ


def test_bytes_reach_the_host_no_faster_than_the_line_rate(esp32_board):
    arrivals: list[tuple[float, int]] = []
    started: list[float] = []

    async def body(device: Device):
        await device.wait_ready()
        await device.set_rates(imu_rate_hz=400)
        transport = device.transport
        read_frame = transport.read_frame

        async def timed_read() -> bytes:
            frame = await read_frame()
            # its bytes on the line: COBS-encoded, with the delimiter
            arrivals.append((time.monotonic(), len(framing.cobs_wrap(frame))))
            return frame

        transport.read_frame = timed_read  # type: ignore[method-assign]
        started.append(time.monotonic())  # nothing of the stream has left the board before
        await device.start()
        while sum(n for _, n in arrivals) < 20_000:
            await asyncio.sleep(0.1)
        await device.stop()

    asyncio.run(_session(esp32_board.port, body))
    # Timed from before START: a host kept from the CPU reads late, never early, so however
    # busy the machine, what it has read by any time is at most what the line carried since
    # (plus the FIFO and a STATUS frame that may have been on its way already).
    line_bytes_per_s = spec.SERIAL_BAUD / 10
    t1 = arrivals[-1][0]
    carried = sum(n for _, n in arrivals)
    assert carried <= (t1 - started[0]) * line_bytes_per_s + TX_FIFO_BYTES + 256


def test_a_write_that_overfills_the_tx_fifo_holds_the_board_for_whole_ticks():
    stalls: list[float] = []
    uart = UartModel(host_baud=lambda: spec.SERIAL_BAUD, stall=stalls.append)
    uart.board_wrote(TX_FIFO_BYTES)  # fits the empty FIFO: no wait
    assert stalls == []
    uart.board_wrote(300)  # the FIFO is full: 300 bytes at 115.2 bytes per tick → 3 ticks
    assert stalls == [pytest.approx(3 * TICK_S)]
    assert uart.stalls == 1


def test_a_launcher_that_read_late_does_not_stall_the_board(monkeypatch):
    # The launcher was kept from the CPU for half a second while the board wrote at the line
    # rate: the backlog is the board's paced writes, not one burst into a full FIFO.
    now = [100.0]
    monkeypatch.setattr("anklet_sim.uart.time.monotonic", lambda: now[0])
    stalls: list[float] = []
    uart = UartModel(host_baud=lambda: spec.SERIAL_BAUD, stall=stalls.append)
    uart.board_wrote(100)
    now[0] += 0.5
    uart.board_wrote(int(0.5 * spec.SERIAL_BAUD / 10) - 100, backlogged=True)
    assert stalls == []
    # Read on time, a burst beyond the FIFO still holds the board for whole ticks.
    now[0] += 0.001
    uart.board_wrote(300, backlogged=True)
    assert len(stalls) == 1 and stalls[0] >= TICK_S


def test_a_launcher_that_woke_late_gives_out_what_the_line_sent_meanwhile(monkeypatch):
    # The line sends back to back on its own clock: a launcher thread that oversleeps does not
    # slow it (pacing from each wake-up lost the oversleep every piece).
    now = [100.0]
    monkeypatch.setattr("anklet_sim.uart.time.monotonic", lambda: now[0])
    monkeypatch.setattr("anklet_sim.uart.time.sleep", lambda s: now.__setitem__(0, now[0] + 3 * s))
    uart = UartModel(host_baud=lambda: spec.SERIAL_BAUD, stall=lambda s: None)
    data = bytes(range(256)) * 4
    pieces = list(uart.paced(data))
    assert b"".join(pieces) == data
    line_s = len(data) * 10 / spec.SERIAL_BAUD
    # every sleep overslept 3x, yet the last byte is out by the line's time plus one oversleep
    assert now[0] - 100.0 <= line_s + 3 * 32 * 10 / spec.SERIAL_BAUD
    assert max(map(len, pieces)) > 32  # a late wake-up gave out more than one piece at once


def test_bytes_are_given_out_no_sooner_than_the_line_sends_them(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("anklet_sim.uart.time.monotonic", lambda: now[0])
    monkeypatch.setattr("anklet_sim.uart.time.sleep", lambda s: now.__setitem__(0, now[0] + s))
    uart = UartModel(host_baud=lambda: spec.SERIAL_BAUD, stall=lambda s: None)
    given: list[tuple[float, int]] = []
    for piece in uart.paced(bytes(1000)):
        given.append((now[0], len(piece)))
    out = 0
    for at, n in given:
        out += n
        assert out * 10 / spec.SERIAL_BAUD <= at - 100.0 + 1e-9
    assert out == 1000


def test_serial_stops_streaming_when_its_host_goes_quiet(esp32_board):
    # A UART cannot tell whether anyone listens: the board streams over it only while the host
    # that started the stream keeps speaking (any frame within 15 s).
    arrivals: list[float] = []

    async def body(device: Device):
        await device.wait_ready()
        device.on_samples = lambda block: arrivals.append(time.monotonic())
        await device.start()
        last_command = time.monotonic()
        deadline = last_command + 60
        # Until no SAMPLES for 2 s, from 15 s on: a gap before then is this host kept from the
        # CPU (a busy machine), not the board going quiet, and the check below would catch a
        # board that did go quiet early (its last block would have come early).
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            if now - last_command > 15.0 and arrivals and now - arrivals[-1] > 2.0:
                break
        status = await device.get_status()  # the host speaks again: the stream resumes
        resumed_from = len(arrivals)
        while len(arrivals) == resumed_from and time.monotonic() < deadline + 30:
            await asyncio.sleep(0.1)
        return last_command, status, resumed_from

    last_command, status, resumed_from = asyncio.run(_session(esp32_board.port, body))
    quiet_at = arrivals[resumed_from - 1]
    assert quiet_at - last_command >= 15.0 - 0.5  # never before the host's 15 s of silence
    assert "STREAMING" in status.flags  # still sampling into the ring, just not sending
    assert len(arrivals) > resumed_from  # speaking again brings the stream back


def test_a_stream_started_over_ble_does_not_also_go_out_over_serial(tmp_path: Path):
    from anklet.transport.ble import BleTransport
    from anklet_sim.ble_board import SimulatedBleBoard

    async def go() -> tuple[int, int]:
        async with SimulatedBleBoard(tmp_path / "flash", motion=QUIET_MOTION) as sim:
            assert sim.board is not None
            wired = Device(SerialTransport(sim.board.port), command_timeout_s=COMMAND_TIMEOUT_S)
            radio = Device(
                BleTransport(None, pair=True, central=sim.central()),
                command_timeout_s=COMMAND_TIMEOUT_S,
            )
            on_serial: list[object] = []
            on_ble: list[object] = []
            try:
                await wired.wait_ready()  # a host on the cable too, and speaking
                wired.on_samples = on_serial.append
                await radio.open()
                await radio.get_info()
                radio.on_samples = on_ble.append
                await radio.start()
                while len(on_ble) < 20:  # blocks flow over BLE
                    await asyncio.sleep(0.1)
                await wired.get_status()  # the cable's host still speaks: still "connected"
                await radio.stop()
            finally:
                await radio.close()
                await wired.close()
            return len(on_serial), len(on_ble)

    serial_blocks, ble_blocks = asyncio.run(go())
    assert ble_blocks >= 20
    assert serial_blocks == 0
