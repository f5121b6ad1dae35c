# Runs under MicroPython (test_flash_spill.py): the ring keeps the blocks a host has not
# acknowledged in flash before its RAM slots are overwritten, and a RESEND gets them back.
#
#     micropython tests/firmware/mpy_flash_spill.py
#
# The partition is NOR flash as esp32.Partition exposes it (readblocks/writeblocks with an
# offset, ioctl 4/5/6): a write only clears bits, an erase sets a 4 KB block to 0xFF, and a
# write to a slot that was not erased is caught. Blocks are fake SAMPLES payloads of 15
# samples; every payload byte after the header is the block's number, so a mixed-up copy shows.
# Prints one JSON line per case.
import json

import anklet_wire as W
from framing import FrameWriter
from ring import SampleRing
from spill import SLOT, FlashSpill
from streamer import Streamer

PER_BLOCK = 15
RAM_SLOTS = 4
BLOCK_BYTES = 230


class NorPartition:
    def __init__(self, sectors):
        self.data = bytearray(b"\xff" * (sectors * 4096))
        self.sectors = sectors
        self.erases = 0
        self.programs = 0
        self.dirty_writes = 0  # writes over bytes that were not erased (a real bug on flash)
        self.reads = 0

    def readblocks(self, block, buf, offset=0):
        self.reads += 1
        at = block * 4096 + offset
        if block >= self.sectors or at + len(buf) > len(self.data):
            raise OSError(22)
        buf[:] = self.data[at : at + len(buf)]

    def writeblocks(self, block, buf, offset):
        at = block * 4096 + offset
        if block >= self.sectors or at + len(buf) > len(self.data):
            raise OSError(22)
        for i in range(len(buf)):
            if self.data[at + i] != 0xFF:
                self.dirty_writes += 1
            self.data[at + i] &= buf[i]
        self.programs += 1

    def ioctl(self, op, arg):
        if op == 4:
            return self.sectors
        if op == 5:
            return 4096
        if op == 6:
            self.data[arg * 4096 : (arg + 1) * 4096] = b"\xff" * 4096
            self.erases += 1
            return 0
        return 0


class Link:
    """A link that takes every frame unless `busy`, and remembers (first index, flags, payload
    check)."""

    def __init__(self):
        self.writer = FrameWriter(W.BLE_MTU - W.ATT_OVERHEAD, cobs=False)
        self.sent = []
        self.busy = False  # a serial frame still going out, a BLE link backing off
        self.refused = 0

    def ready(self):
        return not self.busy

    def send_frame(self, writer, n):
        if self.busy:
            self.refused += 1
            return False
        frame = writer.frame
        first = frame[10] | frame[11] << 8 | frame[12] << 16 | frame[13] << 24
        block = first // PER_BLOCK
        whole = all(frame[10 + i] == block & 0xFF for i in range(12, BLOCK_BYTES))
        self.sent.append((first, frame[5], whole))
        return True


def make(sectors=2):
    part = NorPartition(sectors)
    spill = FlashSpill(part, BLOCK_BYTES)
    while spill.tidy(True):
        pass
    ring = SampleRing(bytearray(RAM_SLOTS * BLOCK_BYTES), BLOCK_BYTES, spill)
    return part, spill, ring


def produce(ring, blocks):
    """The sampler's part: claim the head slot, fill it, commit."""
    for _ in range(blocks):
        block = ring.head
        at = ring.claim()
        store = ring.head_store
        first = block * PER_BLOCK
        for i in range(BLOCK_BYTES):
            store[at + i] = block & 0xFF
        store[at : at + 4] = first.to_bytes(4, "little")
        store[at + 10] = PER_BLOCK
        ring.commit(BLOCK_BYTES, first, PER_BLOCK, W.FLAG_GAP_BEFORE if block == 7 else 0)


def resend(ring, index):
    """What RESEND does: the block to re-send from, then pump a link until it has it all."""
    block = ring.find(index)
    if block < 0:
        return block, ring.held_after(index), []
    link = Link()
    streamer = Streamer(ring, link)
    streamer.cursor = streamer.sent_high = ring.head  # it had sent everything once
    streamer.rewind(block)
    while streamer.pending():
        streamer.pump()
    return block, -1, link.sent


def report(case, **fields):
    print(json.dumps(dict(case=case, **fields)))


# 1. A host that never acknowledges (older than 1.3): nothing goes to flash.
part, spill, ring = make()
produce(ring, 20)
report("no_ack", written=spill.written, programs=part.programs, find_old=ring.find(0))

