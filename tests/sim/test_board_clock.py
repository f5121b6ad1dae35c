"""Several simulated boards at once, each with its own clock origin: `sim?id=N` gives a board its
own flash, unique id and name; `clock_offset_us` starts its ticks that far ahead of the PC's
monotonic clock (mpy/time.py), the truth the two-board session is tested against."""

from __future__ import annotations

import ast
import asyncio
import time

import pytest
from anklet.pair_session import wrapped_us
from anklet.schemes import OpenOptions
from anklet.transport import TransportError
from anklet_protocol import spec
from anklet_sim.board import SimulatedBoard
from anklet_sim.scheme import DEFAULT_UNIQUE_ID, board_variant
from simhelpers import device_on


def test_a_board_id_gives_its_own_flash_unique_id_and_clock_offset(tmp_path):
    base = OpenOptions(sim_flash=tmp_path / "sim-flash", sim_options={"seed": 3})
    options, unique_id = board_variant("sim:ble?id=2&clock_offset_us=250000", base)
    assert unique_id == "24a160c0ff02"  # the board names itself Anklet-FF02
    assert options.sim_flash == tmp_path / "sim-flash-2"
    assert options.sim_options == {"seed": 3, "clock_offset_us": 250000}
    assert board_variant("sim", base) == (base, DEFAULT_UNIQUE_ID)
    psram, _ = board_variant("sim:ble?psram=1", base)
    assert psram.sim_options == {"seed": 3, "psram": 1}
    plain, _ = board_variant("sim?ankring=0", base)  # flashed without `anklet flash`
    assert plain.sim_options == {"seed": 3, "flash_ring_kb": 0}
    assert board_variant("sim?ankring=1", base)[0].sim_options == {"seed": 3}


def test_an_esp32_without_psram_gets_the_growable_heap_unless_asked_otherwise(tmp_path):
    from anklet_sim.heap import applies

    base = OpenOptions(sim_flash=tmp_path / "f")
    assert applies({})  # the default (docs/HIL.md, "The heap model")
    assert not applies({}, fast=True)  # `anklet sim --fast`: the interpreter's fixed heap
    asked = board_variant("sim?heap=esp32", base)[0].sim_options
    assert asked == {"heap": "esp32"} and applies(asked) and applies(asked, fast=True)
    fixed = board_variant("sim:ble?heap=fixed", base)[0].sim_options
    assert fixed == {"heap": "fixed"} and not applies(fixed)
    assert not applies(board_variant("sim?psram=1", base)[0].sim_options)
    assert not applies({**asked, "chip": "ESP32C3"})


@pytest.mark.parametrize(
    ("dev", "why"),
    [
        ("sim?id=0", r"id='0' must be a whole number from 1 to 99"),
        ("sim?id=two", r"id='two' must be a whole number"),
        ("sim?colour=red", r"unknown option 'colour'; use \?id=N"),
        ("sim?clock_offset_us=-5", r"clock_offset_us='-5' must be a whole number from 0"),
        ("sim:ble?psram=yes", r"psram='yes' must be a whole number from 0 to 1"),
        ("sim?ankring=2", r"ankring='2' must be a whole number from 0 to 1"),
        ("sim?heap=big", r"heap='big' must be esp32 or fixed"),
    ],
)
def test_a_bad_board_option_is_one_clear_error(dev, why, tmp_path):
    with pytest.raises(TransportError, match=why):
        board_variant(dev, OpenOptions(sim_flash=tmp_path / "f"))


def test_the_launcher_refuses_a_negative_clock_offset(tmp_path):
    with pytest.raises(ValueError, match="clock_offset_us=-1: give whole microseconds"):
        SimulatedBoard(flash_dir=tmp_path / "f", sim_options={"clock_offset_us": -1})


