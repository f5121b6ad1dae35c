"""Recent SAMPLES payloads, kept for RESEND after a link drop. Fixed slots in a few bytearrays.

    stores = ring.reserve()               # at boot, before the app's buffers
    ring = SampleRing(stores, slot_size=230, spill=None)
    at = ring.claim()                     # the sampler fills ring.head_store[at:at+length]
    ring.commit(length, first_index, imu_count, flags)
    store, at = ring.store_of(slot), ring.offset_of(slot)   # where a slot's block is
    block = ring.find(index)              # block number holding `index`, or -1 if gone
    ring.acknowledge(index)               # ACK: the host holds every sample below `index`

Blocks are numbered from 0 for ever; block b lives in slot b % slots. With a FlashSpill, a block
about to be overwritten that the host has not acknowledged is kept in flash first (spill.py):
find() and the streamer reach it there. Until a host acknowledges, nothing is kept in flash (a
host older than protocol 1.3 never does; once one has, a later host that does not is kept
for until flash is full).
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
_CHUNK = 16 * 1024  # the ring is taken in pieces of at most this (offsets fit an "H" array)
_MIN_CHUNK = 1024  # ... and at least this: smaller holes are left to the app's small buffers


def size(free, share_8ths=_SHARE_8THS, keep=_KEEP, headroom=_HEADROOM):
    """Bytes for the ring given `free` heap: a share of a large heap; on a small one 2 s of
    samples if the app keeps its headroom, else what it can spare (never below _MIN_BYTES)."""
    roomy = min(_MAX_BYTES, free * share_8ths // 8, free - keep)
    tight = min(_WANT, free - headroom)
    return max(_MIN_BYTES, roomy, tight)


def reserve(share_8ths=_SHARE_8THS, keep=_KEEP, headroom=_HEADROOM):
    """The ring's buffers, taken at boot once the modules are imported (their code lives on the
    heap unless frozen), before the app's own buffers scatter the heap.

    Loading code leaves holes: the largest free block was as small as 11 KB with 182 KB free
    (simulated board), and one buffer would be that small. So the ring is taken in pieces of
    at most 16 KB, each as large as a hole allows, until it has its size.
    """
    gc.collect()
    left = size(gc.mem_free(), share_8ths, keep, headroom)
    stores = []
    want = min(left, _CHUNK)
    while left >= _MIN_CHUNK and want >= _MIN_CHUNK:
        try:
            stores.append(bytearray(want))
        except MemoryError:
            want -= 1024
            continue
        left -= want
        want = min(left, _CHUNK)
    if sum(len(store) for store in stores) < _MIN_BYTES:
        raise MemoryError("no room for the sample ring")
    return stores


class SampleRing:
    def __init__(self, stores, slot_size, spill=None):
        """`stores`: a bytearray, or a list of them (reserve())."""
        if not isinstance(stores, list):
            stores = [stores]
        self.slot_size = slot_size
        self.spill = spill
        self.acked = -1  # the host holds every sample below this index; -1: no host said so
        self.stores = stores
        self.nbytes = sum(len(store) for store in stores)
        self.slots = sum(len(store) // slot_size for store in stores)
        if self.slots < 2:
            raise ValueError("ring buffer smaller than two blocks")
        # Where each slot is: its store, and its offset there.
        self.slot_store = array("B", bytes(self.slots))
        self.slot_at = array("H", bytes(2 * self.slots))
        slot = 0
        for number, store in enumerate(stores):
            for k in range(len(store) // slot_size):
                self.slot_store[slot] = number
                self.slot_at[slot] = k * slot_size
                slot += 1
        self.head_store = stores[0]  # the store of the slot claim() returned
        self.lengths = array("H", bytes(2 * self.slots))
        self.first = array("i", bytes(4 * self.slots))  # first IMU index of each block
        self.imu_count = array("H", bytes(2 * self.slots))
        self.flags = array("B", bytes(self.slots))
        self.head = 0  # number of the next block to be written

    def store_of(self, slot):
        return self.stores[self.slot_store[slot]]

    def offset_of(self, slot):
        return self.slot_at[slot]

    def claim(self):
        """Offset in `head_store` of the slot the next block goes into; the block it held goes
        to flash first if the host has not acknowledged all of it."""
        head = self.head
        slot = head % self.slots
        if head >= self.slots and self.spill is not None and self.acked >= 0 and \
                self.first[slot] + self.imu_count[slot] > self.acked:
            self.spill.keep(self, head - self.slots)
        self.head_store = self.stores[self.slot_store[slot]]
        return self.slot_at[slot]

    def acknowledge(self, index):
        """The host holds every sample below `index`. Indices only grow on a boot, so this
        holds across streams: a stream restarted after its owner's link was lost keeps the
        blocks its host has not had yet, before and after the restart."""
        if index > self.acked:
            self.acked = index

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
        """IMU index of the oldest sample still held, in RAM or flash (0 if empty)."""
        if self.head == 0:
            return 0
        ram = self.first[self.oldest() % self.slots]
        kept = self.spill.oldest_index() if self.spill is not None else -1
        return kept if 0 <= kept < ram else ram

    def held_after(self, index):
        """First index after `index` still held (for a RESEND of an index that is gone)."""
        ram = self.first[self.oldest() % self.slots] if self.head else 0
        kept = self.spill.held_after(index) if self.spill is not None else -1
        return kept if 0 <= kept < ram else ram

    def find(self, index):
        """Number of the oldest held block that ends after `index`; -1 if `index` is gone.

        Returns `head` when `index` has not been produced yet.
        """
        block = self.oldest()
        if self.head == 0:
            return 0
        if index < self.first[block % self.slots]:
            spill = self.spill
            if spill is None:
                return -1
            slot = spill.holding(index)
            return spill.block_at(slot) if slot >= 0 else -1
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