# 2. Acknowledged up to block 3; then the link drops: blocks 3.. are kept as RAM overwrites
#    them, and a RESEND from block 3's first index gets every block back in order.
part, spill, ring = make()
ring.acknowledge(0)
produce(ring, 3)
ring.acknowledge(3 * PER_BLOCK)
produce(ring, 17)
block, _, sent = resend(ring, 3 * PER_BLOCK + 4)
report(
    "drop",
    written=spill.written,
    block=block,
    firsts=[s[0] for s in sent],
    flags=[s[1] for s in sent],
    whole=all(s[2] for s in sent),
    dirty=part.dirty_writes,
    oldest=ring.oldest_index(),
    kept_end=spill.kept_end,
)

# 3. The flash fills: blocks past it are lost; a RESEND inside them is refused and told the
#    next index held (the RAM ring's oldest).
part, spill, ring = make(sectors=1)  # 16 slots
ring.acknowledge(0)
produce(ring, 30)
lost_index = 17 * PER_BLOCK
block, held_after, _ = resend(ring, lost_index)
kept_block, _, kept_sent = resend(ring, 5 * PER_BLOCK)
report(
    "full",
    written=spill.written,
    refused=spill.refused,
    block=block,
    held_after=held_after,
    ram_oldest=ring.first[ring.oldest() % ring.slots],
    kept_block=kept_block,
    kept_firsts=[s[0] for s in kept_sent],
)

# 4. A stream stopped and started again (its owner's link was lost past the board's grace):
#    what was kept before stays findable. Once the host holds everything kept, the used
#    sectors are erased (only those) and the whole partition is ready again.
part, spill, ring = make(sectors=4)
ring.acknowledge(0)
produce(ring, 20)  # 16 kept: sector 0 full
old_visible = ring.find(0)
ring.acknowledge(ring.head * PER_BLOCK)
before = part.erases
spill.forget()
while spill.tidy(True):
    pass
report(
    "tidy",
    erased=part.erases - before,
    ready=spill.ready,
    slots=spill.slots,
    written=spill.written,
    old_visible=old_visible,
    slot_bytes=SLOT,
)

# 5. While sampling, sectors are only checked (reads), never erased: a dirty one waits.
part = NorPartition(4)
part.data[4096 + 100] = 0x00  # sector 1 written before a reset
spill = FlashSpill(part, BLOCK_BYTES)
sampling = [spill.tidy(False) for _ in range(3)]
ready_sampling, erases_sampling = spill.ready, part.erases
while spill.tidy(True):
    pass
report(
    "dirty",
    ready_sampling=ready_sampling,
    erases_sampling=erases_sampling,
    ready=spill.ready,
    erases=part.erases,
)

# 6. Catching up from flash after a long drop: each block costs the ESP32 its flash reads (and
#    the Python around them), and the sampler runs only between pumps. Consecutive kept blocks
#    sit in consecutive slots: the streamer reads the next slot instead of searching again.
part, spill, ring = make(sectors=4)  # 64 slots
ring.acknowledge(0)
produce(ring, 44)  # 40 kept in flash, 4 in RAM
link = Link()
streamer = Streamer(ring, link)
streamer.cursor = streamer.sent_high = ring.head
streamer.rewind(0)
before = part.reads
sent = streamer.pump(1 << 28)  # no time limit: every block the link takes
report("catchup", sent=sent, reads=part.reads - before, firsts=[f[0] for f in link.sent])

# 7. A pump stops once its time budget is spent, however much the link would take: the
#    sampler's turn. A clock that advances 1 ms each time it is read.
import streamer as streamer_module  # noqa: E402


class SteppingTicks:
    now = 0

    @staticmethod
    def now_us():
        SteppingTicks.now += 1000
        return SteppingTicks.now

    diff = staticmethod(streamer_module.ticks.diff)


real_ticks = streamer_module.ticks
streamer_module.ticks = SteppingTicks
part, spill, ring = make(sectors=4)
ring.acknowledge(0)
produce(ring, 44)
streamer = Streamer(ring, Link())
streamer.cursor = streamer.sent_high = ring.head
streamer.rewind(0)
first = streamer.pump(15000)
second = streamer.pump(0)  # a spent budget still sends one block: the stream always moves
streamer_module.ticks = real_ticks
report("budget", first=first, second=second, pending=streamer.pending())

# 8. A link that cannot take a block now (a serial frame still going out, a BLE link backing
#    off) costs the pump nothing: no flash read, no copy, no CRC, no sequence number.
part, spill, ring = make(sectors=4)
ring.acknowledge(0)
produce(ring, 44)
link = Link()
streamer = Streamer(ring, link)
streamer.cursor = streamer.sent_high = ring.head
streamer.rewind(0)
link.busy = True
before_reads, before_seq = part.reads, link.writer.seq
busy_sent = [streamer.pump(1 << 28) for _ in range(5)]
busy = dict(sent=busy_sent, reads=part.reads - before_reads, seq=link.writer.seq - before_seq)
link.busy = False
report("busy", refused=link.refused, after=streamer.pump(1 << 28), **busy)
