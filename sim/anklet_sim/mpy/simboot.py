# The simulated board's ROM: what an ESP32 does at power-on, for the unix interpreter.
# Run by the launcher (anklet_sim.board) with the flash directory as the working directory and
# MICROPYPATH = <this folder>:<firmware or deployed files>:.frozen. Runs boot.py, then main.py
# (the files at the flash's root, as a board does, or firmware/'s modules), then, as a board does
# when main.py returns or fails, serves the REPL (repl.py) on the port.
import os
import sys
import time

# A board's ROM bootloader and MicroPython's start-up take time before main.py runs (about
# 1 s on an ESP32); the launcher asks for it with boot_ms (default 0: tests boot at once).
_boot_ms = int(os.getenv("ANKLET_SIM_BOOT_MS") or 0)
if _boot_ms:
    time.sleep_ms(_boot_ms)
del _boot_ms

# The emulated hardware exists before the firmware runs, as a board's does: load and build it
# now, so that its code and state come out of the heap before the firmware measures what is
# free (it sizes its ring buffer from that) and not out of the app's share afterwards. (On an
# ESP32 the BLE stack's buffers are not on the MicroPython heap at all.)
# asyncio too: a board has it frozen in flash (no heap); here it is loaded from
# build/micropython/lib, so its bytecode is made now rather than counted as the app's.
import asyncio  # noqa: E402, F401

import bluetooth  # noqa: E402
import esp32  # noqa: E402, F401  (built in on a board: its flash partitions)
import machine  # noqa: E402, F401
import world  # noqa: E402

world.get()
_radio = bluetooth.BLE()  # the one radio: BLE() returns this instance from now on
del _radio
del bluetooth, world

import cpu  # noqa: E402

# The radio's calls go into the NimBLE host, C code the work counter does not see: each costs
# one call event, as a native function does (cpu.py). So do the firmware's @micropython.viper
# functions (CRC-32, COBS, byte copies), machine code on both.

fresh = set(sys.modules), list(sys.path)


def run_script(name):
    """Run boot.py or main.py as the ROM does: the file at the flash's root (the working
    directory) as __main__; without one (firmware/ run from the repository), the module of that
    name on the path. A failure is printed, as a board prints it, and the REPL follows."""
    try:
        with open(name + ".py") as f:
            source = f.read()
    except OSError:
        source = None
    try:
        if source is None:
            __import__(name)
        else:
            exec(compile(source, name + ".py", "exec"), {"__name__": "__main__"})
            del source
    except ImportError as exc:
        if source is not None or str(exc) != "no module named '%s'" % name:
            sys.print_exception(exc)
    except Exception as exc:  # noqa: BLE001  (a board reports the failure and offers the REPL)
        sys.print_exception(exc)


# From here the heap is an ESP32's (anklet_sim/heap.py, when the launcher asks): the firmware
# finds the 56 KiB area a fresh ESP32 has, the emulated hardware kept out of it, and the heap
# grows from a model of the ESP-IDF heap that NimBLE shares.
_heap = (os.getenv("ANKLET_SIM_HEAP") or "").split()
if _heap:
    import ankletwork  # noqa: E402

    ankletwork.heap_begin(
        int(_heap[0]), int(_heap[1]), [int(r) for r in _heap[2].split(",")], int(_heap[3])
    )
    del ankletwork
del _heap

cpu.free_imports()  # a board gets the firmware compiled (.mpy): compiling here is free
cpu.start()  # from here the firmware's code runs at the ESP32's pace
run_script("boot")  # optional, as on a real board
run_script("main")  # runs the application; returns only when it asks for the REPL

import repl  # noqa: E402  (only now: until the app returns, the heap is the app's)

repl.run(*fresh, run_script)
