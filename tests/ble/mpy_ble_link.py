# Runs under MicroPython: the firmware's BLE link (firmware/ble_link.py) with the firmware's ring
# buffer and streamer, and a stand-in for the rest of the app, on the simulated `bluetooth`.
# Usage: micropython mpy_ble_link.py IMU_HZ [MAX_BLOCKS]
#   (MICROPYPATH = sim mpy dir : firmware; cwd = flash;
# ANKLET_SIM_CONFIG names the radio). Synthetic SAMPLES blocks (15 IMU samples, no load) stream
# after START; GET_STATUS replies carry tx_retries; commands other than GET_INFO/TIME_SYNC/
# GET_STATUS need an encrypted link, as in commands.py.
import asyncio
import struct
import sys

import anklet_wire as W
import bluetooth
import messages
import ticks
from ble_link import BleLink
from ring import SampleRing
from streamer import Streamer

IMU_HZ = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
# At most this many blocks, then the stand-in IMU stops (0: no end). Below the ring's slots, a
# backlog never overwrites a block unsent, however long a busy PC holds the host or the radio.
MAX_BLOCKS = int(sys.argv[2]) if len(sys.argv) > 2 else 0
BLOCK = 15
_OPEN = (W.OP_GET_INFO, W.OP_TIME_SYNC, W.OP_GET_STATUS)


class Battery:
    def read_mv(self):
        return 3900

    def percent(self, mv):
        return 70


class Cfg:
    values = {"require_bond": True, "imu_rate_hz": IMU_HZ, "load_rate_hz": 80}


class Counters:
    pass


class App:
    def __init__(self):
        self.cfg = Cfg()
        self.battery = Battery()
        self.resized = 0
        self.commands = []
        self.streaming = False
        self.link = BleLink(bluetooth.BLE(), self)
        self.ring = SampleRing(bytearray(64 * 1024), W.BLE_MTU - W.ATT_OVERHEAD - W.FRAME_OVERHEAD)
        self.streamer = Streamer(self.ring, self.link)
        self.next_index = 0
        self.produced = 0

    def name(self):
        return "Anklet-FFEE"

    def log(self, level, text):
        pass

    def link_resized(self):
        self.resized += 1

    def on_frame(self, link, msg_type, frame, n):
        if msg_type == W.MSG_COMMAND:
            self.commands.append((link, bytes(frame[:n])))

    def handle(self, link, frame):
        request_id, opcode, at, length = messages.parse_command(frame, len(frame))
        status = W.ST_OK
        writer = link.writer
        size = messages.pack_reply_head(writer.payload, request_id, opcode, 0)
        if opcode not in _OPEN and not link.encrypted and self.cfg.values["require_bond"]:
            status = W.ST_NOT_AUTHORIZED
        elif opcode == W.OP_START:
            self.streaming = True
            self.streamer.reset()
            self.t0 = ticks.now_us()
            self.produced = 0
        elif opcode == W.OP_STOP:
            self.streaming = False
        elif opcode == W.OP_GET_STATUS:
            c = Counters()
            c.uptime_ms = c.battery_mv = c.battery_pct = c.flags = 0
            c.samples_produced = self.next_index
            c.samples_dropped = 0
            c.load_produced = 0
            c.frames_sent = self.streamer.frames_sent
            c.tx_retries = link.tx_retries
            c.ring_oldest = self.ring.oldest_index()
            c.free_heap = self.streamer.skipped
            c.load_dropped = 0
            size = messages.pack_status(writer.payload, size, c)
        messages.pack_reply_head(writer.payload, request_id, opcode, status)
        n = writer.seal(W.MSG_REPLY, 0, size)
        link.send_control(writer, n)

    def produce(self):
        # Blocks of BLOCK samples as the IMU would fill them at IMU_HZ.
        due = ticks.diff(ticks.now_us(), self.t0) * IMU_HZ // 1000000
        if MAX_BLOCKS and due > MAX_BLOCKS * BLOCK:
            due = MAX_BLOCKS * BLOCK
        ring = self.ring
        while self.produced + BLOCK <= due:
            at = ring.claim()
            store = ring.head_store
            messages.pack_samples_header(store, at, self.next_index, 0, 1000000 // IMU_HZ, BLOCK, 0)
            for i in range(BLOCK):
                struct.pack_into("<hhhhhh", store, at + 12 + 12 * i, i, 0, 0, 0, 0, 0)
            ring.commit(12 + 12 * BLOCK, self.next_index, BLOCK, 0)
            self.next_index += BLOCK
            self.produced += BLOCK

    async def link_task(self):
        link = self.link
        while True:
            link.poll(self.on_frame)
            while self.commands:
                src, frame = self.commands.pop(0)
                self.handle(src, frame)
            await asyncio.sleep_ms(10)

    async def sample_task(self):
        while True:
            if self.streaming and self.link.connected:
                self.produce()
                self.streamer.pump()
            await asyncio.sleep_ms(15)

    async def main(self):
        self.link.start()
        print("ready")
        await asyncio.gather(self.link_task(), self.sample_task())


asyncio.run(App().main())
