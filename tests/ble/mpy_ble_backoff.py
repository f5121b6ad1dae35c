# Runs under MicroPython: after a notify that finds NimBLE's buffers full (ENOMEM), SAMPLES wait
# about one connection event, so a buffer freed meanwhile is there for the central's write
# (whose answer needs one); control frames (a command's REPLY) are not held. Prints one JSON line.
import json

import anklet_wire as W
import ble_link
from ble_link import BleLink


class Clock:
    now = 1000

    @staticmethod
    def now_us():
        return Clock.now

    diff = staticmethod(ble_link.ticks.diff)


class Ble:
    def __init__(self):
        self.calls = 0
        self.full = False

    def gatts_notify(self, conn, handle, data=None):
        self.calls += 1
        if self.full:
            raise OSError(12)


class Cfg:
    values = {"require_bond": True}


class App:
    cfg = Cfg()


ble_link.ticks = Clock
ble = Ble()
link = BleLink(ble, App())
link.h_data = 11
link._irq(1, (0, 0, b""))  # _IRQ_CENTRAL_CONNECT
link._irq(21, (0, 247))  # _IRQ_MTU_EXCHANGED
link._irq(28, (0, 1, 0, 1, 16))  # _IRQ_ENCRYPTION_UPDATE: encrypted, bonded
link._heard = True
writer = link.writer
writer.seal(W.MSG_SAMPLES, 0, 100)
n = 100 + W.FRAME_OVERHEAD
steps = []


def step(what):
    steps.append([what, Clock.now - 1000, ble.calls, link.tx_retries])


ble.full = True
steps.append(["full", link.send_frame(writer, n)])
step("after full")
ble.full = False  # NimBLE frees a buffer
Clock.now += 10_000
steps.append(["10 ms later", link.send_frame(writer, n)])
step("held")
link.send_control(writer, n)  # a REPLY is not held
step("control")
Clock.now += 25_000
steps.append(["35 ms later", link.send_frame(writer, n)])
step("sent")
print(json.dumps(steps))
