# ruff: noqa: SIM115
# Runs under MicroPython for bench_firmware.py: what the firmware's hot path costs per sample.
#
#     MICROPYPATH=sim/anklet_sim/mpy:firmware:.frozen ANKLET_SIM_CONFIG=sim.json \
#         micropython bench/mpy_hot_path.py          # prints one JSON line
#
# Each round, the emulated MPU-6050 makes BURST samples (the world clock is frozen and stepped,
# outside the timed region: its motion model is the emulator's work, not the firmware's); then
# the real Sampler.drain() + Streamer.pump() move them to /dev/null through the serial link.
# The same rounds run on three footings, interleaved so a noisy machine hits all alike:
#   emulated  the driver on the emulated I2C bus (machine.I2C -> mpu6050_chip, Python per byte)
#   null      the driver on a stand-in bus that memcpy's the same bytes (what the ESP32's C
#             driver does, minus the bus time): the firmware's own cost
#   plain     a per-sample struct loop doing the same work (unpack big-endian, pack little-endian,
#             binascii.crc32, a Python COBS loop), on the same bytes, no bus
# then a profile of the null footing, part by part (time.ticks_us around each), and the heap
# allocated by drain + pump with the heap unlocked (gc disabled, mem_alloc before/after).
import binascii
import gc
import json
import os
import struct
import time
from array import array

import anklet_wire as W
import bytecopy
import framing
import machine
import messages
import world
from loadcell import LoadCell
from mpu6050 import MPU6050
from ring import SampleRing
from sampler import Sampler
from serial_link import SerialLink
from streamer import Streamer

RATE_HZ = 1000
LOAD_HZ = 80
BURST = 75  # samples per round: 5 blocks of 15 at 1000 Hz; the FIFO holds 85
ROUNDS = int(os.getenv("BENCH_ROUNDS") or "200")
MAX_FRAME = 244  # the app cuts blocks for its smallest link (BLE, MTU 247)
_SAMPLE = 12
_INT_STATUS = 0x3A
_FIFO_COUNTH = 0x72
_FIFO_R_W = 0x74
_WHO_AM_I = 0x75

ticks_us = time.ticks_us
ticks_diff = time.ticks_diff


class NullI2C:
    """The MPU-6050's three hot-path registers, answered from a byte buffer with a viper copy."""

    def __init__(self, data):
        self.data = data
        self.pos = 0
        self.count = 0

    def fill(self, nbytes):
        self.pos = 0
        self.count = nbytes

    def readfrom_mem_into(self, addr, reg, buf):
        if reg == _FIFO_R_W:
            n = len(buf)
            bytecopy.copy(buf, 0, self.data, self.pos, n)
            self.pos += n
            self.count -= n
        elif reg == _FIFO_COUNTH:
            buf[0] = self.count >> 8
            buf[1] = self.count & 0xFF
        else:
            buf[0] = 0x68 if reg == _WHO_AM_I else 0  # INT_STATUS: no overflow

    def writeto_mem(self, addr, reg, buf):
        pass


class SteadyHx711:
    """A load cell that always has a conversion ready (the load task polls it at 80 Hz)."""

    def is_ready(self):
        return True

    def read_raw(self):
        return 123456


