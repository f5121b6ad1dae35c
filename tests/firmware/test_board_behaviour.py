"""The firmware as a whole, on the simulated board through its pty: command replies and their
error codes, config that survives a reset mid-write, FIFO overflow accounting, and a replayed
recording arriving intact."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
from accounting import assert_every_sample_accounted, lost_on_the_link
from anklet.device import CommandFailed, Device
from anklet_protocol import spec
from anklet_sim import motion as sim_motion
from anklet_sim.board import SimulatedBoard
from simhelpers import (
    LONG_RING,
    QUIET_MOTION,
    device_on,
    eventually,
    read_meta,
    read_samples,
    record_until,
    rows_in_file,
    rows_written,
)

ROOT = Path(__file__).resolve().parents[2]
# A real 25 Hz recording (44 s of it): see tests/fixtures/README.md.
RECORDING = ROOT / "tests" / "fixtures" / "uci_s1_e1_u2_fast_set.csv"


def run(coro):
    return asyncio.run(coro)


async def with_device(board: SimulatedBoard, action):
    device = device_on(board)
    await device.wait_ready()
    try:
        return await action(device)
    finally:
        await device.close()


@pytest.fixture
def board(tmp_path):
    sim = SimulatedBoard(flash_dir=tmp_path / "flash", motion=QUIET_MOTION)
    sim.start()
    yield sim
    sim.stop()


async def status_of(device: Device, opcode: spec.Opcode, args: bytes) -> int:
    """Send a COMMAND with raw argument bytes; returns the REPLY's status code."""
    try:
        await device.command_raw(opcode, args)
    except CommandFailed as exc:
        return exc.status
    return spec.StatusCode.OK


def test_bad_commands_get_their_documented_status(tmp_path):
    async def action(device: Device) -> dict[str, int]:
        await device.get_info()
        await device.tare(10)  # the weight hangs still on the strap: this is zero
        return {
            "rate 300 Hz": await status_of(
                device,
                spec.Opcode.SET_RATES,
                spec.SetRatesArgs.build(
                    dict(imu_rate_hz=300, load_rate_hz=0, accel_fs_g=0, gyro_fs_dps=0)
                ),
            ),
            "short args": await status_of(device, spec.Opcode.SET_RATES, b"\x01"),
            "opcode 99": await status_of(device, 99, b""),  # type: ignore[arg-type]
            "tare 0 samples": await status_of(device, spec.Opcode.TARE, b"\x00"),
            "resend the past": await status_of(device, spec.Opcode.RESEND, b"\x00\x00\x00\x00"),
            "name too long": await status_of(
                device, spec.Opcode.SET_NAME, spec.SetNameArgs.build(dict(name="x" * 21))
            ),
            "calibrate, nothing hung": await status_of(
                device, spec.Opcode.CALIBRATE, spec.CalibrateArgs.build(dict(mass_g=5000))
            ),
        }

    board = SimulatedBoard(flash_dir=tmp_path / "flash", motion="still")
    with board:
        codes = run(with_device(board, action))
        assert board.running  # no command crashed the firmware
    assert codes == {
        "rate 300 Hz": spec.StatusCode.OUT_OF_RANGE,
        "short args": spec.StatusCode.BAD_LENGTH,
        "opcode 99": spec.StatusCode.UNKNOWN_OPCODE,
        "tare 0 samples": spec.StatusCode.OUT_OF_RANGE,
        "resend the past": spec.StatusCode.OK,  # index 0 is still held right after boot
        "name too long": spec.StatusCode.OUT_OF_RANGE,
        "calibrate, nothing hung": spec.StatusCode.INVALID_STATE,
    }


def test_resend_of_samples_the_ring_no_longer_holds_is_not_available(board):

    async def action(device: Device):
        await device.set_rates(imu_rate_hz=400)  # the fastest 115200 baud carries
        await device.start()
        # The ring holds a few seconds at 400 Hz: ask once it no longer holds index 0.
        while (await device.get_status()).ring_oldest == 0:
            await asyncio.sleep(0.2)
        return await device.resend(0)

    answer = run(with_device(board, action))
    assert answer.ok is False
    assert answer.oldest_index > 0
    assert answer.next_index > answer.oldest_index


