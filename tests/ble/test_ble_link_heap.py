"""BleLink's notify path allocates nothing (heap_lock under the unix MicroPython port)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FIRMWARE, SIM_MPY, run_micropython


def test_notify_path_allocates_nothing_after_warm_up() -> None:
    result = run_micropython(Path(__file__).with_name("mpy_ble_heap.py"), path=[SIM_MPY, FIRMWARE])
    assert result.stdout.startswith("ok"), result.stdout + result.stderr


def test_samples_wait_one_connection_event_after_the_buffers_were_full() -> None:
    # A central's write gets its answer only from a free NimBLE buffer: notifying again the
    # moment one freed kept a slow link's commands out for seconds (the back-pressure test).
    result = run_micropython(
        Path(__file__).with_name("mpy_ble_backoff.py"), path=[SIM_MPY, FIRMWARE]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    steps = json.loads(result.stdout.strip().splitlines()[-1])
    assert steps == [
        ["full", False],
        ["after full", 0, 1, 1],  # tried once, counted
        ["10 ms later", False],
        ["held", 10_000, 1, 1],  # not tried: the freed buffer stays free
        ["control", 10_000, 2, 1],  # a control frame goes at once
        ["35 ms later", True],
        ["sent", 35_000, 3, 1],
    ]