class Pipeline:
    """Sampler + ring + streamer + serial link to /dev/null, as the app builds them."""

    def __init__(self, imu, out):
        self.imu = imu
        self.ring = SampleRing(bytearray(16 * 1024), MAX_FRAME - W.FRAME_OVERHEAD)
        self.load = LoadCell(SteadyHx711())
        self.sampler = Sampler(imu, self.ring, self.load, MAX_FRAME - W.FRAME_OVERHEAD)
        self.sampler.configure(RATE_HZ, LOAD_HZ, MAX_FRAME)
        self.link = SerialLink(open("/dev/null", "rb"), out)
        self.streamer = Streamer(self.ring, self.link)
        self.sampler.start()
        self.load.queueing = True
        self.streamer.reset()

    def feed_load(self, n_imu):
        for _ in range(n_imu * LOAD_HZ // RATE_HZ):
            self.load.poll()


def run_round(p):
    t0 = ticks_us()
    p.sampler.drain()
    p.streamer.pump()
    return ticks_diff(ticks_us(), t0)


# --- the plain reference ---------------------------------------------------------------------


def cobs_plain(data):
    out = bytearray(b"\x00")
    code_at = 0
    code = 1
    for b in data:
        if b == 0:
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
        else:
            out.append(b)
            code += 1
            if code == 0xFF:
                out[code_at] = code
                code_at = len(out)
                out.append(0)
                code = 1
    out[code_at] = code
    out.append(0)
    return out


def plain_round(src, nsamples, out, seq, first_index, max_imu):
    """The obvious per-sample loop: same bytes in, same frames out, no bus."""
    at = 0
    while nsamples > 0:
        k = nsamples if nsamples < max_imu else max_imu
        payload = bytearray(struct.pack(W.SAMPLES_HEADER_FMT, first_index, 0, 1000, k, 0))
        for i in range(k):
            ax, ay, az, gx, gy, gz = struct.unpack_from(">6h", src, at + i * _SAMPLE)
            payload += struct.pack("<6h", ax, ay, az, gx, gy, gz)
        frame = (
            struct.pack(
                W.HEADER_FMT,
                W.MAGIC,
                W.VERSION_MAJOR,
                W.VERSION_MINOR,
                W.MSG_SAMPLES,
                0,
                seq & 0xFFFF,
                len(payload),
            )
            + payload
        )
        frame += struct.pack("<I", binascii.crc32(frame))
        out.write(cobs_plain(frame))
        seq += 1
        first_index += k
        at += k * _SAMPLE
        nsamples -= k
    return seq


# --- set-up ----------------------------------------------------------------------------------

w = world.get()
chip = w.imu
clock = w.clock
i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=400000)
emu_imu = MPU6050(i2c)
emu_imu.configure(RATE_HZ, 8, 1000)
out = open("/dev/null", "wb")
emu = Pipeline(emu_imu, out)

# The bytes the null bus serves: one burst as the emulated chip made it.
clock.freeze()
chip.read_into(_FIFO_R_W, bytearray(chip.fifo_level()))  # empty it
clock._frozen += BURST * 1000000 // RATE_HZ
burst_bytes = bytearray(BURST * _SAMPLE)
emu_imu.read_fifo_into(burst_bytes, BURST)
null_bus = NullI2C(burst_bytes)
null_imu = MPU6050(null_bus)
null_imu.rate_hz = RATE_HZ
null = Pipeline(null_imu, out)


def step_emulator():
    # Make the next burst's samples due and let the chip write them to its FIFO (not timed).
    clock._frozen += BURST * 1000000 // RATE_HZ
    chip._advance()


# --- timed rounds ----------------------------------------------------------------------------
# Each footing runs ROUNDS rounds back to back (warm, as a tight loop would be); the footings
# take turns REPS times, so drift hits all alike. A round takes 0.1-1 ms: the figure is the
# median over all rounds, which a preemption by another process (a few rounds) cannot move.
# The emulated footings step the emulator between rounds, which also evicts the firmware's code
# and data from the CPU caches; "null_cold" measures the null footing under that disturbance.

REPS = 5


class Series:
    """Per-round figures in a preallocated float array (a list of floats would allocate)."""

    def __init__(self, n):
        self.values = array("f", bytes(4 * n))
        self.n = 0

    def append(self, x):
        if self.n < len(self.values):
            self.values[self.n] = x
            self.n += 1


scratch = emu.sampler.scratch  # the driver keeps views of one buffer: share the sampler's
burst_spill = bytearray(BURST * _SAMPLE)


def footing_emulated(per):
    for _ in range(ROUNDS):
        step_emulator()
        emu.feed_load(BURST)
        before = emu.sampler.produced
        dt = run_round(emu)
        per.append(dt / (emu.sampler.produced - before))


