# The simulated board's SPI NOR flash: its partition table, and the bytes of the one partition
# the firmware writes raw (`ankring`, the sample ring `anklet flash` adds), with NOR semantics and
# the time each operation holds the CPU. esp32.py offers it as MicroPython's esp32.Partition.
#
#     chip = world.get().flash
#     chip.open()                      # the ring's file (created erased on first use)
#     chip.erase(0, 4096)              # its sector 0 back to 0xFF; the interpreter stalls 45 ms
#     chip.program(16, b"\x0f")        # stored = old & new: a program only clears bits
#
# The table: MicroPython's ESP32_GENERIC 4 MiB layout (ports/esp32/partitions-4MiB.csv: nvs at
# 0x9000 24K, phy_init 0xf000 4K, factory 0x10000 1984K, vfs 0x200000 2048K) with `ankring`
# (data, subtype 0x40, sim config flash_ring_kb, default 512; 0: a board flashed without it)
# taken from the end of vfs. Only ankring has bytes here: the simulated board's file system is
# a folder, so vfs, nvs and the app are table entries (esp32.py refuses to read or write them).
#
# Where the bytes live: a file beside the board's flash folder, named as the launcher names the
# board's other state (`.<folder>.sim.json`, `.<folder>.faults.json`): `.<folder>.ankring.bin`.
# The interpreter runs in the flash folder (launcher.py: cwd=flash_dir), so the path follows from
# the working directory at boot. The file outlives the interpreter, as a partition keeps its
# bytes across resets and power cycles; one that is missing (a fresh board) or of another size
# (a board flashed with another table) starts erased, all 0xFF, as `anklet flash` leaves it.
# It is created at the first use of the partition, not at boot, and read and written in place
# (seek, readinto, write): the 256 KB are never held in the interpreter's heap. Reads, programs
# and erases allocate nothing (the firmware programs from its allocation-free sampler).
#
# Timing, from the Winbond W25Q32JV datasheet (a 4 MB SPI NOR flash as ESP32-WROOM-32 modules
# carry; AC Electrical Characteristics): sector erase (4 KB) tSE 45 ms typical, 400 ms max; page
# program (256 B) tPP 0.4 ms typical, 3 ms max. The typical figures are the defaults; sim config
# flash_erase_ms (per sector) and flash_write_ms (per 256-byte page touched) set others, e.g.
# the maxima for a worn part. The call blocks the interpreter that long (time.sleep_us) because
# on an ESP32 it does: ESP-IDF disables the flash cache for a flash write or erase, suspends the
# other tasks, holds the other core in a busy loop and defers interrupts that are not IRAM-safe
# until the chip is done (ESP-IDF docs, "Concurrency Constraints for Flash on SPI1"); the
# MicroPython task is the one waiting. Meanwhile the emulated sensors run on in real time, so
# the IMU's FIFO fills as on the bench. Not modelled: read time (tens of µs per 256 bytes on the
# SPI bus), and the ESP32's 64-byte program commands (SPI_FLASH_HAL_MAX_WRITE_BYTES), counted as
# whole pages. stalled_us, erases and pages count what the board has spent, for tests and the
# bench.
import os
import time

SECTOR = 4096  # erase unit, and esp32.Partition's block size
PAGE = 256  # program unit
TYPE_APP = 0
TYPE_DATA = 1
RING_LABEL = "ankring"
RING_SUBTYPE = 0x40
_VFS_START = 0x200000
_FLASH_END = 0x400000
_BLANK = b"\xff" * PAGE


def ring_file():
    """The ring's file for the board whose flash folder is the working directory."""
    here = os.getcwd().rstrip("/")
    cut = here.rfind("/")
    return "%s/.%s.ankring.bin" % (here[:cut], here[cut + 1 :])


class FlashChip:
    def __init__(self, ring_kb=512, erase_ms=45.0, write_ms=0.4, path=None):
        ring_kb = int(ring_kb)
        if ring_kb < 0 or ring_kb % 4 or ring_kb * 1024 >= _FLASH_END - _VFS_START:
            raise ValueError(
                "flash_ring_kb %r: whole 4 KB sectors, 0 (no ankring partition) to 2044"
                % (ring_kb,)
            )
        for key, ms in (("flash_erase_ms", erase_ms), ("flash_write_ms", write_ms)):
            if ms < 0:
                raise ValueError("%s %r: a time, not negative" % (key, ms))
        self.erase_us = int(erase_ms * 1000)
        self.page_us = int(write_ms * 1000)
        ring = ring_kb * 1024
        # (type, subtype, address, size, label), in address order as esp_partition_find gives
        self.table = [
            (TYPE_DATA, 0x02, 0x9000, 0x6000, "nvs"),
            (TYPE_DATA, 0x01, 0xF000, 0x1000, "phy_init"),
            (TYPE_APP, 0x00, 0x10000, 0x1F0000, "factory"),
            (TYPE_DATA, 0x81, _VFS_START, _FLASH_END - _VFS_START - ring, "vfs"),
        ]
        if ring:
            self.table.append((TYPE_DATA, RING_SUBTYPE, _FLASH_END - ring, ring, RING_LABEL))
        self.ring_size = ring
        self.path = path or ring_file()
        self._f = None
        self._page = bytearray(PAGE)
        self.stalled_us = 0  # time the interpreter stood still in flash operations
        self.erases = 0  # sectors erased
        self.pages = 0  # pages programmed (each partial page counts as one)

    def open(self):
        """Open the ring's file, creating it erased if absent or of another size."""
        if self._f is not None:
            return
        try:
            fresh = os.stat(self.path)[6] != self.ring_size
        except OSError:
            fresh = True
        if fresh:
            with open(self.path, "wb") as f:
                for _ in range(self.ring_size // PAGE):
                    f.write(_BLANK)
        self._f = open(self.path, "r+b")

    # Offsets are within the ring partition (its file); it starts on a sector boundary, so
    # its pages and sectors are the chip's.

    def read_into(self, addr, buf):
        f = self._f
        f.seek(addr)
        f.readinto(buf)

    def program(self, addr, data):
        """NOR page program: each byte becomes old & new. Costs write_ms per page touched."""
        f = self._f
        old = self._page
        n = len(data)
        done = 0
        pages = 0
        while done < n:
            at = addr + done
            k = PAGE - at % PAGE
            if k > n - done:
                k = n - done
            f.seek(at)
            f.readinto(old, k)
            for i in range(k):
                old[i] &= data[done + i]
            f.seek(at)
            f.write(old, 0, k)
            done += k
            pages += 1
        self.pages += pages
        self._stall(pages * self.page_us)

    def erase(self, addr, size):
        """Sectors back to 0xFF (addr and size whole sectors). Costs erase_ms per sector."""
        f = self._f
        f.seek(addr)
        for _ in range(size // PAGE):
            f.write(_BLANK)
        sectors = size // SECTOR
        self.erases += sectors
        self._stall(sectors * self.erase_us)

    def _stall(self, us):
        # The flash cache is off: nothing of the interpreter runs until the chip is done.
        if us > 0:
            time.sleep_us(us)
            self.stalled_us += us
