"""The app brings the radio up before it takes the sample ring's buffers.

On an ESP32 running MicroPython >= 1.21 the Python heap starts small and grows on demand from
the ESP-IDF heap, which NimBLE also draws on when `ble.active(True)` brings it up; gc.mem_free()
counts what the heap could still add. A ring sized from that and taken first leaves NimBLE
short: an ESP32-C3 with 40 KB taken before ble.active(True) panicked (micropython#14293). The
simulated board models that heap (tests/sim/test_heap_model.py), but not this snippet's bare
interpreter, so this checks the order itself, on the real app under MicroPython with the
emulated board."""

from __future__ import annotations

import json

ORDER = """
import sys, json
import bluetooth as real_bluetooth

order = []
radio = real_bluetooth.BLE()


class Radio:
    # The real radio, but activating it only notes when: no controller is attached here.
    def active(self, *args):
        if args and args[0]:
            order.append("radio up")
        return False

    def __getattr__(self, name):
        return getattr(radio, name)


class Bluetooth:
    def BLE(self):
        return Radio()

    def __getattr__(self, name):
        return getattr(real_bluetooth, name)


sys.modules["bluetooth"] = Bluetooth()

import ring

real_reserve = ring.reserve


def reserve(*args):
    order.append("ring taken")
    return real_reserve(*args)


ring.reserve = reserve

import app, board

a = app.App(board)
print(json.dumps({"order": order, "ring_bytes": a.ring.nbytes}))
"""


def test_the_radio_is_up_before_the_ring_is_taken(sim_run):
    result = sim_run(ORDER, heapsize="364k")
    assert result.returncode == 0, result.stderr + result.stdout
    # stdout is also the board's serial port: the report is what follows its last frame
    out = json.loads(result.stdout[result.stdout.rindex('{"') :])
    assert out["order"] == ["radio up", "ring taken"]
    assert out["ring_bytes"] > 0
