"""Ring blocks the host has not acknowledged, kept in flash when the RAM ring must overwrite them.

    spill = FlashSpill(partition, 230)  # esp32.Partition "ankring" (`anklet flash`), block bytes
    spill.keep(ring, block)             # the sampler is about to overwrite `block`'s RAM slot
    slot = spill.holding(index)         # flash slot of the kept block holding `index`, or -1
    spill.read_into(slot, buf, at)      # its payload into buf[at:]; -> block number
    spill.tidy(may_erase)               # one step of readying sectors; True while work is left

A DevKitC's heap holds under 1 s of samples at 1000 Hz (16 KB); a phone reconnects in several
seconds. Flash holds more, but erasing a 4 KB sector stalls the CPU for 45 ms (400 ms at worst:
W25Q32JV datasheet), longer than the IMU FIFO lasts at 1000 Hz (85 ms). So sectors are erased
only while the board is not sampling; while it samples, blocks are only written (one 256-byte
page program each, 0.4 ms typical, 3 ms at worst), and only the blocks the host has not
acknowledged (ACK), which a host that keeps up never leaves: flash is touched only while a link
is down. The partition is used from its start: slots [0, written) hold kept blocks in block
order, slots [written, ready) are erased, the rest wait for `tidy`.

Slot: block number (u32), payload length (u16), frame flags (u8), _MARK, then the SAMPLES
payload (its header starts with the first IMU index, u32, and has the IMU count at byte 10).
"""

import bytecopy
from micropython import const

SLOT = const(256)  # one flash page: a kept block is one page program
_PER_SECTOR = const(16)  # slots per 4096-byte erase block
_PREFIX = const(8)
_MARK = const(0x5A)
_PROBE = const(20)  # prefix + the SAMPLES header's first index .. IMU count
_BLANK = b"\xff" * SLOT
_CHECKS = const(8)  # sectors checked per tidy() while idle: the 128 of a fresh board in 0.4 s


def _u32(buf, at):
    return buf[at] | buf[at + 1] << 8 | buf[at + 2] << 16 | buf[at + 3] << 24


class FlashSpill:
    def __init__(self, partition, block_bytes):
        if block_bytes + _PREFIX > SLOT:
            raise ValueError("blocks of %d bytes do not fit a %d-byte flash slot" % (
                block_bytes, SLOT))
        self.part = partition
        self.sectors = partition.ioctl(4, 0)
        self.slots = self.sectors * _PER_SECTOR
        self.written = 0
        self.ready = 0  # slots erased up to here (whole sectors); checked again at boot
        self.refused = 0  # blocks that found the erased slots used up (lost if never acked)
        self.last_length = 0
        self.last_flags = 0
        self.kept_end = 0  # one past the last IMU index kept
        self.buf = bytearray(SLOT)
        self._probe = bytearray(_PROBE)

    # --- the sampler's side: no allocation ----------------------------------------------------

    def keep(self, ring, block):
        """Copy `block` (still in its RAM slot) to the next erased flash slot."""
        slot = self.written
        if slot >= self.ready:
            self.refused += 1
            return
        buf = self.buf
        ram = block % ring.slots
        length = ring.lengths[ram]
        buf[0] = block & 0xFF
        buf[1] = (block >> 8) & 0xFF
        buf[2] = (block >> 16) & 0xFF
        buf[3] = (block >> 24) & 0xFF
        buf[4] = length & 0xFF
        buf[5] = length >> 8
        buf[6] = ring.flags[ram]
        buf[7] = _MARK
        bytecopy.copy(buf, _PREFIX, ring.store_of(ram), ring.offset_of(ram), length)
        self.kept_end = ring.first[ram] + ring.imu_count[ram]
        # With an offset the block device only programs (extended block protocol): no erase.
        self.part.writeblocks(slot // _PER_SECTOR, buf, (slot % _PER_SECTOR) * SLOT)
        self.written = slot + 1

    # --- finding and reading kept blocks (RESEND, the streamer) -------------------------------

    def _read_probe(self, slot):
        self.part.readblocks(slot // _PER_SECTOR, self._probe, (slot % _PER_SECTOR) * SLOT)
        return self._probe

    def block_at(self, slot):
        return _u32(self._read_probe(slot), 0)

    def first_index_at(self, slot):
        return _u32(self._read_probe(slot), _PREFIX)

    def _first_slot_ending_after(self, index):
        """The first slot whose block ends after `index` (`written` if none)."""
        lo, hi = 0, self.written
        while lo < hi:
            mid = (lo + hi) // 2
            probe = self._read_probe(mid)
            if _u32(probe, _PREFIX) + probe[_PREFIX + 10] <= index:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def holding(self, index):
        """The slot of the kept block that holds IMU sample `index`, or -1."""
        slot = self._first_slot_ending_after(index)
        if slot < self.written and self.first_index_at(slot) <= index:
            return slot
        return -1

    def held_after(self, index):
        """First index of the oldest kept block that starts after `index`, or -1."""
        slot = self._first_slot_ending_after(index)
        return self.first_index_at(slot) if slot < self.written else -1

    def oldest_index(self):
        """IMU index of the oldest kept sample, or -1 if none."""
        return self.first_index_at(0) if self.written else -1

    def slot_of_block(self, block):
        """The slot of the oldest kept block numbered `block` or later, or -1."""
        lo, hi = 0, self.written
        while lo < hi:
            mid = (lo + hi) // 2
            if self.block_at(mid) < block:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < self.written else -1

    def length_at(self, slot):
        probe = self._read_probe(slot)
        return probe[4] | probe[5] << 8

    def read_into(self, slot, buf, at):
        """The slot's payload into buf[at:]; returns its block number (`last_length` and
        `last_flags` hold the rest)."""
        self.part.readblocks(slot // _PER_SECTOR, self.buf, (slot % _PER_SECTOR) * SLOT)
        kept = self.buf
        self.last_length = kept[4] | kept[5] << 8
        self.last_flags = kept[6]
        bytecopy.copy(buf, at, kept, _PREFIX, self.last_length)
        return _u32(kept, 0)

    # --- erasing, while not sampling ----------------------------------------------------------

    def forget(self):
        """The host holds every kept block: the slots are to be erased again."""
        self.written = self.ready = 0

    def tidy(self, may_erase):
        """Make sectors ready in order: check up to `_CHECKS` that read blank (one while the
        board samples: reads are short), or erase one that does not, if `may_erase` (never
        while sampling: an erase stalls the CPU). Returns True while there is work left."""
        checks = _CHECKS if may_erase else 1
        while self.ready < self.slots and checks > 0:
            sector = self.ready // _PER_SECTOR
            if not self._blank(sector):
                if not may_erase:
                    return True
                self.part.ioctl(6, sector)
                self.ready += _PER_SECTOR
                return True
            self.ready += _PER_SECTOR
            checks -= 1
        return self.ready < self.slots

    def _blank(self, sector):
        buf = self.buf
        for page in range(_PER_SECTOR):
            self.part.readblocks(sector, buf, page * SLOT)
            if buf != _BLANK:
                return False
        return True
