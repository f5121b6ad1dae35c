# Runs under MicroPython (test_heap_lock.py, bench_firmware.py): the sampler's hot path,
# Sampler.drain() + Streamer.pump() (and the load task's LoadCell.poll()), allocates nothing.
#
#     micropython tests/firmware/mpy_heap_lock.py OUT_FILE [ITERATIONS [spill]]
#
# The emulated MPU-6050 runs at 1000 Hz with the world clock frozen and stepped 20 ms per
# iteration outside the lock: its motion model computes in floats, which is the emulator's
# work, not the firmware's. Each iteration then locks the heap around a drain and pumps that
# frame the new samples (CRC-32, COBS) onto a serial link writing to OUT_FILE;
# micropython.heap_lock() turns any allocation into MemoryError.
# The firmware's clock (ticks.now_us) is that world clock too, stepped 5 µs between pumps: how
# many frames go out, when the UART model has room and when a drain looks for a FIFO overflow
# are then the same on any PC. On the PC's clock a saturated machine held single pumps past
# their 15 ms budget, and the streamer catching up from flash fell behind the RAM ring.
# With "spill" the ring has a flash partition and a host that acknowledged nothing after index
# 0, so every block the RAM ring overwrites is kept in flash (until it is full), and halfway a
# RESEND rewinds the streamer into the kept blocks: keeping and sending from flash are locked too.
# Prints "ok <iterations> <samples> <frames> <dropped> <kept> <refused>" or
# "allocated: <error> at iteration <i>".
import sys

import anklet_wire as W
import bytecopy
import machine
import micropython
import ticks
import world
from loadcell import LoadCell
from mpu6050 import MPU6050
from ring import SampleRing
from sampler import Sampler
from serial_link import SerialLink
from spill import FlashSpill
from streamer import Streamer

RATE_HZ = 1000
STEP_US = 20000  # per iteration: 20 samples, at least one full block of 15
MAX_FRAME = 244  # the app cuts blocks for its smallest link (BLE)
PUMP_GAP_US = 5  # between pumps: less than a frame takes at the link's rate, so some find it busy
PUMPS_PER_STEP = 2000  # 10 ms of the 20 ms step at most, however far behind the streamer is


class SteadyHx711:
    # A load cell with a conversion always ready: LoadCell queues one per poll.
    def is_ready(self):
        return True

    def read_raw(self):
        return 123456


class RamPartition:
    # esp32.Partition's block calls, into RAM; C code on the board (none of this is the
    # firmware's allocation), here moves that allocate nothing either.
    def __init__(self, sectors):
        self.data = bytearray(sectors * 4096)
        self.sectors = sectors

    def readblocks(self, block, buf, offset):
        bytecopy.copy(buf, 0, self.data, block * 4096 + offset, len(buf))

    def writeblocks(self, block, buf, offset):
        bytecopy.copy(self.data, block * 4096 + offset, buf, 0, len(buf))

    def ioctl(self, op, arg):
        return self.sectors if op == 4 else 0


def main(path, iterations, with_spill):
    w = world.get()
    clock = w.clock

    def world_us():
        return clock.now_us() & ticks.MASK

    ticks.now_us = world_us
    clock._frozen = 1_000_000  # from here on: the same run, to the byte, on any PC
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=400000)
    imu = MPU6050(i2c)
    imu.configure(RATE_HZ, 8, 1000)
    spill = None
    if with_spill:
        spill = FlashSpill(RamPartition(64), MAX_FRAME - W.FRAME_OVERHEAD)
        spill.ready = spill.slots  # RAM reads as zeros, not blank: taken as erased
    ring = SampleRing(bytearray(32 * 1024), MAX_FRAME - W.FRAME_OVERHEAD, spill)
    load = LoadCell(SteadyHx711())
    sampler = Sampler(imu, ring, load, MAX_FRAME - W.FRAME_OVERHEAD)
    sampler.configure(RATE_HZ, 80, MAX_FRAME)
    out = open(path, "wb")
    # A line fast enough for the loop's simulated time (it runs faster than real time); the
    # link's pacing arithmetic is the same at any rate.
    link = SerialLink(open("/dev/null", "rb"), out, baud=200_000_000)
    streamer = Streamer(ring, link)
    sampler.start()
    load.queueing = True
    streamer.reset()
    if with_spill:
        ring.acknowledge(0)
    step_at = clock._frozen
    done = 0
    for i in range(iterations + 5):
        step_at += STEP_US
        clock._frozen = step_at
        w.imu._advance()  # the emulator writes the due samples into its FIFO
        locked = i >= 5  # the first iterations bind the driver's views of the scratch buffer
        if locked:
            micropython.heap_lock()
        try:
            if with_spill and i == iterations // 2:
                streamer.rewind(ring.find(500))  # a RESEND into the kept blocks
            load.poll()
            sampler.drain()
            pumps = 0
            while streamer.cursor < ring.head and pumps < PUMPS_PER_STEP:
                streamer.pump()
                clock._frozen += PUMP_GAP_US  # no IMU read until the next step's _advance()
                pumps += 1
        except MemoryError as exc:
            micropython.heap_unlock()
            print("allocated:", exc, "at iteration", i)
            return
        if locked:
            micropython.heap_unlock()
            done += 1
    link.release()  # the frame still going out is written whole
    out.close()
    kept = spill.written if spill else 0
    refused = spill.refused if spill else 0
    print("ok", done, sampler.produced, streamer.frames_sent, sampler.dropped, kept, refused)


main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000, sys.argv[3:] == ["spill"])
