"""The simulated board's radio: a bumble peripheral on a virtual link, driven by the firmware.

    radio = SimRadio(link, interval_ms=30)
    host, port = await radio.start()       # the board's `bluetooth` module connects here
    radio.drop_connection()                # out of range: the central sees a link loss
    await radio.stop()

The firmware's `bluetooth` module (mpy/bluetooth.py) opens one TCP connection per boot. On it
the radio learns what the firmware set up (GATT table, advertising data, MTU, pairing options)
and mirrors it on a bumble `Device` attached to the `LocalLink` the host's central uses, in the
same asyncio loop. Writes from the central go to the firmware as IRQs; notifications from the
firmware go out to the central.

It behaves like an ESP32 running NimBLE rather than an infinite pipe:

- notifications leave only at connection events, every `interval_ms`, at most
  `notifications_per_event` each; the board holds at most `tx_buffers` of them, and its
  `gatts_notify` raises ENOMEM when all are in use (credits return after each event);
- a notification longer than MTU − 3 is truncated, silently, as on the ESP32;
- the MTU is what the central asks for, capped by the firmware's `config(mtu=...)`;
- pairing follows the firmware's `config(bond=, le_secure=, io=)`; bond keys are handed to the
  firmware through `_IRQ_SET_SECRET` and asked back through `_IRQ_GET_SECRET`, so a bond
  survives a reboot only if the firmware persisted it;
- a reboot (the firmware's socket closes) is a controller reset: the connection drops, the
  central sees a link loss, and the next boot starts from an empty radio.

The virtual link has no scan request/response exchange, so the scan response data is folded
into the advertising PDU (a scanning central merges the two anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bumble import gatt, hci, pairing
from bumble.att import Attribute
from bumble.controller import Controller
from bumble.device import Connection, Device
from bumble.host import Host
from bumble.keys import KeyStore, PairingKeys
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

logger = logging.getLogger(__name__)

_OP_JSON = 1
_OP_NOTIFY = 2  # from the board: a notification; to the board: transmit credits
_OP_INDICATE = 3
_OP_WRITE = 4

# MicroPython's bluetooth flags (characteristic properties and permissions).
_FLAG_READ = 0x0002
_FLAG_WRITE_NO_RESPONSE = 0x0004
_FLAG_WRITE = 0x0008
_FLAG_NOTIFY = 0x0010
_FLAG_INDICATE = 0x0020
_FLAG_READ_ENCRYPTED = 0x0200
_FLAG_READ_AUTHENTICATED = 0x0400
_FLAG_WRITE_ENCRYPTED = 0x1000
_FLAG_WRITE_AUTHENTICATED = 0x2000

# NimBLE's secret store object types (what _IRQ_GET_SECRET/_IRQ_SET_SECRET carry).
SEC_OUR = 1
SEC_PEER = 2

_SECRET_TIMEOUT_S = 2.0
_DEFAULT_PREFERRED_MTU = 256


@dataclass
class RadioStats:
    """What went over the air, per radio lifetime."""

    boots: int = 0
    connections: int = 0
    notifications: int = 0
    notified_bytes: int = 0
    truncated: int = 0
    connection_events: int = 0
    writes: int = 0
    pairings: int = 0
    encryptions: int = 0
    max_queue: int = 0
    mtus: list[int] = field(default_factory=list)


def _uuid(text: str) -> str:
    """MicroPython's str(bluetooth.UUID(0x180F)) is "0x180f"; bumble wants "180F"."""
    return text[2:].upper() if text.startswith("0x") else text


