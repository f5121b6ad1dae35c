"""A simulated board's launcher, in a process of its own: it plays the ESP32's UART0 and the
USB-serial bridge (moving bytes between the interpreter's stdio and the pty, at the line rate
with the ESP32 model on), injects link faults, and boots the interpreter again after a reset.

    python -m anklet_sim.launcher CONFIG_JSON      (started by board.SimulatedBoard)

Why a process: the bytes of a real board's serial port do not wait for the host's program.
In the host's process, the launcher's threads shared its GIL, so a host kept from the CPU held
the board's bytes, its FIFO pauses (SIGSTOP, SIGCONT) and its reboots too: on a saturated
machine the board's IMU FIFO went unread for a second (docs/ARCHITECTURE.md, "Tests").

It is driven over a socket (CONFIG_JSON's control_fd) by JSON lines: requests
{"op": "state" | "cut_link" | "restore_link" | "corrupt" | "power_cycle" | "set_faults" |
"stop", ...}, each answered by one reply line; it asks the driver for a fresh BLE controller
at every boot ({"radio": 1}, answered {"radio_path": its MICROPYBTUART, "unix:@..."}). The
driver going away (EOF) stops the board. Only the standard library and uart.py are imported:
a board starts in ~50 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import select
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .uart import UartModel

# Exit codes of the interpreter: how the simulated board ended (see mpy/machine.py).
EXIT_RESET = 3  # machine.reset() / hard reset
EXIT_WATCHDOG = 4  # machine.WDT not fed in time
EXIT_SOFT_RESET = 5  # machine.soft_reset()
EXIT_HUNG = -12  # killed by the emulated watchdog (SIGUSR2): firmware hung outside `machine`

# Reset causes as MicroPython's machine module numbers them on the ESP32.
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5

# termios speed constants -> baud
_SPEEDS = {
    getattr(termios, f"B{rate}"): rate
    for rate in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1500000, 2000000)
    if hasattr(termios, f"B{rate}")
}


@dataclass
class LinkStats:
    """What the bridge moved, dropped or damaged."""

    to_host: int = 0
    to_board: int = 0
    dropped_to_host: int = 0
    dropped_to_board: int = 0
    corrupted: int = 0


def _pdeathsig() -> Any:
    """A function for the child, before exec, that makes it die with this process, even when
    this process is killed. Linux only (prctl PR_SET_PDEATHSIG); resolved here, as importing in
    a forked child of a threaded process can deadlock. None elsewhere."""
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


DIE_WITH_PARENT = _pdeathsig()


class Launcher:
    def __init__(self, config: dict[str, Any], control: socket.socket) -> None:
        self.config = config
        self.flash_dir = Path(config["flash_dir"])
        self.faults: dict[str, Any] = dict(config["faults"])
        self.stats = LinkStats()
        self.boots: list[int] = []
        self.exit_codes: list[int] = []
        self._control = control
        self._send_lock = threading.Lock()
        self._radio_paths: queue.Queue[str] = queue.Queue()
        self._requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._master = int(config["master_fd"])
        self._slave = int(config["slave_fd"])
        os.set_blocking(self._master, False)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._link_up = threading.Event()
        self._link_up.set()
        self._corrupt_budget = 0
        self._rng = random.Random(1)
        self._lock = threading.Lock()
        self._log = open(config["log_file"], "ab", buffering=0)  # noqa: SIM115 (board's life)
        self.uart: UartModel | None = None
        if not config["fast"]:
            self.uart = UartModel(
                host_baud=self._host_baud, stall=self._stall_board, board_baud=config["baud"]
            )

    # --- serving the driver ----------------------------------------------------------------

    def run(self) -> None:
        threading.Thread(target=self._read_control, daemon=True, name="control").start()
        self._motion_epoch_path.unlink(missing_ok=True)  # a new board: its exercise is to come
        self._spawn(PWRON_RESET)
        for target in (self._pump_from_board, self._pump_to_board, self._supervise):
            threading.Thread(target=target, daemon=True, name=target.__name__).start()
        while (request := self._requests.get()) is not None:
            reply = self._handle(request)
            self._send(reply)
            if request["op"] == "stop":
                break
        self._shut_down()

    def _read_control(self) -> None:
        reader = self._control.makefile("r", encoding="utf-8")
        for line in reader:
            message = json.loads(line)
            if "radio_path" in message:
                self._radio_paths.put(message["radio_path"])
            else:
                self._requests.put(message)
        self._requests.put(None)  # the driver went away: the board goes with it

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        with self._send_lock, contextlib.suppress(OSError):
            self._control.sendall(data)

    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "cut_link":
            self._link_up.clear()
            if request.get("seconds") is not None:
                threading.Timer(request["seconds"], self._link_up.set).start()
        elif op == "restore_link":
            self._link_up.set()
        elif op == "corrupt":
            with self._lock:
                self._corrupt_budget += int(request["nbytes"])
        elif op == "power_cycle":
            self.config["motion"] = request["motion"]
            self.config["sim_options"] = request["sim_options"]
            self.config["env"] = request["env"]
            with self._lock:
                self._kill()
                self._spawn(int(request["cause"]))
        elif op == "hold":
            self._hold_board(float(request["seconds"]))
        elif op == "set_faults":
            self.faults.update(request["faults"])
            self._write_config(None)
            tmp = self.flash_dir.parent / f".{self.flash_dir.name}.faults.tmp"
            tmp.write_text(json.dumps(self.faults))
            tmp.replace(self._faults_path)
        return {"ok": True, "state": self._state()}

    def _state(self) -> dict[str, Any]:
        uart = self.uart
        return {
            "stats": asdict(self.stats),
            "boots": list(self.boots),
            "exit_codes": list(self.exit_codes),
            "running": self._proc is not None and self._proc.poll() is None,
            "uart": None
            if uart is None
            else {
                "garbled_bytes": uart.garbled_bytes,
                "stalls": uart.stalls,
                "stalled_s": uart.stalled_s,
                "board_baud": uart.board_baud,
            },
        }

    def _shut_down(self) -> None:
        self._stop.set()
        with self._lock:
            self._kill()
        self._log.close()

    # --- the board's boots -----------------------------------------------------------------

    @property
    def _config_path(self) -> Path:
        return self.flash_dir.parent / f".{self.flash_dir.name}.sim.json"

    @property
    def _faults_path(self) -> Path:
        return self.flash_dir.parent / f".{self.flash_dir.name}.faults.json"

    @property
    def _motion_epoch_path(self) -> Path:
        # motion_from=start: when the first START came, for the boots after (world.py)
        return self.flash_dir.parent / f".{self.flash_dir.name}.motion-epoch"

    def _write_config(self, reset_cause: int | None) -> None:
        config = {
            "unique_id": self.config["unique_id"],
            "motion": self.config["motion"],
            "faults": self.faults,
            "faults_file": str(self._faults_path),
            "motion_epoch_ns": self.config["epoch_ns"],
            "motion_epoch_file": str(self._motion_epoch_path),
            **self.config["sim_options"],
        }
        if reset_cause is not None:
            config["reset_cause"] = reset_cause
        self._config_path.write_text(json.dumps(config))

    def _spawn(self, reset_cause: int) -> None:
        self._write_config(reset_cause)
        if not self._faults_path.exists():
            self._faults_path.write_text(json.dumps(self.faults))
        deployed = (self.flash_dir / "main.py").exists() or (self.flash_dir / "main.mpy").exists()
        env = {
            **os.environ,
            "MICROPYPATH": self.config["path_deployed" if deployed else "path_source"],
            "ANKLET_SIM_CONFIG": str(self._config_path),
            "ANKLET_RESET_CAUSE": str(reset_cause),
            **self.config["env"],
        }
        if self.config["radio"]:
            self._send({"radio": 1})  # a fresh controller: the chip reset
            env["MICROPYBTUART"] = self._radio_paths.get(timeout=30)
        self._proc = subprocess.Popen(
            self.config["command"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=self.flash_dir,
            env=env,
            bufsize=0,
            preexec_fn=DIE_WITH_PARENT,  # (spawned by this process's long-lived threads only)
        )
        self.boots.append(reset_cause)

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)

    def _supervise(self) -> None:
        while not self._stop.is_set():
            time.sleep(0.02)
            with self._lock:
                proc = self._proc
                if self._stop.is_set() or proc is None or proc.poll() is None:
                    continue
                code = proc.returncode
                self.exit_codes.append(code)
                cause = {
                    EXIT_RESET: HARD_RESET,
                    EXIT_WATCHDOG: WDT_RESET,
                    EXIT_HUNG: WDT_RESET,
                    EXIT_SOFT_RESET: SOFT_RESET,
                }.get(code)
                if cause is None:
                    # The program ended (REPL requested, or it crashed): the board sits idle
                    # until power-cycled, as a real one would sit at its REPL prompt.
                    self._proc = None
                    continue
                self._spawn(cause)

    # --- the UART and the bridge -----------------------------------------------------------

    def _host_baud(self) -> int:
        """The baud rate the host set on its end of the port (the bridge chip takes it from
        the USB request; a pty carries it in its termios)."""
        try:
            speed = termios.tcgetattr(self._slave)[5]
        except (termios.error, OSError):
            return 0
        return _SPEEDS.get(speed, 0)

    def _stall_board(self, seconds: float) -> None:
        """Hold the interpreter as a blocking FIFO write holds the ESP32's MicroPython task."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                time.sleep(seconds)
            finally:
                os.kill(proc.pid, signal.SIGCONT)

    def _hold_board(self, seconds: float) -> None:
        """Keep the interpreter from running for `seconds`, from now: a board busy with
        something else, or a PC that gives the simulated board no CPU for a while."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGSTOP)
        threading.Timer(seconds, self._release_board, args=(proc,)).start()

    @staticmethod
    def _release_board(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)

    def _pump_from_board(self) -> None:
        while not self._stop.is_set():
            proc = self._proc
            if proc is None or proc.stdout is None:
                time.sleep(0.01)
                continue
            try:
                fd = proc.stdout.fileno()
                backlogged = bool(select.select([fd], [], [], 0)[0])
                data = os.read(fd, 4096)
            except (OSError, ValueError):
                data = b""
            if not data:
                time.sleep(0.005)
                continue
            if not self._link_up.is_set():
                self.stats.dropped_to_host += len(data)
                continue
            if self.uart is not None:
                self.uart.board_wrote(len(data), backlogged)
                data = self.uart.to_host(data)
            data = self._maybe_corrupt(data)
            if self.uart is None:
                self._write_master(data)
                continue
            for chunk in self.uart.paced(data):
                self._write_master(chunk)

    def _write_master(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                # Nobody is reading the port: a UART bridge would lose these bytes too.
                self.stats.dropped_to_host += len(view)
                return
            except OSError:
                return
            self.stats.to_host += n
            view = view[n:]

    def _maybe_corrupt(self, data: bytes) -> bytes:
        with self._lock:
            if not self._corrupt_budget:
                return data
            buf = bytearray(data)
            for i in range(min(len(buf), self._corrupt_budget)):
                buf[i] ^= 1 << self._rng.randrange(8)
            self.stats.corrupted += min(len(buf), self._corrupt_budget)
            self._corrupt_budget -= min(len(buf), self._corrupt_budget)
            return bytes(buf)

    def _pump_to_board(self) -> None:
        poller = select.poll()
        poller.register(self._master, select.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(50):
                continue
            try:
                data = os.read(self._master, 4096)
            except (BlockingIOError, OSError):
                time.sleep(0.01)
                continue
            if not self._link_up.is_set():
                self.stats.dropped_to_board += len(data)
                continue
            proc = self._proc
            if proc is None or proc.stdin is None:
                continue
            if self.uart is not None:
                data = self.uart.to_board(data)
            try:
                proc.stdin.write(data)
                self.stats.to_board += len(data)
            except (BrokenPipeError, OSError):
                pass


def main() -> None:
    config = json.loads(sys.argv[1])
    # The board's priority before any thread or the board exists: each inherits it (Linux
    # keeps a nice value per thread). Without the privilege nothing changes.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, int(config["nice"]))
    control = socket.socket(fileno=int(config["control_fd"]))
    Launcher(config, control).run()


if __name__ == "__main__":
    main()
