"""The firmware on the simulated board's ESP32 model (the default: UART at 115200 baud, FreeRTOS
ticks, the CPU pace calibrated by pystone): samples dropped at each link's top rate for 60 s,
CPU headroom (idle fraction), the worst time the IMU FIFO went unread against the time it
holds, and what happens at 1000 Hz over serial.

    .venv/bin/python -m bench esp32_model          # ~5 minutes

Each run is a fresh simulated board streaming over its serial port or its radio for a fixed
window (motion: still, the board's work does not depend on it); STATUS gives the samples the
board dropped (FIFO overflow), the board's log the ESP32-busy time (mpy/cpu.py: events of
firmware code x the ESP32's time per event) and the longest FIFO gap (mpy/mpu6050_chip.py).
Idle fraction: 1 - busy / wall between the first and last report of the window. Nothing here
is tuned on these figures.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.figure import Figure

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sim"))

AREA = "ESP32 model"
FIFO_SAMPLES = 1024 // 12  # the MPU-6050's FIFO, in records


async def _stream(port: str, rate_hz: int, seconds: float) -> dict[str, Any]:
    from anklet.device import CommandFailed, Device
    from anklet.transport.serial import SerialTransport

    device = Device(SerialTransport(port), command_timeout_s=5.0)
    try:
        await device.wait_ready(timeout_s=60)
        await device.set_rates(imu_rate_hz=rate_hz)
        try:
            await device.start()
        except CommandFailed as exc:
            return {"refused": str(exc).split(": ", 2)[-1]}
        await asyncio.sleep(seconds)
        status = await device.get_status()
        await device.stop()
        return {"produced": status.samples_produced, "dropped": status.samples_dropped}
    finally:
        await device.close()


async def _stream_ble(log: Path, rate_hz: int, seconds: float, cpu_pace: bool) -> dict[str, Any]:
    from anklet.device import Device
    from anklet.transport.ble import BleTransport
    from anklet_sim.ble_board import SimulatedBleBoard

    sim = SimulatedBleBoard(log.parent / "flash", motion="still", cpu_pace=cpu_pace, log_path=log)
    async with sim:
        device = Device(BleTransport(None, pair=True, central=sim.central()), command_timeout_s=5)
        try:
            # retry_open: the slow board may drop a first connection during its MTU exchange
            await device.wait_ready(timeout_s=60, retry_open=True)
            await device.set_rates(imu_rate_hz=rate_hz)
            await device.start()
            await asyncio.sleep(seconds)
            status = await device.get_status()
            await device.stop()
        finally:
            await device.close()
    return {"produced": status.samples_produced, "dropped": status.samples_dropped}


def run_board(rate_hz: int, seconds: float, cpu_pace: bool, ble: bool = False) -> dict[str, Any]:
    from anklet_sim.board import SimulatedBoard

    with tempfile.TemporaryDirectory(prefix="anklet-bench-esp32-") as name:
        log = Path(name) / "board.log"
        if ble:
            result = asyncio.run(_stream_ble(log, rate_hz, seconds, cpu_pace))
        else:
            board = SimulatedBoard(
                flash_dir=Path(name) / "flash", motion="still", cpu_pace=cpu_pace, log_path=log
            )
            with board:
                result = asyncio.run(_stream(board.port, rate_hz, seconds))
        text = log.read_text(errors="replace")
    reports = [(int(w), int(b)) for w, b in re.findall(r"cpu: wall_ms=(\d+) busy_ms=(\d+)", text)]
    window = [r for r in reports if r[0] >= reports[-1][0] - seconds * 1000] if reports else []
    if len(window) >= 2:
        (w0, b0), (w1, b1) = window[0], window[-1]
        result["idle"] = 1.0 - (b1 - b0) / max(w1 - w0, 1)
    gaps = [int(g) for g in re.findall(r"imu: worst FIFO read gap (\d+) us", text)]
    result["worst_gap_ms"] = max(gaps) / 1000 if gaps else None
    return result


def _gap_text(r: dict[str, Any], rate_hz: int) -> str:
    holds_ms = FIFO_SAMPLES * 1000 / rate_hz
    gap = r.get("worst_gap_ms")
    shown = f"{gap:.0f} ms" if gap is not None else "< 20 ms"
    return f"{shown} (the FIFO holds {holds_ms:.0f} ms at {rate_hz} Hz)"


def run() -> list[Figure]:
    figures = []
    # The fastest rate each link carries (400 Hz: 115200 baud carries no more), and 200 Hz on
    # both, each for 60 s on a fresh board with the whole ESP32 model on (the default).
    for rate_hz, ble in ((200, False), (400, False), (200, True), (1000, True)):
        link = "BLE" if ble else "serial"
        try:
            r = run_board(rate_hz, 60.0, cpu_pace=True, ble=ble)
        except Exception as exc:  # the row says so; the rest of the table still runs
            r = {"dropped": f"n/a ({type(exc).__name__}: {exc})"}
        idle = r.get("idle")
        figures.append(
            Figure(
                AREA,
                f"{rate_hz} Hz over {link} for 60 s: samples the board dropped; CPU idle",
                f"{r.get('dropped', '?')} of {r.get('produced', '?')} dropped; "
                + (f"{idle:.0%} idle" if idle is not None else "idle n/a"),
                f"worst FIFO read gap {_gap_text(r, rate_hz)}",
                "0 dropped, idle > 0",
            )
        )
    r = run_board(1000, 1.0, cpu_pace=True)
    figures.append(
        Figure(
            AREA,
            "1000 Hz over serial",
            "refused" if "refused" in r else "streamed",
            r.get("refused", "the board streamed 1000 Hz over 115200 baud"),
            "refused, naming the limit",
        )
    )
    return figures
