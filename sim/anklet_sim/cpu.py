"""The simulated board's CPU pace: what one event of the interpreter's work (a frame entered or
resumed, a branch taken, a return, a call; counted by the `ankletwork` module the simulated
board's MicroPython is built with) costs an ESP32_GENERIC, calibrated with pystone.

    ns = esp32_ns_per_event()     # e.g. 9863: each event of firmware code is paced to 9.9 µs
    events_per_pystone()          # what one pystone pass makes on this interpreter

Reference: MicroPython v1.12 on an ESP32 at 240 MHz scores 1602 pystones/s (pystone_lowmem,
500 passes, 312 ms; github.com/micropython/micropython/issues/6565; 1661 in issue #5673).
ESP32_GENERIC runs at 160 MHz, and the interpreter is bound by the CPU clock (the same issue:
1014 at the port's later default clock, "close to the clock frequency ratio of 160 vs 240"),
so the reference here is 1602 x 160/240 = 1068 pystones/s: 936 µs per pass. The events a pass
makes are counted on this machine's interpreter with the same pystone 1.2 (mpy/pystone.py),
less those of pystone's empty timing loop, which it subtracts from its own score. Counts do not
depend on the PC or its load, so the figure is the same everywhere the same interpreter runs.
The board side is mpy/cpu.py.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

ESP32_240MHZ_PYSTONES_PER_S = 1602  # micropython#6565, v1.12, pystone_lowmem 500 passes
ESP32_CLOCK_HZ = 160_000_000  # ESP32_GENERIC's default clock
ESP32_PYSTONES_PER_S = ESP32_240MHZ_PYSTONES_PER_S * ESP32_CLOCK_HZ / 240_000_000  # 1068

_MPY_DIR = Path(__file__).resolve().parent / "mpy"
_PASSES = 500

_COUNT = f"""
import ankletwork, pystone
def total():
    return sum(ankletwork.counts())
a = total()
pystone.pystones({_PASSES})
b = total()
for i in range({_PASSES}):   # pystone's own empty loop, which its score leaves out
    pass
c = total()
print((b - a) - (c - b))
"""


@functools.cache
def events_per_pystone() -> float:
    """Events one pystone pass makes on the simulated board's interpreter."""
    from .board import micropython_command

    env = {**os.environ, "MICROPYPATH": f"{_MPY_DIR}:.frozen"}
    out = subprocess.run(
        [micropython_command(), "-c", _COUNT], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(
            "the simulated board's MicroPython has no work counter (`ankletwork`): run `make "
            f"setup` to rebuild it ({out.stderr.strip().splitlines()[-1:]})"
        )
    return int(out.stdout.split()[-1]) / _PASSES


def esp32_ns_per_event() -> int:
    """ESP32 nanoseconds per event of firmware code: the ESP32's pystone pass over its events."""
    return round(1e9 / ESP32_PYSTONES_PER_S / events_per_pystone())
