"""ESP-IDF partition tables (partitions.py): the binary format against a table packed here by
hand as gen_esp32part.py writes it, and the room `anklet flash` makes for `ankring`."""

from __future__ import annotations

import hashlib
import struct

import pytest
from anklet.partitions import (
    RING_BYTES,
    TABLE_BYTES,
    Partition,
    PartitionError,
    build,
    find,
    parse,
    with_ring,
)
from hypothesis import given
from hypothesis import strategies as st

MiB = 1024 * 1024

# MicroPython's ports/esp32/partitions-4MiB.csv up to v1.25 (name, type, subtype, offset, size):
# nvs, phy_init and the factory app as ESP-IDF's single-app table has them, the rest "vfs".
STOCK_4MIB = [
    ("nvs", 0x01, 0x02, 0x9000, 0x6000),
    ("phy_init", 0x01, 0x01, 0xF000, 0x1000),
    ("factory", 0x00, 0x00, 0x10000, 0x1F0000),
    ("vfs", 0x01, 0x81, 0x200000, 0x200000),
]


def packed(rows, md5: bool = True) -> bytes:
    """A binary table as gen_esp32part.py's to_binary writes it (esp-idf 04959af)."""
    entries = b"".join(
        struct.pack("<2sBBII16sI", b"\xaa\x50", t, s, o, n, label.encode(), 0)
        for label, t, s, o, n in rows
    )
    table = entries
    if md5:
        table += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(entries).digest()
    return table + b"\xff" * (0xC00 - len(table))


def parts(rows) -> list[Partition]:
    return [Partition(*row) for row in rows]


def test_stock_table_parses_and_builds_to_the_same_bytes():
    binary = packed(STOCK_4MIB)
    table = parse(binary)
    assert table == parts(STOCK_4MIB)
    assert build(table) == binary
    assert len(build(table)) == TABLE_BYTES


labels = st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), min_size=1, max_size=16)
u32 = st.integers(min_value=0, max_value=0xFFFFFFFF)
entries = st.builds(
    Partition,
    label=labels,
    type=st.integers(0, 0xFE),
    subtype=st.integers(0, 0xFE),
    offset=u32,
    size=u32,
    flags=st.integers(0, 1),
)


@given(st.lists(entries, max_size=94))
def test_any_table_survives_build_then_parse(table):
    binary = build(table)
    assert len(binary) == TABLE_BYTES
    assert parse(binary) == table


def test_table_with_a_corrupt_md5_is_refused():
    binary = bytearray(packed(STOCK_4MIB))
    binary[3 * 32 + 8] ^= 0x01  # vfs's offset, one bit: the MD5 entry no longer matches
    with pytest.raises(PartitionError, match=r"MD5 .* does not match"):
        parse(bytes(binary))
    binary = bytearray(packed(STOCK_4MIB))
    binary[4 * 32 + 31] ^= 0xFF  # the digest itself
    with pytest.raises(PartitionError, match="MD5"):
        parse(bytes(binary))


def test_table_without_md5_entry_is_read_as_gen_esp32part_reads_it():
    assert parse(packed(STOCK_4MIB, md5=False)) == parts(STOCK_4MIB)


def test_table_without_an_end_or_with_a_bad_entry_is_refused():
    with pytest.raises(PartitionError, match="no end"):
        parse(packed([("p", 1, 0x81, 0x9000, 0x1000)] * 96, md5=False))  # 0xC00, no erased row
    with pytest.raises(PartitionError, match="0xAA50 magic"):
        parse(b"\x12\x34" + packed(STOCK_4MIB)[2:])


def test_too_many_partitions_are_refused():
    with pytest.raises(PartitionError, match="do not fit"):
        build([Partition(f"p{i}", 1, 0x81, i * 0x1000, 0x1000) for i in range(95)])


def test_ring_is_taken_from_the_end_of_the_stock_filesystem():
    layout = with_ring(parse(packed(STOCK_4MIB)), flash_size_bytes=4 * MiB)
    assert layout.added
    assert [p.label for p in layout.partitions] == [
        "nvs",
        "phy_init",
        "factory",
        "vfs",
        "ankring",
    ]
    vfs, ring = find(layout.partitions, "vfs"), find(layout.partitions, "ankring")
    assert vfs == Partition("vfs", 0x01, 0x81, 0x200000, 0x180000)
    assert ring == Partition("ankring", 0x01, 0x40, 0x380000, 0x80000)
    assert layout.ring == ring
    assert (layout.fs_before_bytes, layout.fs_bytes) == (0x200000, 0x180000)
    assert parse(build(layout.partitions)) == list(layout.partitions)


def test_table_that_has_ankring_is_kept_as_it_is():
    rows = [
        *STOCK_4MIB[:3],
        ("vfs", 1, 0x81, 0x200000, 0x100000),
        ("ankring", 1, 0x40, 0x300000, 0x100000),
    ]
    layout = with_ring(parts(rows), flash_size_bytes=4 * MiB)
    assert not layout.added
    assert list(layout.partitions) == parts(rows)
    assert layout.ring == Partition("ankring", 1, 0x40, 0x300000, 0x100000)
    assert layout.fs_bytes == layout.fs_before_bytes == 0x100000


def test_table_without_vfs_is_refused_with_what_is_missing():
    rows = [*STOCK_4MIB[:3], ("ffat", 1, 0x81, 0x200000, 0x200000)]  # TinyUF2's layout
    with pytest.raises(PartitionError, match=r"no 'vfs' filesystem partition .* 'ankring'"):
        with_ring(parts(rows), flash_size_bytes=4 * MiB)


def test_filesystem_that_would_keep_under_512_kib_is_refused():
    rows = [*STOCK_4MIB[:3], ("vfs", 1, 0x81, 0x200000, 0xF0000)]  # 960 KiB
    with pytest.raises(PartitionError, match=r"is 960 KiB: .* would leave 448 KiB, under the 512"):
        with_ring(parts(rows), flash_size_bytes=4 * MiB)


def test_micropython_126_table_gets_its_filesystem_written_out_512_kib_shorter():
    # From v1.26 (micropython#17337) the table stops after the app; MicroPython makes "vfs"
    # at boot from there to the end of the flash, over where `ankring` would be.
    rows = STOCK_4MIB[:3]
    layout = with_ring(parts(rows), flash_size_bytes=4 * MiB)
    assert list(layout.partitions) == [
        *parts(rows),
        Partition("vfs", 0x01, 0x81, 0x200000, 0x180000),
        Partition("ankring", 0x01, 0x40, 0x380000, RING_BYTES),
    ]
    assert (layout.fs_before_bytes, layout.fs_bytes) == (0x200000, 0x180000)
    with pytest.raises(PartitionError, match="no flash left"):
        with_ring(parts(rows), flash_size_bytes=2 * MiB)


def test_ring_is_64_kib_aligned_and_inside_an_unaligned_filesystem():
    # partitions-16MiB.csv once had vfs 0x200000 + 0xD59F80 (14,000,000 bytes: micropython#8266)
    rows = [*STOCK_4MIB[:3], ("vfs", 1, 0x81, 0x200000, 0xD59F80)]
    layout = with_ring(parts(rows), flash_size_bytes=16 * MiB)
    vfs, ring = find(layout.partitions, "vfs"), layout.ring
    assert vfs is not None
    assert ring.offset % 0x10000 == 0
    assert vfs.end == ring.offset
    assert ring.end <= 0x200000 + 0xD59F80
