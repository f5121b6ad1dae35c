"""BLE throughput at 1000 Hz on the simulated board: how many bytes the radio carried, how often
the firmware's `gatts_notify` met full buffers (ENOMEM retries), and whether the session stayed
complete, through the BLE stack the simulator runs (since issue #11: MicroPython's NimBLE host
on an ESP32-paced bumble controller).

    .venv/bin/python -m bench ble                 # BENCH_BLE_S seconds (default 60)
    .venv/bin/python -m bench.bench_ble --seconds 30

ENOMEM retries come from the board's own counter (STATUS `tx_retries`, read by the recorder
at the end of the session); throughput from the radio's count of notification bytes it put on
the air. Only attributes both the old emulation and the real stack's radio have are used, so
the same module measured both (bench/results.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.figure import Figure

AREA = "ble"
RATE_HZ = 1000
MOTION = "leg-raise:sets=2,reps=8,rom=45,up=1,hold=0.5,down=1.2,rest=10,seed=3"


async def _session(seconds: float, tmp: Path) -> dict[str, Any]:
    from anklet.device import Device
    from anklet.recorder import SessionRecorder
    from anklet.transport.ble import BleTransport
    from anklet_sim.ble_board import SimulatedBleBoard

    sim = SimulatedBleBoard(tmp / "flash", motion=MOTION)
    await sim.start()
    device = Device(BleTransport("Anklet-FFEE", central=sim.central(), pair=True))
    recorder = SessionRecorder(device, tmp / "out", imu_rate_hz=RATE_HZ)
    stats = sim.radio.stats
    bytes0, packets0 = stats.notified_bytes, stats.notifications
    wall0, proc0 = time.monotonic(), time.process_time()
    try:
        summary = await recorder.run(seconds)
    finally:
        wall = time.monotonic() - wall0
        proc = time.process_time() - proc0
        await device.close()
        await sim.stop()
    meta = json.loads((summary.folder / "session.json").read_text())
    status = meta.get("board_status") or {}
    return {
        "seconds": wall,
        "samples": summary.samples,
        "expected": summary.expected,
        "lost": summary.lost,
        "completeness_pct": summary.completeness_pct,
        "bytes": stats.notified_bytes - bytes0,
        "packets": stats.notifications - packets0,
        "tx_retries": status.get("tx_retries"),
        "max_queue": getattr(stats, "max_queue", None),
        "process_cpu_pct": 100.0 * proc / wall,
    }


def measure(seconds: float) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="anklet-bench-ble-") as name:
        return asyncio.run(_session(seconds, Path(name)))


def figures(r: dict[str, Any]) -> list[Figure]:
    wall = r["seconds"]
    retries = r["tx_retries"]
    return [
        Figure(
            AREA,
            f"{RATE_HZ} Hz session: samples complete",
            f"{r['completeness_pct']:.3f} %",
            f"{r['samples']} of {r['expected']}, {r['lost']} lost, over {wall:.0f} s",
            "100 %",
        ),
        Figure(
            AREA,
            "notification throughput",
            f"{r['bytes'] / wall / 1000:.1f} kB/s",
            f"{r['packets'] / wall:.0f} notifications/s; host process CPU "
            f"{r['process_cpu_pct']:.1f} % (the radio is its own process)",
        ),
        Figure(
            AREA,
            "gatts_notify ENOMEM retries",
            "n/a" if retries is None else f"{retries / wall:.1f} /s",
            f"{retries} over the session; most packets waiting in the controller: {r['max_queue']}",
        ),
    ]


def run(seconds: float | None = None) -> list[Figure]:
    seconds = seconds or float(os.environ.get("BENCH_BLE_S", "60"))
    return figures(measure(seconds))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    parser = argparse.ArgumentParser(description="BLE throughput and ENOMEM retries at 1000 Hz")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    result = measure(args.seconds)
    print(json.dumps(result))
    for fig in figures(result):
        print(f"{fig.name}: {fig.value} ({fig.reference})")
