"""The ESP32's growable heap for the simulated board: which board gets it, and its figures.

An ESP32 without PSRAM running MicroPython >= 1.21 starts a 56 KiB Python heap and adds areas
from the ESP-IDF heap when an allocation fails after a collection, at least doubling the heap
each time (py/gc.c), while NimBLE takes its memory from the same ESP-IDF heap at
ble.active(True). MicroPython's own growth code runs in the simulated board's interpreter
(sim/cmodules/ankletwork/heap_model.c); this module gives it an ESP32's figures, each from a
published measurement (docs/HIL.md, "The heap model"):

- the first area: 56 KiB (ports/esp32/mpconfigport.h MICROPY_GC_INITIAL_HEAP_SIZE), 56 000
  bytes usable and 1 952 used by MicroPython at boot, with 57 344 reported as the largest block
  the ESP-IDF heap could add (`micropython.mem_info()` on an ESP32_GENERIC, v1.23);
- the ESP-IDF heap once that area is taken: a largest free block that TLSF reports as 57 344,
  and about 40 KB left after the heap has grown once (micropython PR #13219, dpgeorge, on an
  ESP32: "after the heap is grown one time the size is 111936 bytes, with about 40k left for
  the IDF"): regions of 58 368 and 39 936 bytes;
- NimBLE: about 32 KB on an ESP32 (Moddable-OpenSource/moddable#640, measured: free heap from
  about 45 KB to about 11 KB when BLE starts).

The default for an ESP32 without PSRAM; `sim?heap=fixed` (the sim option `heap: fixed`) and a
fast board (`anklet sim --fast`) keep the interpreter's fixed heap. What the emulated hardware
allocates stays in its own area (the CPU model's enter() and leave() switch the allocator,
mpy/cpu.py), so the emulator's garbage neither collects nor grows the firmware's heap. Boards
with PSRAM (the Python heap is the PSRAM, megabytes) and the ESP32-S3 and -C3 (no published
figure for their NimBLE share) keep a fixed heap whatever is asked: `applies()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HeapProfile:
    first_area_bytes: int  #: the initial area MicroPython takes at boot
    first_area_used: int  #: ... of which MicroPython itself holds this much at boot
    idf_free_regions: tuple[int, ...]  #: the ESP-IDF heap's free regions once that area is taken
    nimble_bytes: int  #: what ble.active(True) takes from them

    def env(self) -> str:
        """ANKLET_SIM_HEAP for mpy/simboot.py."""
        regions = ",".join(str(r) for r in self.idf_free_regions)
        return f"{self.first_area_bytes} {self.first_area_used} {regions} {self.nimble_bytes}"


ESP32_GENERIC = HeapProfile(
    first_area_bytes=56 * 1024,
    first_area_used=1_952,
    idf_free_regions=(58_368, 39_936),
    nimble_bytes=32_768,
)


def applies(sim_options: dict[str, Any], fast: bool = False) -> bool:
    """An ESP32 without PSRAM gets the growable heap, unless `heap=fixed` or a fast board."""
    chip = str(sim_options.get("chip", "ESP32")).replace("-", "").upper()
    asked = sim_options.get("heap", "fixed" if fast else "esp32")
    return chip == "ESP32" and not sim_options.get("psram") and asked == "esp32"
