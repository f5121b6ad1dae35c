"""The simulated board: the unchanged firmware in the real MicroPython interpreter, its serial
port on a pseudo-terminal, emulated sensors behind its `machine` module.

    with SimulatedBoard(flash_dir=tmp, motion="leg-raise:sets=3,reps=10") as sim:
        serial.Serial(sim.port)            # exactly as one opens /dev/ttyUSB0
        sim.cut_link(2.0)                  # the cable is pulled for 2 s
        sim.power_cycle()                  # reset: a new boot, same flash

The launcher (launcher.py, a process of its own at the board's priority) plays the ESP32's UART0
and the USB-serial bridge chip: it moves bytes between the interpreter's stdio and the pty, and
is where link faults are injected; this class drives it. With the ESP32 model on
(the default; `fast=True` turns it off) it behaves as that pair does (uart.UartModel): bytes
move at the line rate, a host whose port is set to another baud rate than the board's reads and
sends garbage, and a write that overfills the 128-byte TX FIFO holds the interpreter for whole
10 ms ticks. Inside the interpreter the model makes asyncio wait in 10 ms ticks
(mpy/select.py) and runs the firmware's own code at an ESP32_GENERIC's pace: the interpreter
counts its work, and each event costs the ESP32's time, calibrated with pystone (cpu.py,
mpy/cpu.py).

A reset (machine.reset(), the watchdog) ends the interpreter with an exit code; the launcher
starts it again, like a board rebooting.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
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
from anklet_protocol import spec

from .compiled import compiled_firmware
from .cpu import esp32_ns_per_event
from .heap import ESP32_GENERIC
from .heap import applies as heap_applies
from .launcher import (  # noqa: F401 (EXIT_RESET, PWRON_RESET: for the tests)
    DIE_WITH_PARENT,
    EXIT_RESET,
    HARD_RESET,
    PWRON_RESET,
    LinkStats,
)
from .motion import check_spec as motion_check
from .priority import ahead_of_this_process
from .radio import BackgroundRadio

MPY_DIR = Path(__file__).resolve().parent / "mpy"
FIRMWARE_DIR = firmware_dir()

# The interpreter's heap. On an ESP32 without PSRAM (the default board) it is the emulated
# hardware's alone: the firmware gets the ESP32's growable heap beside it (heap.py). Where the
# heap is fixed (`heap=fixed`, `--fast`, the ESP32-S3 and -C3 profiles) firmware and hardware
# share it: an ESP32 without PSRAM gives MicroPython about 110 KB once it has grown, and the
# emulated chips, motion models and radio (~60 KB) live in the same heap, so the simulated
# board gets more. +40 KB since the ESP32 model: its select/os/cpu modules and the firmware's
# serial pacing, MPU-6500 support and per-chip pin maps would otherwise come out of the ring,
# which sizes itself from what is free (31 blocks instead of 172 at 200 Hz). +4 KB for the
# emulated `esp32` module (its flash partitions), built into the ESP32's firmware, not on its
# heap.
DEFAULT_HEAP = "364k"
#: A board with PSRAM (ESP32-WROVER, most ESP32-S3 boards) running MicroPython's SPIRAM image:
#: its heap is the PSRAM, 2-8 MB (ports/esp32/main.c), so the ring takes its cap
#: (firmware/ring.py _MAX_BYTES). Any heap from ~1 MB gives the same ring; 4 MB is a WROVER's.
PSRAM_HEAP = "4m"

#: The board's ticks run `clock_offset_us` (a sim option) ahead of the PC's monotonic clock
#: (mpy/time.py), modulo the 2**30 ticks period; below a day.
MAX_CLOCK_OFFSET_US = 86_400_000_000


#: How long a Python thread may hold the GIL while another waits for it (CPython's default is
#: 5 ms). A serial board's own radio (its BLE controller, BackgroundRadio) runs in a thread of
#: the process that drives the board, which also runs the host (the recorder, or a test); a
#: `sim:ble` board's radio is a process of its own (radio_process.py). On a machine whose cores
#: are all busy, every GIL handover also waits for the OS to run the thread that takes it, and
#: at 5 ms those waits add up to seconds (when the launcher's threads were here too, three test
#: files on 2 workers beside two busy loops: 4 of 24 tests failed at 5 ms, none at 0.5 ms, in
#: half the time; docs/ARCHITECTURE.md, "Tests").
GIL_SWITCH_S = 0.0005


def hand_the_gil_over_quickly() -> None:
    """Let the board's threads in this process take the GIL within GIL_SWITCH_S."""
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_S))


