"""The firmware's BLE link end to end, without the sensors: firmware/ble_link.py and the real
ring and streamer in the MicroPython interpreter (tests/ble/mpy_ble_link.py stands in for the
rest of the app) → MicroPython's own `bluetooth` module and NimBLE host → H4 on a pty → an
ESP32-like bumble controller (anklet_sim.radio) → the virtual link → bleak through the bumble
backend → BleTransport.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from anklet.ble.bumble_backend import BumbleCentral
from anklet.transport.ble import BleTransport, scan
from anklet_protocol import spec
from anklet_protocol.decoder import StreamDecoder
from anklet_protocol.framing import build_command, encode_frame
from anklet_sim.ble_board import watch_pairings
from anklet_sim.board import micropython_command, micropython_path
from anklet_sim.radio import BoardRadio, EspLink, RadioTiming
from simhelpers import eventually

from tests.conftest import FIRMWARE, SIM_MPY

SCRIPT = Path(__file__).with_name("mpy_ble_link.py")
# Blocks the streaming tests' stand-in IMU makes, then stops: fewer than the ring's 284 slots
# (64 KB of 230-byte slots), so a backlog the test did not read in time is never overwritten
# (the ring lapping an unsent block is tests/firmware's, by index). At 1000 Hz, 3 s of samples.
MAX_BLOCKS = 200


class LinkBoard:
    """The link-level board: one MicroPython process per boot, a fresh controller each boot."""

    def __init__(
        self,
        flash: Path,
        imu_hz: int = 1000,
        timing: RadioTiming | None = None,
        max_blocks: int = 0,
    ) -> None:
        self.flash = flash
        self.imu_hz = imu_hz
        self.max_blocks = max_blocks  # the stand-in IMU stops there (0: it never does)
        self.link = EspLink()
        self.radio = BoardRadio(self.link, flash.parent / "hci", "24:A1:60:C0:FF:EE", timing=timing)
        self.proc: subprocess.Popen[bytes] | None = None
        self.centrals: list[BumbleCentral] = []

    async def start(self) -> None:
        config = self.flash.parent / "sim.json"
        config.write_text(json.dumps({"unique_id": "24a160c0ffee"}))
        self.env = {
            **os.environ,
            "MICROPYPATH": micropython_path(SIM_MPY, FIRMWARE),
            "ANKLET_SIM_CONFIG": str(config),
        }
        await self.boot()

    async def boot(self) -> None:
        self.kill()
        hci = await self.radio.boot()
        self.proc = subprocess.Popen(
            [micropython_command(), str(SCRIPT), str(self.imu_hz), str(self.max_blocks)],
            cwd=self.flash,
            env={**self.env, "MICROPYBTUART": hci},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        async with asyncio.timeout(10):
            while not self.radio.advertising:
                assert self.proc.poll() is None, self.proc.stdout.read().decode()  # type: ignore[union-attr]
                await asyncio.sleep(0.02)

    async def power_cycle(self) -> None:
        await self.boot()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def central(self) -> BumbleCentral:
        central = BumbleCentral.on_link(self.link, f"F0:F0:F0:F0:F0:{len(self.centrals) + 1:02X}")
        self.centrals.append(central)
        return central

    async def stop(self) -> None:
        for central in self.centrals:
            await central.close()
        self.kill()
        await self.radio.stop()


def run(tmp_path: Path, body: Callable[[LinkBoard], Awaitable[Any]], **kw: Any) -> Any:
    async def main() -> Any:
        flash = tmp_path / "flash"
        flash.mkdir()
        board = LinkBoard(flash, **kw)
        try:
            await board.start()
            return await asyncio.wait_for(body(board), 120)  # a hang guard, not a deadline
        finally:
            await board.stop()

    return asyncio.run(main())


class Host:
    """Commands and replies over a BleTransport, frames decoded as the session will."""

    def __init__(self, link: BleTransport) -> None:
        self.link = link
        self.decoder = StreamDecoder()
        self.request_id = 0
        self.seq = 0
        self.blocks: list[Any] = []
        self.replies: dict[int, spec.Container] = {}  # type: ignore[name-defined]

    async def command(self, opcode: spec.Opcode, **args: Any) -> Any:
        self.request_id += 1
        rid = self.request_id
        payload = build_command(rid, opcode, **args)
        await self.link.write_frame(encode_frame(spec.MsgType.COMMAND, payload, self.seq))
        self.seq += 1
        while rid not in self.replies:
            await self.read_one()
        return self.replies.pop(rid)

    async def read_one(self) -> None:
        frame = self.decoder.feed_frame(await self.link.read_frame())
        if frame is None:
            return
        if frame.msg_type == spec.MsgType.REPLY:
            reply = spec.Reply.parse(frame.payload)
            self.replies[reply.request_id] = reply
        elif frame.block is not None:
            self.blocks.append(frame.block)


def test_scan_finds_board_with_name_and_battery(tmp_path: Path) -> None:
    async def body(board: LinkBoard) -> None:
        found: list = []
        while not found:  # windows of 0.5 s until one hears it (a busy radio may not at once)
            found = await scan(0.5, central=board.central())
        assert [(b.name, b.address, b.battery_pct) for b in found] == [
            ("Anklet-FFEE", "24:A1:60:C0:FF:EE", 70)
        ]

    run(tmp_path, body)


def test_commands_refused_until_paired_then_samples_stream_without_gaps(tmp_path: Path) -> None:
    async def body(board: LinkBoard) -> None:
        async with BleTransport("Anklet-FFEE", central=board.central()) as link:
            assert link.mtu == spec.BLE_MTU and link.max_frame == 244
            host = Host(link)
            reply = await host.command(spec.Opcode.START)
            assert reply.status == spec.StatusCode.NOT_AUTHORIZED
            assert (await host.command(spec.Opcode.GET_STATUS)).status == spec.StatusCode.OK
            await link.pair()
            # The encryption IRQ reaches the board through the radio: wait for it.
            assert await eventually(lambda: board.radio.stats.encryptions == 1)
            assert (await host.command(spec.Opcode.START)).status == spec.StatusCode.OK
            while len(host.blocks) < 100:  # 1.5 s at 1000 Hz; longer if the machine is busy
                await host.read_one()
            status = spec.Status.parse((await host.command(spec.Opcode.GET_STATUS)).payload)
            await host.command(spec.Opcode.STOP)
        indices = [b.first_index for b in host.blocks]
        assert indices == list(range(0, 15 * len(indices), 15)), "gap or reorder"
        assert len(indices) >= 100  # (how fast it streams on a busy machine: bench/)
        assert status.free_heap == 0  # the streamer skipped no block (overwritten unsent)
        assert host.decoder.stats.frames_missing == 0

    run(tmp_path, body, max_blocks=MAX_BLOCKS)


def test_back_pressure_retries_and_drops_nothing_on_a_slow_link(tmp_path: Path) -> None:
    async def body(board: LinkBoard) -> None:
        async with BleTransport(central=board.central(), pair=True) as link:
            # The GET_STATUS below waits behind the backlog for NimBLE's buffers: 3 s is the
            # user's limit (a board that long full is out of reach); here the test waits for
            # the write to be taken, however slowly a saturated machine drains the backlog.
            link.busy_budget_s = 60.0  # a hang guard
            host = Host(link)
            await host.command(spec.Opcode.START)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.0:
                await host.read_one()
            status = spec.Status.parse((await host.command(spec.Opcode.GET_STATUS)).payload)
        assert status.tx_retries > 0  # ENOMEM happened: the radio was the bottleneck
        indices = [b.first_index for b in host.blocks]
        assert indices == list(range(0, 15 * len(indices), 15))
        assert status.free_heap == 0

    # One packet per 30 ms event (33/s) against 67 blocks/s: the controller's and NimBLE's
    # buffers fill, gatts_notify raises ENOMEM, the ring (~280 blocks) holds the backlog.
    slow = RadioTiming(interval_ms=30.0, event_fraction=0.09)
    assert slow.packets_per_event == 1
    run(tmp_path, body, timing=slow, max_blocks=MAX_BLOCKS)


def test_bonded_reconnect_after_reboot_needs_no_new_pairing(tmp_path: Path) -> None:
    async def body(board: LinkBoard) -> None:
        central = board.central()
        pairings = watch_pairings(central)
        async with BleTransport("Anklet-FFEE", central=central, pair=True) as link:
            host = Host(link)
            assert (await host.command(spec.Opcode.STOP)).status == spec.StatusCode.OK
        stats = board.radio.stats
        assert len(pairings) == 1
        assert await eventually(lambda: (board.flash / "ble_secrets.json").exists())
        # What NimBLE's store handed over: our keys (1) and the central's (2) under its 7-byte
        # ble_addr_t, and our IRK (10), all persisted by the firmware.
        stored = {
            (kind, len(base64.b64decode(key)))
            for kind, key, _ in json.loads((board.flash / "ble_secrets.json").read_text())
        }
        assert {(1, 7), (2, 7), (10, 3)} <= stored
        await board.power_cycle()
        async with BleTransport("Anklet-FFEE", central=central, pair=True) as link:
            host = Host(link)
            assert await eventually(lambda: stats.encryptions == 2)
            assert (await host.command(spec.Opcode.STOP)).status == spec.StatusCode.OK
        assert await eventually(lambda: stats.encryptions == 2)
        assert len(pairings) == 1  # encrypted with the stored keys, no new pairing

    run(tmp_path, body)


def test_bonded_central_that_lost_its_keys_pairs_again(tmp_path: Path) -> None:
    # A phone that "forgot this device", or a laptop reinstalled: the board still holds the
    # bond, the central has no keys and pairs afresh. NimBLE then deletes the old bond entry by
    # entry until the store answers that none is left; a store that always says "deleted" kept
    # it looping in the IRQ until the watchdog reset the board.
    async def body(board: LinkBoard) -> None:
        address = "F0:F0:F0:F0:F0:07"
        first = BumbleCentral.on_link(board.link, address)
        async with BleTransport("Anklet-FFEE", central=first, pair=True) as link:
            assert (await Host(link).command(spec.Opcode.STOP)).status == spec.StatusCode.OK
        await first.close()
        assert await eventually(lambda: (board.flash / "ble_secrets.json").exists())

        forgetful = BumbleCentral.on_link(board.link, address)  # same address, empty key store
        board.centrals.append(forgetful)
        pairings = watch_pairings(forgetful)
        async with BleTransport("Anklet-FFEE", central=forgetful, pair=True) as link:
            host = Host(link)
            assert (await host.command(spec.Opcode.STOP)).status == spec.StatusCode.OK
        assert len(pairings) == 1
        assert board.proc is not None and board.proc.poll() is None  # no watchdog reset
        assert board.radio.stats.boots == 1

        def peers() -> list[tuple[int, bytes]]:
            stored = json.loads((board.flash / "ble_secrets.json").read_text())
            return sorted((kind, base64.b64decode(key)) for kind, key, _ in stored if kind != 10)

        # One bond for that central, the new one: the old entries were deleted, not kept beside.
        assert await eventually(lambda: len(peers()) == 2)
        assert [kind for kind, _ in peers()] == [1, 2]

    run(tmp_path, body)


def test_link_loss_is_reported_and_board_readvertises_for_reconnect(tmp_path: Path) -> None:
    async def body(board: LinkBoard) -> None:
        central = board.central()
        link = BleTransport("Anklet-FFEE", central=central)
        await link.connect()
        host = Host(link)
        assert (await host.command(spec.Opcode.GET_STATUS)).status == spec.StatusCode.OK
        board.radio.drop_connection()
        with pytest.raises(Exception, match="dropped"):
            while True:
                await link.read_frame()
        await board.radio.wait_advertising()
        await link.connect()
        assert (await Host(link).command(spec.Opcode.GET_STATUS)).status == spec.StatusCode.OK
        await link.disconnect()

    run(tmp_path, body)


def test_commands_get_through_while_nimble_buffers_are_full_after_a_stall(tmp_path: Path) -> None:
    async def body(board: LinkBoard) -> int:
        async with BleTransport(central=board.central(), pair=True) as link:
            # 3 s is the user's limit for a write NimBLE keeps refusing; here the commands must
            # get through however slowly a saturated machine drains the backlog (a hang guard).
            link.busy_budget_s = 60.0
            host = Host(link)
            assert (await host.command(spec.Opcode.START)).status == spec.StatusCode.OK
            for _ in range(20):
                await host.read_one()
            assert board.proc is not None
            # The interpreter freezes (a starved board): its ring fills; when it runs again it
            # notifies until NimBLE's buffers are full, and the central's writes meet them.
            board.proc.send_signal(signal.SIGSTOP)
            await asyncio.sleep(1.0)  # the fault's length, not a wait for an event
            board.proc.send_signal(signal.SIGCONT)
            for _ in range(5):
                assert (await host.command(spec.Opcode.GET_STATUS)).status == spec.StatusCode.OK
            await host.command(spec.Opcode.STOP)
            return link.busy_retries

    busy_retries = run(tmp_path, body, max_blocks=MAX_BLOCKS)
    print(f"writes retried while NimBLE was busy: {busy_retries}")
