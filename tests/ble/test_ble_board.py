"""The whole chain on the simulated board: the unchanged firmware (app, sampler, emulated
MPU-6050 and HX711) in MicroPython → its BLE link → the radio → bleak → BleTransport.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from anklet.transport.ble import BleTransport, scan
from anklet_protocol import spec
from anklet_sim.ble_board import SimulatedBleBoard, new_private_address, watch_pairings
from anklet_sim.board import MPY_DIR
from simhelpers import eventually

from tests.ble.test_ble_link import Host

pytestmark = pytest.mark.skipif(
    not (MPY_DIR / "machine.py").exists(), reason="the sensor emulation (mpy/machine.py) is missing"
)


def run(tmp_path: Path, body: Callable[[SimulatedBleBoard], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with SimulatedBleBoard(tmp_path / "flash") as sim:
            return await asyncio.wait_for(body(sim), 120)  # a hang guard, not a deadline

    return asyncio.run(main())


def test_scan_finds_the_simulated_board(tmp_path: Path) -> None:
    async def body(sim: SimulatedBleBoard) -> None:
        found = await scan(0.5, central=sim.central())
        assert [b.name for b in found] == ["Anklet-FFEE"]
        assert found[0].battery_pct is not None

    run(tmp_path, body)


def test_the_board_advertises_its_battery_level_from_its_first_advertisement(
    tmp_path: Path,
) -> None:
    """Advertising with 0 % and again with the level at the first poll restarted advertising
    15 ms after boot, as a waiting host connected: its CONNECT_IND could be missed. A scanner
    listening through a reboot sees one level, the real one, from the first advertisement."""
    battery_data = bytes.fromhex("160f18")  # AD type service data, Battery Service

    async def body(sim: SimulatedBleBoard) -> list[int]:
        central = sim.central()
        await central.power_on()
        levels: list[int] = []
        rebooted = False

        def heard(advertisement: Any) -> None:
            data = bytes(advertisement.data)
            at = data.find(battery_data)
            if rebooted and at >= 0:
                levels.append(data[at + len(battery_data)])

        central.device.on("advertisement", heard)
        await central.device.start_scanning(filter_duplicates=False)
        rebooted = True  # (the board is stopped and booted again inside power_cycle)
        await sim.power_cycle()
        await eventually(lambda: len(levels) >= 3)
        return levels

    levels = run(tmp_path, body)
    assert levels[0] > 0
    assert set(levels) == {levels[0]}


def test_pairing_unlocks_commands_and_1000_hz_streams_without_gaps(tmp_path: Path) -> None:
    async def body(sim: SimulatedBleBoard) -> None:
        async with BleTransport("Anklet-FFEE", central=sim.central()) as link:
            host = Host(link)
            rates = dict(imu_rate_hz=1000, load_rate_hz=80, accel_fs_g=0, gyro_fs_dps=0)
            refused = await host.command(spec.Opcode.SET_RATES, **rates)
            assert refused.status == spec.StatusCode.NOT_AUTHORIZED
            await link.pair()
            assert await eventually(lambda: sim.radio.stats.encryptions == 1)
            assert (await host.command(spec.Opcode.SET_RATES, **rates)).status == 0
            assert (await host.command(spec.Opcode.START)).status == 0
            while len(host.blocks) < 200:  # 3 s at 1000 Hz; longer if the machine is busy
                await host.read_one()
            await host.command(spec.Opcode.STOP)
        blocks = host.blocks
        assert all(b.imu_count * 12 + b.load_count * 12 + 26 <= 244 for b in blocks)
        # In order and without gaps, but where the board itself flagged one (its IMU FIFO
        # overflowed: a busy machine starved the simulated board).
        for prev, block in itertools.pairwise(blocks):
            gap_flagged = block.flags & spec.FrameFlag.GAP_BEFORE
            assert block.first_index == prev.end_index or (
                gap_flagged and block.first_index > prev.end_index
            )
        assert len(blocks) >= 200  # (how fast it streams on a busy machine: bench/)

    run(tmp_path, body)


def test_bonded_reconnect_after_reboot_and_reconnect_after_link_loss(tmp_path: Path) -> None:
    async def body(sim: SimulatedBleBoard) -> None:
        central = sim.central()
        pairings = watch_pairings(central)
        link = BleTransport("Anklet-FFEE", central=central, pair=True)
        await link.connect()
        assert (await Host(link).command(spec.Opcode.STOP)).status == 0
        sim.radio.drop_connection()
        with pytest.raises(Exception, match="dropped"):
            while True:
                await link.read_frame()
        await sim.radio.wait_advertising()
        await link.connect()
        assert (await Host(link).command(spec.Opcode.STOP)).status == 0
        await link.disconnect()
        await sim.power_cycle()
        await link.connect()
        assert (await Host(link).command(spec.Opcode.STOP)).status == 0
        await link.disconnect()
        stats = sim.radio.stats
        assert await eventually(lambda: stats.encryptions == 3)  # three links, all encrypted
        assert len(pairings) == 1  # every reconnect used the stored bond

    run(tmp_path, body)


def test_bond_holds_after_reboot_when_the_phone_returns_from_a_new_private_address(
    tmp_path: Path,
) -> None:
    async def body(sim: SimulatedBleBoard) -> None:
        central = sim.central(private=True)  # a phone: resolvable private addresses
        pairings = watch_pairings(central)
        link = BleTransport("Anklet-FFEE", central=central, pair=True)
        await link.connect()
        assert (await Host(link).command(spec.Opcode.STOP)).status == 0
        await link.disconnect()
        first = central.device.random_address
        await sim.power_cycle()  # bonds and our IRK come back from flash through NimBLE's store
        second = await new_private_address(central)
        assert second != first and second.is_resolvable
        await link.connect()
        rates = dict(imu_rate_hz=200, load_rate_hz=80, accel_fs_g=0, gyro_fs_dps=0)
        assert (await Host(link).command(spec.Opcode.SET_RATES, **rates)).status == 0
        await link.disconnect()
        assert len(pairings) == 1  # re-encrypted with the bond, no second pairing
        stats = sim.radio.stats
        assert stats.peers[-1] == str(second)
        assert stats.resolved_rpas == 1  # the controller resolved it with the restored IRK
        assert await eventually(lambda: stats.encryptions == 2)

    run(tmp_path, body)


def test_the_board_keeps_sending_while_the_host_program_is_held(tmp_path: Path) -> None:
    """A real board's radio does not wait for the laptop's program. With the host's event loop
    held (a program kept from the CPU), the board's controller keeps taking the firmware's
    notifications at its connection events and the link carries them on. Failed while the
    controller lived in the host's loop: its connection events were tasks of the held loop."""

    async def body(sim: SimulatedBleBoard) -> int:
        async with BleTransport("Anklet-FFEE", central=sim.central(), pair=True) as link:
            host = Host(link)
            rates = dict(imu_rate_hz=200, load_rate_hz=80, accel_fs_g=0, gyro_fs_dps=0)
            assert (await host.command(spec.Opcode.SET_RATES, **rates)).status == 0
            assert (await host.command(spec.Opcode.START)).status == 0
            while len(host.blocks) < 10:
                await host.read_one()
            stats = sim.radio.stats
            sent = stats.notifications
            # The loop is held here (no await): only the radio can move the count. 20
            # notifications are about 2 s at 200 Hz; 60 s only bounds a radio that stalled.
            bound = time.monotonic() + 60
            while stats.notifications < sent + 20 and time.monotonic() < bound:
                time.sleep(0.01)
            held = stats.notifications - sent
            # What came meanwhile waited in the host's socket: it arrives, in order.
            received = len(host.blocks)
            while len(host.blocks) < received + 10:
                await host.read_one()
            await host.command(spec.Opcode.STOP)
        for prev, block in itertools.pairwise(host.blocks):
            gap_flagged = block.flags & spec.FrameFlag.GAP_BEFORE
            assert block.first_index == prev.end_index or (
                gap_flagged and block.first_index > prev.end_index
            )
        return held

    assert run(tmp_path, body) >= 20
