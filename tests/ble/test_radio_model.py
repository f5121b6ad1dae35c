"""The simulated radio against what an ESP32 and the Core spec say: its timing model, and the
link supervision bumble's controller lacks."""

from __future__ import annotations

import asyncio
from typing import Any

from anklet_sim.radio import (
    ESP_IDF_NOTIFY_KBPS,
    EVENTS_TO_ESTABLISH,
    LE_ACL_LENGTH,
    EspLink,
    RadioTiming,
    SupervisedController,
)
from bumble import hci
from bumble.controller import Controller
from bumble.device import Connection, Device, Peer
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink

NOTIFY_PAYLOAD = LE_ACL_LENGTH - 4 - 3  # L2CAP and ATT headers out of a full data packet


def notify_kbps(timing: RadioTiming) -> float:
    packets_per_s = timing.packets_per_event * 1000 / timing.interval_ms
    return packets_per_s * NOTIFY_PAYLOAD * 8 / 1000


def test_model_is_within_a_quarter_of_esp_idf_measured_notify_throughput() -> None:
    # ESP-IDF throughput_app: ~340 kbit/s NOTIFY at 7.5 ms, DLE 251, 1M PHY on an ESP32.
    modelled = notify_kbps(RadioTiming(interval_ms=7.5, data_length=251, phy="1M"))
    assert 0.75 * ESP_IDF_NOTIFY_KBPS <= modelled <= ESP_IDF_NOTIFY_KBPS


def test_one_full_packet_takes_the_air_time_the_core_spec_gives() -> None:
    # 265 bytes at 1 µs/bit, T_IFS, the central's empty PDU, T_IFS (Core Vol 6 Part B).
    assert RadioTiming(phy="1M").packet_us == 265 * 8 + 150 + 80 + 150
    assert RadioTiming(phy="2M").packet_us < RadioTiming(phy="1M").packet_us


def test_default_link_carries_a_1000_hz_stream_with_room_to_spare() -> None:
    need_kbps = 1000 * 12 * 8 / 1000 * 1.2  # 12-byte samples, plus headers and load cell
    assert notify_kbps(RadioTiming()) > 3 * need_kbps


# --- link supervision (Core spec Vol 6, Part B, 4.5.2) -------------------------------------

BOARD = "24:A1:60:C0:FF:EE"
CENTRAL = "F0:F0:F0:F0:F0:01"
GUARD_S = 15.0  # a hang bound, under bumble's 30 s ATT timeout that the bug cost


class _Air:
    """A board's and a host's controller on one virtual link, each under a bumble host."""

    def __init__(self) -> None:
        self.link = EspLink()
        self.board = SupervisedController("board", link=self.link, public_address=BOARD)
        self.board_device = Device(
            address=hci.Address(BOARD), host=Host(self.board, AsyncPipeSink(self.board))
        )
        self.central = SupervisedController("central", link=self.link, public_address=CENTRAL)
        self.central_device = Device(
            address=hci.Address(CENTRAL), host=Host(self.central, AsyncPipeSink(self.central))
        )

    async def connect(self) -> tuple[Connection, asyncio.Future[int]]:
        """The central connects to the advertising board; the future is its disconnection."""
        await self.board_device.power_on()
        await self.central_device.power_on()
        await self.board_device.start_advertising(own_address_type=hci.OwnAddressType.PUBLIC)
        connection = await self.central_device.connect(hci.Address(f"{BOARD}/P"), timeout=10)
        ended: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        connection.on("disconnection", lambda reason: ended.done() or ended.set_result(reason))
        return connection, ended


def _stop_advertising(controller: Controller) -> None:
    controller.le_legacy_advertiser.stop()
    for advertising_set in controller.advertising_sets.values():
        advertising_set.enabled = False


def test_a_connect_request_the_board_missed_fails_instead_of_hanging() -> None:
    """The board's NimBLE restarts advertising (new battery level in the payload) just as the
    central's CONNECT_IND arrives: the board never joins. bumble's central reported the link
    up and hung the first GATT request for 30 s (CI of ac8e3d0: a sim:ble board "did not
    reboot within 30 s"); a real controller reports it failed to be established."""

    async def main() -> int:
        air = _Air()
        take = air.board.on_le_connect_ind

        def restarting_advertising(packet: Any) -> None:
            _stop_advertising(air.board)
            take(packet)

        air.board.on_le_connect_ind = restarting_advertising  # type: ignore[method-assign]
        _, ended = await air.connect()
        assert not air.board.le_connections  # the board did not take it
        async with asyncio.timeout(GUARD_S):
            return await ended

    assert asyncio.run(main()) == hci.HCI_ErrorCode.CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR


def test_a_board_gone_without_a_word_ends_the_link_at_the_supervision_timeout() -> None:
    """A board that vanished without sending LL_TERMINATE_IND (its chip lost power) ends the
    central's link when the supervision timeout runs out, as on air."""

    async def main() -> tuple[bool, int]:
        air = _Air()
        connection, ended = await air.connect()
        await Peer(connection).request_mtu(247)  # the link works
        held = bool(air.board.le_connections)
        air.link.remove_controller(air.board)  # no TerminateInd
        async with asyncio.timeout(GUARD_S):
            return held, await ended

    held, reason = asyncio.run(main())
    assert held
    assert reason == hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR


def test_a_link_both_ends_hold_stays_up() -> None:
    async def main() -> tuple[bool, bool]:
        air = _Air()
        connection, ended = await air.connect()
        supervisor = air.central._supervisors[connection.handle]
        # Past the establishment window and a supervision check or more: the link is
        # supervised, and kept.
        interval_s = connection.parameters.connection_interval * 1.25e-3
        await asyncio.sleep(2 * EVENTS_TO_ESTABLISH * interval_s)
        await Peer(connection).request_mtu(247)
        return not supervisor.done(), ended.done()

    supervised, ended = asyncio.run(main())
    assert supervised and not ended
