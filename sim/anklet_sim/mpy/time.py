# The simulated board's `time`: the unix port's, with the board's own clock origin. The unix
# port's ticks_us() is the PC's CLOCK_MONOTONIC (ports/unix/unix_mphal.c), the same clock as
# the host's time.monotonic(), so two simulated boards would read the same ticks at the same
# instant; two ESP32s never do (each counts from its own power-on). With
# $ANKLET_SIM_CLOCK_OFFSET_US (set by the launcher from the sim option `clock_offset_us`) the
# board's ticks run that far ahead of the PC's: the known truth a two-board test checks its
# clock fits against (device_us = monotonic_us + offset, modulo the 2**30 wire ticks).
#
#     import time
#     time.ticks_us()       # (CLOCK_MONOTONIC µs + ANKLET_SIM_CLOCK_OFFSET_US) mod 2**30
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
    # This is a 32-bit interpreter, as the ESP32 is: ticks wrap at 2**30 and a small int ends
    # below 2**30, so the offset is added modulo 2**30 without an intermediate beyond it (that
    # would be an allocation on every clock read the firmware makes).
    _HALF = 1 << 29
    _OFF_US = _OFFSET_US % (_HALF << 1) - _HALF
    _OFF_MS = (_OFFSET_US // 1000) % (_HALF << 1) - _HALF

    def _wrap(t, off):
        s = t - _HALF + off  # t + offset - 2**30, within ±2**30
        return s if s >= 0 else s + _HALF + _HALF

    def ticks_us():
        return _wrap(_ticks_us(), _OFF_US)

    def ticks_ms():
        # Within 1 ms of (monotonic µs + offset) // 1000: the port's µs ticks wrap every 18 min
        # here, so milliseconds come from its own ms ticks.
        return _wrap(_ticks_ms(), _OFF_MS)

else:
    ticks_us = _ticks_us
    ticks_ms = _ticks_ms