def test_tare_on_a_silent_load_cell_is_a_sensor_error(tmp_path):
    sim = SimulatedBoard(
        flash_dir=tmp_path / "flash", motion=QUIET_MOTION, faults={"hx711_never_ready": True}
    )
    with sim:
        code = run(with_device(sim, lambda d: status_of(d, spec.Opcode.TARE, b"\x05")))
    assert code == spec.StatusCode.SENSOR_ERROR


def test_settings_survive_a_reset_in_the_middle_of_a_config_write(board):
    run(with_device(board, lambda d: d.set_name("Left ankle")))
    # A reset while the next save was being written leaves a partial temp file behind.
    (board.flash_dir / "config.json.tmp").write_text('{"name": "Rig')
    board.power_cycle()
    time.sleep(0.5)
    info = run(with_device(board, lambda d: d.get_info()))
    assert info.name == "Left ankle"
    assert info.reset_cause == "HARD_RESET"
    assert not (board.flash_dir / "config.json.tmp").exists()


def test_corrupt_config_falls_back_to_defaults_and_says_so(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "config.json").write_text("{not json")
    with SimulatedBoard(flash_dir=flash, motion=QUIET_MOTION) as sim:
        status = run(with_device(sim, lambda d: d.get_status()))
        info = run(with_device(sim, lambda d: d.get_info()))
    assert "CONFIG_DEFAULTS" in status.flags
    assert info.imu_rate_hz == 200


def dropped_on_the_board(recorder) -> int:
    """Samples the board says it dropped, in its latest STATUS (one a second while streaming)."""
    status = recorder.log.status if recorder.log else None
    return status.samples_dropped if status else 0


def test_fifo_overflow_is_reported_with_exactly_the_missing_indices(board, tmp_path):

    async def stall(recorder):
        assert await eventually(lambda: rows_in_file(recorder) >= 400)  # streaming
        board.set_faults(stall_ms=1000)  # the firmware freezes: the FIFO (85 samples) overflows
        # Wherever the stall falls in a drain, the count is exact (test_sampler_overflow.py:
        # this test failed in CI when it fell on the FIFO count read, before the fix).
        assert await eventually(lambda: dropped_on_the_board(recorder) >= 300), (
            f"dropped {dropped_on_the_board(recorder)}, boots {board.boots}; board log ends:\n"
            + board.log_tail(30)
        )
        # Two seconds of rows after the overflow are in the file: its hole was settled.
        after = rows_in_file(recorder)
        assert await eventually(lambda: rows_in_file(recorder) >= after + 800)

    summary = run(record_until(board, tmp_path / "out", 400, lambda _: True, during=stall))
    meta = read_meta(summary.folder)
    dropped = meta["board_status"]["samples_dropped"]
    assert dropped >= 300  # 1 s at 400 Hz, less what the FIFO still held
    ranges = meta["loss"]["lost_ranges"]
    assert sum(r["to_index"] - r["from_index"] for r in ranges) == dropped == summary.lost
    index = np.array([int(r["index"]) for r in read_samples(summary.folder)])
    missing = np.setdiff1d(np.arange(index[0], index[-1] + 1), index)
    expected = np.concatenate([np.arange(r["from_index"], r["to_index"]) for r in ranges])
    assert np.array_equal(missing, expected)


