# Runs under MicroPython: BleLink's IRQ handler against a stand-in BLE object that delivers
# events the way the ESP32 port does (synchronously, from inside a NimBLE call the main program
# made). Prints one JSON line of findings; cwd is a scratch flash directory.
import json
import os

import anklet_wire as W
import ble_link as ble_link_module
import ticks
from ble_link import BleLink

_CONNECT, _DISCONNECT, _MTU, _ENC, _GET, _SET = 1, 2, 21, 28, 29, 30


class Ble:
    def __init__(self):
        self.sent = []
        self.mtu_requests = []
        self.during_notify = None  # an IRQ to deliver inside the next gatts_notify
        self.written = b""  # what the central wrote to the control characteristic

    def gatts_notify(self, conn, handle, data=None):
        if self.during_notify is not None:
            event, self.during_notify = self.during_notify, None
            link._irq(*event)  # the NimBLE task runs the handler mid-call, as on the ESP32
        self.sent.append(bytes(data))

    def gatts_read(self, handle):
        return self.written

    def gattc_exchange_mtu(self, conn):
        self.mtu_requests.append(conn)

    def gap_disconnect(self, conn):
        pass

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None):
        pass

    def config(self, **kw):
        pass


class Cfg:
    values = {"require_bond": True, "imu_rate_hz": 100, "load_rate_hz": 80}


class Clock:
    # ticks with a hand on it: the owner-gone grace period without waiting a minute.
    now = 0

    def now_us(self):
        return self.now

    def diff(self, a, b):
        return ticks.diff(a, b)


class Handler:
    link = None


class App:
    cfg = Cfg()
    logs = []
    streaming = False
    handler = Handler()

    def stop_streaming(self):
        self.streaming = False

    def log(self, level, text):
        self.logs.append(text)

    def link_resized(self):
        pass

    def name(self):
        return "Anklet-TEST"


link = BleLink(Ble(), App())
link.h_data = 11
link.h_control = 12
out = {}

# Bond keys: kept in RAM at once (NimBLE may ask straight back), on flash only from poll().
peer = b"\x01\xd0\xf0\xf0\xf0\xf0\x01"  # ble_addr_t: random type + 6 bytes
out["set_returns"] = link._irq(_SET, (2, peer, b"K" * 64))
out["get_back"] = link._irq(_GET, (2, 0, peer)) == b"K" * 64
out["on_flash_after_irq"] = "ble_secrets.json" in os.listdir()
link.poll(lambda *a: None)
out["on_flash_after_poll"] = "ble_secrets.json" in os.listdir()

# A new central: the peripheral asks for the MTU itself, from the main loop.
link._irq(_CONNECT, (0, 1, peer[1:]))
out["mtu_before_poll"] = list(link.ble.mtu_requests)
link.poll(lambda *a: None)
out["mtu_after_poll"] = list(link.ble.mtu_requests)
link._irq(_MTU, (0, 247))
link._irq(_ENC, (0, 1, 0, 1, 16))
link.poll(lambda *a: None)

# A disconnect landing inside a control frame's notify (between sending and counting it).
writer = link.writer
n = writer.seal(W.MSG_LOG, 0, 10)
link._frame_limit = 0  # nothing fits: the frames queue
for i in range(3):
    link.send_control(writer, n)
link._frame_limit = 244
out["queued"] = link._ctrl_count
link.ble.during_notify = (_DISCONNECT, (0, 1, peer[1:]))
link.poll(lambda *a: None)
out["count_after_disconnect"] = link._ctrl_count
link._irq(_CONNECT, (1, 1, peer[1:]))
link._irq(_MTU, (1, 247))
link._irq(_ENC, (1, 1, 0, 1, 16))
link.poll(lambda *a: None)
out["count_on_new_link"] = link._ctrl_count
samples = writer.seal(W.MSG_SAMPLES, 0, 100)
out["samples_before_first_command"] = link.send_frame(writer, samples)
link.ble.written = b"\x00" * 20  # the central subscribed, then wrote its first command
link._irq(3, (1, 12))
link.poll(lambda *a: None)
before = len(link.ble.sent)
samples = writer.seal(W.MSG_SAMPLES, 0, 100)
out["samples_flow_on_new_link"] = link.send_frame(writer, samples)
out["samples_sent"] = len(link.ble.sent) - before

# An unencrypted central gets no samples.
link._irq(_DISCONNECT, (1, 1, peer[1:]))
link._irq(_CONNECT, (2, 0, b"\xaa" * 6))
link._irq(_MTU, (2, 247))
link.poll(lambda *a: None)
out["samples_to_unencrypted"] = link.send_frame(writer, samples)

# The owner's encrypted link drops while it streams: the ring holds samples for a minute, then
# the board stops streaming.
clock = Clock()
ble_link_module.ticks = clock
app = link.app
link._irq(_DISCONNECT, (2, 0, b"\xaa" * 6))
link._irq(_CONNECT, (3, 1, peer[1:]))
link._irq(_ENC, (3, 1, 0, 1, 16))
link.poll(lambda *a: None)
app.streaming = True
app.handler.link = link  # START came over BLE
link._irq(_DISCONNECT, (3, 1, peer[1:]))
clock.now = 89_000_000
link.poll(lambda *a: None)
out["streaming_after_89_s"] = app.streaming
clock.now = 91_000_000
link.poll(lambda *a: None)
out["streaming_after_91_s"] = app.streaming
print(json.dumps(out))