def footing_i2c(per):
    # The same reads alone on the emulated bus (driver + emulator, no framing).
    for _ in range(ROUNDS):
        step_emulator()
        t0 = ticks_us()
        emu_imu.fifo_overflowed()
        m = emu_imu.fifo_count() // _SAMPLE
        k = m
        while k >= 15:
            emu_imu.read_fifo_into(scratch, 15)
            k -= 15
        dt = ticks_diff(ticks_us(), t0)
        if k:
            emu_imu.read_fifo_into(scratch, k)  # leave the FIFO empty, untimed
        per.append(dt / (m - k))


def footing_null(per, cold=False):
    for _ in range(ROUNDS):
        if cold:
            step_emulator()
            chip.read_into(_FIFO_R_W, burst_spill)  # the emulator's FIFO, emptied
        null_bus.fill(BURST * _SAMPLE)
        null.feed_load(BURST)
        before = null.sampler.produced
        dt = run_round(null)
        per.append(dt / (null.sampler.produced - before))


seq_box = [0]


def footing_plain(per):
    seq = seq_box[0]
    for _ in range(ROUNDS):
        t0 = ticks_us()
        seq = plain_round(burst_bytes, BURST, out, seq, seq * 15, 15)
        per.append(ticks_diff(ticks_us(), t0) / BURST)
    seq_box[0] = seq


footings = {
    "emulated": footing_emulated,
    "i2c": footing_i2c,
    "null": footing_null,
    "null_cold": lambda per: footing_null(per, True),
    "plain": footing_plain,
}

warm = Series(ROUNDS)
runs = {name: Series(ROUNDS * REPS) for name in footings}
for rep in range(REPS + 1):
    for name, fn in footings.items():
        if rep:
            fn(runs[name])
        else:  # the first turn warms up (views bound, code loaded)
            warm.n = 0
            fn(warm)
