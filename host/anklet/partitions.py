"""ESP-IDF partition tables: parse and build the binary table, and make room for `ankring`.

    table = parse(image[0x8000 - 0x1000 :][:TABLE_BYTES])   # the table inside an ESP32 image
    layout = with_ring(table, flash_size_bytes=4 * 1024 * 1024)
    write_at_0x8000 = build(layout.partitions)              # MD5 entry included, 0xFF-padded

The format, checked against ESP-IDF's own tool, components/partition_table/gen_esp32part.py
(espressif/esp-idf at 04959af6354ba28b5559f39ccb339b49521dc114): entries are
`STRUCT_FORMAT = b'<2sBBLL16sL'` with `MAGIC_BYTES = b'\\xAA\\x50'`; the label is NUL-padded
(`from_binary` cuts it at the first NUL); `to_binary` appends `MD5_PARTITION_BEGIN =
b'\\xEB\\xEB' + b'\\xFF' * 14` and the MD5 of all entry bytes before it, refuses a table of
`MAX_PARTITION_LENGTH = 0xC00` bytes or more and pads to 0xC00 with 0xFF; `from_binary` stops at
a row of 32 0xFF bytes and raises when the MD5 does not match. esptool (5.x) ships no
partition-table helper, so this module does it by hand.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace

TABLE_BYTES = 0xC00  # gen_esp32part's MAX_PARTITION_LENGTH: entries + MD5 entry + 0xFF padding
_ENTRY = struct.Struct("<2sBBII16sI")  # magic, type, subtype, offset, size, label, flags
_MAGIC = b"\xaa\x50"  # first bytes of a partition entry
_MD5_MAGIC = b"\xeb\xeb"  # first bytes of the MD5 entry; 14 bytes 0xFF, then the digest
_MD5_BEGIN = _MD5_MAGIC + b"\xff" * 14
_END = b"\xff" * _ENTRY.size  # an erased row ends the table
_LABEL_BYTES = 16

TYPE_APP = 0x00
TYPE_DATA = 0x01
SUBTYPE_FAT = 0x81  # MicroPython's partitions-4MiB.csv: "vfs, data, fat, 0x200000, 0x200000"

FS_LABEL = "vfs"  # MicroPython's filesystem partition (ports/esp32/modules/flashbdev.py)
RING_LABEL = "ankring"  # the firmware's flash-backed sample ring finds it by this label
RING_SUBTYPE = 0x40  # a data subtype ESP-IDF does not use; the firmware looks by label only
# 512 KiB: what a 10 s BLE drop at 1000 Hz takes with its reconnect and catch-up (about 20 s of
# samples; 256 KiB lost 1.4 s of them on the simulated ESP32: docs/INTEGRITY.md)
RING_BYTES = 0x80000
RING_ALIGN = 0x10000  # 64 KiB: whole flash blocks (ESP-IDF needs 4 KiB for data partitions)
_SECTOR = 0x1000  # ESP-IDF's alignment for data partitions
MIN_FS_BYTES = 0x80000  # the filesystem left for the firmware, its settings and logs: 512 KiB


class PartitionError(ValueError):
    """The table is damaged, or has no room for `ankring`; the message says which."""


@dataclass(frozen=True)
class Partition:
    label: str
    type: int  # TYPE_APP, TYPE_DATA, ...
    subtype: int
    offset: int  # flash address
    size: int  # bytes
    flags: int = 0  # bit 0: encrypted

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class RingLayout:
    """A table with `ankring`, and what it cost the filesystem."""

    partitions: tuple[Partition, ...]
    ring: Partition
    added: bool  # False: the table had `ankring` already and is kept as it was
    fs_bytes: int  # the filesystem partition's size in the new table
    fs_before_bytes: int  # ... and before (MicroPython >= 1.26: what it would have made at boot)


def parse(data: bytes) -> list[Partition]:
    """The partitions of a binary table; raises PartitionError if it is damaged.

    A table without the MD5 entry (ESP-IDF's --disable-md5sum) is accepted; one with an MD5
    entry that does not match its entries is not.
    """
    found: list[Partition] = []
    md5 = hashlib.md5()
    checked = False
    for at in range(0, min(len(data), TABLE_BYTES), _ENTRY.size):
        row = data[at : at + _ENTRY.size]
        if len(row) < _ENTRY.size:
            break
        if row == _END:
            return found
        if checked:
            raise PartitionError(f"the partition table has entries after its MD5 (at 0x{at:X})")
        if row[:2] == _MD5_MAGIC:
            if row[16:] != md5.digest():
                raise PartitionError(
                    f"the partition table's MD5 ({row[16:].hex()}) does not match its "
                    f"entries ({md5.hexdigest()}): the table is damaged"
                )
            checked = True
            continue
        if row[:2] != _MAGIC:
            raise PartitionError(
                f"the partition table has an entry without the 0xAA50 magic (at 0x{at:X})"
            )
        md5.update(row)
        _, ptype, subtype, offset, size, label, flags = _ENTRY.unpack(row)
        name = label.split(b"\0", 1)[0].decode("latin-1")  # any bytes, back as they were
        found.append(Partition(name, ptype, subtype, offset, size, flags))
    raise PartitionError("the partition table has no end (no erased row in its 0xC00 bytes)")


def build(partitions: Sequence[Partition]) -> bytes:
    """The binary table: entries, the MD5 entry, 0xFF up to TABLE_BYTES."""
    rows = b"".join(_entry(p) for p in partitions)
    table = rows + _MD5_BEGIN + hashlib.md5(rows).digest()
    if len(table) >= TABLE_BYTES:  # gen_esp32part's limit: an erased row must remain
        raise PartitionError(f"{len(partitions)} partitions do not fit in a partition table")
    return table + b"\xff" * (TABLE_BYTES - len(table))


def _entry(p: Partition) -> bytes:
    try:
        label = p.label.encode("latin-1")
    except UnicodeEncodeError:
        raise PartitionError(f"partition label {p.label!r} is not 8-bit text") from None
    if len(label) > _LABEL_BYTES:
        raise PartitionError(f"partition label {p.label!r} is longer than 16 bytes")
    return _ENTRY.pack(_MAGIC, p.type, p.subtype, p.offset, p.size, label, p.flags)


def find(partitions: Sequence[Partition], label: str) -> Partition | None:
    return next((p for p in partitions if p.label == label), None)


def with_ring(partitions: Sequence[Partition], flash_size_bytes: int) -> RingLayout:
    """The table with the filesystem ("vfs") RING_BYTES shorter and `ankring` at its end.

    A table that has `ankring` is kept as it is. A table without "vfs" (or "ffat") whose
    partitions end before `flash_size_bytes` is MicroPython >= 1.26's: it makes "vfs" at boot
    from the end of the firmware to the end of the flash (micropython#17337), where `ankring`
    would then overlap it; the new table names that "vfs" itself, RING_BYTES shorter.
    `flash_size_bytes` is the size in the image's header, which ESP-IDF's bootloader checks
    every partition against ("partition N invalid ... exceeds flash chip size").
    Raises PartitionError when there is no filesystem to take from, or too little.
    """
    parts = list(partitions)
    fs = find(parts, FS_LABEL)
    ring = find(parts, RING_LABEL)
    if ring is not None:
        size = fs.size if fs is not None else 0
        return RingLayout(tuple(parts), ring, added=False, fs_bytes=size, fs_before_bytes=size)
    if fs is None:
        fs = _fs_made_at_boot(parts, flash_size_bytes)
        parts.append(fs)
    ring_at = (fs.end - RING_BYTES) // RING_ALIGN * RING_ALIGN
    left = ring_at - fs.offset
    if left < MIN_FS_BYTES:
        raise PartitionError(
            f"the filesystem partition {FS_LABEL!r} is {fs.size // 1024} KiB: taking "
            f"{RING_BYTES // 1024} KiB for {RING_LABEL!r} would leave {max(left, 0) // 1024} KiB, "
            f"under the {MIN_FS_BYTES // 1024} KiB the firmware needs"
        )
    ring = Partition(RING_LABEL, TYPE_DATA, RING_SUBTYPE, ring_at, RING_BYTES)
    shorter = replace(fs, size=left)
    new: list[Partition] = []
    for p in parts:
        new.extend((shorter, ring) if p is fs else (p,))
    return RingLayout(tuple(new), ring, added=True, fs_bytes=left, fs_before_bytes=fs.size)


def _fs_made_at_boot(parts: list[Partition], flash_size_bytes: int) -> Partition:
    if find(parts, "ffat") is not None or not parts:
        raise PartitionError(
            f"the partition table has no {FS_LABEL!r} filesystem partition to take "
            f"{RING_BYTES // 1024} KiB from for {RING_LABEL!r}"
        )
    start = -(-max(p.end for p in parts) // _SECTOR) * _SECTOR
    if start >= flash_size_bytes:
        raise PartitionError(
            f"the partition table has no {FS_LABEL!r} filesystem partition and no flash "
            f"left after its partitions (they end at 0x{start:X}, the flash at "
            f"0x{flash_size_bytes:X}) to take {RING_BYTES // 1024} KiB from for {RING_LABEL!r}"
        )
    return Partition(FS_LABEL, TYPE_DATA, SUBTYPE_FAT, start, flash_size_bytes - start)
