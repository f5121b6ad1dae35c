"""BLE security as a phone user meets it: the bond holds across a board reboot while the phone
changes its private address; a stranger's central can neither command the board nor read its
samples, nor hold its one connection.

The owner is the Device `open_board` paired (on sim:ble: a central on resolvable private
addresses, as phones and laptops are). The stranger tests need a second central, which only the
simulator has.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from anklet.device import CommandFailed, Device
from anklet.transport.ble import BleTransport
from anklet_protocol import spec

#: The firmware drops a central that has not encrypted within 8 s (ble_link._PAIR_WINDOW_US).
PAIR_WINDOW_S = 8.0


@pytest.fixture(autouse=True)
def _ble_only(target):
    if not target.is_ble:
        pytest.skip(f"BLE security: {target} is not a BLE target")


def test_bond_holds_after_board_reboot_from_a_new_private_address(hil, target, figure):
    async def body(board):
        device = board.device
        since = time.monotonic()
        if board.ble_sim is None:
            await device.reboot()  # a real board; the host's stack rotates its own address
        else:
            from anklet_sim.ble_board import new_private_address, watch_pairings

            central = board.central
            pairings = watch_pairings(central)
            before = central.device.random_address
            await board.ble_sim.power_cycle()
            after = await new_private_address(central)
            assert after != before and after.is_resolvable
        await board.wait_rebooted(since)
        await device.set_rates(imu_rate_hz=200)  # a bonded-only command: accepted
        info = await device.get_info()
        if board.ble_sim is None:
            return info.imu_rate_hz, None, None
        stats = board.ble_sim.radio.stats
        return info.imu_rate_hz, len(pairings), stats.resolved_rpas

    rate, pairings, resolved = hil.run(body)
    figure(f"rate set to {rate} Hz after reboot; new pairings {pairings}, RPAs resolved {resolved}")
    assert rate == 200
    if target.is_sim:
        assert pairings == 0  # re-encrypted with the bond from the board's flash
        assert resolved >= 1  # the board's controller resolved the phone's new address


async def _stranger(board) -> Device:
    """The owner steps away; an unbonded central connects in its place."""
    await board.device.close()
    stranger = Device(BleTransport(None, central=board.ble_sim.central()), command_timeout_s=2.0)
    await stranger.open()
    return stranger


@pytest.mark.sim_only("needs a second central on the simulated radio")
def test_unbonded_central_cannot_command_or_configure_the_board(hil, figure):
    async def body(board):
        await board.device.start()  # the owner was streaming
        stranger = await _stranger(board)
        blocks = []
        stranger.on_samples = blocks.append
        info = await stranger.get_info()  # open to anyone: it is on the advertisement anyway
        refused = []
        for attempt in (stranger.start(), stranger.set_name("Pwned"), stranger.set_rates(100)):
            with pytest.raises(CommandFailed) as caught:
                await attempt
            refused.append(caught.value.status)
        status = await stranger.get_status()  # the board streams on: none of it to the stranger
        await asyncio.sleep(1.0)  # a second of 100+ Hz sampling, had it been sent
        samples = sum(block.imu_count for block in blocks)
        await stranger.close()
        await board.answer()  # the owner comes back: its name and rate are unchanged

        return info.name, refused, samples, status, await board.device.get_info()

    name, refused, samples, status, after = hil.run(body)
    figure(f"{len(refused)} commands refused, {samples} samples to the stranger")
    assert refused == [spec.StatusCode.NOT_AUTHORIZED] * 3
    assert status.samples_produced > 0  # the board was sampling all along
    assert samples == 0
    assert after.name == name


@pytest.mark.sim_only("needs a second central on the simulated radio")
def test_stranger_that_does_not_pair_is_dropped_and_the_owner_gets_back_in(hil, figure):
    async def body(board):
        stranger = await _stranger(board)
        t0 = time.monotonic()
        await stranger.get_info()  # connected, and given its window to pair
        await asyncio.wait_for(stranger.link_lost.wait(), PAIR_WINDOW_S + 30)
        dropped_s = time.monotonic() - t0
        await stranger.close()
        await board.answer()
        await board.device.set_rates(imu_rate_hz=100)  # the owner commands the board again
        return dropped_s

    dropped_s = hil.run(body)  # link_lost came: the board let go of the stranger
    figure(f"stranger dropped after {dropped_s:.1f} s")
