"""BleTransport when the board's NimBLE is out of buffers: its ATT "insufficient resources"
answer to a COMMAND write is retried, not taken for a broken link (that made the recorder
reconnect after every stall on the real stack); a link dropped under a write; a disconnect cut
short. A fake BleakClient stands in for the layer above the transport; the real-stack case is in
hil/ and tests/ble/test_ble_sessions.py."""

from __future__ import annotations

import asyncio

import pytest
from anklet.transport.base import LinkLost, TransportError
from anklet.transport.ble import BleTransport
from bleak.exc import BleakGATTProtocolError, BleakGATTProtocolErrorCode

BUSY = BleakGATTProtocolErrorCode.INSUFFICIENT_RESOURCE


class FakeClient:
    """Answers the first writes with the given ATT errors, then accepts."""

    def __init__(self, errors: list[int]) -> None:
        self.errors = list(errors)
        self.written: list[bytes] = []
        self.is_connected = True

    async def write_gatt_char(self, uuid: str, data: bytes, response: bool) -> None:
        if self.errors:
            raise BleakGATTProtocolError(self.errors.pop(0))
        self.written.append(bytes(data))


def write(errors: list[int], budget_s: float = 3.0) -> tuple[BleTransport, FakeClient]:
    transport = BleTransport("Anklet-TEST")
    transport.busy_budget_s = budget_s
    client = FakeClient(errors)
    transport._client = client  # type: ignore[assignment]
    asyncio.run(transport.write_frame(b"AK" + bytes(20)))
    return transport, client


def test_write_answered_insufficient_resources_is_retried_until_accepted() -> None:
    transport, client = write([BUSY, BUSY])
    assert client.written == [b"AK" + bytes(20)]
    assert transport.busy_retries == 2


def test_a_board_that_stays_busy_gives_a_clear_error() -> None:
    with pytest.raises(TransportError, match=r"buffers stayed full for 0\.3 s"):
        write([BUSY] * 100, budget_s=0.3)


def test_other_gatt_errors_are_not_retried() -> None:
    client = FakeClient([BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED])
    transport = BleTransport("Anklet-TEST")
    transport._client = client  # type: ignore[assignment]
    with pytest.raises(TransportError, match="write failed"):
        asyncio.run(transport.write_frame(b"AK"))
    assert transport.busy_retries == 0


class AbortingClient(FakeClient):
    """bumble's way when the link drops under a pending write: the write's future is cancelled."""

    async def write_gatt_char(self, uuid: str, data: bytes, response: bool) -> None:
        self.is_connected = False
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.cancel)
        await future


def test_a_write_aborted_by_a_dropped_link_is_a_lost_link_not_an_interrupt() -> None:
    transport = BleTransport("Anklet-TEST")
    transport._client = AbortingClient([])  # type: ignore[assignment]
    with pytest.raises(LinkLost, match="the link dropped during a write"):
        asyncio.run(transport.write_frame(b"AK"))


def test_a_write_cancelled_by_ctrl_c_stays_cancelled() -> None:
    async def go() -> None:
        transport = BleTransport("Anklet-TEST")
        transport._client = AbortingClient([])  # type: ignore[assignment]
        transport._client.write_gatt_char = lambda *a, **k: asyncio.sleep(10)  # type: ignore
        task = asyncio.create_task(transport.write_frame(b"AK"))
        await asyncio.sleep(0.01)
        task.cancel()  # what asyncio.run does to the main task on Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())


def test_a_connection_aborted_by_a_dropped_link_is_a_lost_link(monkeypatch) -> None:
    # bumble cancels the MTU exchange inside BleakClient.connect when the board drops the link
    # (seen with the CPU model's slow board): the recorder's reconnect must see a lost link and
    # try again, not a cancellation that ends `anklet log` as "interrupted".
    class Aborted:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        async def connect(self) -> None:
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(future.cancel)
            await future

    class Found:
        name = address = "Anklet-TEST"

    async def found(kwargs: object) -> Found:
        return Found()

    monkeypatch.setattr("anklet.transport.ble.BleakClient", Aborted)
    transport = BleTransport("Anklet-TEST")
    monkeypatch.setattr(transport, "_find", found)
    with pytest.raises(LinkLost, match="the link dropped during connecting"):
        asyncio.run(transport.connect())


class SlowToDisconnectClient(FakeClient):
    """A disconnect that takes a while (the controller's answer on a busy link)."""

    def __init__(self) -> None:
        super().__init__([])
        self.answer = asyncio.Event()

    async def disconnect(self) -> None:
        await self.answer.wait()
        self.is_connected = False


def test_a_disconnect_cancelled_midway_still_ends_the_link() -> None:
    """A reconnect cut short by the session's deadline must not leave the link up: a board
    that takes one connection stops advertising, and no reconnect after it finds the board."""

    async def go() -> SlowToDisconnectClient:
        transport = BleTransport("Anklet-TEST")
        client = SlowToDisconnectClient()
        transport._client = client  # type: ignore[assignment]
        cut = asyncio.create_task(transport.disconnect())
        await asyncio.sleep(0)  # into disconnect(), waiting for the controller
        cut.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cut
        assert not transport.connected
        client.answer.set()
        for _ in range(10):  # the disconnect, finishing on its own
            await asyncio.sleep(0)
        return client

    assert asyncio.run(go()).is_connected is False
