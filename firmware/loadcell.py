"""The load cell: polls the HX711 without blocking and queues tared counts with device times.

    cell = LoadCell(hx711, offset=cfg["load_offset"], scale=cfg["load_scale"])
    cell.poll()                          # from a task every few ms: reads when data is ready
    n = cell.take_into(buf, at, max_n, t_end)   # pack queued samples older than t_end

Counts on the wire are raw − offset (tare is applied on the board); newtons = counts / scale.
"""

from array import array

import anklet_wire as W
import messages
import ticks
from micropython import const

_QUEUE = const(32)  # 0.4 s at 80 Hz: the sampler takes them every drain (≤ 100 ms)
_LOAD_SIZE = const(12)  # anklet_wire.LOAD_SAMPLE_SIZE, checked below

if W.LOAD_SAMPLE_SIZE != _LOAD_SIZE:
    raise ImportError("anklet_wire.LOAD_SAMPLE_SIZE changed: update loadcell._LOAD_SIZE")


class LoadCell:
    def __init__(self, hx711, offset=0, scale=1.0):
        self.hx = hx711
        self.offset = offset
        self.scale = scale
        self.index = 0  # load samples read since boot
        self.last_ready_us = ticks.now_us()
        # Smoothed time between conversions (1/8 gain), 0 until two were seen: what the chip
        # really does, which its RATE pin decides (many breakouts tie it low: 10 Hz).
        self.period_us = 0
        self._seen = 0
        self._idx = array("i", bytes(4 * _QUEUE))
        self._t = array("i", bytes(4 * _QUEUE))
        self._counts = array("i", bytes(4 * _QUEUE))
        self._head = 0
        self._tail = 0
        self.overruns = 0  # samples dropped because the sampler did not take them in time
        self.queueing = False  # only while streaming
        # Averaging for tare and calibration: raw sums over the next `_want` conversions.
        self._want = 0
        self._got = 0
        self._sum = 0
        self.latest_raw = 0

    def poll(self):
        """Read one conversion if the HX711 has one ready. Returns True if it read one."""
        if not self.hx.is_ready():
            return False
        raw = self.hx.read_raw()
        t = ticks.now_us()
        gap = ticks.diff(t, self.last_ready_us)
        if self._seen and 0 < gap < 1000000:
            p = self.period_us
            self.period_us = p + (gap - p) // 8 if p else gap
        self._seen = 1
        self.last_ready_us = t
        self.latest_raw = raw
        if self._got < self._want:
            self._sum += raw
            self._got += 1
        if self.queueing:
            if self._head - self._tail >= _QUEUE:
                self._tail += 1
                self.overruns += 1
            slot = self._head % _QUEUE
            self._idx[slot] = self.index
            self._t[slot] = t
            self._counts[slot] = raw - self.offset
            self._head += 1
        self.index += 1
        return True

    def take_into(self, buf, at, max_n, t_end):
        """Pack queued samples taken before `t_end` into buf[at:]; returns how many."""
        n = 0
        while n < max_n and self._tail < self._head:
            slot = self._tail % _QUEUE
            if ticks.diff(self._t[slot], t_end) >= 0:
                break
            messages.pack_load(buf, at + n * _LOAD_SIZE, self._idx[slot], self._t[slot],
                               self._counts[slot])
            self._tail += 1
            n += 1
        return n

    def clear(self):
        self._tail = self._head

    def start_average(self, n):
        self._want = n
        self._got = 0
        self._sum = 0

    def average_done(self):
        return self._got >= self._want

    def average_raw(self):
        return self._sum // self._got if self._got else 0

    def stale_ms(self):
        return ticks.diff(ticks.now_us(), self.last_ready_us) // 1000

    def fault_ms(self, rate_hz):
        """How long without a conversion is a fault: two periods and 100 ms, of the configured
        rate or of the one measured, whichever is slower (RATE tied low: 10 Hz, not 80)."""
        if not self.period_us:
            # Not measured yet: the chip may be strapped to 10 Hz, whose first conversion
            # comes after 4 periods of settling (datasheet: 400 ms).
            return 4 * 100 + 100
        period_ms = 1000 // rate_hz
        measured_ms = self.period_us // 1000
        if measured_ms > period_ms:
            period_ms = measured_ms
        return 2 * period_ms + 100
