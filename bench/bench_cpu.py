"""The simulated board's CPU model against a real ESP32: pystone 1.2 on the paced interpreter.

    .venv/bin/python -m bench cpu

The model (sim/anklet_sim/cpu.py) charges each event of the interpreter's work (a frame entered
or resumed, a branch, a return, a call) at the ESP32's pystone time over the events of a pystone
pass. The first row runs the same pystone, 500 passes as in the published figure, on the paced
interpreter, timed by the board's own clock (ticks_us) as on the real board, and sets it against
the reference it was calibrated on (so it checks the pacing, not the calibration); the second,
asyncio task switches, is a check not calibrated on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.figure import Figure

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sim"))

from anklet_sim import cpu  # noqa: E402
from anklet_sim.board import MPY_DIR, micropython_command, micropython_path  # noqa: E402

AREA = "sim CPU"
PASSES = 500
TOLERANCE = 0.30

PACED = f"""
import time, cpu, pystone
cpu.start()
t0 = time.ticks_us()
pystone.pystones({PASSES})
cpu.enter()   # pay what the benchmark owes, as the next machine call would
us = time.ticks_diff(time.ticks_us(), t0)
print({PASSES} * 1e6 / us)
"""


# A second reference, closer to the firmware's work (asyncio tasks): Peter Hinch's rate.py
# (micropython-async v3/as_demos/rate.py) schedules 100 minimal coroutines that each
# `await asyncio.sleep_ms(0)`; an ESP32 at its standard clock, MicroPython v1.18: one task
# switch every 322 µs (the figure in rate.py's header; micropython-async issue #79).
ESP32_ASYNCIO_SWITCH_US = 322
RATE_S = 3

PACED_ASYNCIO = f"""
import time, cpu, asyncio
cpu.start()
count = 0
async def foo():
    global count
    while True:
        await asyncio.sleep_ms(0)
        count += 1
async def main():
    for _ in range(100):
        asyncio.create_task(foo())
    await asyncio.sleep_ms({RATE_S * 1000})
asyncio.run(main())
print({RATE_S * 1_000_000} / count)
"""


def paced_switch_us(ns_per_event: int) -> float:
    env = {
        **os.environ,
        "MICROPYPATH": micropython_path(MPY_DIR),
        "ANKLET_SIM_ESP32_NS_PER_EVENT": str(ns_per_event),
    }
    out = subprocess.run(
        [micropython_command(), "-c", PACED_ASYNCIO],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[-1])


def paced_pystones_per_s(ns_per_event: int) -> float:
    env = {
        **os.environ,
        "MICROPYPATH": f"{MPY_DIR}:.frozen",
        "ANKLET_SIM_ESP32_NS_PER_EVENT": str(ns_per_event),
    }
    out = subprocess.run(
        [micropython_command(), "-c", PACED], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.split()[-1])


def run() -> list[Figure]:
    ns_per_event = cpu.esp32_ns_per_event()
    scores = sorted(paced_pystones_per_s(ns_per_event) for _ in range(5))
    median = scores[len(scores) // 2]
    switch_us = paced_switch_us(ns_per_event)
    ref = cpu.ESP32_PYSTONES_PER_S
    low, high = ref * (1 - TOLERANCE), ref * (1 + TOLERANCE)
    return [
        Figure(
            AREA,
            f"pystone 1.2, {PASSES} passes, on the paced interpreter (median of 5)",
            f"{median:.0f} pystones/s ({median / ref - 1:+.0%}; range {scores[0]:.0f}–"
            f"{scores[-1]:.0f})",
            f"ESP32 @160 MHz: {ref:.0f} pystones/s (1602 at 240 MHz, MicroPython v1.12, "
            "micropython#6565, × 160/240)",
            f"{low:.0f}–{high:.0f} (±30 %)",
        ),
        Figure(
            AREA,
            f"asyncio task switch on the paced interpreter (rate.py, 100 coroutines, {RATE_S} s)",
            f"{switch_us:.0f} µs ({ESP32_ASYNCIO_SWITCH_US / switch_us - 1:+.0%} in speed)",
            f"ESP32, standard clock, MicroPython v1.18: {ESP32_ASYNCIO_SWITCH_US} µs "
            "(micropython-async rate.py)",
            "a check, not calibrated on",
        ),
        Figure(
            AREA,
            "ESP32 time per event of interpreter work",
            f"{ns_per_event / 1000:.2f} µs",
            f"{1e6 / ref:.0f} µs per pystone pass at 1068 pystones/s over "
            f"{cpu.events_per_pystone():.1f} events per pass (counted, this interpreter)",
        ),
    ]
