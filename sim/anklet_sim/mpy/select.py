# The simulated board's `select`: the unix port's, except that a poll with a timeout waits in
# whole FreeRTOS ticks, as on the ESP32. There, poll() checks its objects, then blocks in
# MICROPY_EVENT_POLL_HOOK (ports/esp32/mpconfigport.h: ulTaskNotifyTake(pdFALSE, 1), one
# tick, 10 ms at ESP-IDF's CONFIG_FREERTOS_HZ=100) until the timeout has passed: it ends on the
# first tick after the timeout, unless I/O wakes it first. asyncio waits here, so on a board
# `await asyncio.sleep_ms(4)` takes about 10 ms. (time.sleep_ms is exact on the ESP32:
# mp_hal_delay_ms busy-waits the last part of a tick; it is not changed.)
#
#     import select
#     p = select.poll(); p.register(sys.stdin, select.POLLIN)
#     p.ipoll(4)        # returns at the next 10 ms tick boundary after 4 ms (or on input)
#
# $ANKLET_SIM_TICK_MS (set by the launcher; unset or 0 with --fast): the tick; 0 leaves
# timeouts as asked.
import os
import time

import cpu
from uselect import *  # noqa: F403  (POLLIN, POLLOUT, ... as the port has them)
from uselect import poll as _poll

_TICK_MS = int(os.getenv("ANKLET_SIM_TICK_MS") or 0)


def _to_tick(timeout_ms, now=None):
    """The wait that ends on the first tick boundary at or after `timeout_ms` from now."""
    if timeout_ms is None or timeout_ms <= 0 or not _TICK_MS:
        return timeout_ms
    if now is None:
        now = time.ticks_ms()
    end = now + timeout_ms
    end += -end % _TICK_MS
    return end - now


class _TickPoll:
    def __init__(self):
        self._p = _poll()

    def register(self, obj, eventmask=POLLIN | POLLOUT):  # noqa: F405
        self._p.register(obj, eventmask)

    def unregister(self, obj):
        self._p.unregister(obj)

    def modify(self, obj, eventmask):
        self._p.modify(obj, eventmask)

    def poll(self, timeout=-1):
        timeout = self._wait(timeout)
        try:
            return self._p.poll(timeout)
        finally:
            cpu.leave()

    def ipoll(self, timeout=-1, flags=0):
        timeout = self._wait(timeout)
        try:
            return self._p.ipoll(timeout, flags)
        finally:
            cpu.leave()

    def _wait(self, timeout):
        # The firmware's code up to here is paid for first (cpu.py); that time came out of the
        # wait it asked for.
        slept_ms = cpu.enter() // 1000
        if timeout is not None and timeout > 0:
            timeout = timeout - slept_ms if timeout > slept_ms else 0
        return _to_tick(timeout)


def poll():
    return _TickPoll() if _TICK_MS or cpu.ON else _poll()
