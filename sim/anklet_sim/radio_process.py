"""A `sim:ble` board's radio in a process of its own, at the board's priority: the board's
ESP32-like controller (radio.BoardRadio), the virtual link it advertises on, and one controller
per host central, which the host reaches over HCI on a unix socket, as it would a USB dongle.

    radio = RadioProcess(flash_parent / ".flash.hci", "24:A1:60:C0:FF:EE")   # the driver side
    spec = radio.boot()       # a fresh controller (a chip reset): MICROPYBTUART, "unix:@..."
    spec = await radio.open_central("F0:F0:F0:F0:F0:01")  # "unix:@..." for open_transport
    radio.drop_connection(); radio.out_of_range(5.0); radio.stats; radio.stop()

    python -m anklet_sim.radio_process CONFIG_JSON        (started by RadioProcess)

Why a process: a real board's radio does not wait for the laptop's program. When the board's
controller and the link lived in the host's event loop, a host kept from the CPU stalled the
radio of every board it drove: NimBLE waits for its controller's HCI answers and its completed
packets, so the firmware's notifications backed up, and on a saturated machine both boards of
a two-board BLE session had their IMU FIFOs overflow at the same moment ("no samples for 2 s",
0 reps; docs/ARCHITECTURE.md, "Tests"). Here only the host's own bumble stack (its GATT client,
pairing, key store) stays in the host's process; the air and both ends' controllers do not.
(That was not the whole of it: the boards also waited in the kernel for the tty workqueue behind
their HCI pty, which is why the board's HCI is now a unix socket this process listens on, a
fresh one per boot; radio.BoardRadio.)

Not inside the launcher: the launcher is standard-library only so that a serial board starts in
~50 ms, and importing bumble costs ~0.4 s; this process starts while the launcher boots the
interpreter, which then waits for its first controller.

It is driven over a socket (CONFIG_JSON's control_fd) by JSON lines: requests
{"id": N, "op": "boot" | "central" | "drop_connection" | "out_of_range" | "stop", ...}, each
answered by {"id": N, "state": {...}, ...}; between requests it sends {"state": ...} whenever
the radio's state (advertising, connected, RadioStats) changed, so the driver reads them
without asking. Its driver going away (EOF) ends it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bumble import hci, ll
from bumble.controller import Controller
from bumble.transport.common import StreamPacketSink, StreamPacketSource

from .launcher import DIE_WITH_PARENT
from .priority import ahead_of_this_process
from .radio import BoardRadio, EspLink, RadioStats, RadioTiming, SupervisedController

logger = logging.getLogger(__name__)

_STATE_POLL_S = 0.02  # how often the state is compared with what the driver last heard
_CALL_TIMEOUT_S = 30.0  # a hang bound: the process answers in ms, later on a saturated machine


# --- in the radio's process ----------------------------------------------------------------


class _CentralHci(asyncio.Protocol):
    """One host central's HCI connection: H4 both ways to its controller on the link."""

    def __init__(self, controller: Controller, link: EspLink, server: list[asyncio.Server]):
        self.controller = controller
        self.link = link
        self.server = server
        self.source = StreamPacketSource()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.source.set_packet_sink(self.controller)
        self.controller.host = StreamPacketSink(transport)
        for server in self.server:
            server.close()  # one host per controller, as one program per USB dongle

    def data_received(self, data: bytes) -> None:
        self.source.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        # The host closed its central (or ended): its controller leaves the air, and a board
        # still connected to it sees the link end, as when a dongle is unplugged.
        controller = self.controller
        controller.host = None
        for connection in list(controller.le_connections.values()):
            with contextlib.suppress(Exception):
                connection.send_ll_control_pdu(
                    ll.TerminateInd(hci.HCI_ErrorCode.REMOTE_USER_TERMINATED_CONNECTION_ERROR)
                )
        with contextlib.suppress(KeyError):
            self.link.remove_controller(controller)


