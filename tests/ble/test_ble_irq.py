"""BleLink's IRQ handling under MicroPython, events delivered as the ESP32 port delivers them:
synchronously, from inside a NimBLE call the main program made (tests/ble/mpy_ble_irq.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FIRMWARE, run_micropython

SCRIPT = Path(__file__).with_name("mpy_ble_irq.py")


def _findings(tmp_path: Path) -> dict:
    result = run_micropython(SCRIPT, path=[FIRMWARE], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_bond_keys_reach_flash_from_the_main_loop_not_the_irq_handler(tmp_path: Path) -> None:
    found = _findings(tmp_path)
    assert found["set_returns"] is True and found["get_back"] is True
    assert found["on_flash_after_irq"] is False
    assert found["on_flash_after_poll"] is True


def test_peripheral_asks_for_the_mtu_itself_from_the_main_loop(tmp_path: Path) -> None:
    found = _findings(tmp_path)
    assert found["mtu_before_poll"] == []
    assert found["mtu_after_poll"] == [0]


def test_disconnect_inside_a_notify_never_corrupts_the_control_queue(tmp_path: Path) -> None:
    found = _findings(tmp_path)
    assert found["queued"] == 3
    assert found["count_after_disconnect"] >= 0
    assert found["count_on_new_link"] == 0
    assert found["samples_before_first_command"] is False  # not subscribed yet, maybe
    assert found["samples_flow_on_new_link"] is True and found["samples_sent"] == 1


def test_an_unencrypted_central_gets_no_samples(tmp_path: Path) -> None:
    assert _findings(tmp_path)["samples_to_unencrypted"] is False


def test_streaming_stops_90_s_after_the_owners_link_drops(tmp_path: Path) -> None:
    found = _findings(tmp_path)
    # Time to come back and RESEND: longer than the flash ring holds at 200 Hz (about 80 s).
    assert found["streaming_after_89_s"] is True
    assert found["streaming_after_91_s"] is False
