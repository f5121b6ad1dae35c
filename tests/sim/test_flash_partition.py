"""The simulated board's `esp32.Partition` under MicroPython: the partition table, NOR flash
semantics (a program only clears bits, an erase sets a sector to 0xFF), the port's errors, the
`ankring` partition's bytes kept across interpreters, and the stall a flash operation costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SimRun

FIND_RING = """
import json, esp32, time, world
P = esp32.Partition
ring = P.find(P.TYPE_DATA, label="ankring")[0]
chip = world.get().flash


def err(fn, *args):
    try:
        fn(*args)
        return None
    except OSError as exc:
        return list(exc.args)


def read(block, n, offset=0):
    buf = bytearray(n)
    ring.readblocks(block, buf, offset)
    return buf.hex()
"""


def ring_file(board_dir: Path) -> Path:
    """Where the launcher's board keeps its other state: beside its flash folder."""
    return board_dir.parent / f".{board_dir.name}.ankring.bin"


def test_find_gives_the_table_by_type_and_label(sim_run):
    out = sim_run.json(
        """
import json, esp32
P = esp32.Partition
print(json.dumps({
    "ring": [p.info() for p in P.find(P.TYPE_DATA, label="ankring")],
    "ring_by_subtype": [p.info()[4] for p in P.find(P.TYPE_DATA, 0x40)],
    "apps": [p.info() for p in P.find(P.TYPE_APP)],
    "default_type": [p.info()[4] for p in P.find()],
    "data": [p.info()[4] for p in P.find(P.TYPE_DATA)],
    "none": P.find(P.TYPE_DATA, label="nothing"),
    "by_label": P("vfs").info()[4], "running": P(P.RUNNING).info()[4],
    "repr": repr(P("ankring")),
}))
"""
    )
    # type data, subtype 0x40, 512 KiB at the end of the 4 MiB flash, not encrypted
    assert out["ring"] == [[1, 0x40, 0x380000, 0x80000, "ankring", False]]
    assert out["ring_by_subtype"] == ["ankring"]
    assert out["apps"] == [[0, 0x00, 0x10000, 0x1F0000, "factory", False]]
    assert out["default_type"] == ["factory"]  # find()'s type defaults to TYPE_APP, as the port's
    assert out["data"] == ["nvs", "phy_init", "vfs", "ankring"]  # address order
    assert out["none"] == []
    assert (out["by_label"], out["running"]) == ("vfs", "factory")
    assert out["repr"] == (
        "<Partition type=1, subtype=64, address=3670016, size=524288, label=ankring, encrypted=0>"
    )


def test_a_board_flashed_without_the_ring_has_no_ankring(sim_run):
    out = sim_run.json(
        """
import json, esp32
P = esp32.Partition
print(json.dumps([P.find(P.TYPE_DATA, label="ankring"), P("vfs").info()[3]]))
""",
        config={"flash_ring_kb": 0},
    )
    assert out == [[], 0x200000]  # vfs keeps the whole 2 MiB
    assert not ring_file(sim_run.tmp_path).exists()


def test_ring_size_follows_flash_ring_kb_and_rejects_partial_sectors(sim_run):
    out = sim_run.json(
        "import json, esp32\nr, vfs = esp32.Partition('ankring'), esp32.Partition('vfs')\n"
        "print(json.dumps([r.info()[2:4], r.ioctl(4, 0), r.ioctl(5, 0), vfs.info()[3]]))",
        config={"flash_ring_kb": 64},
    )
    assert out == [[0x3F0000, 0x10000], 16, 4096, 0x1F0000]
    result = sim_run("import esp32\nesp32.Partition.find()", config={"flash_ring_kb": 6})
    assert result.returncode != 0
    assert "flash_ring_kb 6: whole 4 KB sectors" in result.stdout + result.stderr