class _FirmwareKeyStore(KeyStore):
    """bumble's key store, backed by the firmware's secret IRQs (its flash)."""

    def __init__(self, board: _BoardSession) -> None:
        self.board = board

    async def update(self, name: str, keys: PairingKeys) -> None:
        if not self.board.bond:
            return
        value = json.dumps({"name": name, "keys": keys.to_dict()}).encode()
        await self.board.set_secret(SEC_PEER, name.encode(), value)

    async def delete(self, name: str) -> None:
        await self.board.set_secret(SEC_PEER, name.encode(), None)

    async def get(self, name: str) -> PairingKeys | None:
        value = await self.board.get_secret(SEC_PEER, 0, name.encode())
        if value is None:
            return None
        return PairingKeys.from_dict(json.loads(value)["keys"])

    async def get_all(self) -> list[tuple[str, PairingKeys]]:
        found: list[tuple[str, PairingKeys]] = []
        for index in range(64):
            value = await self.board.get_secret(SEC_PEER, index, None)
            if value is None:
                break
            with contextlib.suppress(ValueError, KeyError):
                entry = json.loads(value)
                found.append((entry["name"], PairingKeys.from_dict(entry["keys"])))
        return found

    async def delete_all(self) -> None:
        for name, _ in await self.get_all():
            await self.delete(name)


