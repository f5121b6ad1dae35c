"""Recent SAMPLES payloads, kept for RESEND after a link drop. Fixed slots in one bytearray.

    store = ring.reserve()                # at boot, before the app's buffers
    ring = SampleRing(store, slot_size=230)
    at = ring.slot_offset(ring.head)      # the sampler fills ring.store[at:at+length]
    ring.commit(length, first_index, imu_count, flags)
    block = ring.find(index)              # block number holding `index`, or -1 if gone

Blocks are numbered from 0 for ever; block b lives in slot b % slots.
"""

import gc
from array import array

_SHARE_8THS = 3  # on a large heap the ring takes at most 3/8 of what is free after the code
_KEEP = 112 * 1024  # ... and leaves the app this much (the simulated board's radio needs it);
# with every module loaded before (board.py), the simulated board's ring is as before (~70 KB)
_WANT = 32 * 1024  # 2.1 s at 1000 Hz (15-sample blocks, 230-byte slots): taken if it fits ...
_HEADROOM = 28 * 1024  # ... beside what the app needs once the ring is taken: its buffers, tasks,
# radio and room for garbage between collections (bench, 64-bit build: ~18 KB live after the
# ring, and it fails to start with 24 KB)
_MAX_BYTES = 256 * 1024
_MIN_BYTES = 4 * 1024  # 0.27 s at 1000 Hz: the app still streams, RESEND reaches back less


def size(free, share_8ths=_SHARE_8THS, keep=_KEEP, headroom=_HEADROOM):
    """Bytes for the ring given `free` heap: a share of a large heap; on a small one 2 s of
    samples if the app keeps its headroom, else what it can spare (never below _MIN_BYTES)."""
    roomy = min(_MAX_BYTES, free * share_8ths // 8, free - keep)
    tight = min(_WANT, free - headroom)
    return max(_MIN_BYTES, roomy, tight)


def reserve(share_8ths=_SHARE_8THS, keep=_KEEP, headroom=_HEADROOM):
    """One big buffer for the ring, taken at boot while the heap is still in one piece.

    Call it once the modules are imported (their code lives on the heap unless frozen).

    Code loaded from .mpy files leaves holes, so the largest free block can be well short of
    what is free: steps the request down 1 KB at a time until it fits (the app's small buffers
    fill the holes).
    """
    gc.collect()
    nbytes = size(gc.mem_free(), share_8ths, keep, headroom)
    while True:
        try:
            return bytearray(nbytes)
        except MemoryError:
            if nbytes <= _MIN_BYTES:
                raise
            nbytes = max(_MIN_BYTES, nbytes - 1024)


class SampleRing:
    def __init__(self, store, slot_size):
        self.slot_size = slot_size
        self.slots = max(2, len(store) // slot_size)
        if self.slots * slot_size > len(store):
            raise ValueError("ring buffer smaller than two blocks")
        self.store = store
        self.lengths = array("H", bytes(2 * self.slots))
        self.first = array("i", bytes(4 * self.slots))  # first IMU index of each block
        self.imu_count = array("H", bytes(2 * self.slots))
        self.flags = array("B", bytes(self.slots))
        self.head = 0  # number of the next block to be written

    def slot_offset(self, block):
        return (block % self.slots) * self.slot_size

    def commit(self, length, first_index, imu_count, flags):
        slot = self.head % self.slots
        self.lengths[slot] = length
        self.first[slot] = first_index
        self.imu_count[slot] = imu_count
        self.flags[slot] = flags
        self.head += 1

    def oldest(self):
        """Number of the oldest block still held."""
        return self.head - self.slots if self.head > self.slots else 0

    def oldest_index(self):
        """IMU index of the oldest sample still held (0 if empty)."""
        if self.head == 0:
            return 0
        return self.first[self.oldest() % self.slots]

    def find(self, index):
        """Number of the oldest held block that ends after `index`; -1 if `index` is gone.

        Returns `head` when `index` has not been produced yet.
        """
        block = self.oldest()
        if self.head == 0:
            return 0
        if index < self.first[block % self.slots]:
            return -1
        # Binary search over block numbers: first indices increase with block number.
        lo, hi = block, self.head
        while lo < hi:
            mid = (lo + hi) // 2
            slot = mid % self.slots
            if self.first[slot] + self.imu_count[slot] <= index:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def clear(self):
        self.head = 0