def test_a_fresh_partition_reads_erased(sim_run):
    out = sim_run.json(
        FIND_RING
        + "print(json.dumps([read(0, 16), read(63, 8, 4088), ring.ioctl(4, 0), ring.ioctl(5, 0),"
        " [ring.ioctl(op, 0) for op in (1, 2, 3)], ring.ioctl(99, 0)]))"
    )
    assert out == ["ff" * 16, "ff" * 8, 128, 4096, [0, 0, 0], None]
    assert ring_file(sim_run.tmp_path).read_bytes() == b"\xff" * 0x80000


def test_a_write_with_offset_only_clears_bits_and_an_erase_sets_them(sim_run):
    out = sim_run.json(
        FIND_RING
        + """
out = []
ring.writeblocks(2, b"\\xf0\\xf0\\xaa", 100)
out.append(read(2, 3, 100))
ring.writeblocks(2, b"\\x0f\\x3c\\xff", 100)     # no erase: old & new
out.append(read(2, 3, 100))
out.append(ring.ioctl(6, 2))                      # erase block 2
out.append(read(2, 3, 100))
ring.writeblocks(3, b"\\x00", 0)
ring.writeblocks(3, bytes(range(256)) * 16)       # no offset: erases block 3 first
out.append(read(3, 4))
out.append(read(2, 4, 4092) + read(4, 4))         # its neighbours untouched
print(json.dumps(out))
"""
    )
    assert out == ["f0f0aa", "0030aa", 0, "ffffff", "00010203", "ff" * 8]


def test_out_of_range_raises_oserror_with_the_esp_err_code(sim_run):
    out = sim_run.json(
        FIND_RING
        + """
vfs = P("vfs")
print(json.dumps({
    "past_end": err(ring.readblocks, 65, bytearray(1)),
    "overruns": err(ring.readblocks, 63, bytearray(16), 4090),
    "at_end_empty": err(ring.readblocks, 64, bytearray(0)),
    "negative_block": err(ring.writeblocks, -1, b"x", 0),
    "write_overruns": err(ring.writeblocks, 64, b"x", 0),
    "erase_past_end": err(ring.ioctl, 6, 64),
    "erase_part_sector": err(ring.writeblocks, 0, b"abc"),
    "vfs_read": err(vfs.readblocks, 0, bytearray(4)),
    "vfs_erase": err(vfs.ioctl, 6, 0),
    "vfs_count": vfs.ioctl(4, 0),
    "missing": err(P, "nothing"),
}))
""",
        config={"flash_ring_kb": 256},  # 64 sectors: the block numbers above
    )
    arg, size = [-258, "ESP_ERR_INVALID_ARG"], [-260, "ESP_ERR_INVALID_SIZE"]
    assert out["past_end"] == arg  # offset > size
    assert out["overruns"] == size  # offset + len > size
    assert out["at_end_empty"] is None
    assert out["negative_block"] == arg  # -1 * 4096 as a C uint32: far past the end
    assert out["write_overruns"] == size
    assert out["erase_past_end"] == size  # offset == size, offset + 4096 > size
    assert out["erase_part_sector"] == size  # erase_range of 3 bytes
    assert out["vfs_read"] == out["vfs_erase"] == [95, "ESP_ERR_NOT_SUPPORTED"]  # not emulated
    assert out["vfs_count"] == 448  # 2 MiB - 256 KiB (this ring), in 4 KiB blocks
    assert out["missing"] == [2]  # ENOENT


def test_the_ring_keeps_its_bytes_across_interpreters_of_the_same_board(sim_run):
    sim_run(FIND_RING + 'ring.writeblocks(5, b"kept", 7)\nprint(json.dumps(read(5, 4, 7)))')
    assert ring_file(sim_run.tmp_path).exists()
    assert sim_run.json(FIND_RING + "print(json.dumps(read(5, 4, 7)))") == b"kept".hex()
    # Another size is another table (a board flashed again): erased, as `anklet flash` leaves it.
    out = sim_run.json(
        FIND_RING + "print(json.dumps([read(5, 4, 7), ring.ioctl(4, 0)]))",
        config={"flash_ring_kb": 128},
    )
    assert out == ["ffffffff", 32]


