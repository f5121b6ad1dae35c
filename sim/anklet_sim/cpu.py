"""The simulated board's CPU pace: how much slower than this PC's MicroPython an ESP32_GENERIC
runs the firmware's code, measured with pystone.

    factor = cpu_factor()         # e.g. 380: the interpreter's own code is paced 380x slower
    esp32_pystones_per_s(...)     # what pystone scores on the paced interpreter (bench)

Reference: MicroPython v1.12 on an ESP32 at 240 MHz scores 1602 pystones/s (pystone_lowmem,
500 passes, 312 ms; github.com/micropython/micropython/issues/6565; 1661 in issue #5673).
ESP32_GENERIC runs at 160 MHz, and the interpreter is bound by the CPU clock (the same issue:
1014 at the port's later default clock, "close to the clock frequency ratio of 160 vs 240"),
so the reference here is 1602 x 160/240 = 1068 pystones/s. The host's figure is measured with
the same pystone 1.2 (mpy/pystone.py) on this machine's MicroPython, in CPU seconds of the
process, so a busy machine does not make the model faster or slower; it is measured once per
process. The board side is mpy/cpu.py.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

ESP32_240MHZ_PYSTONES_PER_S = 1602  # micropython#6565, v1.12, pystone_lowmem 500 passes
ESP32_CLOCK_HZ = 160_000_000  # ESP32_GENERIC's default clock
ESP32_PYSTONES_PER_S = ESP32_240MHZ_PYSTONES_PER_S * ESP32_CLOCK_HZ / 240_000_000  # 1068

_PYSTONE = Path(__file__).resolve().parent / "mpy" / "pystone.py"
_CALIBRATION_LOOPS = 40_000  # ~0.1 s of CPU on a PC


def _cpu_seconds(command: list[str]) -> tuple[float, str]:
    """Run `command`; its user+system CPU seconds and its output."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode})")
    return usage.ru_utime + usage.ru_stime, out


@functools.cache
def host_pystones_per_cpu_s() -> float:
    from .board import micropython_command

    command = [micropython_command(), str(_PYSTONE)]
    start_s, _ = _cpu_seconds([*command, "1"])  # the interpreter's own start-up
    total_s, _ = _cpu_seconds([*command, str(_CALIBRATION_LOOPS)])
    return _CALIBRATION_LOOPS / max(total_s - start_s, 1e-3)


def cpu_factor() -> float:
    """How many times slower than this PC the ESP32 runs MicroPython code."""
    return host_pystones_per_cpu_s() / ESP32_PYSTONES_PER_S
