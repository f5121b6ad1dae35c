"""Data integrity under attack, on the simulated board (the real firmware in MicroPython, serial
over a pty): the longest link drop survived with 0 samples lost, the malformed inputs each
fuzzer tried and how many escaped, and the rows lost by kill -9 of the recorder.

    python -m bench integrity
    python -m bench.bench_integrity            # the same, printed as a table

Link drops, on a DevKitC-sized board with its flash ring (the default simulated board), without
it (`flash_ring_kb=0`: RAM ring only) and with PSRAM (RAM ring only, at its cap). Serial:
`SimulatedBoard.cut_link(d)` drops every byte both ways for d seconds, once
a second of rows is written, in a session of d + 8 s. BLE: the central walks out of range for d
seconds (`radio.out_of_range(d)`: a supervision timeout on both ends, then no advertisement
reaches the central until it is back) in a session of d + 10 s. Drops are tried from short to
long and stop at the first that loses samples (the figure is the longest with 0 lost, and the
first that lost). Serial carries 400 Hz at most (115200 baud), so 1000 Hz is BLE only.
Fuzzers: seeded (tests/fuzzers.py, tests/firmware/test_board_attacks.py), so a run is
repeatable. kill -9:
`anklet log --device sim` killed at seeded random moments 4-12 s in; rows lost beyond the last
second = samples whose time is more than 1 s before the kill and that are not in samples.csv.
Not tuned on this data: the refill timeout (3 s) and the window are the code's defaults.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.figure import Figure

ROOT = Path(__file__).resolve().parent.parent
AREA = "integrity"
QUIET = "leg-raise:sets=1,reps=3,rom=40,up=1,hold=0.5,down=1,rest=5,seed=3"
# A DevKitC-sized board flashed by `anklet flash`: its RAM ring and its flash ring (`ankring`).
DROPS_S = {
    "serial": {400: (5.0, 10.0, 20.0), 200: (15.0, 30.0, 60.0)},
    "ble": {1000: (5.0, 10.0, 15.0), 200: (30.0, 60.0, 80.0)},
}
# The same board flashed without the partition (plain esptool, Thonny): its RAM ring only.
RAM_ONLY_DROPS_S = {1000: (1.0, 2.0, 3.0, 5.0), 200: (3.0, 6.0, 10.0, 15.0)}
# A board with PSRAM (sim option psram: anklet_sim.board.PSRAM_HEAP): its RAM ring takes its
# cap, 256 KB. Only the BLE drops: serial's are the same board.
PSRAM_DROPS_S = {1000: (5.0, 10.0, 15.0), 200: (30.0, 60.0)}
RAM_ONLY = {"flash_ring_kb": 0}
sys.path.insert(0, str(ROOT / "tests"))


async def _drop_session(
    tmp: Path,
    link: str,
    rate_hz: int,
    drop_s: float,
    sim_options: dict | None = None,
) -> tuple[int, int]:
    """Samples lost and refilled on a board with `sim_options` (none: a DevKitC's heap)."""
    if link == "ble":
        return await _ble_drop_session(tmp, rate_hz, drop_s, sim_options)
    from anklet.device import Device
    from anklet.recorder import SessionRecorder
    from anklet.transport.serial import SerialTransport
    from anklet_sim.board import SimulatedBoard

    board = SimulatedBoard(
        flash_dir=tmp / "flash", motion=QUIET, sim_options=dict(sim_options or {})
    )
    board.start()
    try:
        device = Device(SerialTransport(board.port))
        recorder = SessionRecorder(device, tmp / "out", imu_rate_hz=rate_hz)
        task = asyncio.create_task(recorder.run(drop_s + 8.0))
        while recorder.live.samples_written < 1.0 * rate_hz:
            await asyncio.sleep(0.05)
        board.cut_link(drop_s)
        summary = await task
        await device.close()
        return summary.lost, summary.refilled
    finally:
        board.stop()


async def _ble_drop_session(
    tmp: Path,
    rate_hz: int,
    drop_s: float,
    sim_options: dict | None = None,
) -> tuple[int, int]:
    from anklet.device import Device
    from anklet.recorder import SessionRecorder
    from anklet.transport.ble import BleTransport
    from anklet_sim.ble_board import SimulatedBleBoard

    async with SimulatedBleBoard(
        tmp / "flash", motion=QUIET, sim_options=dict(sim_options or {})
    ) as sim:
        device = Device(BleTransport(None, pair=True, central=sim.central()))
        recorder = SessionRecorder(device, tmp / "out", imu_rate_hz=rate_hz)
        task = asyncio.create_task(recorder.run(drop_s + 10.0))
        while recorder.live.samples_written < 1.0 * rate_hz and not task.done():
            await asyncio.sleep(0.05)
        sim.radio.out_of_range(drop_s)
        summary = await task
        await device.close()
        return summary.lost, summary.refilled


def _link_drops() -> list[Figure]:
    figures = []
    for link, rates in DROPS_S.items():
        for rate_hz, drops in rates.items():
            figures.append(_longest_drop(link, rate_hz, drops))
    for rate_hz, drops in RAM_ONLY_DROPS_S.items():
        figures.append(_longest_drop("ble", rate_hz, drops, RAM_ONLY))
    for rate_hz, drops in PSRAM_DROPS_S.items():
        figures.append(_longest_drop("ble", rate_hz, drops, {**RAM_ONLY, "psram": 1}))
    return figures


def _longest_drop(
    link: str,
    rate_hz: int,
    drops: tuple[float, ...],
    sim_options: dict | None = None,
) -> Figure:
    from anklet_sim.board import PSRAM_HEAP

    ram_only = bool(sim_options) and sim_options.get("flash_ring_kb") == 0
    if sim_options and sim_options.get("psram"):
        board = f"board with PSRAM ({PSRAM_HEAP} heap), RAM ring only"
    elif ram_only:
        board = "DevKitC-sized heap, RAM ring only (no ankring)"
    else:
        board = "DevKitC-sized heap + 512 KiB flash ring (anklet flash)"
    held, first_lost = 0.0, ""
    for drop_s in drops:
        with tempfile.TemporaryDirectory() as tmp:
            lost, refilled = asyncio.run(
                _drop_session(Path(tmp), link, rate_hz, drop_s, sim_options)
            )
        print(
            f"  {link} drop {drop_s} s at {rate_hz} Hz, {board}: {lost} lost, {refilled} refilled",
            file=sys.stderr,
        )
        if lost:
            first_lost = f"; {drop_s:g} s lost {lost}"
            break
        held = drop_s
    return Figure(
        AREA,
        f"longest link drop with 0 lost, {link}, {rate_hz} Hz, {board}",
        f"{held:g} s (tried {', '.join(f'{d:g}' for d in drops)} s{first_lost})",
        f"python -m bench integrity; simulated board over {link}",
        "10 s at 1000 Hz, 60 s at 200 Hz (#13)",
    )


def _fuzzers() -> list[Figure]:
    from fuzzers import fuzz_decode, fuzz_decoder

    figures = []
    tried, escapes = fuzz_decoder(seed=1, cases=20000)
    figures.append(
        Figure(
            AREA,
            "decoder fuzz: CRC-valid frames, mutated payloads",
            f"{tried} tried, {len(escapes)} escapes",
            "tests/fuzzers.py fuzz_decoder(seed=1)",
            "0 escapes",
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        tried, escapes = fuzz_decode(Path(tmp), seed=1, cases=300)
    figures.append(
        Figure(
            AREA,
            "anklet decode fuzz: forged captures",
            f"{tried} tried, {len(escapes)} escapes",
            "tests/fuzzers.py fuzz_decode(seed=1)",
            "0 escapes",
        )
    )
    return figures


def _board_fuzz() -> Figure:
    from anklet.device import CommandFailed, CommandTimeout, Device
    from anklet.transport.serial import SerialTransport
    from anklet_protocol import spec
    from anklet_sim.board import SimulatedBoard

    rng = random.Random(1)
    unsafe = (spec.Opcode.REBOOT, spec.Opcode.EXIT_TO_REPL)
    opcodes = [op for op in range(40) if op not in unsafe]
    tried = 3000

    async def main(board: SimulatedBoard) -> int:
        device = Device(SerialTransport(board.port))
        await device.wait_ready()
        await device.start()
        before = (await device.get_status()).samples_produced
        escapes = 0
        for _ in range(tried):
            opcode = rng.choice(opcodes)
            args = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 2, 4, 6, 8, 21, 40))))
            try:
                await device.command_raw(opcode, args, 5.0)
            except CommandFailed as exc:
                escapes += exc.status == spec.StatusCode.INTERNAL_ERROR
            except CommandTimeout:
                escapes += 1  # no answer at all
            if opcode == spec.Opcode.STOP:
                await device.start()
        after = (await device.get_status()).samples_produced
        await device.close()
        return escapes + (after <= before)

    with tempfile.TemporaryDirectory() as tmp:
        board = SimulatedBoard(flash_dir=Path(tmp) / "flash", motion=QUIET)
        board.start()
        try:
            escapes = asyncio.run(main(board)) + (len(board.boots) - 1)
        finally:
            board.stop()
    return Figure(
        AREA,
        "board command fuzz: random opcodes and arguments",
        f"{tried} tried, {escapes} escapes",
        "python -m bench integrity (seed 1); simulated board",
        "0 (every command answered, no reset, stream on)",
    )