def test_the_offset_moves_ticks_us_and_ticks_ms_together(sim_run):
    # The board's clock read between two reads of the raw clock: exactly the offset ahead of
    # some instant between them, however long a busy machine makes the gap.
    result = sim_run(
        "import time, utime\n"
        "a = utime.ticks_us(); b = time.ticks_us(); c = utime.ticks_us()\n"
        "d = utime.ticks_ms(); e = time.ticks_ms(); f = utime.ticks_ms()\n"
        "us = [time.ticks_diff(x, a) for x in (b, c)]\n"
        "print(repr(us + [time.ticks_diff(x, d) for x in (e, f)]))",
        env={"ANKLET_SIM_CLOCK_OFFSET_US": "7000000"},
    )
    assert result.returncode == 0, result.stderr
    b_us, c_us, e_ms, f_ms = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert 0 <= b_us - 7_000_000 <= c_us
    assert 0 <= e_ms - 7000 <= f_ms


def test_a_board_time_sync_reads_the_pc_clock_plus_its_offset(tmp_path):
    offsets = {1: 0, 2: 123_456_789}
    boards = [
        SimulatedBoard(
            flash_dir=tmp_path / f"flash-{n}",
            unique_id=f"24a160c0ff0{n}",
            motion="still",
            sim_options={"clock_offset_us": offset},
            fast=True,
        )
        for n, offset in offsets.items()
    ]

    async def read(board: SimulatedBoard) -> tuple[str, int, float]:
        device = device_on(board)
        try:
            info = await device.wait_ready(timeout_s=30)
            syncs = [await device.time_sync() for _ in range(5)]
        finally:
            await device.close()
        best = min(syncs, key=lambda s: s.host_received_s - s.host_sent_s)
        mid_us = (best.host_sent_s + best.host_received_s) / 2 * 1e6
        ahead_us = (best.device_us - mid_us) % spec.TICKS_PERIOD_US
        return info.name, round(ahead_us), (best.host_received_s - best.host_sent_s) * 1e6

    for board in boards:
        board.start()
    try:
        found = [asyncio.run(read(board)) for board in boards]
    finally:
        for board in boards:
            board.stop()
    assert [name for name, _, _ in found] == ["Anklet-FF01", "Anklet-FF02"]
    for (_, ahead_us, rtt_us), offset in zip(found, offsets.values(), strict=True):
        # The board read its clock between send and receive: within half the round trip.
        assert abs(wrapped_us(ahead_us - offset)) <= rtt_us / 2 + 1


WRAP_AFTER_S = 5.0  # the board's ticks wrap this long after it is started: once it has booted


def test_uptime_runs_on_through_the_wrap_of_the_board_ticks(tmp_path):
    """ticks_us() wraps every 2**30 µs, 17.9 min, on an ESP32 as here. STATUS uptime was "ticks
    now minus ticks at boot", which went negative at the wrap (4.29e9 ms on the wire): on every
    board 17.9 min after power-on, and on a simulated board whenever its ticks came round (CI
    of ac8e3d0: a board that had reset "did not reboot", by its uptime). This board's ticks
    wrap WRAP_AFTER_S after it is started (its clock is the PC's plus the offset)."""
    period_us = spec.TICKS_PERIOD_US
    wrap_at_s = time.monotonic() + WRAP_AFTER_S
    offset_us = round(period_us - wrap_at_s * 1e6) % period_us
    board = SimulatedBoard(
        flash_dir=tmp_path / "flash",
        motion="still",
        sim_options={"clock_offset_us": offset_us},
        fast=True,
    )

    async def read() -> tuple[int, int, float]:
        device = device_on(board)
        try:
            await device.wait_ready(timeout_s=30)
            before = (await device.get_status()).uptime_ms
            await asyncio.sleep(max(0.0, wrap_at_s - time.monotonic()) + 0.5)  # past the wrap
            after = (await device.get_status()).uptime_ms
            return before, after, time.monotonic() - started
        finally:
            await device.close()

    started = time.monotonic()
    board.start()
    try:
        before, after, alive_s = asyncio.run(read())
    finally:
        board.stop()
    assert before <= after <= alive_s * 1000  # booted after it was started, and counting up