class RadioServer:
    """The radio's side: serves its driver's requests on `reader`/`writer`."""

    def __init__(
        self, config: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.link = EspLink()
        self.radio = BoardRadio(
            self.link,
            config["hci_name"],
            config["address"],
            timing=RadioTiming(**config["timing"]),
        )
        self._reader = reader
        self._writer = writer
        self._centrals = itertools.count(1)
        self._servers: list[asyncio.Server] = []
        self._sent_state: dict[str, Any] | None = None

    def state(self) -> dict[str, Any]:
        return {
            "advertising": self.radio.advertising,
            "connected": self.radio.connected,
            "stats": asdict(self.radio.stats),
        }

    def _send(self, message: dict[str, Any]) -> None:
        self._writer.write((json.dumps(message) + "\n").encode())

    async def run(self) -> None:
        pusher = asyncio.create_task(self._push_state())
        try:
            while line := await self._reader.readline():
                request = json.loads(line)
                reply = await self._handle(request)
                state = self.state()
                self._sent_state = state
                self._send({"id": request["id"], **reply, "state": state})
                await self._writer.drain()
                if request["op"] == "stop":
                    break
        finally:
            pusher.cancel()
            await self.radio.stop()
            for server in self._servers:
                server.close()

    async def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "boot":
            return {"path": await self.radio.boot()}
        if op == "central":
            return {"hci": await self._open_central(request["address"])}
        if op == "drop_connection":
            self.radio.drop_connection()
        elif op == "out_of_range":
            self.radio.out_of_range(float(request["seconds"]))
        return {}

    async def _open_central(self, address: str) -> str:
        """A central's controller on the link, behind an abstract unix socket (Linux: no file
        to clean up, no 108-byte path limit) that takes one connection."""
        controller = SupervisedController("anklet-central", link=self.link, public_address=address)
        name = f"anklet-radio-{os.getpid()}-{next(self._centrals)}"
        holder: list[asyncio.Server] = []
        server = await asyncio.get_running_loop().create_unix_server(
            lambda: _CentralHci(controller, self.link, holder), "\0" + name
        )
        holder.append(server)
        self._servers.append(server)
        return f"unix:@{name}"

    async def _push_state(self) -> None:
        while True:
            await asyncio.sleep(_STATE_POLL_S)
            state = self.state()
            if state != self._sent_state:
                self._sent_state = state
                self._send({"state": state})


async def _serve(config: dict[str, Any]) -> None:
    control = socket.socket(fileno=int(config["control_fd"]))
    reader, writer = await asyncio.open_unix_connection(sock=control)
    await RadioServer(config, reader, writer).run()
    writer.close()


def main() -> None:
    config = json.loads(sys.argv[1])
    with contextlib.suppress(OSError):  # the board's priority; without the privilege, none
        os.setpriority(os.PRIO_PROCESS, 0, int(config["nice"]))
    logging.basicConfig(level=logging.WARNING, format="radio: %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(config))


# --- in the driver's process ---------------------------------------------------------------


class RadioProcess:
    """The driver's handle on a board's radio process. What tests read (`advertising`,
    `connected`, `stats`) is the radio's state as it last reported it: a live RadioStats,
    updated in place by a reader thread, so the host's event loop need not run for it."""

    def __init__(
        self,
        hci_name: Path | str,
        address: str,
        *,
        timing: RadioTiming | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.hci_name = hci_name
        self.address = address
        self.timing = timing or RadioTiming()
        self.log_file = log_file
        self.stats = RadioStats()
        self._advertising = False
        self._connected = False
        self._ids = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._gone = False

    # --- lifetime --------------------------------------------------------------------------

    def start(self) -> None:
        self._gone = False
        ours, theirs = socket.socketpair()
        config = {
            "control_fd": theirs.fileno(),
            "hci_name": str(self.hci_name),
            "address": self.address,
            "timing": asdict(self.timing),
            # The board's priority (priority.py), as its launcher and interpreter have.
            "nice": ahead_of_this_process(),
        }
        package_root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, *sys.path])}
        log = open(self.log_file, "ab") if self.log_file else None  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "anklet_sim.radio_process", json.dumps(config)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                # With this process even when it is killed; as for the launcher (board.py),
                # only when started from the main thread (the signal follows the thread).
                preexec_fn=DIE_WITH_PARENT
                if threading.current_thread() is threading.main_thread()
                else None,
            )
        finally:
            if log is not None:
                log.close()
            theirs.close()
        self._control = ours
        threading.Thread(target=self._read, daemon=True, name="radio-control").start()

    def stop(self) -> None:
        """End the radio process (blocking; the last state it reported stays readable)."""
        proc, control = self._proc, self._control
        if proc is None or control is None:
            return
        with contextlib.suppress(OSError, TimeoutError, concurrent.futures.TimeoutError):
            self._request("stop").result(5)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        control.close()
        self._proc = self._control = None

    # --- requests --------------------------------------------------------------------------

    def _request(self, op: str, **args: Any) -> concurrent.futures.Future[dict[str, Any]]:
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        control = self._control
        if control is None or self._gone:
            future.set_exception(OSError("the board's radio process is not running"))
            return future
        with self._lock:
            request_id = next(self._ids)
            self._pending[request_id] = future
            try:
                control.sendall((json.dumps({"id": request_id, "op": op, **args}) + "\n").encode())
            except OSError as exc:
                self._pending.pop(request_id, None)
                future.set_exception(exc)
        return future

    def boot(self) -> str:
        """A chip reset: a fresh controller; returns the MICROPYBTUART its NimBLE is to speak H4
        on (`unix:@name`, a socket the radio process listens on).
        Blocking, from any thread (the launcher's request arrives on a thread of board.py)."""
        return self._request("boot").result(_CALL_TIMEOUT_S)["path"]

    async def open_central(self, address: str) -> str:
        """A controller for a host central at `address`: the bumble transport spec to open."""
        reply = await asyncio.wrap_future(self._request("central", address=address))
        return reply["hci"]

    def drop_connection(self) -> None:
        """The central walks out of range: both ends see a supervision timeout (sent, not
        waited for: the radio process does it in order with everything else asked)."""
        self._request("drop_connection")

    def out_of_range(self, seconds: float) -> None:
        """The central walks away for `seconds`: the link drops and the board's advertisements
        do not reach it until it is back."""
        self._request("out_of_range", seconds=seconds)

    # --- state -----------------------------------------------------------------------------

    @property
    def advertising(self) -> bool:
        return self._advertising

    @property
    def connected(self) -> bool:
        return self._connected

    async def wait_advertising(self, timeout: float = 60.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not self._advertising:
                    if self._gone:
                        raise OSError(f"the board's radio process ended (its log: {self.log_file})")
                    await asyncio.sleep(0.02)
        except TimeoutError:
            # Said in words: a bare TimeoutError reaches `anklet log` as "error: " and nothing.
            raise TimeoutError(
                f"the simulated board did not advertise within {timeout:g} s (its radio: "
                f"{self.stats.boots} boot(s), connected={self._connected}; log: {self.log_file})"
            ) from None

    def _apply(self, state: dict[str, Any]) -> None:
        self._advertising = bool(state["advertising"])
        self._connected = bool(state["connected"])
        for name, value in state["stats"].items():
            setattr(self.stats, name, value)

    def _read(self) -> None:
        control = self._control
        assert control is not None
        with contextlib.suppress(OSError, ValueError):
            for line in control.makefile("r", encoding="utf-8"):
                message = json.loads(line)
                self._apply(message["state"])
                future = self._pending.pop(message.get("id", 0), None)
                if future is not None:
                    future.set_result(message)
        self._gone = True
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(OSError("the board's radio process ended"))


if __name__ == "__main__":
    main()