def _kill_9() -> Figure:
    rng = random.Random(9)
    worst = 0
    kills = []
    for _trial in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "ANKLET_DATA_DIR": f"{tmp}/data", "ANKLET_CONFIG_DIR": f"{tmp}/c"}
            out = Path(tmp) / "s"
            proc = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "anklet"),
                    "log",
                    "--device",
                    "sim",
                    "--duration",
                    "60",
                    "--rate",
                    "400",  # the most 115200 baud carries (1000 Hz over serial is refused)
                    "--out",
                    str(out),
                    "--quiet",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            while not list(out.glob("*/session.json")):
                if proc.poll() is not None:
                    raise RuntimeError(f"anklet log ended before a session: {proc.stderr.read()}")
                time.sleep(0.05)
            meta = json.loads(next(out.glob("*/session.json")).read_text())
            started = datetime.fromisoformat(meta["started_utc"]).timestamp()
            at_s = rng.uniform(4.0, 12.0)
            while time.time() - started < at_s:
                time.sleep(0.01)
            killed = time.time()
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            lines = next(out.glob("*/samples.csv")).read_text().splitlines()
            last_t = float(lines[-1].split(",")[1]) if len(lines) > 1 else 0.0
            # Rows older than a second before the kill that did not reach the disk.
            missing = max(0, round((killed - started - 1.0 - last_t) * 400))
            worst = max(worst, missing)
            kills.append(f"{killed - started:.1f}")
            print(
                f"  kill -9 at {killed - started:.1f} s: last row {last_t:.3f} s, "
                f"{missing} rows missing beyond the last second",
                file=sys.stderr,
            )
    return Figure(
        AREA,
        "rows lost by kill -9 beyond the last second, 400 Hz (serial)",
        f"{worst} (worst of kills at {', '.join(kills)} s)",
        "python -m bench integrity; anklet log --device sim",
        "0",
    )


def run() -> list[Figure]:
    figures = _fuzzers()
    figures.append(_board_fuzz())
    figures.append(_kill_9())
    figures.extend(_link_drops())
    return figures


if __name__ == "__main__":
    for fig in run():
        print(f"{fig.name}: {fig.value}  [{fig.reference}]  target {fig.target}")
