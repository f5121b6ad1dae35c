"""Device time on the wire: ticks_us() modulo 2**30, and wrap-safe arithmetic on it.

On the ESP32 ticks_us() already wraps at 2**30; the unix port's ticks are wider, so masking here
keeps the board and the simulated board identical. Values stay small ints: no allocation.

    t = ticks.now_us()
    if ticks.diff(t, deadline) >= 0: ...
"""

from time import ticks_us

from micropython import const

MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)
_PERIOD = const(0x40000000)


def now_us():
    # The stubs keep ticks opaque; masking to 2**30 is exactly the wrap the protocol defines.
    return ticks_us() & MASK  # pyright: ignore[reportOperatorIssue]


def diff(a, b):
    """a − b in µs, for times less than 2**29 µs (≈9 min) apart."""
    d = (a - b) & MASK
    return d - _PERIOD if d >= _HALF else d


def add(a, delta):
    return (a + delta) & MASK
