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
