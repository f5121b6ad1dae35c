"""The ring keeps what the host has not acknowledged in flash (spill.py), under MicroPython
against a NOR-flash partition (writes only clear bits, erases are per 4 KB sector): before it,
a RAM ring of 2.5 s at 1000 Hz was the whole refill window on a DevKitC without PSRAM."""

from __future__ import annotations

import json
from pathlib import Path

SCRIPT = Path(__file__).with_name("mpy_flash_spill.py")
PER_BLOCK = 15


def cases(micropython) -> dict[str, dict]:
    result = micropython(SCRIPT)
    assert result.returncode == 0, result.stderr
    found = [json.loads(line) for line in result.stdout.splitlines()]
    return {case.pop("case"): case for case in found}


def test_the_flash_ring(micropython):
    got = cases(micropython)

    # A host that never acknowledges (older than protocol 1.3): flash is never written.
    assert got["no_ack"] == {"written": 0, "programs": 0, "find_old": -1}

    # Acknowledged to block 3, then the link dropped: blocks 3-15 went to flash as the RAM
    # ring (4 slots) overwrote them, 0-2 did not (the host had them). A RESEND from inside
    # block 3 gets blocks 3-19 back, in order, whole, flagged RESENT (block 7 keeps its
    # GAP_BEFORE), from flash and then RAM; no write went over unerased bytes.
    drop = got["drop"]
    assert drop["written"] == 13 and drop["block"] == 3
    assert drop["firsts"] == [block * PER_BLOCK for block in range(3, 20)]
    assert drop["flags"] == [3 if first == 7 * PER_BLOCK else 1 for first in drop["firsts"]]
    assert drop["whole"] is True and drop["dirty"] == 0
    assert drop["oldest"] == 3 * PER_BLOCK and drop["kept_end"] == 16 * PER_BLOCK

    # One sector (16 slots) full: blocks 16-25 were not kept. A RESEND inside them is refused
    # and told the next index held, the RAM ring's oldest (the host counts the rest lost); a
    # RESEND from a kept block sends the kept ones, then jumps the hole to RAM.
    full = got["full"]
    assert (full["written"], full["refused"], full["block"]) == (16, 10, -1)
    assert full["held_after"] == full["ram_oldest"] == 26 * PER_BLOCK
    assert full["kept_block"] == 5
    assert full["kept_firsts"] == [b * PER_BLOCK for b in [*range(5, 16), *range(26, 30)]]

    # A restarted stream still finds what was kept before (block 0). Acknowledged: erased
    # again, only the sector used (the others read blank), all ready.
    assert got["tidy"] == {
        "erased": 1,
        "ready": 64,
        "slots": 64,
        "written": 0,
        "old_visible": 0,
        "slot_bytes": 256,
    }

    # While sampling, a sector a reset left dirty is not erased (an erase stalls the CPU for
    # 45 ms, more than the IMU FIFO lasts at 1000 Hz): the flash ring stops short of it until
    # the board is idle, then it is erased and the rest checked.
    assert got["dirty"] == {"ready_sampling": 16, "erases_sampling": 0, "ready": 64, "erases": 1}


def test_catching_up_from_flash_reads_each_kept_block_once_and_yields_to_the_sampler(micropython):
    got = cases(micropython)

    # 40 blocks back from flash, in order: the probe of the next slot, its length and its
    # payload, 3 reads a block after the first block's search (a binary search of every block
    # took 8 to 9 here, and 14 to 15 on a full 512 KiB ring).
    catchup = got["catchup"]
    assert catchup["firsts"] == [block * PER_BLOCK for block in range(44)]
    assert catchup["sent"] == 44
    assert catchup["reads"] <= 3 * 40 + 8

    # A pump spends at most its budget (15 ms: the IMU FIFO holds 85 ms at 1000 Hz), then
    # returns with blocks still pending; a spent budget still sends one.
    budget = got["budget"]
    assert 10 <= budget["first"] <= 15
    assert budget["second"] == 1
    assert budget["pending"] == 44 - budget["first"] - 1


def test_a_link_that_cannot_take_a_block_costs_the_pump_no_flash_read(micropython):
    # Five pumps while the link is busy (a serial frame going out, a BLE back-off): each asks
    # the link first, so no block is read from flash, copied, sealed or refused.
    got = cases(micropython)["busy"]
    assert got == {"sent": [0] * 5, "reads": 0, "seq": 0, "refused": 0, "after": 44}