per = {}
spread = {}
samples = {}
for name, series in runs.items():
    values = sorted(series.values[: series.n])
    n = len(values)
    per[name] = values[n // 2]
    spread[name] = (values[n // 10], values[n * 9 // 10])
    samples[name] = n * BURST

# --- profile of the null footing ---------------------------------------------------------------
# The drain + pump sequence spelled out with the same objects and calls, a clock around each
# part (each part also carries one ticks_us pair: tick_pair_us, subtracted by bench_firmware).

PARTS = (
    "driver: INT_STATUS + FIFO_COUNT",
    "driver: FIFO burst read (memcpy bus)",
    "viper swap16 into the ring",
    "load samples (take_into)",
    "header pack_into + ring commit",
    "viper copy ring -> frame",
    "frame header pack_into",
    "viper CRC-32",
    "viper COBS",
    "write to /dev/null",
)
parts = {name: 0 for name in PARTS}  # µs in this round
part_runs = {name: Series(ROUNDS) for name in PARTS}


def add(name, dt):
    parts[name] += dt


def profiled_round(p, bus):
    s = p.sampler
    imu = p.imu
    ring = p.ring
    link = p.link
    writer = link.writer
    t = ticks_us()
    imu.fifo_overflowed()
    n = imu.fifo_count() // _SAMPLE
    u = ticks_us()
    add("driver: INT_STATUS + FIFO_COUNT", ticks_diff(u, t))
    first = 0
    while n >= s.max_imu:
        k = s.max_imu
        t = ticks_us()
        imu.read_fifo_into(s.scratch, k)
        u = ticks_us()
        add("driver: FIFO burst read (memcpy bus)", ticks_diff(u, t))
        at = ring.claim()
        store = ring.head_store
        bytecopy.swap16(store, at + 12, s.scratch, 0, k * _SAMPLE)
        t = ticks_us()
        add("viper swap16 into the ring", ticks_diff(t, u))
        nl = p.load.take_into(store, at + 12 + k * _SAMPLE, s.max_load, first + k)
        u = ticks_us()
        add("load samples (take_into)", ticks_diff(u, t))
        messages.pack_samples_header(store, at, s.next_index, first, 1000, k, nl)
        ring.commit(12 + (k + nl) * _SAMPLE, s.next_index, k, 0)
        s.next_index += k
        t = ticks_us()
        add("header pack_into + ring commit", ticks_diff(t, u))
        n -= k
    while p.streamer.cursor < ring.head:
        t = ticks_us()
        slot = p.streamer.cursor % ring.slots
        length = ring.lengths[slot]
        bytecopy.copy(writer.frame, 10, ring.store_of(slot), ring.offset_of(slot), length)
        u = ticks_us()
        add("viper copy ring -> frame", ticks_diff(u, t))
        struct.pack_into(
            writer._fmt,
            writer.frame,
            0,
            writer._magic,
            W.VERSION_MAJOR,
            W.VERSION_MINOR,
            W.MSG_SAMPLES,
            0,
            writer.seq,
            length,
        )
        writer.seq = (writer.seq + 1) & 0xFFFF
        t = ticks_us()
        add("frame header pack_into", ticks_diff(t, u))
        framing._crc32_into(writer.frame, 10 + length, framing._CRC_TABLE)
        u = ticks_us()
        add("viper CRC-32", ticks_diff(u, t))
        m = writer.cobs(14 + length)
        t = ticks_us()
        add("viper COBS", ticks_diff(t, u))
        link.out.write(writer.wire, m)
        u = ticks_us()
        add("write to /dev/null", ticks_diff(u, t))
        p.streamer.cursor += 1


prof_imu = MPU6050(null_bus)
prof_imu.rate_hz = RATE_HZ
prof = Pipeline(prof_imu, out)
for r in range(ROUNDS + 10):
    null_bus.fill(BURST * _SAMPLE)
    prof.feed_load(BURST)
    for name in PARTS:
        parts[name] = 0
    before = prof.ring.head
    profiled_round(prof, null_bus)
    if r >= 10:
        got = (prof.ring.head - before) * prof.sampler.max_imu
        for name in PARTS:
            part_runs[name].append(parts[name] / got)
# ticks_us counts whole µs and a part takes 1-3 µs per block: the mean is the unbiased figure
# (a median of whole µs is not); the slowest tenth of rounds (preempted) is left out.
profile = {}
for name, series in part_runs.items():
    values = sorted(series.values[: series.n])
    kept = values[: len(values) * 9 // 10]
    profile[name] = sum(kept) / len(kept)
# The cost of one ticks_us pair, which every part above carries once.
t0 = ticks_us()
for _ in range(1000):
    ticks_diff(ticks_us(), ticks_us())
tick_pair_us = ticks_diff(ticks_us(), t0) / 1000

# --- allocations ---------------------------------------------------------------------------------

gc.collect()
gc.disable()
alloc_bytes = 0
alloc_samples = 0
for _ in range(ROUNDS):
    step_emulator()  # allocates (the emulator's floats): outside the measured region
    emu.feed_load(BURST)
    gc.collect()  # still runs with automatic collection off
    before = emu.sampler.produced
    a = gc.mem_alloc()
    emu.sampler.drain()
    emu.streamer.pump()
    alloc_bytes += gc.mem_alloc() - a
    alloc_samples += emu.sampler.produced - before
gc.enable()

result = {
    "rounds": ROUNDS,
    "burst": BURST,
    "block_samples": emu.sampler.max_imu,
    "us_per_sample": per,
    "us_per_sample_p10_p90": spread,
    "samples": samples,
    "profile_us_per_sample": profile,
    "profile_blocks_per_round": BURST // prof.sampler.max_imu,
    "tick_pair_us": tick_pair_us,
    "alloc_bytes": alloc_bytes,
    "alloc_samples": alloc_samples,
    "frames_sent": emu.streamer.frames_sent + null.streamer.frames_sent,
    "dropped": emu.sampler.dropped + null.sampler.dropped,
}
print(json.dumps(result))
