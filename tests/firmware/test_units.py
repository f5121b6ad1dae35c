"""Firmware building blocks under the real MicroPython interpreter: frame capacity and the byte
rate a stream costs on serial (checked against the protocol's own computation), the ring
buffer, and the atomic config file."""

from __future__ import annotations

import json
from pathlib import Path

from anklet_protocol import spec

HERE = Path(__file__).resolve().parent


def test_firmware_units_under_micropython(micropython, tmp_path):
    expected = {}
    for max_frame in (spec.BLE_MTU - spec.ATT_OVERHEAD, spec.SERIAL_MAX_FRAME, 100):
        for imu_hz in spec.IMU_RATES_HZ:
            for load_hz in spec.LOAD_RATES_HZ:
                key = f"{max_frame},{imu_hz},{load_hz}"
                samples = list(spec.samples_capacity(max_frame, load_hz / imu_hz))
                wire = spec.serial_stream_bytes_per_s(max_frame, imu_hz, load_hz)
                expected[key] = [*samples, wire]
    expected_file = tmp_path / "capacity.json"
    expected_file.write_text(json.dumps(expected))
    flash = tmp_path / "flash"
    flash.mkdir()
    result = micropython(HERE / "mpy_units.py", str(expected_file), str(flash))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(expected) + 16
    assert [line for line in lines if not line.startswith("ok ")] == []
