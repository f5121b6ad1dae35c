# MicroPython freeze manifest: the Anklet firmware built into an ESP32 image, so its bytecode,
# strings and constants stay in flash; only its module, class and function objects take heap
# (as .mpy files on the filesystem the code takes ~64 KB of the ~110 KB an ESP32 without PSRAM
# has, in the 64-bit bench). Build (docs/FLASHING.md, "Firmware frozen into the image"):
#
#     cd micropython/ports/esp32
#     make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/anklet/firmware/manifest.py
#
# main.py is left out: the board runs main.py from its filesystem, never a frozen one; copy it
# there. A module on the filesystem (or in a deploy slot) is found before its frozen twin, so
# `anklet deploy` still works on such an image (its .mpy files take the heap again).
#
# This file is read by MicroPython's build (tools/manifestfile.py), which defines include()
# and module(); it is not imported on the board.
# ruff: noqa: F821
# pyright: reportUndefinedVariable=false

include("$(PORT_DIR)/boards/manifest.py")  # the port's own frozen modules (asyncio, ...)

for name in (
    "anklet_wire",
    "app",
    "battery",
    "ble_link",
    "ble_secrets",
    "board",
    "bootguard",
    "bytecopy",
    "capacity",
    "commands",
    "config",
    "framing",
    "hx711",
    "loadcell",
    "messages",
    "mpu6050",
    "replflag",
    "ring",
    "sampler",
    "serial_link",
    "spill",
    "streamer",
    "ticks",
    "version",
):
    module(name + ".py")  # paths are relative to this file's folder