def test_replayed_recording_arrives_intact_within_quantisation(tmp_path):
    motion = f"csv:path={RECORDING},loop=0"
    sim = SimulatedBoard(
        flash_dir=tmp_path / "flash", motion=motion, sim_options={"imu_ppm": 0, **LONG_RING}
    )
    with sim:
        summary = run(record_until(sim, tmp_path / "out", 200, rows_written(1200)))
    assert lost_on_the_link(assert_every_sample_accounted(summary.folder)) == 0
    rows = read_samples(summary.folder)
    got = np.array(
        [
            [float(r[k]) for k in ("ax_ms2", "ay_ms2", "az_ms2", "gx_dps", "gy_dps", "gz_dps")]
            for r in rows
        ]
    )
    # Samples the board dropped (FIFO overflow on a busy machine) leave gaps: place each row
    # by its index, not its position.
    steps = np.array([int(r["index"]) for r in rows]) - int(rows[0]["index"])
    # Where in the recording the first row was sampled is unknown to the host: find it.
    source = sim_motion.from_spec(motion)
    n = len(got)
    period = 1 / 200

    def source_at(t_s: np.ndarray) -> np.ndarray:
        """The recording as the board replays it, at every time of `t_s` (any shape); called
        in time order, as the board reads it (a step back re-reads the file from its start)."""
        flat = t_s.ravel()
        out = np.empty((len(flat), 6))
        for k in np.argsort(flat, kind="stable"):
            out[k] = source.sample(flat[k])[:6]
        return out.reshape(*t_s.shape, 6)

    def mismatch(t0s: np.ndarray, every: int) -> np.ndarray:
        """Mean |expected - got| over every `every`-th row, for each candidate t0."""
        t_s = t0s[:, None] + steps[None, 0:n:every] * period
        return np.abs(source_at(t_s) - got[None, ::every]).mean(axis=(1, 2))

    grid = np.arange(0.0, 20.0, 0.01)
    best = grid[int(np.argmin(mismatch(grid, 10)))]
    for step in (0.0002, 0.00001):  # to 10 µs
        fine = np.arange(best - 50 * step, best + 50 * step, step)
        best = fine[int(np.argmin(mismatch(fine, 10)))]
    t0 = best
    error = np.abs(source_at(t0 + steps * period) - got)  # every row, not only those searched
    accel_lsb = 9.80665 / 4096  # default range ±8 g: 4096 LSB/g
    gyro_lsb = 1 / 32.8  # ±1000 deg/s: 32.8 LSB/(deg/s) (datasheet), not 32768/1000
    # Within quantisation, plus what a 10 µs uncertainty in t0 moves the signal.
    # (A host converting ±1000 deg/s with 32768/1000 would be 0.1 % off: 0.15 deg/s at 150.)
    assert np.percentile(error[:, :3], 99) < accel_lsb
    assert np.percentile(error[:, 3:], 99) < gyro_lsb
    assert error[:, :3].max() < 3 * accel_lsb and error[:, 3:].max() < 3 * gyro_lsb


def rebooted(board: SimulatedBoard, boots: int = 2) -> bool:
    """Wait until the board has started its `boots`-th boot (60 s only bound a hang)."""
    deadline = time.monotonic() + 60
    while len(board.boots) < boots and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(board.boots) >= boots


def repl_prompt_seen(port_path: str) -> bool:
    """Press Enter on the port and wait for the REPL's prompt (20 s only bound a hang)."""
    import serial

    port = serial.Serial(port_path, 115200, timeout=0.2)  # the REPL UART's rate
    try:
        port.reset_input_buffer()
        port.write(b"\r\n")
        seen = b""
        deadline = time.monotonic() + 20
        while b">>>" not in seen and time.monotonic() < deadline:
            seen += port.read(256)
    finally:
        port.close()
    return b">>>" in seen


def test_exit_to_repl_reboots_into_the_repl(board):
    run(with_device(board, lambda d: d.exit_to_repl()))
    assert rebooted(board)  # the reply goes out, then the board resets and stops at the REPL
    assert repl_prompt_seen(board.port)
    assert not (board.flash_dir / "repl_next_boot").exists()  # taken by the boot that followed


def test_ctrl_c_on_the_port_gives_the_repl_back(board):
    import serial

    run(with_device(board, lambda d: d.start()))  # streaming binary frames
    with serial.Serial(board.port, 115200) as port:
        port.write(b"\r\x03")  # what a person (or mpremote) types to interrupt
    assert rebooted(board)  # no frame delimiter follows: the board reboots to its REPL
    assert repl_prompt_seen(board.port)


