"""The simulated board: the unchanged firmware in the real MicroPython interpreter, its serial
port on a pseudo-terminal, emulated sensors behind its `machine` module.

    with SimulatedBoard(flash_dir=tmp, motion="leg-raise:sets=3,reps=10") as sim:
        serial.Serial(sim.port)            # exactly as one opens /dev/ttyUSB0
        sim.cut_link(2.0)                  # the cable is pulled for 2 s
        sim.power_cycle()                  # reset: a new boot, same flash

The launcher plays the USB-serial bridge chip: it moves bytes between the interpreter's stdio
and the pty, and is where link faults are injected. A reset (machine.reset(), the watchdog)
ends the interpreter with an exit code; the launcher starts it again, like a board rebooting.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import termios
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .radio import BackgroundRadio

MPY_DIR = Path(__file__).resolve().parent / "mpy"
REPO_ROOT = Path(__file__).resolve().parents[3]
FIRMWARE_DIR = Path(os.environ.get("ANKLET_FIRMWARE_DIR", REPO_ROOT / "firmware"))

# Exit codes of the interpreter: how the simulated board ended (see mpy/machine.py).
EXIT_RESET = 3  # machine.reset() / hard reset
EXIT_WATCHDOG = 4  # machine.WDT not fed in time
EXIT_SOFT_RESET = 5  # machine.soft_reset()
EXIT_HUNG = -12  # killed by the emulated watchdog (SIGUSR2): firmware hung outside `machine`

# Reset causes as MicroPython's machine module numbers them on the ESP32.
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5

# An ESP32 without PSRAM gives MicroPython a heap of about 160 KB (110 KB free once the code
# is loaded); the emulated chips, motion models and radio (~60 KB), and the modules' bytecode
# (.py compiled on the board), live in the same heap here, so the simulated board gets more.
DEFAULT_HEAP = "320k"


def _run_ahead(pid: int) -> None:
    """A board is a real-time device (its IMU fills an 85 ms FIFO at 1000 Hz whether or not
    the interpreter gets the CPU), so it runs ahead of ordinary work when allowed to (root or
    CAP_SYS_NICE); otherwise nothing changes."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, -5)


#: MicroPython's unix port with the real `bluetooth` module (NimBLE), built by `make setup`
#: (hil/sim/build_micropython.py); its asyncio, not frozen there, is a library directory.
BUILT_MICROPYTHON = REPO_ROOT / "build" / "micropython" / "bin" / "micropython"
BUILT_LIB = REPO_ROOT / "build" / "micropython" / "lib"


def micropython_command() -> str:
    """The interpreter the simulated board and the firmware tests run: ANKLET_MICROPYTHON, else
    the one `make setup` built (with `bluetooth`)."""
    chosen = os.environ.get("ANKLET_MICROPYTHON") or str(BUILT_MICROPYTHON)
    if not Path(chosen).exists():
        raise FileNotFoundError(
            f"MicroPython with bluetooth is missing ({chosen}): run `make setup`"
        )
    return chosen


def micropython_path(*dirs: Path | str) -> str:
    """MICROPYPATH for `dirs`, then the interpreter's own library (asyncio) and frozen code."""
    return ":".join([*(str(d) for d in dirs), str(BUILT_LIB), ".frozen"])


@dataclass
class LinkStats:
    """What the bridge moved, dropped or damaged."""

    to_host: int = 0
    to_board: int = 0
    dropped_to_host: int = 0
    dropped_to_board: int = 0
    corrupted: int = 0


