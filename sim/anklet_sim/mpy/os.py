# The simulated board's `os`: the unix port's, plus uname() as MicroPython's ESP32 port answers
# it (the unix port has none), for the chip in the sim config ("chip": ESP32, ESP32S3 or
# ESP32C3; default ESP32). The machine string is "<MICROPY_HW_BOARD_NAME> with
# <MICROPY_HW_MCU_NAME>", as the port's modos.c builds it; firmware/board.py picks its pin map
# from it.
#
#     import os
#     os.uname().machine        # 'Generic ESP32 module with ESP32'
from uos import *  # noqa: F403

_BOARD_NAMES = {
    "ESP32": "Generic ESP32 module",
    "ESP32S3": "Generic ESP32S3 module",
    "ESP32C3": "ESP32C3 module",
}


class _Uname:
    def __init__(self, chip):
        self.sysname = chip.lower()
        self.nodename = chip.lower()
        self.release = "1.22.0"
        self.version = "v1.22.0 on 2023-12-27 (simulated)"
        self.machine = "%s with %s" % (_BOARD_NAMES.get(chip, chip + " module"), chip)


def uname():
    import world

    return _Uname(world.get().chip)
