"""The simulated board's radio: an ESP32-like BLE controller (a bumble `Controller`) that the
firmware's real NimBLE host drives over H4 on a unix socket (MICROPYBTUART=unix:@name, which
the interpreter's sim/cmodules/ankletwork/hci_socket.c connects to in place of a serial
device), on a virtual link shared with the host's central. A `sim:ble` board's runs in a radio
process of its own (radio_process.py); a serial board's, which nobody connects to, in a thread
(BackgroundRadio). Why a socket and not a pty: a pty read waits in the kernel for the tty
workqueue, which a machine with every core busy starves (docs/ARCHITECTURE.md, "Tests").

    radio = BoardRadio(link, flash_dir / "hci", "24:A1:60:C0:FF:EE", timing=RadioTiming())
    spec = await radio.boot()          # a fresh controller: MICROPYBTUART=spec ("unix:@...")
    radio.drop_connection()            # out of range: both sides see a supervision timeout
    radio.out_of_range(5.0)            # ... and the central hears no advertisement for 5 s
    await radio.stop()

What is real here: the interpreter, MicroPython's `bluetooth` bindings and NimBLE host (built by
`make setup` from MicroPython's source), bumble's controller and link-layer procedures
(advertising, connection, encryption). What is modelled, on top of bumble, and why:

- **Connection events.** bumble's controller sends every ACL packet at once and returns its
  transmit credit at once. Here the peripheral's outgoing packets wait in the controller until a
  connection event, every `interval_ms`; each event carries as many packets as fit its air time
  (`RadioTiming.packets_per_event`), and only then does the controller report them completed
  (HCI Number Of Completed Packets). NimBLE holds what the controller cannot take in its own
  mbuf pool; when that is empty `gatts_notify` raises the real `OSError(ENOMEM)`.
- **Buffers.** The controller reports `LE_ACL_PACKETS` buffers of `LE_ACL_LENGTH` bytes (HCI
  LE Read Buffer Size), the numbers below with their sources.
- **Privacy.** An ESP32's controller resolves a bonded central's resolvable private address
  with the IRKs NimBLE puts in its resolving list, and reports the identity address (LE
  Enhanced Connection Complete). bumble's controller stores no resolving list; this one does.
- **Scan response.** The virtual link has no scan request; the scan response is appended to
  the advertising PDU (a scanner merges the two anyway).
- **Link supervision.** bumble's controller keeps a connection until told otherwise, so a
  CONNECT_IND the peripheral missed left the central a link to nobody. Both ends here end a
  link the peer never joined (0x3E) or left without a word (0x08), as the Core spec has it
  (`SupervisedController`).
- **Addresses.** bumble 0.0.236's `LocalLink` labels LE data with the sender's random address;
  an ESP32 advertises from its public address, so the link here uses the connection's own
  address (`EspLink`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bumble import hci, ll
from bumble.controller import Connection, Controller
from bumble.core import PhysicalTransport
from bumble.link import LocalLink
from bumble.smp import AddressResolver
from bumble.transport.common import StreamPacketSink, StreamPacketSource

from .priority import run_this_thread_ahead

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: HCI LE Read Buffer Size of the ESP32's controller, as NimBLE on an ESP32 sees it: data
#: packets of up to 251 bytes (the LE Data Length Extension maximum, which the ESP32 supports:
#: one 244-byte notification + ATT and L2CAP headers in one packet) and 12 of them, the
#: ESP-IDF NimBLE transport default (CONFIG_BT_NIMBLE_TRANSPORT_ACL_FROM_LL_COUNT = 12, also
#: NimBLE-Arduino's nimconfig.h). The ESP32 controller's own count is not documented; 12 is the
#: figure a host built with ESP-IDF's defaults works with.
LE_ACL_LENGTH = 251
LE_ACL_PACKETS = 12

#: ESP-IDF's NimBLE throughput example on an ESP32: NOTIFY, 7.5 ms, DLE 251, 1M PHY (README).
ESP_IDF_NOTIFY_KBPS = 340
_US_PER_BYTE = {"1M": 8.0, "2M": 4.0}
_CATCH_UP_EVENTS = 8  # at most this many missed connection events are made up at once
_T_IFS_US = 150  # inter-frame space (Core spec Vol 6, Part B, 4.1.1)
_EMPTY_PDU_BYTES = 10  # preamble 1 + access address 4 + header 2 + CRC 3: the central's reply
_PDU_OVERHEAD_BYTES = 14  # preamble 1 + access address 4 + header 2 + MIC 4 + CRC 3
EVENTS_TO_ESTABLISH = 6  # a CONNECT_IND nobody answers within 6 events: 0x3E (Vol 6, B 4.5.2)
_FAILED_TO_ESTABLISH = hci.HCI_ErrorCode.CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR


@dataclass(frozen=True)
class RadioTiming:
    """How a phone or laptop central runs the link, and what fits in one connection event.

    Defaults: a 30 ms interval (Android and Windows settle at 30 ms; macOS/iOS at 15 ms),
    251-byte data length (every current phone and laptop negotiates LE Data Length Extension),
    the 1M PHY (the original ESP32 is a Bluetooth 4.2 controller: no 2M PHY; use "2M" for an
    ESP32-S3/C3). `event_fraction` is the share of the interval the controller spends sending
    (the rest goes to scheduling and to the central's own traffic).

    Checked against a published measurement: ESP-IDF's NimBLE throughput example
    (examples/bluetooth/nimble/throughput_app/README.md) reports NOTIFY at about 340 kbit/s on
    an ESP32 with a 7.5 ms interval, 251-byte data length and the 1M PHY. This model with those
    settings sends 1 full packet per event: 133 packets/s, 244 bytes of notification each,
    260 kbit/s (`ESP_IDF_NOTIFY_KBPS`, tests/ble/test_radio_model.py): within a quarter of the
    measurement, on the slow side. At the default 30 ms it allows 6 packets per event
    (49 kB/s), 3× what a 1000 Hz stream needs.
    """

    interval_ms: float = 30.0
    data_length: int = 251
    phy: str = "1M"
    event_fraction: float = 0.5

    @property
    def packet_us(self) -> float:
        """Air time of one full data packet and the central's empty reply, with two T_IFS."""
        per_byte = _US_PER_BYTE[self.phy]
        data_us = (self.data_length + _PDU_OVERHEAD_BYTES) * per_byte
        return data_us + _T_IFS_US + _EMPTY_PDU_BYTES * per_byte + _T_IFS_US

    @property
    def packets_per_event(self) -> int:
        return max(1, int(self.interval_ms * 1000 * self.event_fraction // self.packet_us))


@dataclass
class RadioStats:
    """What went over the air, per radio lifetime (all boots)."""

    boots: int = 0
    connections: int = 0
    connection_events: int = 0
    notifications: int = 0  # ACL packets the peripheral sent to a central
    notified_bytes: int = 0
    max_queue: int = 0  # most packets waiting in the controller for a connection event
    encryptions: int = 0
    resolved_rpas: int = 0  # connections from a private address resolved to a bonded identity
    peers: list[str] = field(default_factory=list)  # the address each connection came from


class EspLink(LocalLink):
    """bumble's LocalLink, addressing LE data with the sending connection's own address."""

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: PhysicalTransport,
        data: bytes,
    ) -> None:
        if transport != PhysicalTransport.LE:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        connection = sender_controller.le_connections.get(destination_address)
        source = connection.self_address if connection else sender_controller.random_address
        destination = self.find_le_controller(destination_address)
        if destination is not None:
            asyncio.get_running_loop().call_soon(
                destination.on_link_acl_data, source, transport, data
            )


class SupervisedController(Controller):
    """bumble's controller with link supervision, which bumble's lacks (Core spec Vol 6, Part B,
    4.5.2). bumble's central reports a connection as soon as it sends CONNECT_IND, and keeps it
    until told otherwise; a peripheral that did not take the CONNECT_IND (its advertising
    stopped that moment: NimBLE restarting it with new data) left the central holding a link to
    nobody, whose first GATT request hung for bumble's 30 s ATT timeout. A real controller
    ends such a link after six connection events ("failed to be established", 0x3E), and one
    whose peer went silent at its supervision timeout (0x08).

    Here "the peer's packets arrive" is "the peer's controller is on the link and holds the
    same connection": a fact of the model, not a timing, so a starved process drops no link."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._supervisors: dict[int, asyncio.Task[None]] = {}

    def create_le_connection(self, peer_address: hci.Address) -> None:
        command = self.pending_le_connection
        assert command is not None  # (bumble calls this only with a connection pending)
        if isinstance(command, hci.HCI_LE_Extended_Create_Connection_Command):
            interval, timeout = command.connection_interval_mins[0], command.supervision_timeouts[0]
        else:
            interval, timeout = command.connection_interval_min, command.supervision_timeout
        before = {c.handle for c in self.le_connections.values()}
        super().create_le_connection(peer_address)
        self._supervise_new(before, interval, timeout)

    def on_le_connect_ind(self, packet: ll.ConnectInd) -> None:
        before = {c.handle for c in self.le_connections.values()}
        super().on_le_connect_ind(packet)
        self._supervise_new(before, packet.interval, packet.timeout)

    def _supervise_new(self, before: set[int], interval: int, timeout: int) -> None:
        for connection in [c for c in self.le_connections.values() if c.handle not in before]:
            # HCI units: the interval in 1.25 ms, the supervision timeout in 10 ms
            self._supervisors[connection.handle] = asyncio.get_running_loop().create_task(
                self._supervise(connection, max(interval, 6) * 1.25e-3, timeout * 1e-2)
            )

    async def _supervise(self, connection: Connection, interval_s: float, timeout_s: float) -> None:
        # Checked once per connection event, the first at once: the peer's CONNECT_IND was
        # scheduled (call_soon) before this task, so a peer that took it holds the link now.
        loop = asyncio.get_running_loop()
        began = loop.time()
        heard: float | None = None
        while True:
            now = loop.time()
            if self._peer_holds(connection):
                heard = now
            elif heard is None and now - began >= EVENTS_TO_ESTABLISH * interval_s:
                self._end(connection, "never joined it", _FAILED_TO_ESTABLISH)
                return
            elif heard is not None and now - heard >= timeout_s:
                self._end(connection, "went silent", hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
                return
            await asyncio.sleep(interval_s)

    def _end(self, connection: Connection, why: str, reason: int) -> None:
        if self.le_connections.get(connection.peer_address) is connection:
            logger.warning(
                "%s: link to %s ended: the peer %s", self.name, connection.peer_address, why
            )
            self.on_le_disconnected(connection, reason)

    def _peer_holds(self, connection: Connection) -> bool:
        link = self.link
        if link is None:
            return False
        for controller in link.controllers:
            if controller is self:
                continue
            theirs = controller.le_connections.get(connection.self_address)
            if theirs is not None and theirs.self_address == connection.peer_address:
                return True
        return False

    def on_le_disconnected(self, connection: Connection, reason: int) -> None:
        supervisor = self._supervisors.pop(connection.handle, None)
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()
        super().on_le_disconnected(connection, reason)


class Esp32Controller(SupervisedController):
    """bumble's controller with an ESP32's buffers, connection-event pacing and RPA resolution."""

    le_acl_data_packet_length = LE_ACL_LENGTH
    total_num_le_acl_data_packets = LE_ACL_PACKETS

    def __init__(
        self, name: str, link: LocalLink, address: str, timing: RadioTiming, stats: RadioStats
    ) -> None:
        super().__init__(name, link=link, public_address=address)
        self.timing = timing
        self.stats = stats
        self.resolving_list: list[tuple[bytes, hci.Address]] = []
        self._outgoing: dict[int, deque[hci.HCI_AclDataPacket]] = {}
        self._events: dict[int, asyncio.Task[None]] = {}
        self.silent_until = 0.0  # time.monotonic(): out of the central's range until then

    # --- privacy: the resolving list NimBLE fills from its bonds ----------------------------

    def on_hci_le_add_device_to_resolving_list_command(
        self,
        command: Any,  # hci.HCI_LE_Add_Device_To_Resolving_List_Command (its fields untyped)
    ) -> hci.HCI_StatusReturnParameters:
        if any(command.peer_irk):
            address = hci.Address(
                bytes(command.peer_identity_address), command.peer_identity_address_type
            )
            self.resolving_list.append((bytes(command.peer_irk), address))
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def on_hci_le_clear_resolving_list_command(
        self, command: hci.HCI_LE_Clear_Resolving_List_Command
    ) -> hci.HCI_StatusReturnParameters:
        self.resolving_list.clear()
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def _resolve(self, address: hci.Address) -> hci.Address | None:
        if not (self.le_address_resolution and address.is_resolvable and self.resolving_list):
            return None
        return AddressResolver(self.resolving_list).resolve(address)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if isinstance(packet, hci.HCI_LE_Connection_Complete_Event) and packet.status == 0:
            packet = self._connection_complete(packet)
        super().send_hci_packet(packet)

    def _connection_complete(self, event: hci.HCI_LE_Connection_Complete_Event) -> hci.HCI_Packet:
        self.stats.connections += 1
        self.stats.peers.append(str(event.peer_address))
        interval = round(self.timing.interval_ms / 1.25)
        identity = self._resolve(event.peer_address)
        if identity is None:
            event.connection_interval = interval
            event.supervision_timeout = 400  # 4 s, in 10 ms units
            return event
        self.stats.resolved_rpas += 1
        return hci.HCI_LE_Enhanced_Connection_Complete_Event(
            status=0,
            connection_handle=event.connection_handle,
            role=event.role,
            peer_address_type=identity.address_type,
            peer_address=identity,
            local_resolvable_private_address=hci.Address.ANY_RANDOM,
            peer_resolvable_private_address=event.peer_address,
            connection_interval=interval,
            peripheral_latency=0,
            supervision_timeout=400,
            central_clock_accuracy=event.central_clock_accuracy,
        )

    def on_le_encryption_change(self, connection: Connection, status: int) -> None:
        if status == hci.HCI_ErrorCode.SUCCESS:
            self.stats.encryptions += 1
        super().on_le_encryption_change(connection, status)

    # --- scan response carried with the advertisement --------------------------------------

    def send_advertising_pdu(self, packet: ll.AdvertisingPdu) -> None:
        if time.monotonic() < self.silent_until:
            return  # out of range: the central hears nothing, so it cannot connect either
        advertiser = self.le_legacy_advertiser
        if isinstance(packet, ll.AdvInd) and advertiser.scan_response_data:
            packet = ll.AdvInd(
                advertiser_address=packet.advertiser_address,
                data=bytes(advertiser.advertising_data) + bytes(advertiser.scan_response_data),
            )
        super().send_advertising_pdu(packet)

    # --- connection events -----------------------------------------------------------------

    def on_hci_acl_data_packet(self, packet: hci.HCI_AclDataPacket) -> None:
        connection = self.find_le_connection_by_handle(packet.connection_handle)
        if connection is None:
            super().on_hci_acl_data_packet(packet)
            return
        queue = self._outgoing.setdefault(connection.handle, deque())
        queue.append(packet)
        self.stats.max_queue = max(self.stats.max_queue, len(queue))
        if connection.handle not in self._events:
            self._events[connection.handle] = asyncio.get_running_loop().create_task(
                self._connection_events(connection)
            )

    async def _connection_events(self, connection: Connection) -> None:
        try:
            await self._run_connection_events(connection)
        except Exception:  # a bug here would silently stall the link: say so
            logger.exception("connection events for handle %d stopped", connection.handle)
            raise

    async def _run_connection_events(self, connection: Connection) -> None:
        loop = asyncio.get_running_loop()
        interval_s = self.timing.interval_ms / 1000
        per_event = self.timing.packets_per_event
        next_event = loop.time() + interval_s
        queue = self._outgoing[connection.handle]
        while self.le_connections.get(connection.peer_address) is connection:
            await asyncio.sleep(max(0.0, next_event - loop.time()))
            # A real controller's radio keeps time when its host is busy; this one shares a
            # loaded computer with the test (and, for a serial board, its process). Events
            # missed while this process was starved are made up, a few at most, instead of
            # backing NimBLE up.
            events = 1 + max(0, int((loop.time() - next_event) / interval_s))
            next_event += events * interval_s
            self.stats.connection_events += events
            sent = 0
            while queue and sent < per_event * min(events, _CATCH_UP_EVENTS):
                packet = queue.popleft()
                connection.assembler.feed_packet(packet)
                sent += 1
                self.stats.notifications += 1
                self.stats.notified_bytes += len(packet.data)
            if sent:
                self.send_hci_packet(
                    hci.HCI_Number_Of_Completed_Packets_Event(
                        connection_handles=[connection.handle], num_completed_packets=[sent]
                    )
                )

    def on_le_disconnected(self, connection: Connection, reason: int) -> None:
        self._outgoing.pop(connection.handle, None)
        task = self._events.pop(connection.handle, None)
        if task is not None:
            task.cancel()
        super().on_le_disconnected(connection, reason)

    def drop_connections(self, reason: int) -> None:
        """The link is lost (out of range, or this chip reset): both ends learn it."""
        for connection in list(self.le_connections.values()):
            with contextlib.suppress(Exception):
                connection.send_ll_control_pdu(ll.TerminateInd(reason))
            self.on_le_disconnected(connection, reason)


class _BoardHci(StreamPacketSource):
    """The board's NimBLE on its controller: H4 both ways over one connection of the board's
    HCI socket (the interpreter connects at each ble.active(True) of the boot)."""

    def __init__(self, controller: Esp32Controller, connections: set[asyncio.Transport]) -> None:
        super().__init__()
        self.controller = controller
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.sink: StreamPacketSink | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.connections.add(transport)
        self.sink = StreamPacketSink(transport)
        self.controller.host = self.sink
        self.set_packet_sink(self.controller)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.connections.discard(self.transport)
        if self.sink is not None and self.controller.host is self.sink:
            self.controller.host = None


class BoardRadio:
    """The board's controller on `link`, one per boot, behind an abstract unix socket per boot
    named after `hci_name` (anything unique to the board: its flash's `.hci` path)."""

    def __init__(
        self,
        link: LocalLink,
        hci_name: Path | str,
        address: str,
        *,
        timing: RadioTiming | None = None,
    ) -> None:
        self.link = link
        digest = hashlib.sha256(str(hci_name).encode()).hexdigest()[:12]
        # Abstract (Linux): no file to clean up, and no 108-byte path limit on the test's tmp.
        self.socket_name = f"anklet-hci-{os.getpid()}-{digest}"
        self.address = address
        self.timing = timing or RadioTiming()
        self.stats = RadioStats()
        self.controller: Esp32Controller | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Transport] = set()

    async def boot(self) -> str:
        """A chip reset: the previous controller (and its connections) go, a fresh one listens
        for the next NimBLE on a new socket; returns its MICROPYBTUART (`unix:@name`, which the
        interpreter's hci_socket.c connects to instead of opening a serial device)."""
        await self.power_off()
        controller = Esp32Controller(
            "anklet-board", self.link, self.address, self.timing, self.stats
        )
        self.stats.boots += 1
        name = f"{self.socket_name}-{self.stats.boots}"
        connections = self._connections
        self._server = await asyncio.get_running_loop().create_unix_server(
            lambda: _BoardHci(controller, connections), "\0" + name
        )
        self.controller = controller
        return f"unix:@{name}"

    async def power_off(self) -> None:
        controller, server = self.controller, self._server
        self.controller = self._server = None
        if controller is not None:
            controller.host = None
            controller.drop_connections(hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
            controller.le_legacy_advertiser.stop()
            with contextlib.suppress(KeyError):
                self.link.remove_controller(controller)
        if server is not None:
            server.close()
        for connection in list(self._connections):
            connection.close()
        self._connections.clear()

    async def stop(self) -> None:
        await self.power_off()

    # --- what tests look at and do ---------------------------------------------------------

    @property
    def advertising(self) -> bool:
        controller = self.controller
        return controller is not None and controller.le_legacy_advertiser.enabled

    @property
    def connected(self) -> bool:
        return self.controller is not None and bool(self.controller.le_connections)

    async def wait_advertising(self, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while not self.advertising:
                await asyncio.sleep(0.02)

    def drop_connection(self) -> None:
        """The central walks out of range: both ends see a supervision timeout."""
        if self.controller is not None:
            self.controller.drop_connections(hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)

    def out_of_range(self, seconds: float) -> None:
        """The central walks away for `seconds`: the link drops (a supervision timeout on both
        ends) and the board's advertisements do not reach it until it is back."""
        if self.controller is not None:
            self.controller.silent_until = time.monotonic() + seconds
        self.drop_connection()


class BackgroundRadio:
    """A BoardRadio in its own thread and event loop, for a board driven from plain threads (the
    serial-only simulated board: its radio advertises to nobody, as a board's on a desk does)."""

    def __init__(self, hci_name: Path | str, address: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="radio")
        self._thread.start()
        self.radio = self._call(self._make(hci_name, address))

    def _serve(self) -> None:
        run_this_thread_ahead()  # the board waits on its controller's HCI answers
        self._loop.run_forever()

    async def _make(self, hci_name: Path | str, address: str) -> BoardRadio:
        return BoardRadio(EspLink(), hci_name, address)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def boot(self) -> str:
        return self._call(self.radio.boot())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self.radio.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=2)
        self._loop.close()
