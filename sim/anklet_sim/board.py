"""The simulated board: the unchanged firmware in the real MicroPython interpreter, its serial
port on a pseudo-terminal, emulated sensors behind its `machine` module.

    with SimulatedBoard(flash_dir=tmp, motion="leg-raise:sets=3,reps=10") as sim:
        serial.Serial(sim.port)            # exactly as one opens /dev/ttyUSB0
        sim.cut_link(2.0)                  # the cable is pulled for 2 s
        sim.power_cycle()                  # reset: a new boot, same flash

The launcher plays the ESP32's UART0 and the USB-serial bridge chip: it moves bytes between the
interpreter's stdio and the pty, and is where link faults are injected. With the ESP32 model on
(the default; `fast=True` turns it off) it behaves as that pair does (uart.UartModel): bytes
move at the line rate, a host whose port is set to another baud rate than the board's reads and
sends garbage, and a write that overfills the 128-byte TX FIFO holds the interpreter for whole
10 ms ticks. Inside the interpreter the model makes asyncio wait in 10 ms ticks
(mpy/select.py); with `cpu_pace=True` it also runs the firmware's own code at an
ESP32_GENERIC's pace, calibrated with pystone (cpu.py, mpy/cpu.py).

A reset (machine.reset(), the watchdog) ends the interpreter with an exit code; the launcher
starts it again, like a board rebooting.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import subprocess
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anklet.firmware_source import firmware_dir

from .cpu import cpu_factor
from .motion import check_spec as motion_check
from .priority import run_ahead, run_this_thread_ahead
from .radio import BackgroundRadio
from .uart import UartModel

MPY_DIR = Path(__file__).resolve().parent / "mpy"
FIRMWARE_DIR = firmware_dir()

# Exit codes of the interpreter: how the simulated board ended (see mpy/machine.py).
EXIT_RESET = 3  # machine.reset() / hard reset
EXIT_WATCHDOG = 4  # machine.WDT not fed in time
EXIT_SOFT_RESET = 5  # machine.soft_reset()
EXIT_HUNG = -12  # killed by the emulated watchdog (SIGUSR2): firmware hung outside `machine`

# termios speed constants -> baud
_SPEEDS = {
    getattr(termios, f"B{rate}"): rate
    for rate in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1500000, 2000000)
    if hasattr(termios, f"B{rate}")
}

# Reset causes as MicroPython's machine module numbers them on the ESP32.
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5

# An ESP32 without PSRAM gives MicroPython a heap of about 160 KB (110 KB free once the code
# is loaded); the emulated chips, motion models and radio (~60 KB), and the modules' bytecode
# (.py compiled on the board), live in the same heap here, so the simulated board gets more.
# +40 KB since the ESP32 model: its select/os/cpu modules (7 KB here) and the firmware's serial
# pacing, MPU-6500 support and per-chip pin maps (10 KB of bytecode on this 64-bit build, about
# half that on the ESP32) would otherwise come out of the ring, which sizes itself from what is
# free (31 blocks instead of 172 at 200 Hz). How the ESP32's own heap starts and grows is not
# modelled (see docs/HIL.md).
DEFAULT_HEAP = "360k"
#: A board with PSRAM (ESP32-WROVER, most ESP32-S3 boards) running MicroPython's SPIRAM image:
#: its heap is the PSRAM, 2-8 MB (ports/esp32/main.c), so the ring takes its cap
#: (firmware/ring.py _MAX_BYTES). Any heap from ~1 MB gives the same ring; 4 MB is a WROVER's.
PSRAM_HEAP = "4m"

#: The board's ticks run `clock_offset_us` (a sim option) ahead of the PC's monotonic clock
#: (mpy/time.py): below a day, far from the unix port's 2**62 ticks period.
MAX_CLOCK_OFFSET_US = 86_400_000_000


#: How long a Python thread may hold the GIL while another waits for it (CPython's default is
#: 5 ms). A board's bytes pass through threads of the process that launched it, which also runs
#: the host (the recorder, or a test). On a machine whose cores are all busy, every GIL handover
#: also waits for the OS to run the thread that takes it, and at 5 ms those waits add up to
#: seconds: the board's serial stream stalled and its IMU FIFO overflowed (three test files on
#: 2 workers beside two busy loops: 4 of 24 tests failed at 5 ms, none at 0.5 ms, in half the
#: time; docs/ARCHITECTURE.md, "Tests").
GIL_SWITCH_S = 0.0005


def hand_the_gil_over_quickly() -> None:
    """Let the board's threads in this process take the GIL within GIL_SWITCH_S."""
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_S))


def _pdeathsig() -> Any:
    """A function for the child, before exec, that makes it die with this process, even when
    this process is killed (kill -9 of `anklet log --device sim` must not leave an orphan
    board). Linux only (prctl PR_SET_PDEATHSIG); resolved here, as importing in a forked child
    of a threaded process can deadlock. None elsewhere: the board lives until stopped."""
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


_DIE_WITH_PARENT = _pdeathsig()