def test_a_board_with_an_mpu6500_streams_every_sample(tmp_path):
    sim = SimulatedBoard(
        flash_dir=tmp_path / "flash",
        motion=QUIET_MOTION,
        sim_options={"imu_model": "mpu6500", **LONG_RING},
    )
    with sim:
        info = run(with_device(sim, lambda d: d.get_info()))
        summary = run(record_until(sim, tmp_path / "out", 400, rows_written(800)))  # 2 s
    assert info.imu_model == "MPU6500"
    assert lost_on_the_link(assert_every_sample_accounted(summary.folder)) == 0
    assert summary.samples >= 400


def test_a_load_cell_with_rate_tied_low_is_no_fault_and_is_reported(tmp_path):
    # The breakout ties RATE to GND: the HX711 converts at 10 Hz whatever GPIO 23 says, while
    # the board is set for 80 Hz. A conversion every 100 ms must not flag LOAD_FAULT (the
    # 80 Hz threshold is 125 ms), and the user is told why the rate is what it is.
    sim = SimulatedBoard(
        flash_dir=tmp_path / "flash",
        motion=QUIET_MOTION,
        sim_options={"hx711_rate_hz": 10, "hx711_rate_tied": True},
    )
    messages: list[tuple[spec.MsgType, object]] = []

    async def action(device: Device):
        device.on_message = lambda kind, message: messages.append((kind, message))
        await device.start()
        statuses = []
        while len(statuses) < 6:  # STATUS once a second
            statuses.append(await device.get_status())
            await asyncio.sleep(0.6)
        await device.stop()
        return statuses

    with sim:
        statuses = run(with_device(sim, action))
    assert all("LOAD_FAULT" not in s.flags for s in statuses), [s.flags for s in statuses]
    assert statuses[-1].load_produced > 0
    logs = [m.text for kind, m in messages if kind == spec.MsgType.LOG]
    assert any("converts at 10 Hz, not 80" in text for text in logs), logs


@pytest.mark.parametrize("chip", ["ESP32S3", "ESP32C3"])
def test_boards_with_other_chips_stream_on_their_own_pins(tmp_path, chip):
    sim = SimulatedBoard(
        flash_dir=tmp_path / "flash",
        motion=QUIET_MOTION,
        sim_options={"chip": chip, **LONG_RING},
    )
    with sim:
        summary = run(record_until(sim, tmp_path / "out", 200, rows_written(400)))  # 2 s
        status = run(with_device(sim, lambda d: d.get_status()))
    assert lost_on_the_link(assert_every_sample_accounted(summary.folder)) == 0
    assert summary.samples >= 200
    assert status.load_produced > 0  # the HX711 answers on this chip's pins
    assert "IMU_FAULT" not in status.flags


@pytest.mark.parametrize("ppm", [-10000, 10000])
def test_an_imu_clock_off_by_one_percent_loses_nothing_and_is_measured(tmp_path, ppm):
    # The datasheets allow the MPU-6050/6500 sample clock ±1 % over temperature.
    sim = SimulatedBoard(
        flash_dir=tmp_path / "flash",
        motion=QUIET_MOTION,
        sim_options={"imu_ppm": ppm, **LONG_RING},
    )
    with sim:
        # 6 s: the rate's fit over the blocks' board times is within 0.05 % from about 5 s.
        summary = run(record_until(sim, tmp_path / "out", 200, rows_written(1200)))
    meta = assert_every_sample_accounted(summary.folder)
    # A FIFO overflow on a busy machine is the board's, counted by it; the link loses nothing.
    assert lost_on_the_link(meta) == 0
    true_rate = meta["clock"][0]["sample_rate_hz"]
    assert true_rate == pytest.approx(200 * (1 + ppm / 1e6), rel=2e-3)
