# Runs under MicroPython (test_sampler_overflow.py): a FIFO overflow is counted exactly and no
# record read from an overflowed FIFO goes out, wherever a stall falls in a drain.
#
#     micropython tests/firmware/mpy_sampler_overflow.py
#
# The IMU here is a FIFO of bytes on a clock the script steps: each sample is 12 bytes, its
# true index (big-endian) then ten marker bytes, so a record read from a FIFO that overflowed
# (the chip drops its oldest bytes one at a time: the head lands mid-record) shows. A stall of
# STALL_US is put before the n-th bus transaction of one drain, for n = 0 (the overflow flag),
# 1 (the count), 2, 3 ... (the block reads and checks), and twice in a row ("again"). Prints one
# line per case:
# "case N true_gap T counted_gap C dropped D garbage G order_ok O" (see the CPython test).
import anklet_wire as W
import ticks
from ring import SampleRing
from sampler import Sampler

RATE_HZ = 400
PERIOD_US = 1000000 // RATE_HZ
STEP_US = 100000  # between drains: 40 samples, two full blocks and a remainder
STALL_US = 1000000
MARK = bytes(range(0xA1, 0xAB))


class Clock:
    t = 5000000


clock = Clock()
ticks.now_us = lambda: clock.t & ticks.MASK  # the sampler reads time through this module


class FifoImu:
    """The MPU-6050's FIFO as the sampler sees it: latched clear-on-read overflow flag, count
    saturating at FIFO_BYTES, oldest bytes dropped on overflow, its own steady sample clock."""

    FIFO_BYTES = 1024

    def __init__(self):
        self.fifo = bytearray()
        self.next_sample = clock.t // PERIOD_US + 1  # true index of the next sample taken
        self.flag = False
        self.transactions = 0
        self.stalls = ()  # transaction numbers a stall of STALL_US comes before

    def _transaction(self):
        if self.transactions in self.stalls:
            clock.t += STALL_US
        self.transactions += 1
        while self.next_sample * PERIOD_US <= clock.t:
            i = self.next_sample
            self.fifo += bytes(((i >> 8) & 0xFF, i & 0xFF)) + MARK
            self.next_sample += 1
        extra = len(self.fifo) - self.FIFO_BYTES
        if extra > 0:
            self.fifo = self.fifo[extra:]
            self.flag = True

    def fifo_reset(self):
        self._transaction()
        self.fifo = bytearray()
        self.flag = False

    def fifo_overflowed(self):
        self._transaction()
        flag, self.flag = self.flag, False
        return flag

    def fifo_count(self):
        self._transaction()
        return len(self.fifo)

    def read_fifo_into(self, buf, n):
        self._transaction()
        nbytes = n * 12
        buf[:nbytes] = self.fifo[:nbytes]
        self.fifo = self.fifo[nbytes:]


class NoLoads:
    def take_into(self, buf, at, max_n, t_end):
        return 0

    def clear(self):
        pass


def run_case(name, stall_positions):
    imu = FifoImu()
    ring = SampleRing(bytearray(400 * 230), 230)
    sampler = Sampler(imu, ring, NoLoads(), 230 - W.FRAME_OVERHEAD + W.FRAME_OVERHEAD)
    sampler.configure(RATE_HZ, 80)
    sent = []  # (firmware index, true index or -1 for a record that is not one, gap flag)
    commit = ring.commit

    def capture(length, first_index, imu_count, flags):
        slot = ring.head % ring.slots
        at = ring.offset_of(slot) + 12
        store = ring.store_of(slot)
        for j in range(imu_count):
            rec = store[at + 12 * j : at + 12 * j + 12]
            true = rec[0] | (rec[1] << 8)  # the sampler swapped the big-endian words
            ok = all(rec[2 + k] == MARK[k ^ 1] for k in range(10))
            sent.append((first_index + j, true if ok else -1, flags if j == 0 else 0))
        commit(length, first_index, imu_count, flags)

    ring.commit = capture
    sampler.start()
    for step in range(30):
        clock.t += STEP_US
        if step == 10:
            imu.stalls = tuple(imu.transactions + p for p in stall_positions)
        sampler.drain()
    garbage = sum(1 for s in sent if s[1] < 0)
    order_ok = all(b[0] == a[0] + 1 or (b[2] and b[0] > a[0] + 1) for a, b in zip(sent, sent[1:]))
    # Around the one gap: what the board skipped against what the IMU really took meanwhile.
    gaps = [(a, b) for a, b in zip(sent, sent[1:]) if b[0] != a[0] + 1]
    if len(gaps) == 1 and garbage == 0:
        a, b = gaps[0]
        true_gap = (b[1] - a[1]) % 65536 - 1
        counted_gap = b[0] - a[0] - 1
    else:
        true_gap = counted_gap = -len(gaps)
    print(
        "case",
        name,
        "true_gap",
        true_gap,
        "counted_gap",
        counted_gap,
        "dropped",
        sampler.dropped,
        "garbage",
        garbage,
        "order_ok",
        int(order_ok),
    )


for position in range(6):
    run_case(str(position), (position,))
# Overflow upon overflow: stalled before the flag read, the FIFO's reset, and again before the
# next drain's flag read (a CPU that cannot keep up), with nothing drained in between.
run_case("again", (0, 2))