#: MicroPython's unix port with the real `bluetooth` module (NimBLE), built by `make setup`
#: (sim/build_micropython.py) into the checkout's build/; ANKLET_MICROPYTHON names another
#: (Anklet installed from a wheel: build one in a checkout, or point at yours). Its asyncio,
#: not frozen there, is the library directory beside its bin/.
BUILT_MICROPYTHON = Path(__file__).resolve().parents[2] / "build/micropython/bin/micropython"


def micropython_command() -> str:
    """The interpreter the simulated board and the firmware tests run: ANKLET_MICROPYTHON, else
    the one `make setup` built (with `bluetooth`)."""
    chosen = os.environ.get("ANKLET_MICROPYTHON") or str(BUILT_MICROPYTHON)
    if not Path(chosen).exists():
        raise FileNotFoundError(
            f"MicroPython with bluetooth is missing ({chosen}): run `make setup` in an Anklet "
            "checkout, or set ANKLET_MICROPYTHON to a unix-port micropython built with it"
        )
    return chosen


def micropython_path(*dirs: Path | str) -> str:
    """MICROPYPATH for `dirs`, then the interpreter's own library (asyncio) and frozen code."""
    library = Path(micropython_command()).resolve().parent.parent / "lib"
    return ":".join([*(str(d) for d in dirs), str(library), ".frozen"])


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
    #: False: the ESP32 model (line rate, baud match, TX FIFO ticks); True: as fast as the PC.
    fast: bool = False
    #: Also run the firmware's code at an ESP32_GENERIC's pystone pace (cpu.py). Off by default:
    #: with it the firmware drops samples from 200 Hz on (docs/HIL.md), which is either the
    #: firmware's real cost on a 160 MHz ESP32 or the limit of a pystone-only calibration;
    #: profiling the firmware under it comes first.
    cpu_pace: bool = False
    #: Called at every boot: a fresh BLE controller (a chip reset); returns the pty the
    #: interpreter's NimBLE speaks H4 on. None: a radio of the board's own that nobody hears.
    radio_boot: Callable[[], str] | None = None

    def __post_init__(self) -> None:
        motion_check(self.motion)  # a bad spec is the caller's one-line error, not a dead board
        offset = self.sim_options.get("clock_offset_us", 0)
        if not isinstance(offset, int) or not 0 <= offset < MAX_CLOCK_OFFSET_US:
            raise ValueError(
                f"clock_offset_us={offset!r}: give whole microseconds from 0 to "
                f"{MAX_CLOCK_OFFSET_US - 1}"
            )
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
        self.uart: UartModel | None = None
        self._own_radio: BackgroundRadio | None = None

    # --- lifetime --------------------------------------------------------------------------

    def __enter__(self) -> SimulatedBoard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> str:
        """Power the board on; returns the serial port path to open."""
        hand_the_gil_over_quickly()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        attrs = termios.tcgetattr(self._slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        if not self.fast:
            self.uart = UartModel(host_baud=self._host_baud, stall=self._stall_board)
        # The exercise runs on from power-on: a reboot does not restart the workout.
        self._epoch_ns = time.time_ns()
        # (not a with-block: the log lives as long as the board)
        self._log = open(self.log_file, "ab", buffering=0)  # noqa: SIM115
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
    def log_file(self) -> Path:
        """Where the board's stderr goes: `log_path`, or beside its flash folder."""
        return self.log_path or self.flash_dir.parent / f"{self.flash_dir.name}.log"

    def log_tail(self, lines: int = 20) -> str:
        """The end of the board's stderr (tracebacks, watchdog messages); "" if there is none."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def clock_offset_us(self) -> int:
        """How far this board's ticks_us() runs ahead of the PC's CLOCK_MONOTONIC (µs)."""
        return int(self.sim_options.get("clock_offset_us", 0))

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
            # The board's clock origin against the PC's monotonic clock (mpy/time.py).
            "ANKLET_SIM_CLOCK_OFFSET_US": str(self.clock_offset_us),
            # asyncio's waits end on 10 ms FreeRTOS ticks (mpy/select.py); 0: as asked.
            "ANKLET_SIM_TICK_MS": "0" if self.fast else "10",
            # The firmware's code at an ESP32_GENERIC's pace (cpu.py, mpy/cpu.py); 0: the PC's.
            "ANKLET_SIM_CPU_FACTOR": f"{cpu_factor():.1f}" if self.cpu_pace else "0",
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
            # The signal comes when the *thread* that spawned the board ends: only the main
            # thread and the supervisor live as long as the board.
            preexec_fn=_DIE_WITH_PARENT if self._long_lived_thread() else None,
        )
        run_ahead(self._proc.pid)
        self.boots.append(reset_cause)

    def _long_lived_thread(self) -> bool:
        current = threading.current_thread()
        return current is threading.main_thread() or current.name == "_supervise"

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)

    def _supervise(self) -> None:
        run_this_thread_ahead()
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
        run_this_thread_ahead()
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
        run_this_thread_ahead()
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
