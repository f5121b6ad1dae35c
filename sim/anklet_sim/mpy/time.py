# The simulated board's `time`: the unix port's, with the board's own clock origin. The unix
# port's ticks_us() is the PC's CLOCK_MONOTONIC (ports/unix/unix_mphal.c), the same clock as
# the host's time.monotonic(), so two simulated boards would read the same ticks at the same
# instant; two ESP32s never do (each counts from its own power-on). With
# $ANKLET_SIM_CLOCK_OFFSET_US (set by the launcher from the sim option `clock_offset_us`) the
# board's ticks run that far ahead of the PC's: the known truth a two-board test checks its
# clock fits against (device_us = monotonic_us + offset, modulo the 2**30 wire ticks).
#
#     import time
#     time.ticks_us()       # CLOCK_MONOTONIC µs + ANKLET_SIM_CLOCK_OFFSET_US
import os

from utime import *  # noqa: F403  (sleep_ms, ticks_diff, ticks_add, time_ns ... as the port has them)
from utime import sleep as _sleep
from utime import sleep_ms as _sleep_ms
from utime import sleep_us as _sleep_us
from utime import ticks_ms as _ticks_ms
from utime import ticks_us as _ticks_us

# Sleeps the firmware made: with interrupts disabled nothing else can stretch a moment on an
# ESP32, so the HX711 model asks whether the firmware slept during a clock pulse, rather than
# trusting the wall time, which the PC's scheduler stretches (hx711_chip.py).
# Only the firmware's thread counts: the simulator's watchdog thread sleeps in its own loop.
sleeps = [0]
try:
    from _thread import get_ident as _thread_id
except ImportError:  # a build without threads: one thread

    def _thread_id():
        return 0


_FIRMWARE_THREAD = _thread_id()


def sleep(seconds):
    if _thread_id() == _FIRMWARE_THREAD:
        sleeps[0] += 1
    _sleep(seconds)


def sleep_ms(ms):
    if _thread_id() == _FIRMWARE_THREAD:
        sleeps[0] += 1
    _sleep_ms(ms)


def sleep_us(us):
    if _thread_id() == _FIRMWARE_THREAD:
        sleeps[0] += 1
    _sleep_us(us)


_OFFSET_US = int(os.getenv("ANKLET_SIM_CLOCK_OFFSET_US") or 0)

if _OFFSET_US:
    # Monotonic µs plus an offset below 2**62 stays a small int (no allocation, no wrap
    # within the port's 2**62 ticks period), so ticks_diff/ticks_add work unchanged.

    def ticks_us():
        return _ticks_us() + _OFFSET_US

    def ticks_ms():
        return (_ticks_us() + _OFFSET_US) // 1000

else:
    ticks_us = _ticks_us
    ticks_ms = _ticks_ms