def test_another_board_has_its_own_ring(sim_run, tmp_path_factory):
    sim_run(FIND_RING + 'ring.writeblocks(0, b"one", 0)')
    other = SimRun(tmp_path_factory.mktemp("other-board"))
    assert other.json(FIND_RING + "print(json.dumps(read(0, 3)))") == "ffffff"


def test_an_erase_or_program_stalls_the_interpreter_for_the_flash_time(sim_run):
    out = sim_run.json(
        FIND_RING
        + """
out = {"erase_us": chip.erase_us, "page_us": chip.page_us}
t0, sleeps0, stalled0 = time.ticks_us(), time.sleeps[0], chip.stalled_us
ring.ioctl(6, 1)
out["erase"] = [chip.stalled_us - stalled0, time.sleeps[0] - sleeps0,
                time.ticks_diff(time.ticks_us(), t0) >= 30000, chip.erases]
stalled0 = chip.stalled_us
ring.writeblocks(1, bytes(400), 200)    # bytes 200..599: pages 0, 1 and 2
out["spanning"] = [chip.stalled_us - stalled0, chip.pages]
stalled0 = chip.stalled_us
ring.writeblocks(2, bytes(4096))        # one sector erased, 16 pages programmed
out["whole_block"] = chip.stalled_us - stalled0
stalled0, sleeps0 = chip.stalled_us, time.sleeps[0]
buf = bytearray(4096)
ring.readblocks(2, buf)
out["read"] = [chip.stalled_us - stalled0, time.sleeps[0] - sleeps0]
print(json.dumps(out))
""",
        config={"flash_erase_ms": 30, "flash_write_ms": 2.5},
    )
    assert (out["erase_us"], out["page_us"]) == (30000, 2500)
    # The board's own accounting (the wall clock only bounds it from below: a sleep never ends
    # early, however loaded the machine is).
    assert out["erase"] == [30000, 1, True, 1]  # one sleep of the sector's 30 ms
    assert out["spanning"] == [3 * 2500, 3]
    assert out["whole_block"] == 30000 + 16 * 2500
    assert out["read"] == [0, 0]  # reads are not timed


def test_the_default_timing_is_the_w25q32jv_typical_figures(sim_run):
    out = sim_run.json(
        FIND_RING
        + "ring.ioctl(6, 0)\nprint(json.dumps([chip.erase_us, chip.page_us, chip.stalled_us]))"
    )
    assert out == [45000, 400, 45000]  # tSE 45 ms, tPP 0.4 ms


def test_zero_times_do_not_sleep(sim_run):
    out = sim_run.json(
        FIND_RING + "s = time.sleeps[0]\nring.writeblocks(0, bytes(4096))\n"
        "print(json.dumps([chip.stalled_us, time.sleeps[0] - s]))",
        config={"flash_erase_ms": 0, "flash_write_ms": 0},
    )
    assert out == [0, 0]


def test_reads_and_programs_with_offset_do_not_allocate(sim_run):
    """The firmware programs from its allocation-free sampler (heap locked there in tests)."""
    out = sim_run.json(
        FIND_RING
        + """
import micropython
buf = bytearray(256)


def hot():
    ring.writeblocks(3, buf, 256)
    ring.readblocks(3, buf, 256)
    return ring.ioctl(4, 0)


hot()
micropython.heap_lock()
try:
    n = hot()
finally:
    micropython.heap_unlock()
print(json.dumps(n))
""",
        config={"flash_write_ms": 0},
    )
    assert out == 128


@pytest.mark.parametrize("key", ["flash_erase_ms", "flash_write_ms"])
def test_negative_times_are_refused(sim_run, key):
    result = sim_run("import esp32\nesp32.Partition.find()", config={key: -1})
    assert result.returncode != 0
    assert f"{key} -1.0: a time, not negative" in result.stdout + result.stderr
