# Runs under MicroPython: BleLink's notify path allocates nothing once each frame size has been
# seen (micropython.heap_lock raises MemoryError on any allocation). Prints "ok" or the failure.
import anklet_wire as W
import micropython
from ble_link import BleLink


class Ble:
    # The calls BleLink makes, recording without allocating.
    def __init__(self):
        self.sent = 0

    def gatts_notify(self, conn, handle, data=None):
        self.sent += len(data)


class Cfg:
    values = {"require_bond": True}


class App:
    cfg = Cfg()


link = BleLink(Ble(), App())
link.h_data = 11
link._irq(1, (0, 0, b""))  # _IRQ_CENTRAL_CONNECT
link._irq(21, (0, 247))  # _IRQ_MTU_EXCHANGED
link._irq(28, (0, 1, 0, 1, 16))  # _IRQ_ENCRYPTION_UPDATE: encrypted, bonded
link._heard = True  # the central has written a command (so it has subscribed)
writer = link.writer
sizes = (38, 110, 218, 244)
for n in sizes:
    assert link.send_frame(writer, n)  # first time per size: the view is made


def hot_path():
    # A function, so the loop's names are locals: a new module global would allocate.
    for _ in range(100):
        for n in sizes:
            writer.seal(W.MSG_SAMPLES, 0, n - W.FRAME_OVERHEAD)
            link.send_frame(writer, n)


micropython.heap_lock()
try:
    hot_path()
    micropython.heap_unlock()
    print("ok", link.ble.sent)
except MemoryError as exc:
    micropython.heap_unlock()
    print("allocated:", exc)
