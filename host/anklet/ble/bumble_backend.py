"""A bleak backend over bumble: bleak's public API, with bumble's Bluetooth stack underneath.

    central = await BumbleCentral.open("usb:0")     # or .on_link(link), .over_hci(opener)
    async with BleakScanner(backend=BumbleScanner, central=central) as scanner: ...
    async with BleakClient(device, backend=BumbleClient, central=central) as client: ...

bumble runs the whole host stack in this process over an HCI transport (a USB dongle, a serial
HCI controller, a virtual controller on a `LocalLink`), bypassing the operating system's
Bluetooth stack. The simulated board's radio process serves its centrals' controllers over a
unix socket (`over_hci`); a user whose system stack misbehaves selects it with
`--ble-backend bumble:usb:0`. Without a `central=` argument the
backend uses the default central (`set_default_central`).

Pairing is LE Secure Connections, Just Works, with bonding; keys live in the central's key
store (in memory, or a JSON file for a real dongle), so a bonded board is re-encrypted on the
next connection without pairing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import gatt, hci, pairing
from bumble.att import ATT_Error
from bumble.controller import Controller
from bumble.core import UUID as BumbleUUID
from bumble.core import AdvertisingData, BaseBumbleError
from bumble.core import TimeoutError as BumbleTimeoutError
from bumble.device import Advertisement, Connection, Device, DeviceConfiguration, Peer
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy, ServiceProxy
from bumble.host import Host
from bumble.keys import KeyStore, MemoryKeyStore
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink, Transport

from .keystore import PrivateJsonKeyStore

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: The ATT MTU the central offers when it connects (bumble's server maximum).
DEFAULT_MTU = 517
DEFAULT_CENTRAL_ADDRESS = "F0:F0:F0:F0:F0:F0"

_PROPERTY_NAMES = (
    (gatt.Characteristic.Properties.BROADCAST, "broadcast"),
    (gatt.Characteristic.Properties.READ, "read"),
    (gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (gatt.Characteristic.Properties.WRITE, "write"),
    (gatt.Characteristic.Properties.NOTIFY, "notify"),
    (gatt.Characteristic.Properties.INDICATE, "indicate"),
    (gatt.Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES, "authenticated-signed-writes"),
    (gatt.Characteristic.Properties.EXTENDED_PROPERTIES, "extended-properties"),
)


# AD types of service UUID lists (complete and incomplete) → bytes per UUID.
_UUID_LIST_SIZES = {0x02: 2, 0x03: 2, 0x04: 4, 0x05: 4, 0x06: 16, 0x07: 16}


def just_works_pairing(_connection: Connection | None = None) -> pairing.PairingConfig:
    """LE Secure Connections, no MITM protection (neither side has a display), bonding.

    The identity address distributed is the random static address the device uses on air, so
    the bond is stored under the address the next connection comes from.
    """
    return pairing.PairingConfig(
        sc=True,
        mitm=False,
        bonding=True,
        delegate=pairing.PairingDelegate(pairing.PairingDelegate.NO_OUTPUT_NO_INPUT),
        identity_address_type=pairing.PairingConfig.AddressType.RANDOM,
    )


def uuid_str(value: BumbleUUID) -> str:
    """bumble UUID → the lower-case 128-bit string bleak uses."""
    return normalize_uuid_str(value.to_hex_str("-"))


def address_str(address: hci.Address) -> str:
    return address.to_string(with_type_qualifier=False)


def advertisement_data(adv: Advertisement) -> AdvertisementData:
    """bumble Advertisement → bleak AdvertisementData."""
    local_name: str | None = None
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    uuids: list[str] = []
    tx_power: int | None = None
    for ad_type, raw in adv.data.ad_structures:
        t = int(ad_type)
        if t in (AdvertisingData.COMPLETE_LOCAL_NAME, AdvertisingData.SHORTENED_LOCAL_NAME):
            if local_name is None or t == AdvertisingData.COMPLETE_LOCAL_NAME:
                local_name = raw.decode("utf-8", "replace")
        elif t in _UUID_LIST_SIZES:
            size = _UUID_LIST_SIZES[t]
            uuids += [
                uuid_str(BumbleUUID.from_bytes(raw[i : i + size])) for i in range(0, len(raw), size)
            ]
        elif t == AdvertisingData.SERVICE_DATA_16_BIT_UUID and len(raw) >= 2:
            service_data[uuid_str(BumbleUUID.from_bytes(raw[:2]))] = bytes(raw[2:])
        elif t == AdvertisingData.SERVICE_DATA_128_BIT_UUID and len(raw) >= 16:
            service_data[uuid_str(BumbleUUID.from_bytes(raw[:16]))] = bytes(raw[16:])
        elif t == AdvertisingData.MANUFACTURER_SPECIFIC_DATA and len(raw) >= 2:
            manufacturer[int.from_bytes(raw[:2], "little")] = bytes(raw[2:])
        elif t == AdvertisingData.TX_POWER_LEVEL and raw:
            tx_power = int.from_bytes(raw[:1], "little", signed=True)
    return AdvertisementData(
        local_name=local_name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=list(dict.fromkeys(uuids)),
        tx_power=tx_power,
        rssi=adv.rssi,
        platform_data=(adv,),
    )


class BumbleCentral:
    """A bumble Device in the central role, shared by the scanners and clients that use it."""

    def __init__(self, device: Device, *, mtu: int = DEFAULT_MTU, closer: Any = None) -> None:
        self.device = device
        self.mtu = mtu
        self._closer = closer
        self._open_hci: Callable[[], Awaitable[Transport]] | None = None
        self._power_lock = asyncio.Lock()
        self._powered = False
        self._scan_users = 0
        self._scan_lock = asyncio.Lock()
        self._listeners: set[Callable[[Advertisement], None]] = set()
        #: The last advertisement of every address seen, for clients given a bare address.
        self.seen: dict[str, Advertisement] = {}
        if device.keystore is None:
            device.keystore = MemoryKeyStore()
        device.pairing_config_factory = just_works_pairing
        device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def on_link(
        cls,
        link: LocalLink,
        address: str = DEFAULT_CENTRAL_ADDRESS,
        *,
        keystore: KeyStore | None = None,
        mtu: int = DEFAULT_MTU,
    ) -> BumbleCentral:
        """A central on a virtual controller attached to `link` (no radio, same event loop)."""
        controller = Controller("anklet-central", link=link, public_address=address)
        device = Device(
            name="anklet-host",
            address=hci.Address(address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        device.keystore = keystore or MemoryKeyStore()

        async def close() -> None:
            with contextlib.suppress(KeyError):
                link.remove_controller(controller)

        return cls(device, mtu=mtu, closer=close)

    @classmethod
    def over_hci(
        cls,
        open_hci: Callable[[], Awaitable[Transport]],
        address: str = DEFAULT_CENTRAL_ADDRESS,
        *,
        keystore: KeyStore | None = None,
        mtu: int = DEFAULT_MTU,
    ) -> BumbleCentral:
        """A central whose HCI transport `open_hci` opens when the central powers on (a
        controller in another process: the simulated board's radio). The device exists at
        once, so its events can be watched and its addresses set before it is used."""
        host = Host()
        device = Device(name="anklet-host", address=hci.Address(address), host=host)
        device.keystore = keystore or MemoryKeyStore()
        central = cls(device, mtu=mtu)
        central._open_hci = open_hci
        return central

    @classmethod
    async def open(
        cls,
        transport: str,
        *,
        address: str = DEFAULT_CENTRAL_ADDRESS,
        keystore_path: Path | None = None,
        mtu: int = DEFAULT_MTU,
    ) -> BumbleCentral:
        """A central on a real controller through bumble's HCI transports ("usb:0", ...)."""
        from bumble.transport import open_transport

        hci_transport = await open_transport(transport)
        config = DeviceConfiguration()
        config.name = "anklet-host"
        config.address = hci.Address(address)
        device = Device.from_config_with_hci(config, hci_transport.source, hci_transport.sink)
        if keystore_path is not None:
            # Long-term keys: readable by the user alone (keystore.py).
            device.keystore = PrivateJsonKeyStore(namespace=address, filename=str(keystore_path))

        async def close() -> None:
            await hci_transport.close()

        return cls(device, mtu=mtu, closer=close)

    async def power_on(self) -> None:
        async with self._power_lock:  # a scan and a connect may both start it
            if self._powered:
                return
            if self._open_hci is not None:
                transport = await self._open_hci()
                self._open_hci = None
                self.device.host.set_packet_sink(transport.sink)
                self.device.host.set_packet_source(transport.source)
                self._closer = transport.close
            await self.device.power_on()
            self._powered = True

    async def close(self) -> None:
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()
        if self._powered:
            with contextlib.suppress(Exception):
                await self.device.power_off()
            self._powered = False
        if self._closer is not None:
            await self._closer()
            self._closer = None

    async def __aenter__(self) -> BumbleCentral:
        await self.power_on()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- scanning --------------------------------------------------------------------------

    def _on_advertisement(self, adv: Advertisement) -> None:
        self.seen[address_str(adv.address)] = adv
        for listener in list(self._listeners):
            listener(adv)

    async def start_scan(self, listener: Callable[[Advertisement], None], active: bool) -> None:
        await self.power_on()
        async with self._scan_lock:
            self._listeners.add(listener)
            self._scan_users += 1
            if self._scan_users == 1:
                await self.device.start_scanning(active=active, filter_duplicates=False)

    async def stop_scan(self, listener: Callable[[Advertisement], None]) -> None:
        async with self._scan_lock:
            if listener not in self._listeners:
                return
            self._listeners.discard(listener)
            self._scan_users -= 1
            if self._scan_users == 0 and self.device.is_scanning:
                await self.device.stop_scanning()

    async def find_address(self, address: str, timeout: float) -> hci.Address:
        """The typed address of `address` (as advertised), scanning for it if not yet seen."""
        key = address.upper()
        if key in self.seen:
            return self.seen[key].address
        found: asyncio.Future[hci.Address] = asyncio.get_running_loop().create_future()

        def listener(adv: Advertisement) -> None:
            if address_str(adv.address) == key and not found.done():
                found.set_result(adv.address)

        await self.start_scan(listener, active=True)
        try:
            return await asyncio.wait_for(found, timeout)
        except TimeoutError:
            raise BleakDeviceNotFoundError(
                address, f"no device with address {address} advertised within {timeout:g} s"
            ) from None
        finally:
            await self.stop_scan(listener)

    async def is_bonded(self, address: hci.Address) -> bool:
        keystore = self.device.keystore
        return keystore is not None and await keystore.get(str(address)) is not None


_default_central: BumbleCentral | None = None


def set_default_central(central: BumbleCentral | None) -> None:
    """The central that scanners and clients use when not given `central=`."""
    global _default_central
    _default_central = central


def _central(central: BumbleCentral | None) -> BumbleCentral:
    chosen = central or _default_central
    if chosen is None:
        raise BleakError(
            "the bumble backend has no central: pass central=BumbleCentral... or call "
            "set_default_central() (the CLI does this for --ble-backend bumble:TRANSPORT)"
        )
    return chosen


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend: advertisements received by a bumble central."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        central: BumbleCentral | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._central = _central(central)
        self._active = scanning_mode != "passive"
        self._scanning = False

    async def start(self) -> None:
        self.seen_devices = {}
        await self._central.start_scan(self._on_advertisement, self._active)
        self._scanning = True

    async def stop(self) -> None:
        if self._scanning:
            self._scanning = False
            await self._central.stop_scan(self._on_advertisement)

    def _on_advertisement(self, adv: Advertisement) -> None:
        data = advertisement_data(adv)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = address_str(adv.address)
        device = self.create_or_update_device(address, address, data.local_name, adv.address, data)
        self.call_detection_callbacks(device, data)


def _gatt_error(exc: ATT_Error) -> BleakGATTProtocolError:
    return BleakGATTProtocolError(exc.error_code)


class BumbleClient(BaseBleakClient):
    """bleak client backend: a GATT client on a bumble central's connection."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 30.0,
        central: BumbleCentral | None = None,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._central_obj = _central(central)
        self._peer_address: hci.Address | None = None
        self._name = ""
        if isinstance(address_or_ble_device, BLEDevice):
            if isinstance(address_or_ble_device.details, hci.Address):
                self._peer_address = address_or_ble_device.details
            self._name = address_or_ble_device.name or ""
        self._wanted_services = services
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._disconnecting = False
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}

    # --- properties ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name or self.address

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        conn = self._connection
        return conn is not None and conn.handle in self._central_obj.device.connections

    @property
    def is_encrypted(self) -> bool:
        return self._connection is not None and self._connection.is_encrypted

    # --- connection ------------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        central = self._central_obj
        await central.power_on()
        timeout = kwargs.get("timeout", self._timeout)
        if self._peer_address is None:
            self._peer_address = await central.find_address(self.address, timeout)
        try:
            connection = await central.device.connect(self._peer_address, timeout=timeout)
        except BaseBumbleError as exc:
            raise BleakError(f"could not connect to {self.address}: {exc}") from exc
        except TimeoutError as exc:
            raise BleakError(f"could not connect to {self.address} within {timeout:g} s") from exc
        self._connection = connection
        self._disconnecting = False
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            peer = Peer(connection)
            self._peer = peer
            await self._gatt(peer.request_mtu(central.mtu), "the MTU exchange")
            self.services = await self._gatt(self._discover(peer), "service discovery")
            if pair:
                await self.pair()
        except BaseException:
            await self.disconnect()
            raise

    def _on_disconnection(self, reason: int) -> None:
        was_requested = self._disconnecting
        self._connection = None
        self._peer = None
        self._subscriptions.clear()
        if not was_requested and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._disconnecting = True
        with contextlib.suppress(BaseBumbleError, hci.HCI_Error):
            await connection.disconnect()
        self._connection = None
        self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Encrypt with the stored bond if there is one; otherwise pair and bond (Just Works)."""
        connection = self._require_connection()
        try:
            if await self._central_obj.is_bonded(connection.peer_address):
                await connection.encrypt()
            else:
                await connection.pair()
        except BaseBumbleError as exc:
            raise BleakError(f"pairing with {self.address} failed: {exc}") from exc

    async def unpair(self) -> None:
        keystore = self._central_obj.device.keystore
        address = self._peer_address
        if keystore is not None and address is not None:
            with contextlib.suppress(KeyError):
                await keystore.delete(str(address))

    def _require_connection(self) -> Connection:
        if self._connection is None or not self.is_connected:
            raise BleakError(f"not connected to {self.address}")
        return self._connection

    def _require_peer(self) -> Peer:
        self._require_connection()
        assert self._peer is not None
        return self._peer

    async def _gatt(self, operation: Awaitable[T], what: str) -> T:
        """Await a GATT operation. An ATT error is bleak's protocol error. A request the peer
        never answers times out (bumble: 30 s), and then the ATT bearer is dead: no further
        request may be sent on it (Core spec Vol 3, Part F, 3.3.3). So the link is dropped and
        the caller sees a lost link, not bumble's own TimeoutError (which reached `anklet
        log-pair` as an internal error)."""
        try:
            return await operation
        except ATT_Error as exc:
            raise _gatt_error(exc) from exc
        except BumbleTimeoutError as exc:
            connection = self._connection
            if connection is not None:  # not asked for: the disconnected callback fires
                with contextlib.suppress(BaseBumbleError, hci.HCI_Error):
                    await connection.disconnect()
            raise BleakError(
                f"{self.address} did not answer {what} (GATT timeout): the link is dropped"
            ) from exc

    # --- GATT ------------------------------------------------------------------------------

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        await peer.discover_services()
        for service in peer.services:
            await self._add_service(collection, service)
        return collection

    async def _add_service(
        self, collection: BleakGATTServiceCollection, service: ServiceProxy
    ) -> None:
        service_uuid = uuid_str(service.uuid)
        if self._wanted_services and service_uuid not in self._wanted_services:
            return
        bleak_service = BleakGATTService(service, service.handle, service_uuid)
        collection.add_service(bleak_service)
        await service.discover_characteristics()
        for char in service.characteristics:
            props = [name for flag, name in _PROPERTY_NAMES if char.properties & flag]
            bleak_char = BleakGATTCharacteristic(
                char,
                char.handle,
                uuid_str(char.uuid),
                props,  # type: ignore[arg-type]
                lambda: self.mtu_size - 3,
                bleak_service,
            )
            collection.add_characteristic(bleak_char)
            await char.discover_descriptors()
            for desc in char.descriptors:
                collection.add_descriptor(
                    BleakGATTDescriptor(desc, desc.handle, uuid_str(desc.type), bleak_char)
                )

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        self._require_peer()
        return bytearray(await self._gatt(proxy.read_value(), "a read"))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        proxy: DescriptorProxy = descriptor.obj
        self._require_peer()
        return bytearray(await self._gatt(proxy.read_value(), "a read"))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        await self._gatt(
            peer.write_value(characteristic.handle, bytes(data), with_response=response), "a write"
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._require_peer()
        await self._gatt(
            peer.write_value(descriptor.handle, bytes(data), with_response=True), "a write"
        )

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._require_peer()
        proxy: CharacteristicProxy[bytes] = characteristic.obj

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subscriptions[characteristic.handle] = on_value
        await self._gatt(proxy.subscribe(on_value, prefer_notify=True), "a subscription")

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._require_peer()
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        on_value = self._subscriptions.pop(characteristic.handle, None)
        await self._gatt(proxy.unsubscribe(on_value), "an unsubscription")


def parse_backend(spec: str | None) -> str | None:
    """`--ble-backend` value → bumble transport name, or None for bleak's platform backend.

    "bumble:usb:0" → "usb:0"; "" / "default" / None → None.
    """
    if not spec or spec == "default":
        return None
    kind, _, rest = spec.partition(":")
    if kind != "bumble" or not rest:
        raise ValueError(
            f"unknown BLE backend {spec!r}: use 'default' or 'bumble:TRANSPORT' "
            "(e.g. bumble:usb:0, bumble:serial:/dev/ttyACM0)"
        )
    return rest
