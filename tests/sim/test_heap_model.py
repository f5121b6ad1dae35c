"""The simulated board's heap as an ESP32's (sim/cmodules/ankletwork/heap_model.c, figures in
anklet_sim/heap.py): MicroPython's own growth code over a model of the ESP-IDF heap, checked
against the published ESP32 figures it was built from, and NimBLE's share of that heap taken at
ble.active(True), which a Python heap that grew first can leave short (micropython#14293)."""

from __future__ import annotations

from anklet_sim.heap import ESP32_GENERIC

P = ESP32_GENERIC
BEGIN = (
    "import gc, micropython, ankletwork\n"
    f"ankletwork.heap_begin({P.first_area_bytes}, {P.first_area_used}, "
    f"{list(P.idf_free_regions)}, {P.nimble_bytes})\n"
    "gc.collect()\n"
)


def test_a_fresh_board_has_what_an_esp32_has_free_at_boot(sim_run):
    # micropython.mem_info() on an ESP32_GENERIC at boot: free 54048, max new split 57344.
    # Within 64 bytes: this build's GC tables for the 56 KiB area are a few blocks larger.
    (free,) = sim_run.json(BEGIN + "import json\nprint(json.dumps([gc.mem_free()]))")
    assert abs(free - (54048 + 57344)) <= 64


def test_the_heap_grows_once_by_its_own_size_and_leaves_the_idf_about_40_kb(sim_run):
    # PR #13219 on an ESP32: grown once, the heap is twice its first area, "with about 40k left
    # for the IDF". gc.mem_free() then counts the largest block the ESP-IDF heap could still
    # add, as TLSF reports it.
    out = sim_run.json(
        BEGIN + "import json\n"
        "keep = [bytearray(4000) for i in range(2)]\n"
        "while ankletwork.heap_state()[1] == 1:\n"
        "    keep.append(bytearray(4000))\n"
        "state = ankletwork.heap_state()\n"
        "print(json.dumps([state[1], list(state[3])]))"
    )
    areas, regions = out
    assert areas == 2
    # The second area is the first's 57 344 bytes (within this build's 64 bytes of GC tables),
    # from the region that held it.
    assert abs((58_368 - regions[0]) - 57_344) <= 64 and regions[1] == 39_936
    assert 38_000 <= sum(regions) <= 42_000


def test_an_area_emptied_by_a_collection_goes_back_to_the_idf_heap(sim_run):
    out = sim_run.json(
        BEGIN + "import json\n"
        "keep = [bytearray(20000) for i in range(3)]\n"
        "grown = ankletwork.heap_state()[1]\n"
        "keep = None\n"
        "gc.collect()\n"
        "print(json.dumps([grown, ankletwork.heap_state()[1], list(ankletwork.heap_state()[3])]))"
    )
    assert out == [2, 1, list(P.idf_free_regions)]


def test_nimble_takes_its_share_from_the_smallest_regions_first(sim_run):
    out = sim_run.json(
        BEGIN + "import json, bluetooth\n"
        "try:\n"
        "    bluetooth.BLE().active(True)\n"
        "except OSError:\n"
        "    pass  # no controller in this snippet: the share is taken all the same\n"
        "state = ankletwork.heap_state()\n"
        "print(json.dumps([list(state[3]), state[4]]))"
    )
    assert out == [[58_368, 39_936 - 32_768], True]


def test_a_heap_grown_before_the_radio_leaves_nimble_short(sim_run):
    # micropython#14293's order (an ESP32-C3 with 40 KB taken): on the ESP32's figures it takes
    # 100 KB, enough to grow the heap twice, then ble.active(True). A real board panics there;
    # the model fails it with ENOMEM and says why.
    result = sim_run(
        BEGIN + "import bluetooth\n"
        "keep = [bytearray(20000) for i in range(5)]\n"
        "try:\n"
        "    bluetooth.BLE().active(True)\n"
        "    print('radio up')\n"
        "except OSError as exc:\n"
        "    print('OSError', exc.errno)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "needs 32768 bytes of the ESP-IDF heap for NimBLE" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "OSError 12"


def test_the_firmware_ring_taken_after_the_radio_leaves_it_its_share(sim_run):
    # The app's order (tests/firmware/test_radio_before_ring.py): radio, then ring.reserve(),
    # which sizes itself from gc.mem_free() and grows the heap into what NimBLE left.
    out = sim_run.json(
        BEGIN + "import json, bluetooth, ring\n"
        "try:\n"
        "    bluetooth.BLE().active(True)\n"
        "except OSError:\n"
        "    pass\n"
        "stores = ring.reserve()\n"
        "state = ankletwork.heap_state()\n"
        "print(json.dumps([sum(len(s) for s in stores), state[1], list(state[3]), state[4]]))"
    )
    ring_bytes, areas, regions, nimble_up = out
    assert nimble_up is True
    assert ring_bytes >= 16 * 1024
    # NimBLE kept its share: what the regions lost is it and the areas the heap added.
    taken = sum(P.idf_free_regions) - sum(regions)
    assert abs(taken - (P.nimble_bytes + 57_344 * (areas - 1))) <= 64


GARBAGE = (
    "import json, cpu\n"
    "free = gc.mem_free()\n"
    "cpu.enter()\n"
    "for i in range(3000):\n"
    "    junk = bytearray(1000)  # 3 MB: far more than the firmware's heap could hold\n"
    "kept = bytearray(20000)\n"
    "cpu.leave()\n"
    "state = ankletwork.heap_state()\n"
    "print(json.dumps([state[1], free - gc.mem_free(), cpu.HEAP]))"
)


def test_what_the_emulated_hardware_allocates_stays_out_of_the_firmwares_heap(sim_run):
    # Between the CPU model's enter() and leave() (every call into the emulated hardware) the
    # interpreter runs the emulator: its garbage, the motion model's floats at every sample,
    # does not exist on an ESP32 and must neither collect nor grow the firmware's heap.
    areas, taken, tracked = sim_run.json(
        BEGIN + GARBAGE, env={"ANKLET_SIM_HEAP": P.env()}, heapsize="1m"
    )
    assert tracked is True
    assert areas == 1  # the firmware's heap did not grow
    assert taken < 1000  # and what the hardware keeps (20 KB) is not on it


def test_the_firmwares_own_allocations_are_on_its_heap(sim_run):
    # The same code as firmware (no heap model in cpu.py: enter() and leave() do nothing).
    _areas, taken, tracked = sim_run.json(BEGIN + GARBAGE, heapsize="1m")
    assert tracked is False
    assert taken >= 20000
