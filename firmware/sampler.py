"""Drains the IMU's hardware FIFO in bursts into SAMPLES blocks in the ring buffer.

    sampler = Sampler(imu, ring, load_cell, max_payload=230)
    sampler.configure(imu_hz=200, load_hz=80)
    sampler.start()
    sampler.drain()          # from a task every `drain_ms`; allocation-free

Blocks: only full blocks leave the FIFO, so frames are as large as the link allows; a partial
block goes only once its oldest sample has waited `_LATENCY_MS`. The rest waits in the IMU's
own FIFO, which costs nothing.

Timing: the FIFO holds samples the IMU clocked itself; a drain at time `now` finding n samples
dates the newest half a period before `now`, and a 1/16-gain loop smooths that estimate from
drain to drain. A FIFO overflow resets the FIFO, counts the samples lost by elapsed time, skips
their indices and flags the next block GAP_BEFORE, so the host sees exactly which are missing.
An overflow is caught wherever a stall puts it: before the drain (the latched flag), between
the flag and the count (a full count), or while the blocks are read (the flag again, read only
when enough time passed for the FIFO to fill): records that may start mid-record never go out.
"""

import anklet_wire as W
import bytecopy
import capacity
import messages
import ticks
from micropython import const

_SAMPLE = const(12)  # bytes per IMU sample: the MPU-6050's FIFO record = the wire's ImuSample
_HEAD = const(12)  # SAMPLES header bytes
_UNKNOWN = const(-1)
_LATENCY_MS = const(100)  # longest a sample waits on the board for its block to fill


# The FIFO record is copied to the wire as is, int16 by int16 (swap16): the spec's sample must
# be that record. A field added to ImuSample (`make protocol`) stops here until the driver and
# these sizes deliver it, instead of streaming samples the host would read with another stride.
if (W.IMU_SAMPLE_SIZE != _SAMPLE or W.SAMPLES_HEADER_SIZE != _HEAD
        or W.IMU_SAMPLE_FMT != "<" + "h" * (_SAMPLE // 2)):
    raise ImportError("anklet_wire's IMU sample is not the MPU-6050 FIFO record sampler.py copies")


class Sampler:
    def __init__(self, imu, ring, load_cell, max_payload):
        self.imu = imu
        self.ring = ring
        self.loads = load_cell
        self.max_frame = max_payload + W.FRAME_OVERHEAD
        self.scratch = bytearray((max_payload // _SAMPLE) * _SAMPLE)
        self.next_index = 0
        self.produced = 0
        self.dropped = 0
        self.period_us = 5000
        self.max_imu = 1
        self.max_load = 2
        self.drain_ms = 50
        self._latency_samples = 20
        self.running = False
        self._expected_t = _UNKNOWN
        self._reset_t = 0  # when the FIFO was last emptied: the next overflow counts from there
        self._gap = 0

    def configure(self, imu_hz, load_hz, max_frame=0):
        if max_frame:
            self.max_frame = min(max_frame, len(self.scratch) + _HEAD + W.FRAME_OVERHEAD)
        self.period_us = 1000000 // imu_hz
        self.max_imu, self.max_load = capacity.samples(self.max_frame, imu_hz, load_hz)
        # Look twice per block time, and well before the FIFO (85 samples on an MPU-6050, 42 on
        # an MPU-6500) is 60 % full.
        fifo_safe_ms = (self.imu.FIFO_BYTES // _SAMPLE) * 6 * 100 // imu_hz
        block_ms = self.max_imu * 1000 // imu_hz
        self.drain_ms = max(5, min(block_ms // 2, _LATENCY_MS // 2, fifo_safe_ms))
        self._latency_samples = _LATENCY_MS * imu_hz // 1000

    def start(self):
        self.imu.fifo_reset()
        self._reset_t = ticks.now_us()
        self.loads.clear()
        self._expected_t = _UNKNOWN
        self.running = True

    def stop(self):
        self.running = False

    def drain(self):
        """Move full blocks (and a partial one past its latency) from the FIFO into the ring."""
        imu = self.imu
        if imu.fifo_overflowed():
            self._overflow()
            return 0
        count = imu.fifo_count()
        # The count holds every sample up to its read: time it from there, not from before
        # the two bus transactions (a slow or stalled bus would stamp the block early).
        now = ticks.now_us()
        if count >= imu.FIFO_BYTES:
            # Full: it overflowed after the flag was read (a stall between the two reads), so
            # its records may start mid-record and the samples lost are not in the count.
            self._overflow()
            return 0
        n = count // _SAMPLE
        if n == 0:
            return 0
        period = self.period_us
        # Until then the FIFO cannot overflow while the blocks are read (a safety margin
        # for the IMU's clock, up to 1 % fast); past it, each block is checked before it goes.
        safe_us = (imu.FIFO_BYTES // _SAMPLE - n - 1) * period * 15 // 16
        first_t = ticks.add(now, -(period >> 1) - (n - 1) * period)
        if self._expected_t != _UNKNOWN:
            err = ticks.diff(first_t, self._expected_t)
            if -4 * period < err < 4 * period:
                first_t = ticks.add(self._expected_t, err >> 4)
        if n < self.max_imu and n < self._latency_samples:
            self._expected_t = first_t  # too few yet: they wait in the FIFO
            return 0
        blocks = 0
        while n > 0:
            if n < self.max_imu and blocks and n < self._latency_samples:
                break  # the remainder waits in the FIFO for the next drain
            k = n if n < self.max_imu else self.max_imu
            imu.read_fifo_into(self.scratch, k)
            if ticks.diff(ticks.now_us(), now) >= safe_us and imu.fifo_overflowed():
                # Overflowed during the reads (the CPU stalled): the records read may start
                # mid-record. Drop them; every sample from this block on counts as lost.
                self._expected_t = first_t
                self._overflow()
                return blocks
            self._emit(first_t, k)
            first_t = ticks.add(first_t, k * period)
            n -= k
            blocks += 1
        self._expected_t = first_t
        return blocks

    def _emit(self, first_t, k):
        ring = self.ring
        at = ring.claim()
        store = ring.head_store
        bytecopy.swap16(store, at + _HEAD, self.scratch, 0, k * _SAMPLE)
        t_end = ticks.add(first_t, k * self.period_us)
        n_load = self.loads.take_into(store, at + _HEAD + k * _SAMPLE, self.max_load, t_end)
        messages.pack_samples_header(store, at, self.next_index, first_t, self.period_us, k,
                                     n_load)
        flags = W.FLAG_GAP_BEFORE if self._gap else 0
        self._gap = 0
        ring.commit(_HEAD + (k + n_load) * _SAMPLE, self.next_index, k, flags)
        self.next_index += k
        self.produced += k

    def resync(self):
        """The IMU was re-initialised (e.g. after an I2C error): count what was lost."""
        self._overflow()

    def _overflow(self):
        self.imu.fifo_reset()
        now = ticks.now_us()  # after the reset: every sample due until now is gone
        period = self.period_us
        if self._expected_t != _UNKNOWN:
            lost = ticks.diff(now, self._expected_t) // period + 1
        else:
            # Nothing drained since the FIFO was last emptied (the stream's start, or another
            # overflow: a CPU that cannot keep up overflows again and again): every sample
            # since then. It used to be a full FIFO's worth, so repeated overflows counted
            # 85 samples each however long they lasted.
            lost = (ticks.diff(now, self._reset_t) + (period >> 1)) // period
        if lost < 1:
            lost = 1
        self._reset_t = now
        self.next_index += lost
        self.dropped += lost
        self._gap = 1
        self._expected_t = _UNKNOWN