#: MicroPython's unix port with the real `bluetooth` module (NimBLE), built by `make setup`
#: (sim/build_micropython.py) into the checkout's build/; ANKLET_MICROPYTHON names another
#: (Anklet installed from a wheel: build one in a checkout, or point at yours). Its asyncio,
#: not frozen there, is the library directory beside its bin/.
BUILT_MICROPYTHON = Path(__file__).resolve().parents[2] / "build/micropython/bin/micropython"


class MicroPythonMissing(FileNotFoundError):
    """The interpreter the simulated board runs is not there (a wheel does not carry it)."""


def micropython_command() -> str:
    """The interpreter the simulated board and the firmware tests run: ANKLET_MICROPYTHON, else
    the one `make setup` built (with `bluetooth`)."""
    chosen = os.environ.get("ANKLET_MICROPYTHON") or str(BUILT_MICROPYTHON)
    if not Path(chosen).exists():
        raise MicroPythonMissing(
            f"MicroPython with bluetooth is missing ({chosen}): run `make setup` in an Anklet "
            "checkout, or set ANKLET_MICROPYTHON to a unix-port micropython built with it"
        )
    return chosen


def micropython_path(*dirs: Path | str) -> str:
    """MICROPYPATH for `dirs`, then the interpreter's own library (asyncio) and frozen code."""
    library = Path(micropython_command()).resolve().parent.parent / "lib"
    return ":".join([*(str(d) for d in dirs), str(library), ".frozen"])


