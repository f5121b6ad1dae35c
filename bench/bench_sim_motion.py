"""The simulated board's motion models (sim/anklet_sim/mpy/motion.py) inside the board's own
interpreter: µs per sample of each model, next to a plain loop of six `math.sin` per sample
measured in the same run. The emulated IMU computes every sample it clocks, so at 1000 Hz a
model's cost comes out of the 1000 µs the firmware and the emulator share on the PC.

    .venv/bin/python -m bench sim_motion          # a few seconds

Simulated data only (the models' own output; the CSV model replays the small real fixture
tests/fixtures/uci_s1_e1_u2_fast_set.csv). tests/sim/test_motion.py checks the values are
finite; the cost is a figure of this machine, so it lives here, not in a test.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from anklet_sim.board import micropython_command, micropython_path

from bench.figure import Figure

ROOT = Path(__file__).resolve().parent.parent
SIM_MPY = ROOT / "sim" / "anklet_sim" / "mpy"
UCI = ROOT / "tests" / "fixtures" / "uci_s1_e1_u2_fast_set.csv"
AREA = "simulator"
SAMPLES = 3000
TARGET_US = 150  # 15 % of a 1000 Hz period
MODELS = {
    "leg-raise": "leg-raise:sets=2,reps=3,rom=60,up=1.0,hold=1.0,down=1.5,rest=5,sway=3,"
    "noise=0.02,seed=7",
    "jumps": "jumps:series=1,jumps=3,drop=0.43,contact=0.45,flight=0.33,lead=1,seed=3",
    "csv replay": f"csv:path={UCI},loop=1",
}

SCRIPT = """
import json, math, time, motion
N = {samples}
def per_sample(fn):
    t0 = time.ticks_us()
    for i in range(N):
        fn(i * 0.001)
    return time.ticks_diff(time.ticks_us(), t0) / N
def plain(t):
    return (math.sin(t), math.sin(t + 1), math.sin(t + 2),
            math.sin(t + 3), math.sin(t + 4), math.sin(t + 5))
out = {{"plain": per_sample(plain)}}
for name, spec in {models!r}.items():
    out[name] = per_sample(motion.from_spec(spec).sample)
print(json.dumps(out))
"""


def run() -> list[Figure]:
    script = SCRIPT.format(samples=SAMPLES, models=MODELS)
    env = {**os.environ, "MICROPYPATH": micropython_path(SIM_MPY)}
    result = subprocess.run(
        [micropython_command(), "-X", "heapsize=4m", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        return [Figure(AREA, "motion models under MicroPython", "failed", result.stderr[-200:])]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    plain = out["plain"]
    return [
        Figure(
            AREA,
            f"motion model '{name}': µs/sample under MicroPython ({SAMPLES} samples)",
            f"{out[name]:.1f} µs",
            f"six math.sin per sample, same run: {plain:.1f} µs ({out[name] / plain:.1f}×)",
            f"≤ {TARGET_US} µs",
        )
        for name in MODELS
    ]
