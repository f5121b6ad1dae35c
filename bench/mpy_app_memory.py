# Runs under MicroPython for bench_firmware.py: the heap the running firmware uses.
#
#     cd FLASH_DIR && BENCH_OUT=out.json BENCH_SECONDS=5 MICROPYPATH=<sim mpy>:firmware:.frozen \
#         micropython -X heapsize=... bench/mpy_app_memory.py > /dev/null
#
# Boots as firmware/main.py does (the app, whose App takes the ring once the radio is up) on
# the simulated board, streams at the rate in FLASH_DIR/config.json for BENCH_SECONDS, and
# writes the heap figures to BENCH_OUT (stdout is the board's serial port: frames). With
# BENCH_PROBE set it only measures what the emulated parts (machine, world, bluetooth) take,
# and stops.
import gc
import json
import os
import sys

gc.collect()
base = gc.mem_alloc()
import asyncio  # noqa: E402  (frozen on a board: no heap there; counted apart here)

import bluetooth  # noqa: E402  (the emulated parts first, to count them apart)
import machine  # noqa: E402, F401
import world  # noqa: E402

world.get()
# bluetooth.BLE() is a singleton, as on a board: made here, counted with the emulated parts.
bluetooth.BLE()
gc.collect()
emulator = gc.mem_alloc() - base
out_path = os.getenv("BENCH_OUT")
if os.getenv("BENCH_PROBE"):
    with open(out_path, "w") as f:
        json.dump({"emulator_bytes": emulator, "base_bytes": base}, f)
    sys.exit(0)

import app  # noqa: E402
import board  # noqa: E402
import capacity  # noqa: E402
import ring  # noqa: E402, F401  (loaded with the code, as App needs it)

gc.collect()
code = gc.mem_alloc() - base - emulator
heap_total = gc.mem_alloc() + gc.mem_free()
a = app.App(board)
gc.collect()
after_init = gc.mem_alloc()
seconds = float(os.getenv("BENCH_SECONDS") or "5")
# Every key made now: after the run the app's garbage fills the heap, and the figures must not
# need memory then (on a tight heap the report itself would be what fails).
figures = {
    key: 0
    for key in (
        "live_bytes", "free_after_collect", "peak_bytes", "lowest_free", "heap_total",
        "base_bytes", "emulator_bytes", "code_bytes", "after_init_bytes", "ring_bytes",
        "ring_slots", "ring_slot_size", "rate_hz", "seconds", "produced", "dropped",
        "frames_sent", "streaming",
    )
}  # fmt: skip
blocks = {"200": 0, "1000": 0}
figures["samples_per_block"] = blocks
max_frame = min(link.max_frame for link in a.links)
blocks["200"] = capacity.samples(max_frame, 200, a.cfg.values["load_rate_hz"])[0]
blocks["1000"] = capacity.samples(max_frame, 1000, a.cfg.values["load_rate_hz"])[0]


async def watch():
    task = asyncio.create_task(a.main())
    peak = 0
    low_free = heap_total
    steps = int(seconds * 20)
    for _ in range(steps):
        await asyncio.sleep_ms(50)
        used = gc.mem_alloc()
        if used > peak:
            peak = used
        free = gc.mem_free()
        if free < low_free:
            low_free = free
    gc.collect()
    figures["live_bytes"] = gc.mem_alloc()
    figures["free_after_collect"] = gc.mem_free()
    figures["peak_bytes"] = peak
    figures["lowest_free"] = low_free
    task.cancel()


asyncio.run(watch())
rate = a.cfg.values["imu_rate_hz"]
max_frame = min(link.max_frame for link in a.links)
blocks = {}
for hz in (200, 1000):
    per_block = capacity.samples(max_frame, hz, a.cfg.values["load_rate_hz"])[0]
    blocks[str(hz)] = per_block
figures.update(
    {
        "heap_total": heap_total,
        "base_bytes": base,
        "emulator_bytes": emulator,
        "code_bytes": code,
        "after_init_bytes": after_init,
        "ring_bytes": a.ring.nbytes,
        "ring_slots": a.ring.slots,
        "ring_slot_size": a.ring.slot_size,
        "samples_per_block": blocks,
        "rate_hz": rate,
        "seconds": seconds,
        "produced": a.sampler.produced,
        "dropped": a.sampler.dropped,
        "frames_sent": sum(s.frames_sent for s in a.streamers),
        "streaming": a.streaming,
    }
)
with open(out_path, "w") as f:
    json.dump(figures, f)
sys.exit(0)