@dataclass
class SimulatedBoard:
    flash_dir: Path
    motion: str = "leg-raise"
    unique_id: str = "24a160c0ffee"
    heapsize: str = DEFAULT_HEAP
    faults: dict[str, Any] = field(default_factory=dict)
    sim_options: dict[str, Any] = field(default_factory=dict)
    log_path: Path | None = None
    firmware_dir: Path = FIRMWARE_DIR
    #: Called at every boot: a fresh BLE controller (a chip reset); returns the pty the
    #: interpreter's NimBLE speaks H4 on. None: a radio of the board's own that nobody hears.
    radio_boot: Callable[[], str] | None = None

    def __post_init__(self) -> None:
        self.flash_dir = Path(self.flash_dir)
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        self.stats = LinkStats()
        self.boots: list[int] = []  # reset cause of each boot
        self.exit_codes: list[int] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._master = -1
        self._slave = -1
        self.port = ""
        self._stop = threading.Event()
        self._link_up = threading.Event()
        self._link_up.set()
        self._corrupt_budget = 0
        self._rng = random.Random(1)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._log = None
        self._epoch_ns = 0
        self._own_radio: BackgroundRadio | None = None

    # --- lifetime --------------------------------------------------------------------------

    def __enter__(self) -> SimulatedBoard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> str:
        """Power the board on; returns the serial port path to open."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        attrs = termios.tcgetattr(self._slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        # The exercise runs on from power-on: a reboot does not restart the workout.
        self._epoch_ns = time.time_ns()
        log_path = self.log_path or self.flash_dir.parent / f"{self.flash_dir.name}.log"
        self._log = open(log_path, "ab", buffering=0)  # noqa: SIM115 (lives as long as the board)
        if self.radio_boot is None:
            address = ":".join(self.unique_id[i : i + 2] for i in range(0, 12, 2)).upper()
            self._own_radio = BackgroundRadio(self._hci_path, address)
            self.radio_boot = self._own_radio.boot
        self._spawn(PWRON_RESET)
        for target in (self._pump_from_board, self._pump_to_board, self._supervise):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)
        return self.port

    def stop(self) -> None:
        self._stop.set()
        self._kill()
        for thread in self._threads:
            thread.join(timeout=2)
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1
        if self._own_radio is not None:
            self._own_radio.stop()
            self._own_radio = None
            self.radio_boot = None
        if self._log:
            self._log.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # --- faults and events -----------------------------------------------------------------

    def cut_link(self, seconds: float | None = None) -> None:
        """Drop every byte both ways, for `seconds` or until restore_link()."""
        self._link_up.clear()
        if seconds is not None:
            threading.Timer(seconds, self._link_up.set).start()

    def restore_link(self) -> None:
        self._link_up.set()

    def corrupt(self, nbytes: int) -> None:
        """Flip one random bit in each of the next `nbytes` bytes sent to the host."""
        with self._lock:
            self._corrupt_budget += nbytes

    def set_faults(self, **faults: Any) -> None:
        """Change sensor faults while running (the board polls its fault file)."""
        self.faults.update(faults)
        self._write_config(None)
        tmp = self.flash_dir.parent / f".{self.flash_dir.name}.faults.tmp"
        tmp.write_text(json.dumps(self.faults))
        tmp.replace(self._faults_path)

    def power_cycle(self, cause: int = HARD_RESET) -> None:
        """Kill the interpreter and boot again (like pressing EN on the board)."""
        with self._lock:
            self._kill()
            self._spawn(cause)

    # --- internals -------------------------------------------------------------------------

    @property
    def _config_path(self) -> Path:
        return self.flash_dir.parent / f".{self.flash_dir.name}.sim.json"

    @property
    def _hci_path(self) -> Path:
        return self.flash_dir.parent / f".{self.flash_dir.name}.hci"

    @property
    def _faults_path(self) -> Path:
        return self.flash_dir.parent / f".{self.flash_dir.name}.faults.json"

    def _write_config(self, reset_cause: int | None) -> None:
        config = {
            "unique_id": self.unique_id,
            "motion": self.motion,
            "faults": self.faults,
            "faults_file": str(self._faults_path),
            "motion_epoch_ns": self._epoch_ns,
            **self.sim_options,
        }
        if reset_cause is not None:
            config["reset_cause"] = reset_cause
        self._config_path.write_text(json.dumps(config))

    def _module_path(self) -> str:
        deployed = (self.flash_dir / "main.py").exists() or (self.flash_dir / "main.mpy").exists()
        code = (
            [str(self.flash_dir), str(self.flash_dir / "lib")]
            if deployed
            else [str(self.firmware_dir)]
        )
        return micropython_path(MPY_DIR, *code)

    def _spawn(self, reset_cause: int) -> None:
        self._write_config(reset_cause)
        if not self._faults_path.exists():
            self._faults_path.write_text(json.dumps(self.faults))
        env = {
            **os.environ,
            "MICROPYPATH": self._module_path(),
            "ANKLET_SIM_CONFIG": str(self._config_path),
            "ANKLET_RESET_CAUSE": str(reset_cause),
            "ANKLET_SIM_BOOT_MS": str(int(self.sim_options.get("boot_ms", 0))),
        }
        if self.radio_boot is not None:
            env["MICROPYBTUART"] = self.radio_boot()
        self._proc = subprocess.Popen(
            [micropython_command(), "-X", f"heapsize={self.heapsize}", str(MPY_DIR / "simboot.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=self.flash_dir,
            env=env,
            bufsize=0,
        )
        _run_ahead(self._proc.pid)
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
                if proc is None or proc.poll() is None:
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

    def _pump_from_board(self) -> None:
        while not self._stop.is_set():
            proc = self._proc
            if proc is None or proc.stdout is None:
                time.sleep(0.01)
                continue
            try:
                data = os.read(proc.stdout.fileno(), 4096)
            except (OSError, ValueError):
                data = b""
            if not data:
                time.sleep(0.005)
                continue
            if not self._link_up.is_set():
                self.stats.dropped_to_host += len(data)
                continue
            data = self._maybe_corrupt(data)
            self._write_master(data)

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
        import select

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
            try:
                proc.stdin.write(data)
                self.stats.to_board += len(data)
            except (BrokenPipeError, OSError):
                pass
