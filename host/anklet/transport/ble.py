"""The BLE transport: one frame per notification of the Anklet data characteristic; COMMAND
frames written, with response, to its control characteristic.

    boards = await scan(timeout=5)                        # [FoundBoard(name, address, ...)]
    async with BleTransport("Anklet-1A2B", pair=True) as link:
        await link.write_frame(command_frame)
        frame = await link.read_frame()                   # one notification: one frame

bleak picks the platform's Bluetooth stack. `backend="bumble:usb:0"` (the CLI's
`--ble-backend`) drives a USB dongle through bumble instead; `central=` uses a given bumble
central (the simulated board's virtual link).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from anklet_protocol import spec
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode
from platformdirs import user_data_path
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_fixed,
)

from anklet.ble.bumble_backend import BumbleCentral, BumbleClient, BumbleScanner, parse_backend

from .base import LinkLost, Transport, TransportError

log = logging.getLogger(__name__)

BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
_QUEUE_FRAMES = 8192  # ~30 s of SAMPLES at 1000 Hz waiting for a slow reader
# A write the board answered "insufficient resources" is tried again for this long: on a link
# slower than the stream (a far phone, a 30 ms interval), NimBLE's buffers stay full of
# notifications and a COMMAND gets in only when one frees (0.75 s was too short: a GET_STATUS
# on the back-pressure test's 33-packets/s link failed, tests/ble/test_ble_link.py).
_BUSY_BUDGET_S = 3.0
# A write gets in only when the board's NimBLE has freed a buffer and not yet refilled it, a
# moment that comes about once per connection event (7.5-50 ms) on a link slower than the
# stream: so the write is tried again after about one event, every time. Pauses growing to
# 250 ms tried 15 times in the 3 s and missed those moments twice in six make-test runs.
_BUSY_PAUSE_S = 0.02


@dataclass(frozen=True)
class FoundBoard:
    """A board seen advertising the Anklet service."""

    name: str
    address: str
    rssi_dbm: int
    battery_pct: int | None


class _Backend:
    """Which bleak backend to use, and the keyword arguments it needs."""

    def __init__(self, backend: str | None, central: BumbleCentral | None) -> None:
        self.transport = parse_backend(backend)
        self.central = central
        self._owned = False

    async def kwargs(self) -> dict[str, Any]:
        if self.central is None and self.transport is not None:
            keys = user_data_path("anklet") / "bumble-keys.json"
            self.central = await BumbleCentral.open(self.transport, keystore_path=keys)
            self._owned = True
        if self.central is None:
            return {}
        await self.central.power_on()
        return {"central": self.central}

    def scanner_class(self) -> type[BumbleScanner] | None:
        return BumbleScanner if self.central is not None else None

    def client_class(self) -> type[BumbleClient] | None:
        return BumbleClient if self.central is not None else None

    async def close(self) -> None:
        if self._owned and self.central is not None:
            await self.central.close()
            self.central = None
            self._owned = False


def _log_failure(task: asyncio.Task[None]) -> None:
    """A disconnect finished after its caller stopped waiting: its error has nobody to go to."""
    if not task.cancelled() and task.exception() is not None:
        log.info("disconnecting failed: %s", task.exception())


def _found(device: BLEDevice, adv: AdvertisementData) -> FoundBoard:
    battery = adv.service_data.get(BATTERY_SERVICE_UUID)
    return FoundBoard(
        name=adv.local_name or device.name or "",
        address=device.address,
        rssi_dbm=adv.rssi,
        battery_pct=battery[0] if battery else None,
    )


async def scan(
    timeout: float = 5.0, *, backend: str | None = None, central: BumbleCentral | None = None
) -> list[FoundBoard]:
    """Boards advertising the Anklet service within `timeout` seconds, strongest first."""
    chosen = _Backend(backend, central)
    try:
        kwargs = await chosen.kwargs()
        scanner = BleakScanner(
            service_uuids=[spec.BLE_SERVICE_UUID], backend=chosen.scanner_class(), **kwargs
        )
        async with scanner:
            await asyncio.sleep(timeout)
        found = [
            _found(d, a) for d, a in scanner.discovered_devices_and_advertisement_data.values()
        ]
    except BleakError as exc:
        raise TransportError(f"BLE scan failed: {exc} (is Bluetooth on?)") from exc
    finally:
        await chosen.close()
    return sorted(found, key=lambda b: -b.rssi_dbm)


class BleTransport(Transport):
    def __init__(
        self,
        target: str | None = None,
        *,
        pair: bool = False,
        scan_timeout: float = 10.0,
        connect_timeout: float = 20.0,
        backend: str | None = None,
        central: BumbleCentral | None = None,
    ) -> None:
        """`target`: a board's name or address; None takes the first Anklet board found."""
        self.target = target
        self.pair_on_connect = pair
        self.scan_timeout = scan_timeout
        self.connect_timeout = connect_timeout
        self.max_frame = spec.BLE_MTU - spec.ATT_OVERHEAD
        self._backend = _Backend(backend, central)
        self._client: BleakClient | None = None
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(_QUEUE_FRAMES)  # None: lost
        self._name = target or "?"
        self._encrypted = False
        self.frames_dropped = 0  # notifications lost because read() fell behind
        self.busy_retries = 0  # COMMAND writes retried because the board's buffers were full
        self.busy_budget_s = _BUSY_BUDGET_S

    # --- Transport -------------------------------------------------------------------------

    @property
    def description(self) -> str:
        return f"ble:{self._name}"

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def address(self) -> str | None:
        """The connected board's address (what `anklet pair` remembers)."""
        return self._client.address if self._client is not None else None

    @property
    def mtu(self) -> int:
        return self._client.mtu_size if self._client is not None else 23

    @property
    def encrypted(self) -> bool:
        """True once the link is encrypted (paired now or with a stored bond)."""
        return self._encrypted

    async def connect(self) -> None:
        kwargs = await self._backend.kwargs()
        device = await self._find(kwargs)
        self._name = device.name or device.address
        self._queue = asyncio.Queue(_QUEUE_FRAMES)
        self._encrypted = False
        client = BleakClient(
            device,
            disconnected_callback=self._on_disconnect,
            timeout=self.connect_timeout,
            backend=self._backend.client_class(),
            **kwargs,
        )
        try:
            # (a link that drops during the MTU exchange aborts it: a lost link, see _on_link)
            await self._on_link(client.connect(), "connecting")
        except (BleakError, TimeoutError) as exc:
            raise TransportError(
                f"could not connect to {self.description}: {exc} (move closer, or power-cycle "
                "the board)"
            ) from exc
        self._client = client
        try:
            self.max_frame = min(spec.BLE_MTU, client.mtu_size) - spec.ATT_OVERHEAD
            if self.pair_on_connect:
                await self.pair()
            await self._on_link(
                client.start_notify(spec.BLE_DATA_UUID, self._on_notify), "connecting"
            )
        except BaseException:
            await self.disconnect()
            raise

    async def pair(self) -> None:
        """Pair and bond (Just Works), or encrypt with the bond stored from an earlier pairing."""
        client = self._require_client()
        try:
            await self._on_link(client.pair(), "pairing")
        except BleakError as exc:
            raise TransportError(
                f"pairing with {self.description} failed: {exc} (remove the board from the "
                "system's Bluetooth devices and try again)"
            ) from exc
        self._encrypted = True

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            # Finished even when the caller is cancelled (a reconnect cut short by the
            # session's deadline): a link left up keeps a board that takes one connection
            # from advertising, and every reconnect after it would not find the board.
            ending = asyncio.ensure_future(self._disconnect(client))
            ending.add_done_callback(_log_failure)
            await asyncio.shield(ending)

    async def _disconnect(self, client: BleakClient) -> None:
        with contextlib.suppress(BleakError, TimeoutError, LinkLost):
            await self._on_link(client.disconnect(), "disconnecting")

    async def write_frame(self, frame: bytes) -> None:
        client = self._require_client()
        if len(frame) > self.max_frame:
            raise TransportError(
                f"frame of {len(frame)} bytes exceeds the link's {self.max_frame} (MTU {self.mtu})"
            )
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: self._busy(client, exc)),
            wait=wait_fixed(_BUSY_PAUSE_S),
            stop=stop_after_delay(self.busy_budget_s),
            before_sleep=self._count_busy_retry,
            reraise=True,
        )

        async def write_once() -> None:
            await self._on_link(
                client.write_gatt_char(spec.BLE_CONTROL_UUID, frame, response=True), "a write"
            )

        try:
            await retrying(write_once)
        except BleakError as exc:
            raise self._write_error(client, exc) from exc

    async def _on_link(self, operation: Awaitable[Any], what: str) -> Any:
        """Await a GATT operation; bumble aborts one with CancelledError when the link drops,
        which is a lost link unless this task itself is being cancelled (Ctrl-C). Left as it
        was, it ended `anklet log` as "interrupted" though nobody pressed Ctrl-C."""
        try:
            return await operation
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            raise LinkLost(f"{self.description}: the link dropped during {what}") from None

    def _busy(self, client: BleakClient, exc: BaseException) -> bool:
        # NimBLE answers "insufficient resources" while its buffers are full of notifications:
        # busy, not broken.
        return (
            isinstance(exc, BleakGATTProtocolError)
            and exc.code == BleakGATTProtocolErrorCode.INSUFFICIENT_RESOURCE
            and client.is_connected
        )

    def _count_busy_retry(self, state: RetryCallState) -> None:
        self.busy_retries += 1

    def _write_error(self, client: BleakClient, exc: BleakError) -> TransportError:
        if not client.is_connected:
            return LinkLost(f"{self.description}: the link dropped")
        if self._busy(client, exc):
            return TransportError(
                f"{self.description}: write failed: the board's Bluetooth buffers stayed full "
                f"for {self.busy_budget_s:g} s (a slow or distant link; move closer)"
            )
        return TransportError(f"{self.description}: write failed: {exc}")

    async def read_frame(self) -> bytes:
        if self._client is None and self._queue.empty():
            raise LinkLost(f"{self.description}: not connected")
        frame = await self._queue.get()
        if frame is None:
            raise LinkLost(f"{self.description}: the link dropped (out of range or reset)")
        return frame

    # --- internals -------------------------------------------------------------------------

    def _require_client(self) -> BleakClient:
        if self._client is None or not self._client.is_connected:
            raise LinkLost(f"{self.description}: not connected")
        return self._client

    async def _find(self, kwargs: dict[str, Any]) -> BLEDevice:
        target = self.target

        def wanted(device: BLEDevice, adv: AdvertisementData) -> bool:
            if spec.BLE_SERVICE_UUID not in adv.service_uuids:
                return False
            if target is None:
                return True
            return target in (adv.local_name, device.name) or (
                device.address.lower() == target.lower()
            )

        scanner = BleakScanner(
            service_uuids=[spec.BLE_SERVICE_UUID], backend=self._backend.scanner_class(), **kwargs
        )
        try:
            async with scanner, asyncio.timeout(self.scan_timeout):
                async for device, adv in scanner.advertisement_data():
                    if wanted(device, adv):
                        return device
        except TimeoutError:
            pass
        except BleakError as exc:
            raise TransportError(f"BLE scan failed: {exc} (is Bluetooth on?)") from exc
        what = f"board {target!r}" if target else "Anklet board"
        raise TransportError(
            f"no {what} advertising within {self.scan_timeout:g} s: is it on and not "
            "connected to another host?"
        )

    def _on_notify(self, _char: Any, data: bytearray) -> None:
        try:
            self._queue.put_nowait(bytes(data))
        except asyncio.QueueFull:
            self.frames_dropped += 1

    def _on_disconnect(self, _client: BleakClient) -> None:
        self._client = None
        self._encrypted = False
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
