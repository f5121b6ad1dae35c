"""BleLink's notify path allocates nothing (heap_lock under the unix MicroPython port)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FIRMWARE, SIM_MPY, run_micropython


def test_notify_path_allocates_nothing_after_warm_up() -> None:
    result = run_micropython(Path(__file__).with_name("mpy_ble_heap.py"), path=[SIM_MPY, FIRMWARE])
    assert result.stdout.startswith("ok"), result.stdout + result.stderr