class _BoardSession:
    """One boot of the firmware: its socket and the bumble peripheral it drives."""

    def __init__(
        self, radio: SimRadio, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.radio = radio
        self.reader = reader
        self.writer = writer
        self.device: Device | None = None
        self.controller: Controller | None = None
        self.address = ""
        self.preferred_mtu = _DEFAULT_PREFERRED_MTU
        self.bond = False
        self.le_secure = False
        self.mitm = False
        self.io = pairing.PairingDelegate.NO_OUTPUT_NO_INPUT
        self.gap_name = "MPY NIMBLE"
        self.values: dict[int, bytes] = {}
        self.attributes: dict[int, gatt.Characteristic[Any] | gatt.Descriptor] = {}
        self.connection: Connection | None = None
        self.queue: deque[tuple[int, int, bytes]] = deque()
        self._event_task: asyncio.Task[None] | None = None
        self._requests: dict[int, asyncio.Future[Any]] = {}
        self._next_request = 1
        self._adv: tuple[bytes, float] | None = None
        self._commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._closed = False

    # --- socket ----------------------------------------------------------------------------

    async def run(self) -> None:
        # Replies to our secret requests are handled as they arrive; set-up commands go through
        # a queue, in order, because carrying one out may itself wait for such a reply.
        worker = asyncio.create_task(self._work())
        try:
            while True:
                head = await self.reader.readexactly(2)
                (n,) = struct.unpack("<H", head)
                body = await self.reader.readexactly(n)
                self._on_message(body[0], body[1:])
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await self.close()

    async def _work(self) -> None:
        while True:
            msg = await self._commands.get()
            try:
                await self._on_command(msg)
            except Exception:
                logger.exception("radio: %s failed", msg.get("op"))

    def _send(self, op: int, body: bytes) -> None:
        if self._closed:
            return
        self.writer.write(struct.pack("<HB", len(body) + 1, op) + body)

    def _send_json(self, obj: dict[str, Any]) -> None:
        self._send(_OP_JSON, json.dumps(obj).encode())

    async def _request(self, obj: dict[str, Any]) -> Any:
        req = self._next_request
        self._next_request += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._requests[req] = future
        self._send_json({**obj, "req": req})
        try:
            return await asyncio.wait_for(future, _SECRET_TIMEOUT_S)
        except TimeoutError:
            logger.warning("the board did not answer %s", obj.get("ev"))
            return None
        finally:
            self._requests.pop(req, None)

    async def get_secret(self, sec_type: int, index: int, key: bytes | None) -> bytes | None:
        value = await self._request(
            {
                "ev": "get_secret",
                "type": sec_type,
                "index": index,
                "key": None if key is None else key.hex(),
            }
        )
        return None if value is None else bytes.fromhex(value)

    async def set_secret(self, sec_type: int, key: bytes, value: bytes | None) -> bool:
        ok = await self._request(
            {
                "ev": "set_secret",
                "type": sec_type,
                "key": key.hex(),
                "value": None if value is None else value.hex(),
            }
        )
        return bool(ok)

    # --- messages from the firmware --------------------------------------------------------

    def _on_message(self, op: int, body: bytes) -> None:
        if op in (_OP_NOTIFY, _OP_INDICATE):
            conn, handle = struct.unpack_from("<HH", body)
            self.queue.append((conn, handle, body[4:]))
            self.radio.stats.max_queue = max(self.radio.stats.max_queue, len(self.queue))
            return
        if op != _OP_JSON:
            return
        msg = json.loads(body)
        if msg["op"] in ("secret", "secret_ack"):
            future = self._requests.get(msg["req"])
            if future is not None and not future.done():
                future.set_result(msg.get("value") if msg["op"] == "secret" else msg.get("ok"))
        else:
            self._commands.put_nowait(msg)

    async def _on_command(self, msg: dict[str, Any]) -> None:
        kind = msg["op"]
        if kind == "hello":
            self.address = ":".join(msg["mac"][i : i + 2] for i in range(0, 12, 2)).upper()
        elif kind == "active":
            if msg["on"]:
                await self._power_on()
            else:
                await self._power_off()
        elif kind == "config":
            self._configure(msg["values"])
        elif kind == "services":
            self._register(msg["services"])
        elif kind == "adv":
            await self._advertise(msg)
        elif kind == "write":
            self.values[msg["handle"]] = bytes.fromhex(msg["value"])
            if msg.get("send_update") and self.connection is not None:
                self.queue.append(
                    (self.connection.handle, msg["handle"], self.values[msg["handle"]])
                )
        elif kind == "disconnect":
            conn = self.connection
            if conn is not None and conn.handle == msg["conn"]:
                with contextlib.suppress(Exception):
                    await conn.disconnect()

    def _configure(self, values: dict[str, Any]) -> None:
        if "mtu" in values:
            self.preferred_mtu = int(values["mtu"])
            if self.device is not None:
                self.device.gatt_server.max_mtu = self.preferred_mtu
        self.bond = bool(values.get("bond", self.bond))
        self.le_secure = bool(values.get("le_secure", self.le_secure))
        self.mitm = bool(values.get("mitm", self.mitm))
        self.io = int(values.get("io", self.io))
        self.gap_name = str(values.get("gap_name", self.gap_name))

    def _pairing_config(self, _connection: Connection) -> pairing.PairingConfig:
        return pairing.PairingConfig(
            sc=self.le_secure,
            mitm=self.mitm,
            bonding=self.bond,
            delegate=pairing.PairingDelegate(pairing.PairingDelegate.IoCapability(self.io)),
            identity_address_type=pairing.PairingConfig.AddressType.RANDOM,
        )

    async def _power_on(self) -> None:
        if self.device is not None:
            return
        radio = self.radio
        address = self.address or "C0:00:00:00:00:01"
        self.controller = Controller("anklet-board", link=radio.link, public_address=address)
        device = Device(
            name=self.gap_name,
            address=hci.Address(address),
            host=Host(self.controller, AsyncPipeSink(self.controller)),
        )
        device.keystore = _FirmwareKeyStore(self)
        device.pairing_config_factory = self._pairing_config
        device.gatt_server.max_mtu = self.preferred_mtu
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        self.device = device
        await device.power_on()
        radio.stats.boots += 1

    async def _power_off(self) -> None:
        device, controller = self.device, self.controller
        self.device = self.controller = None
        if device is None:
            return
        if self._event_task is not None:
            self._event_task.cancel()
            self._event_task = None
        for connection in list(device.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect(hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
        with contextlib.suppress(Exception):
            await device.power_off()
        if controller is not None:
            with contextlib.suppress(KeyError):
                self.radio.link.remove_controller(controller)

    def _register(self, services: list[dict[str, Any]]) -> None:
        assert self.device is not None
        for service in services:
            chars = []
            for c in service["chars"]:
                handle = c["handle"]
                flags = c["flags"]
                descriptors = [
                    gatt.Descriptor(
                        _uuid(d["uuid"]), self._permissions(d["flags"]), self._value(d["handle"])
                    )
                    for d in c["descs"]
                ]
                char = gatt.Characteristic(
                    _uuid(c["uuid"]),
                    gatt.Characteristic.Properties(flags & 0xFF),
                    self._permissions(flags),
                    self._value(handle),
                    descriptors,
                )
                self.attributes[handle] = char
                for d, desc in zip(c["descs"], descriptors, strict=True):
                    self.attributes[d["handle"]] = desc
                chars.append(char)
            self.device.add_service(gatt.Service(_uuid(service["uuid"]), chars))

    @staticmethod
    def _permissions(flags: int) -> Attribute.Permissions:
        perms = Attribute.Permissions(0)
        if flags & (_FLAG_READ | _FLAG_READ_ENCRYPTED | _FLAG_READ_AUTHENTICATED):
            perms |= Attribute.READABLE
        if flags & (_FLAG_WRITE | _FLAG_WRITE_NO_RESPONSE | _FLAG_WRITE_ENCRYPTED):
            perms |= Attribute.WRITEABLE
        if flags & _FLAG_READ_ENCRYPTED:
            perms |= Attribute.READ_REQUIRES_ENCRYPTION
        if flags & _FLAG_WRITE_ENCRYPTED:
            perms |= Attribute.WRITE_REQUIRES_ENCRYPTION
        if flags & _FLAG_READ_AUTHENTICATED:
            perms |= Attribute.READ_REQUIRES_AUTHENTICATION
        if flags & _FLAG_WRITE_AUTHENTICATED:
            perms |= Attribute.WRITE_REQUIRES_AUTHENTICATION
        return perms

    def _value(self, handle: int) -> gatt.CharacteristicValue:
        self.values.setdefault(handle, b"")

        def read(_connection: Connection) -> bytes:
            return self.values.get(handle, b"")

        def write(connection: Connection, value: bytes) -> None:
            # bumble has already answered the write (as NimBLE does before the IRQ runs).
            self.radio.stats.writes += 1
            self._send(_OP_WRITE, struct.pack("<HH", connection.handle, handle) + bytes(value))

        return gatt.CharacteristicValue(read=read, write=write)

    async def _advertise(self, msg: dict[str, Any]) -> None:
        device = self.device
        if device is None:
            return
        if msg["interval_us"] is None:
            self._adv = None
            if device.is_advertising:
                await device.stop_advertising()
            return
        adv = bytes.fromhex(msg.get("adv", "")) + bytes.fromhex(msg.get("resp", ""))
        self._adv = (adv, max(20.0, msg["interval_us"] / 1000))
        if self.connection is None:
            await self._start_advertising()

    async def _start_advertising(self) -> None:
        device, controller = self.device, self.controller
        if device is None or controller is None or self._adv is None:
            return
        data, interval_ms = self._adv
        if device.is_advertising:
            await device.stop_advertising()
        await device.start_advertising(
            advertising_data=data[:31], advertising_interval_min=interval_ms
        )
        # The virtual link carries what the controller holds; give it the full payload.
        controller.le_legacy_advertiser.advertising_data = data
        for advertising_set in controller.advertising_sets.values():
            advertising_set.data = bytearray(data)

    # --- the connection --------------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        radio = self.radio
        self.connection = connection
        self.queue.clear()
        radio.stats.connections += 1
        # NimBLE stops advertising when a central connects; the firmware restarts it.
        self._adv = None
        connection.on(
            Connection.EVENT_DISCONNECTION,
            lambda reason: self._on_disconnection(connection, reason),
        )
        connection.on(Connection.EVENT_CONNECTION_ATT_MTU_UPDATE, lambda: self._on_mtu(connection))
        connection.on(
            Connection.EVENT_CONNECTION_ENCRYPTION_CHANGE, lambda: self._on_encryption(connection)
        )
        connection.on(Connection.EVENT_PAIRING, lambda *_: self._on_pairing())
        self._send_peer_event("connect", connection)
        radio.connected.set()
        self._event_task = asyncio.create_task(self._connection_events(connection))

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        if self._event_task is not None:
            self._event_task.cancel()
            self._event_task = None
        self.connection = None
        self.queue.clear()
        self.radio.connected.clear()
        self._send_peer_event("disconnect", connection)

    def _send_peer_event(self, ev: str, connection: Connection) -> None:
        peer = connection.peer_address
        self._send_json(
            {
                "ev": ev,
                "conn": connection.handle,
                "addr_type": peer.address_type,
                "addr": bytes(reversed(bytes(peer))).hex(),  # little-endian, as the IRQ has it
            }
        )

    def _on_mtu(self, connection: Connection) -> None:
        self.radio.stats.mtus.append(connection.att_mtu)
        self._send_json({"ev": "mtu", "conn": connection.handle, "mtu": connection.att_mtu})

    def _on_encryption(self, connection: Connection) -> None:
        self.radio.stats.encryptions += 1
        self._send_json(
            {
                "ev": "enc",
                "conn": connection.handle,
                "encrypted": connection.is_encrypted,
                "authenticated": bool(connection.authenticated),
                "bonded": connection.is_encrypted and self.bond,
                "key_size": connection.encryption_key_size,
            }
        )

    def _on_pairing(self) -> None:
        self.radio.stats.pairings += 1

    async def _connection_events(self, connection: Connection) -> None:
        radio = self.radio
        stats = radio.stats
        interval = radio.interval_ms / 1000
        loop = asyncio.get_running_loop()
        next_event = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, next_event - loop.time()))
            next_event += interval
            if loop.time() > next_event:  # the host loop stalled: skip missed events
                next_event = loop.time() + interval
            stats.connection_events += 1
            device = self.device
            if device is None or self.connection is not connection:
                return
            # bumble's HCI queue has no back-pressure of its own: hold packets while the
            # controller still has some of ours in flight.
            queue = connection.data_packet_queue
            if queue is not None and queue.pending > radio.notifications_per_event:
                continue
            sent = 0
            while self.queue and sent < radio.notifications_per_event:
                conn, handle, data = self.queue.popleft()
                sent += 1
                attribute = self.attributes.get(handle)
                if conn != connection.handle or attribute is None:
                    continue
                limit = connection.att_mtu - 3
                if len(data) > limit:
                    stats.truncated += 1
                    data = data[:limit]
                await device.notify_subscriber(connection, attribute, data, force=True)
                stats.notifications += 1
                stats.notified_bytes += len(data)
            if sent:
                self._send(_OP_NOTIFY, struct.pack("<HB", connection.handle, sent))

    async def close(self) -> None:
        if self._closed:
            return
        await self._power_off()
        self._closed = True
        for future in self._requests.values():
            if not future.done():
                future.set_result(None)
        with contextlib.suppress(Exception):
            self.writer.close()
        if self.radio.board is self:
            self.radio.board = None
            self.radio.connected.clear()


class SimRadio:
    """The board's BLE controller on a virtual link; one firmware boot at a time."""

    def __init__(
        self,
        link: LocalLink,
        *,
        interval_ms: float = 30.0,
        notifications_per_event: int = 4,
        tx_buffers: int = 12,
    ) -> None:
        self.link = link
        #: Connection interval: centrals settle between 15 ms (macOS, Linux) and 30 ms
        #: (Windows, Android); 30 ms is the slower end.
        self.interval_ms = interval_ms
        #: Notifications the ESP32 gets into one connection event at MTU 247 (1M PHY).
        self.notifications_per_event = notifications_per_event
        #: NimBLE's notification buffers; the board's module mirrors the count (ENOMEM).
        self.tx_buffers = tx_buffers
        self.stats = RadioStats()
        self.board: _BoardSession | None = None
        self.connected = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> tuple[str, int]:
        """Listen for the board; returns the (host, port) to put in the sim config."""
        self._server = await asyncio.start_server(self._on_board, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.board is not None:
            await self.board.close()  # closes its socket: its reader task ends by itself
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=2)
            for task in pending:
                task.cancel()

    async def _on_board(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.board is not None:
            await self.board.close()  # a new boot: the previous one is gone
        board = _BoardSession(self, reader, writer)
        self.board = board
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await board.run()
        finally:
            if task is not None:
                self._tasks.discard(task)

    # --- what tests look at and do ---------------------------------------------------------

    @property
    def advertising(self) -> bool:
        board = self.board
        return board is not None and board.device is not None and board.device.is_advertising

    @property
    def connection(self) -> Connection | None:
        return self.board.connection if self.board is not None else None

    async def wait_advertising(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not self.advertising:
                await asyncio.sleep(0.02)

    def drop_connection(self) -> None:
        """The central walks out of range: the link is lost (supervision timeout)."""
        connection = self.connection
        if connection is not None:
            task = asyncio.get_running_loop().create_task(
                connection.disconnect(hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
