"""The bleak backend over bumble, against a plain bumble peripheral on a virtual link.

No radio and no mocks: bleak's public API → BumbleScanner/BumbleClient → a bumble central →
LocalLink → a bumble peripheral with a small GATT table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from anklet.ble.bumble_backend import (
    BumbleCentral,
    BumbleClient,
    BumbleScanner,
    just_works_pairing,
    parse_backend,
)
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import gatt, hci
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.core import TimeoutError as BumbleTimeoutError
from bumble.device import Connection, Device
from bumble.host import Host
from bumble.keys import MemoryKeyStore
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink
from simhelpers import eventually

SERVICE = "8f1a0001-5c3e-4b7a-9d2e-a4c6e1b7f001"
NOTIFY = "8f1a0002-5c3e-4b7a-9d2e-a4c6e1b7f001"
WRITE = "8f1a0003-5c3e-4b7a-9d2e-a4c6e1b7f001"
SECRET = "8f1a0004-5c3e-4b7a-9d2e-a4c6e1b7f001"
PERIPHERAL = "C4:A1:60:C0:FF:EE"


class Peripheral:
    """A bumble peripheral: notify, write (with and without response), an encrypted read."""

    def __init__(self, link: LocalLink, name: str = "Anklet-FFEE") -> None:
        self.controller = Controller("peripheral", link=link, public_address=PERIPHERAL)
        self.device = Device(
            name=name,
            address=hci.Address(PERIPHERAL),
            host=Host(self.controller, AsyncPipeSink(self.controller)),
        )
        self.device.keystore = MemoryKeyStore()
        self.device.pairing_config_factory = just_works_pairing
        self.writes: list[tuple[bytes, bool]] = []
        self.notify_char = gatt.Characteristic(
            NOTIFY, gatt.Characteristic.Properties.NOTIFY, gatt.Characteristic.READABLE, b""
        )
        write_char = gatt.Characteristic(
            WRITE,
            gatt.Characteristic.Properties.WRITE
            | gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_write),
        )
        secret = gatt.Characteristic(
            SECRET,
            gatt.Characteristic.Properties.READ,
            gatt.Characteristic.READ_REQUIRES_ENCRYPTION,
            b"s3cret",
        )
        self.device.add_service(gatt.Service(SERVICE, [self.notify_char, write_char, secret]))
        self.name = name
        self.pairings = 0
        self.device.on(Device.EVENT_CONNECTION, self._on_connection)

    def _on_connection(self, connection: Connection) -> None:
        connection.on(Connection.EVENT_PAIRING, lambda *_: self._paired())

    def _paired(self) -> None:
        self.pairings += 1

    def _on_write(self, connection: Connection, value: bytes) -> None:
        self.writes.append((bytes(value), True))

    async def start(self) -> None:
        await self.device.power_on()
        ad = bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (
                        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                        UUID(SERVICE).to_bytes(),
                    ),
                    (AdvertisingData.SERVICE_DATA_16_BIT_UUID, bytes([0x0F, 0x18, 87])),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                ]
            )
        )
        await self.device.start_advertising(
            advertising_data=ad, auto_restart=True, advertising_interval_min=20
        )

    @property
    def connection(self) -> Connection:
        return next(iter(self.device.connections.values()))

    async def notify(self, value: bytes) -> None:
        await self.device.notify_subscriber(self.connection, self.notify_char, value)


def run(body: Callable[[LocalLink, Peripheral, BumbleCentral], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        link = LocalLink()
        peripheral = Peripheral(link)
        await peripheral.start()
        async with BumbleCentral.on_link(link) as central:
            return await asyncio.wait_for(body(link, peripheral, central), 120)  # hang guard

    return asyncio.run(main())


def test_scanner_finds_peripheral_by_service_uuid_with_name_and_service_data():
    async def body(link, peripheral, central):
        found = await BleakScanner.discover(
            timeout=0.3,
            return_adv=True,
            service_uuids=[SERVICE],
            backend=BumbleScanner,
            central=central,
        )
        assert list(found) == [PERIPHERAL]
        _device, adv = found[PERIPHERAL]
        assert adv.local_name == "Anklet-FFEE"
        assert SERVICE in adv.service_uuids
        assert adv.service_data["0000180f-0000-1000-8000-00805f9b34fb"] == bytes([87])
        none = await BleakScanner.discover(
            timeout=0.2,
            service_uuids=["0000fe00-0000-1000-8000-00805f9b34fb"],
            backend=BumbleScanner,
            central=central,
        )
        assert none == []

    run(body)


def test_find_by_name_connect_exchange_mtu_and_list_services():
    async def body(link, peripheral, central):
        device = await BleakScanner.find_device_by_name(
            "Anklet-FFEE", timeout=2, backend=BumbleScanner, central=central
        )
        assert device is not None
        async with BleakClient(device, backend=BumbleClient, central=central) as client:
            assert client.is_connected
            assert client.mtu_size == 517
            service = client.services.get_service(SERVICE)
            assert service is not None
            chars = {c.uuid: c for c in service.characteristics}
            assert chars[NOTIFY].properties == ["notify"]
            assert set(chars[WRITE].properties) == {"write", "write-without-response"}
            assert chars[NOTIFY].descriptors[0].uuid.startswith("00002902")
            assert chars[WRITE].max_write_without_response_size == 514
        assert not client.is_connected

    run(body)


def test_notifications_arrive_in_order_and_stop_after_stop_notify():
    async def body(link, peripheral, central):
        async with BleakClient(PERIPHERAL, backend=BumbleClient, central=central) as client:
            got: asyncio.Queue[bytes] = asyncio.Queue()
            await client.start_notify(NOTIFY, lambda _c, data: got.put_nowait(bytes(data)))
            for i in range(20):
                await peripheral.notify(bytes([i]) * 200)
            values = [await got.get() for _ in range(20)]
            assert values == [bytes([i]) * 200 for i in range(20)]
            await client.stop_notify(NOTIFY)
            await peripheral.notify(b"late")
            await asyncio.sleep(0.05)
            assert got.empty()

    run(body)


def test_writes_with_and_without_response_reach_the_peripheral():
    async def body(link, peripheral, central):
        async with BleakClient(PERIPHERAL, backend=BumbleClient, central=central) as client:
            await client.write_gatt_char(WRITE, b"\x01" * 200, response=True)
            await client.write_gatt_char(WRITE, b"\x02\x03", response=False)
            await eventually(lambda: len(peripheral.writes) == 2)
            assert [w for w, _ in peripheral.writes] == [b"\x01" * 200, b"\x02\x03"]

    run(body)


def test_encrypted_read_needs_pairing_and_bond_is_reused_on_reconnect():
    async def body(link, peripheral, central):
        async with BleakClient(PERIPHERAL, backend=BumbleClient, central=central) as client:
            with pytest.raises(BleakGATTProtocolError):
                await client.read_gatt_char(SECRET)
            await client.pair()
            assert client._backend.is_encrypted  # type: ignore[attr-defined]
            assert await client.read_gatt_char(SECRET) == b"s3cret"
        assert peripheral.pairings == 1
        async with BleakClient(
            PERIPHERAL, backend=BumbleClient, central=central, pair=True
        ) as client:
            assert client._backend.is_encrypted  # type: ignore[attr-defined]
            assert await client.read_gatt_char(SECRET) == b"s3cret"
        assert peripheral.pairings == 1  # encrypted with the stored bond, no new pairing

    run(body)


def test_disconnected_callback_fires_when_peripheral_drops_the_link():
    async def body(link, peripheral, central):
        lost = asyncio.Event()
        client = BleakClient(
            PERIPHERAL, lambda _c: lost.set(), backend=BumbleClient, central=central
        )
        await client.connect()
        await peripheral.connection.disconnect()
        await asyncio.wait_for(lost.wait(), 60)
        assert not client.is_connected
        # A disconnect we ask for does not fire the callback.
        lost.clear()
        await client.connect()
        await client.disconnect()
        await asyncio.sleep(0.05)
        assert not lost.is_set()

    run(body)


def test_parse_backend_spec():
    assert parse_backend(None) is None
    assert parse_backend("default") is None
    assert parse_backend("bumble:usb:0") == "usb:0"
    with pytest.raises(ValueError, match="bumble:TRANSPORT"):
        parse_backend("winrt")


def test_a_gatt_request_never_answered_drops_the_link_as_a_bleak_error():
    # bumble gives up on an ATT request after 30 s with its own TimeoutError; after that the
    # ATT bearer may carry nothing more (Core spec Vol 3, Part F, 3.3.3). The client drops the
    # link and says so as a BleakError, which the transport turns into a lost link.
    async def body(link, peripheral, central):
        lost = asyncio.Event()
        client = BleakClient(
            PERIPHERAL, lambda _c: lost.set(), backend=BumbleClient, central=central
        )
        await client.connect()
        peer = client._backend._peer  # type: ignore[attr-defined]

        async def unanswered(*args: Any, **kwargs: Any) -> None:
            raise BumbleTimeoutError("GATT timeout for ATT_WRITE_REQUEST")

        peer.write_value = unanswered
        with pytest.raises(BleakError, match="did not answer a write \\(GATT timeout\\)"):
            await client.write_gatt_char(WRITE, b"\x01", response=True)
        await asyncio.wait_for(lost.wait(), 60)
        assert not client.is_connected
        assert not peripheral.device.connections

    run(body)
