"""Sends ring blocks over a link in order; a RESEND moves its cursor back.

    streamer = Streamer(ring, link)
    streamer.pump()              # after each drain: sends what the link takes, for <= 15 ms
    streamer.rewind(block)       # RESEND: blocks from `block` go again, flagged RESENT

The link's `ready()` says whether a block could go now (False while a serial frame is still
going out, or a BLE link backs off), and is asked before a block is read and sealed; its
`send_frame(writer, n)` returns False when it is busy after all (BLE back-pressure): the block
stays in the ring and goes on the next pump. Blocks the RAM ring overwrote before they were sent
are sent from flash if the ring kept them there (spill.py), else they are gone: the host sees
their indices missing and asks for them in vain (counted as lost).

A pump stops after _PUMP_US even while the link takes more: catching up from flash after a
dropped link costs the ESP32 a few milliseconds a block, and the sampler, which runs between
pumps, must read the IMU's FIFO within the 85 ms it holds at 1000 Hz. Pumping 64 blocks at a
time overflowed it every ~250 ms of a catch-up on the simulated ESP32 (docs/INTEGRITY.md).
"""

import anklet_wire as W
import bytecopy
import ticks
from micropython import const

# At most this long per pump, then the sampler's turn: with its 10 ms tick the FIFO is read
# well within the 85 ms it holds at 1000 Hz.
_PUMP_US = const(15000)


class Streamer:
    def __init__(self, ring, link):
        self.ring = ring
        self.link = link
        self.cursor = 0  # next block to send
        self.sent_high = 0  # one past the highest block ever sent (older ones are resends)
        self.frames_sent = 0
        self.skipped = 0  # blocks overwritten before they could be sent
        self._next_kept = -1  # the flash slot after the last block sent from flash

    def reset(self):
        self.cursor = self.ring.head
        self.sent_high = self.ring.head
        self._next_kept = -1

    def rewind(self, block):
        self.cursor = block
        self._next_kept = -1

    def pending(self):
        return self.ring.head - self.cursor

    def pump(self, budget_us=_PUMP_US):
        """Send blocks for up to `budget_us`; returns how many went out."""
        ring = self.ring
        link = self.link
        writer = link.writer
        sent = 0
        start = ticks.now_us()
        while self.cursor < ring.head:
            if sent and ticks.diff(ticks.now_us(), start) >= budget_us:
                break
            if not link.ready():
                break  # before the block's flash reads, copy and CRC: they would be wasted
            oldest = ring.oldest()
            if self.cursor < oldest:
                kept = self._kept_slot(oldest)
                if kept < 0:
                    self.skipped += oldest - self.cursor
                    self.cursor = oldest
            else:
                kept = -1
            if kept >= 0:
                # From flash: `cursor` moved to the block kept there (the ones between were
                # acknowledged by the host, or never kept: its RESEND finds those gone).
                length = ring.spill.length_at(kept)
            else:
                slot = self.cursor % ring.slots
                length = ring.lengths[slot]
            if length > writer.max_payload:
                # Link shrank (BLE MTU) below the block size: cannot happen after configure();
                # skip rather than send a truncated notification.
                self.skipped += 1
                self.cursor += 1
                continue
            if kept >= 0:
                ring.spill.read_into(kept, writer.frame, 10)
                flags = ring.spill.last_flags
            else:
                bytecopy.copy(writer.frame, 10, ring.store_of(slot), ring.offset_of(slot), length)
                flags = ring.flags[slot]
            if self.cursor < self.sent_high:
                flags |= W.FLAG_RESENT
            n = writer.seal(W.MSG_SAMPLES, flags, length)
            if not link.send_frame(writer, n):
                writer.seq = (writer.seq - 1) & 0xFFFF  # not sent: reuse the number
                break
            self.cursor += 1
            self._next_kept = kept + 1 if kept >= 0 else -1
            if self.cursor > self.sent_high:
                self.sent_high = self.cursor
            self.frames_sent += 1
            sent += 1
        return sent

    def _kept_slot(self, ram_oldest):
        """The flash slot of the first kept block at or after the cursor and before the RAM
        ring's oldest (the cursor moves to it), or -1."""
        spill = self.ring.spill
        if spill is None:
            return -1
        slot = self._next_kept
        # Kept blocks sit in block order: the next is most often in the next slot (one flash
        # read, where the search takes a dozen). The cursor is below the RAM ring's oldest.
        if 0 <= slot < spill.written and spill.block_at(slot) == self.cursor:
            return slot
        slot = spill.slot_of_block(self.cursor)
        if slot < 0:
            return -1
        block = spill.block_at(slot)
        if block >= ram_oldest:
            return -1
        self.cursor = block
        return slot
