"""Device time on the wire: ticks_us() modulo 2**30, and wrap-safe arithmetic on it.

On the ESP32 ticks_us() already wraps at 2**30; the unix port's ticks are wider, so masking here
keeps the board and the simulated board identical. Values and every intermediate stay small ints
(below 2**30 on the ESP32's 32-bit build, where a larger int is an allocation): 2**30 itself is not
one, so it never appears here.

    t = ticks.now_us()
    if ticks.diff(t, deadline) >= 0: ...
"""

from time import ticks_us

from micropython import const

MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)


def now_us():
    # The stubs keep ticks opaque; masking to 2**30 is exactly the wrap the protocol defines.
    return ticks_us() & MASK  # pyright: ignore[reportOperatorIssue]


def diff(a, b):
    """a − b in µs, for times less than 2**29 µs (≈9 min) apart."""
    d = (a - b) & MASK
    return d - _HALF - _HALF if d >= _HALF else d


def add(a, delta):
    """a + delta modulo 2**30, for |delta| < 2**29 µs; a + delta itself may not be a small int."""
    s = a - _HALF + delta
    return s - _HALF if s >= _HALF else (s + _HALF) & MASK


class Uptime:
    """Milliseconds since boot, through the wrap of ticks every 2**30 µs (17.9 min): "now minus
    boot" went negative at the first wrap, on every board 17.9 min after power-on. It adds up
    the steps between reads instead, so read it at least every 9 min (STATUS: every second; the
    8 s watchdog allows no longer gap). Small ints for 12 days; a larger count is an allocation
    once a read, outside the sampling path."""

    def __init__(self):
        self._at = now_us()
        self._part_us = 0  # what the last reads added short of a whole millisecond
        self.ms = 0

    def read(self):
        t = now_us()
        self._part_us += diff(t, self._at)
        self._at = t
        whole = self._part_us // 1000
        self._part_us -= whole * 1000
        self.ms += whole
        return self.ms