@dataclass
class SimulatedBoard:
    flash_dir: Path
    motion: str = "leg-raise"
    unique_id: str = "24a160c0ffee"
    #: The interpreter's heap (None: PSRAM_HEAP for a board with `psram`, else DEFAULT_HEAP).
    heapsize: str | None = None
    faults: dict[str, Any] = field(default_factory=dict)
    sim_options: dict[str, Any] = field(default_factory=dict)
    log_path: Path | None = None
    firmware_dir: Path = FIRMWARE_DIR
    #: False: the ESP32 model (line rate, baud match, TX FIFO ticks, CPU pace); True: as fast as
    #: the PC.
    fast: bool = False
    #: With the ESP32 model, run the firmware's code at an ESP32_GENERIC's pace: each event of
    #: interpreter work at the ESP32's pystone time per event (cpu.py, mpy/cpu.py). False keeps
    #: the rest of the model and the PC's speed.
    cpu_pace: bool = True
    #: Called at every boot: a fresh BLE controller (a chip reset); returns the MICROPYBTUART
    #: the interpreter's NimBLE speaks H4 on (`unix:@name`, a socket its radio listens on).
    #: None: a radio of the board's own that nobody hears.
    radio_boot: Callable[[], str] | None = None

    def __post_init__(self) -> None:
        motion_check(self.motion)  # a bad spec is the caller's one-line error, not a dead board
        if self.heapsize is None:
            self.heapsize = PSRAM_HEAP if self.sim_options.get("psram") else DEFAULT_HEAP
        offset = self.sim_options.get("clock_offset_us", 0)
        if not isinstance(offset, int) or not 0 <= offset < MAX_CLOCK_OFFSET_US:
            raise ValueError(
                f"clock_offset_us={offset!r}: give whole microseconds from 0 to "
                f"{MAX_CLOCK_OFFSET_US - 1}"
            )
        self.flash_dir = Path(self.flash_dir)
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        self.port = ""
        self._launcher: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._call_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._last_state: dict[str, Any] = {
            "stats": {},
            "boots": [],
            "exit_codes": [],
            "running": False,
            "uart": None,
        }
        self._own_radio: BackgroundRadio | None = None

    # --- lifetime --------------------------------------------------------------------------

    def __enter__(self) -> SimulatedBoard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> str:
        """Power the board on; returns the serial port path to open. Raises MicroPythonMissing
        before anything is opened."""
        micropython_command()
        hand_the_gil_over_quickly()
        master, slave = os.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.port = os.ttyname(slave)
        if self.radio_boot is None:
            address = ":".join(self.unique_id[i : i + 2] for i in range(0, 12, 2)).upper()
            self._own_radio = BackgroundRadio(self._hci_path, address)
            self.radio_boot = self._own_radio.boot
        ours, theirs = socket.socketpair()
        config = self._launcher_config(master, slave, theirs.fileno())
        package_root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, *sys.path])}
        with open(self.log_file, "ab") as log:  # the launcher's own errors go with the board's
            self._launcher = self._start_launcher(
                config, env, log, (master, slave, theirs.fileno())
            )
        for fd in (master, slave):
            os.close(fd)
        theirs.close()
        self._control = ours
        threading.Thread(target=self._read_control, daemon=True, name="board-control").start()
        self._call("state")  # the first boot has begun
        return self.port

    def _start_launcher(
        self, config: dict[str, Any], env: dict[str, str], log: Any, fds: tuple[int, ...]
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "anklet_sim.launcher", json.dumps(config)],
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
            stderr=log,
            env=env,
            # With this process, even when it is killed (kill -9 of `anklet log --device
            # sim` must not leave an orphan board); only a long-lived thread's death is this
            # process's (Linux ties the signal to the thread that spawned the child). Else the
            # launcher still ends with its driver: it reads EOF from `ours`.
            preexec_fn=DIE_WITH_PARENT if self._long_lived_thread() else None,
        )

    def stop(self) -> None:
        launcher, control = self._launcher, self._control
        if launcher is not None and control is not None:
            with contextlib.suppress(OSError, queue.Empty):
                self._call("stop")
            try:
                launcher.wait(timeout=5)
            except subprocess.TimeoutExpired:
                launcher.kill()
                launcher.wait()
            control.close()
        self._launcher = self._control = None
        if self._own_radio is not None:
            self._own_radio.stop()
            self._own_radio = None
            self.radio_boot = None

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

    # --- what the launcher saw -------------------------------------------------------------

    @property
    def running(self) -> bool:
        return bool(self._state()["running"])

    @property
    def stats(self) -> LinkStats:
        """What the bridge moved, dropped or damaged (a snapshot)."""
        return LinkStats(**self._state()["stats"])

    @property
    def boots(self) -> list[int]:
        """The reset cause of each boot, in order."""
        return list(self._state()["boots"])

    @property
    def exit_codes(self) -> list[int]:
        """How each boot's interpreter ended (EXIT_RESET, EXIT_WATCHDOG, ...)."""
        return list(self._state()["exit_codes"])

    @property
    def uart(self) -> UartState | None:
        """The UART model's counters (a snapshot); None on a fast board (no model)."""
        uart = self._state()["uart"]
        return None if uart is None else UartState(**uart)

    # --- faults and events -----------------------------------------------------------------

    def cut_link(self, seconds: float | None = None) -> None:
        """Drop every byte both ways, for `seconds` or until restore_link()."""
        self._call("cut_link", seconds=seconds)

    def restore_link(self) -> None:
        self._call("restore_link")

    def hold(self, seconds: float) -> None:
        """Stop the board's interpreter at once and let it go on after `seconds`: a board that
        answers late (busy, or a PC that gives it no CPU for that long)."""
        self._call("hold", seconds=seconds)

    def corrupt(self, nbytes: int) -> None:
        """Flip one random bit in each of the next `nbytes` bytes sent to the host."""
        self._call("corrupt", nbytes=nbytes)

    def set_faults(self, **faults: Any) -> None:
        """Change sensor faults while running (the board polls its fault file)."""
        self.faults.update(faults)
        self._call("set_faults", faults=faults)

    def stalls_begun(self) -> int:
        """How many `stall_ms` freezes have begun on the board (written as each begins)."""
        marks = self.flash_dir.parent / f".{self.flash_dir.name}.faults.json.stalls"
        try:
            return len(marks.read_text().splitlines())
        except FileNotFoundError:
            return 0

    def power_cycle(self, cause: int = HARD_RESET) -> None:
        """Kill the interpreter and boot again (like pressing EN on the board). The new boot
        takes `motion` and `sim_options` as they are now (a test may change the exercise)."""
        self._call(
            "power_cycle",
            cause=cause,
            motion=self.motion,
            sim_options=self.sim_options,
            env=self._board_env(),
        )

    # --- internals -------------------------------------------------------------------------

    @property
    def _hci_path(self) -> Path:
        # names the board's radio (its HCI socket's name is made from it): one per flash folder
        return self.flash_dir.parent / f".{self.flash_dir.name}.hci"

    def _launcher_config(self, master: int, slave: int, control_fd: int) -> dict[str, Any]:
        deployed_code = [str(self.flash_dir), str(self.flash_dir / "lib")]
        return {
            "master_fd": master,
            "slave_fd": slave,
            "control_fd": control_fd,
            "flash_dir": str(self.flash_dir),
            "log_file": str(self.log_file),
            "unique_id": self.unique_id,
            "motion": self.motion,
            "faults": self.faults,
            "sim_options": self.sim_options,
            # The exercise runs on from power-on: a reboot does not restart the workout.
            "epoch_ns": time.time_ns(),
            "fast": self.fast,
            # The board runs ahead of this process (priority.py): the launcher takes this nice
            # value first thing, and the board it starts inherits it.
            "nice": ahead_of_this_process(),
            "baud": spec.SERIAL_BAUD,
            "radio": self.radio_boot is not None,
            "command": [
                micropython_command(),
                "-X",
                f"heapsize={self.heapsize}",
                str(MPY_DIR / "simboot.py"),
            ],
            "path_deployed": micropython_path(MPY_DIR, *deployed_code),
            # firmware/ as a board gets it, .mpy (compiled.py): compiling on the board would
            # grow the ESP32's heap (heap.py) where a real board's does not.
            "path_source": micropython_path(
                MPY_DIR, str(compiled_firmware(Path(self.firmware_dir), micropython_command()))
            ),
            "env": self._board_env(),
        }

    def _board_env(self) -> dict[str, str]:
        """The interpreter's environment for the board's options (read at each boot)."""
        return {
            "ANKLET_SIM_BOOT_MS": str(int(self.sim_options.get("boot_ms", 0))),
            # An ESP32's growable heap (heap.py); empty: the interpreter's fixed heap.
            "ANKLET_SIM_HEAP": (
                ESP32_GENERIC.env() if heap_applies(self.sim_options, self.fast) else ""
            ),
            # The board's clock origin against the PC's monotonic clock (mpy/time.py).
            "ANKLET_SIM_CLOCK_OFFSET_US": str(self.clock_offset_us),
            # asyncio's waits end on 10 ms FreeRTOS ticks (mpy/select.py); 0: as asked.
            "ANKLET_SIM_TICK_MS": "0" if self.fast else "10",
            # The firmware's code at an ESP32_GENERIC's pace (cpu.py, mpy/cpu.py); 0: the
            # PC's.
            "ANKLET_SIM_ESP32_NS_PER_EVENT": (
                str(esp32_ns_per_event()) if self.cpu_pace and not self.fast else "0"
            ),
        }

    def _long_lived_thread(self) -> bool:
        current = threading.current_thread()
        return current is threading.main_thread()

    def _read_control(self) -> None:
        control = self._control
        assert control is not None
        with contextlib.suppress(OSError, ValueError):
            for line in control.makefile("r", encoding="utf-8"):
                message = json.loads(line)
                if "radio" in message:
                    # Answered from a thread of its own: radio_boot may wait on an event loop
                    # that is itself waiting on this launcher (a power cycle).
                    threading.Thread(target=self._boot_radio, daemon=True).start()
                else:
                    self._replies.put(message)
        self._replies.put({"gone": True})  # EOF: the launcher ended (stopped, or crashed)

    def _boot_radio(self) -> None:
        assert self.radio_boot is not None
        self._send({"radio_path": self.radio_boot()})

    def _send(self, message: dict[str, Any]) -> None:
        control = self._control
        if control is None:
            raise OSError("the simulated board is not running")
        with self._send_lock:
            control.sendall((json.dumps(message) + "\n").encode())

    def _call(self, op: str, **args: Any) -> dict[str, Any]:
        with self._call_lock:
            self._send({"op": op, **args})
            reply = self._replies.get(timeout=60)
        if "gone" in reply:
            raise OSError(
                f"the simulated board's launcher has ended; its log ends:\n{self.log_tail()}"
            )
        self._last_state = reply["state"]
        return reply

    def _state(self) -> dict[str, Any]:
        """The launcher's counters now; after stop(), as they were at the end."""
        if self._control is None:
            return self._last_state
        return self._call("state")["state"]


@dataclass(frozen=True)
class UartState:
    """The UART model's counters (uart.UartModel), as the launcher reports them."""

    garbled_bytes: int
    stalls: int
    stalled_s: float
    board_baud: int
